// Quantization schemes as plain data (torchao style): what a tensor is quantized to, independent of
// how (the codecs) or where it is written (the exporters). Every scheme has a canonical name that
// parse_* accepts and *_name prints; see README.md for the exact grids and rounding rules.
//
// Weights (quantization runs along a row = the input dimension, in blocks of consecutive values):
//   "q4_0"                  GGUF Q4_0: blocks of 32, levels -8..7, fp16 scale, ggml rules
//   "q8_0"                  GGUF Q8_0: blocks of 32, levels -127..127, fp16 scale
//   "q2_0"                  GGUF Q2_0: blocks of 64, levels {-1,0,1,2}, fp16 scale
//   "int8_channel", "int4_channel", "int2_channel"
//                           one scale per row, symmetric; levels -127..127 / -8..7 / -2..1
//                           (ai-edge-quantizer / LiteRT conventions)
//   "int4_g32", "int4_g64", "int4_g128" (also "int8_gN")
//                           groups of N along the row, symmetric, levels -8..7 (-128..127)
//                           (compressed-tensors conventions); "..._asym" adds an int zero point
//                           per group; "..._sym" is accepted as an alias of the symmetric form.
//   A channel/group name may end in "@bf16" or "@f16": the dtype the scale is stored and the
//   dequantized weight is computed in (default f32). GGUF kinds always use fp16 scales.
// Activations (static, one scale per tensor):
//   "int8_sym"   levels -128..127 (vLLM static W8A8); "int8_sym_narrow" -127..127
//   "int8_asym"  levels -128..127 with a zero point (LiteRT a8)
//   "int16_sym"  levels -32767..32767 (LiteRT a16 / NPU); "int16_sym_full" -32768..32767
//   suffix "_rna": round half away from zero (TFLite's reference QUANTIZE) instead of half-even.
//   suffix "@bf16" / "@f16" (int8_sym only): computed in that activation dtype, as vLLM's
//   CompressedTensorsWNA8O8Int fake-quantizes a Linear's input and output ("int8_sym@bf16").
// KV cache (one scale per (token, head) row along head_dim, symmetric, computed at run time):
//   "kv_int8" levels -127..127; "kv_int4" levels -8..7 ("int8"/"int4" are accepted too).
#pragma once
#include <cstdint>
#include <string>

#include "io/dtype.h"

namespace gq::quant {

enum class Rounding {
  kHalfEven,  // torch.round, numpy.rint, compressed-tensors, ai-edge-quantizer
  kHalfAway,  // C roundf: ggml Q8_0 / Q2_0, TFLite reference QUANTIZE
  kHalfUp,    // floor(v + 0.5): ggml Q4_0
};
const char* rounding_name(Rounding r);  // "half_even", "half_away", "half_up"

enum class WeightKind { kQ4_0, kQ8_0, kQ2_0, kChannel, kGroup };

struct WeightScheme {
  WeightKind kind = WeightKind::kQ4_0;
  int bits = 4;
  int64_t group = 32;              // values per scale along a row; 0 = the whole row (kChannel)
  bool symmetric = true;           // false only for kGroup "_asym"
  DType scale_dtype = DType::F16;  // F16 for GGUF kinds; F32 / F16 / BF16 for channel and group

  int qmin() const;
  int qmax() const;
  Rounding rounding() const;
  bool is_gguf() const;
  uint32_t ggml_type() const;                      // throws FormatError unless is_gguf()
  int64_t block_size(int64_t cols) const;          // group, or cols for kChannel
  int64_t scales_per_row(int64_t cols) const;      // throws FormatError if cols % group != 0
};
bool operator==(const WeightScheme& a, const WeightScheme& b);
inline bool operator!=(const WeightScheme& a, const WeightScheme& b) { return !(a == b); }

WeightScheme q4_0_scheme();
WeightScheme q8_0_scheme();
WeightScheme q2_0_scheme();
WeightScheme channel_scheme(int bits, DType scale_dtype = DType::F32);  // bits 8, 4, 2
WeightScheme group_scheme(int bits, int64_t group, bool symmetric,
                          DType scale_dtype = DType::F32);  // bits 4, 8; group 32, 64, 128

void validate(const WeightScheme& s);  // throws FormatError for a combination no codec implements
WeightScheme parse_weight_scheme(const std::string& name);  // throws FormatError listing the names
std::string weight_scheme_name(const WeightScheme& s);

struct ActivationScheme {
  int bits = 8;  // 8 or 16
  bool symmetric = true;
  bool narrow = false;  // symmetric only: drop the most negative level
  Rounding rounding = Rounding::kHalfEven;
  // F32: the uniform engine's fp32 arithmetic. BF16 / F16: every step in that dtype (activation.h).
  DType compute_dtype = DType::F32;

  int qmin() const;
  int qmax() const;
};
bool operator==(const ActivationScheme& a, const ActivationScheme& b);

void validate(const ActivationScheme& s);
ActivationScheme parse_activation_scheme(const std::string& name);
std::string activation_scheme_name(const ActivationScheme& s);

// KV-cache schemes, per (token, head) row of head_dim values:
//   kv_int8 / kv_int4  one float32 scale per row, amax / qmax, half-even (quant/kv.h; vLLM-like)
//   kv_q8_0 / kv_q4_0  llama.cpp's -ctk/-ctv q8_0 / q4_0 cache: ggml blocks of 32 along the row,
//                      fp16 d, ggml's reference rounding (the Q8_0 / Q4_0 weight codecs)
struct KvScheme {
  int bits = 8;              // 8 or 4
  bool ggml_blocks = false;  // kv_q8_0 / kv_q4_0
  int qmin() const;
  int qmax() const;
  // Bytes of one cached row of head_dim values: codes and their scale(s).
  int64_t row_bytes(int64_t head_dim) const;
};
bool operator==(const KvScheme& a, const KvScheme& b);

void validate(const KvScheme& s);
KvScheme parse_kv_scheme(const std::string& name);
std::string kv_scheme_name(const KvScheme& s);

}  // namespace gq::quant
