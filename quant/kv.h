// KV-cache quantization, symmetric, one scale per (token, head) row along head_dim, computed at
// run time from the row itself (LLM-QAT-style per-token MinMax). x is [rows, head_dim] with
// rows = tokens * kv_heads for K (after RoPE) or V.
//
//   levels: kv_int8 -127..127, kv_int4 -8..7
//   scale:  s = amax(row) / qmax (127 / 7), fp32, floored at FLT_MIN (an all-zero row gets FLT_MIN)
//   encode: level = clamp(round_half_even(x / s), qmin, qmax);  decode: y = level * s
// On "disk" (kv_pack): per row, int8 as bytes or int4 two per byte (element 2i in the low nibble,
// two's complement, as tflite_pack), scales kept as a separate fp32 [rows] array.
// kv_q8_0 / kv_q4_0 are llama.cpp's quantized KV cache (-ctk / -ctv q8_0, q4_0): Q8_0 / Q4_0
// blocks of 32 along head_dim, exactly the weight codecs on [rows, head_dim] (fake_quant_kv uses
// them; the row-scale functions below refuse them). ggml's reference rounding is what the codecs
// reproduce (and llama.cpp's CUDA path); its AVX2 / NEON CPU Q8_0 quantizer rounds a product
// x * (1/d) that lies exactly halfway to even instead, a rare tie. LiteRT-LM's NPU path uses static
// int16 per-tensor (activation codec "int16_sym").
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

// The weight scheme whose codec a ggml-block KV scheme is (q8_0 / q4_0).
WeightScheme kv_block_weight_scheme(const KvScheme& scheme);

void kv_rtn_scales(const KvScheme& scheme, const float* x, float* scales, int64_t rows,
                   int64_t head_dim);
void kv_encode(const KvScheme& scheme, const float* x, const float* scales, int8_t* levels,
               int64_t rows, int64_t head_dim);
void kv_dequantize(const KvScheme& scheme, const int8_t* levels, const float* scales, float* y,
                   int64_t rows, int64_t head_dim);
void fake_quant_kv(const KvScheme& scheme, const float* x, float* y, int64_t rows,
                   int64_t head_dim);
void fake_quant_kv_with_scales(const KvScheme& scheme, const float* x, const float* scales,
                               float* y, int64_t rows, int64_t head_dim);

size_t kv_packed_row_bytes(const KvScheme& scheme, int64_t head_dim);  // int4 needs even head_dim
void kv_pack(const KvScheme& scheme, const int8_t* levels, uint8_t* out, int64_t rows,
             int64_t head_dim);
void kv_unpack(const KvScheme& scheme, const uint8_t* in, int8_t* levels, int64_t rows,
               int64_t head_dim);

}  // namespace gq::quant
