// Reading the Hugging Face reference outputs of the tiny fixtures (reference.safetensors): token
// ids and logits of sequences a, b and c, and comparing the engine's logits with them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "io/error.h"

namespace gq::test {

// An I64 tensor of the reference file (token ids, prompt lengths) as int32.
inline std::vector<int32_t> reference_i64(const SafetensorsFile& ref, const std::string& name) {
  const TensorView& tv = ref.tensor(name);
  if (tv.dtype != DType::I64) throw FormatError(ref.path() + ": " + tv.name + " is not I64");
  std::vector<int32_t> ids(size_t(tv.numel()));
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t v;
    std::memcpy(&v, tv.data + 8 * i, 8);
    ids[i] = int32_t(v);
  }
  return ids;
}

inline std::vector<int32_t> reference_ids(const SafetensorsFile& ref, const std::string& seq) {
  return reference_i64(ref, seq + ".input_ids");
}

struct LogitComparison {
  double max_abs_diff = 0;
  int64_t argmax_mismatches = 0;
};

// got and want are [T, V] row-major.
inline LogitComparison compare_logits(const std::vector<float>& got, const std::vector<float>& want, int64_t V) {
  LogitComparison r;
  const int64_t T = int64_t(want.size()) / V;
  for (int64_t t = 0; t < T; ++t) {
    const float* g = got.data() + t * V;
    const float* w = want.data() + t * V;
    for (int64_t i = 0; i < V; ++i) r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(double(g[i]) - double(w[i])));
    if (std::max_element(g, g + V) - g != std::max_element(w, w + V) - w) ++r.argmax_mismatches;
  }
  return r;
}

}  // namespace gq::test
