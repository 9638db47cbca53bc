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

std::vector<int32_t> greedy(const ModelWeights& w, const std::vector<int32_t>& prompt, int n, bool stop_at_eos,
                            const std::vector<int32_t>& banned) {
  if (prompt.empty()) throw FormatError(w.source() + ": greedy decoding needs a prompt of at least one token");
  Session s(w);
  std::vector<int32_t> out;
  if (n <= 0) return out;
  std::vector<float> last = s.prefill(prompt);
  for (int i = 0; i < n; ++i) {
    for (int32_t b : banned)
      if (b >= 0 && size_t(b) < last.size()) last[size_t(b)] = -std::numeric_limits<float>::infinity();
    const int32_t next = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    out.push_back(next);
    if ((stop_at_eos && next == w.config().eos_token_id) || i + 1 == n) break;
    last = s.step(next);
  }
  return out;
}

}  // namespace gq::engine
