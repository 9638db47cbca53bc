// GGUF tensor data -> float32, bit for bit as ggml's reference dequantizers (ggml-quants.c) do it.
// The engine runs in float32, so every stored type is widened on load; the types are the ones our
// exporter writes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace gq::engine {

// F32, F16, BF16, Q8_0 and Q4_0. `n` values (a multiple of the type's block) from `data`.
// FormatError naming `what` (file and tensor) and the type for any other type.
void dequantize(GgmlType type, const uint8_t* data, int64_t n, float* out, const std::string& what);

// A whole tensor of `file`, in ggml order (ne[0] contiguous, i.e. row-major in the PyTorch shape).
std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& t);

}  // namespace gq::engine
