#include "engine/decode.h"

#include <algorithm>
#include <limits>

#include "io/error.h"

namespace gq::engine {

std::vector<float> Session::prefill(const std::vector<int32_t>& ids) {
  const Matrix out = decode_chunk(w_, ids, state_, LogitRows::Last);
  return std::vector<float>(out.data(), out.data() + out.size());
}

int64_t Session::cached_rows(int64_t il) const {
  return size_t(il) < state_.kv.size() ? state_.kv[size_t(il)].rows() : 0;
}

void greedy_each(const ModelWeights& w, const std::vector<int32_t>& prompt, int n, const std::vector<int32_t>& banned,
                 const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) throw FormatError(w.source() + ": greedy decoding needs a prompt of at least one token");
  if (n <= 0) return;
  Session s(w);
  std::vector<float> last = s.prefill(prompt);
  for (int i = 0; i < n; ++i) {
    for (int32_t b : banned)
      if (b >= 0 && size_t(b) < last.size()) last[size_t(b)] = -std::numeric_limits<float>::infinity();
    const int32_t next = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    if (!on_token(next) || i + 1 == n) break;
    last = s.step(next);
  }
}

std::vector<int32_t> greedy(const ModelWeights& w, const std::vector<int32_t>& prompt, int n, bool stop_at_eos,
                            const std::vector<int32_t>& banned) {
  std::vector<int32_t> out;
  greedy_each(w, prompt, n, banned, [&](int32_t id) {
    out.push_back(id);
    return !(stop_at_eos && id == w.config().eos_token_id);
  });
  return out;
}

}  // namespace gq::engine
