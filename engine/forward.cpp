#include "engine/forward.h"

#include "engine/decoder.h"

namespace gq::engine {

std::vector<float> logits(const ModelWeights& w, const std::vector<int32_t>& ids) {
  if (ids.empty()) return {};
  DecoderState state;
  const Matrix out = decode_chunk(w, ids, state, LogitRows::All);
  return std::vector<float>(out.data(), out.data() + out.size());
}

}  // namespace gq::engine
