// GGUF tensor data -> float32, bit for bit as ggml's reference dequantizers (ggml-quants.c) do it.
// Exact mode widens every stored tensor on load; fast mode widens only rows it has no integer
// kernel for (engine/int_dot.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace gq::engine {

// The stored types the engine reads: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q2_0 and Q6_K (the last two
// of them so that llama.cpp-made Gemma 4 files load).
bool engine_decodes(GgmlType type);
// One of those stored in blocks of several values (the quantized ones, kept packed in fast mode).
bool is_block_quantized(GgmlType type);

// FormatError naming `what` unless `n` values of `type` are something dequantize() decodes.
void require_decodable(GgmlType type, int64_t n, const std::string& what);

// `n` values (a multiple of the type's block) from `data`.
// FormatError naming `what` (file and tensor) and the type for any other type.
void dequantize(GgmlType type, const uint8_t* data, int64_t n, float* out, const std::string& what);

// A whole tensor of `file`, in ggml order (ne[0] contiguous, i.e. row-major in the PyTorch shape).
std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& t);

}  // namespace gq::engine
