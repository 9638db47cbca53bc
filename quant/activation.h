// Static per-tensor activation quantization (scale, and zero point for int8_asym, fixed at export
// from calibration or learned): what vLLM's static W8A8 path (int8_sym) and LiteRT's static
// recipes (int8_asym = a8, int16_sym = a16, and the NPU's int16 KV/embedding inputs) apply at run
// time. One scale per tensor, fp32.
//
//   encode: q = clamp(round(x / s) + z, qmin, qmax)
//           round = half-even (torch.round, vLLM's kernels) or, with "_rna", half away from zero
//           (TFLite's reference QUANTIZE); z is added after rounding, as the runtimes do.
//   decode: y = (q - z) * s   (fp32)
//   from a calibrated range [min, max] (activation_params_from_range):
//           symmetric:  s = max(|min|, |max|) / qmax   (127 / 32767), z = 0
//           asymmetric: lo = min(min, 0), hi = max(max, 0), s = (hi - lo) / 255,
//                       z = round_half_even(clamp(-128 - lo / s, -128, 127))
//           s is floored at FLT_MIN (the smallest normal float), so a zero range gives no 0 scale.
//
// With a compute dtype d ("int8_sym@bf16"), vLLM's CompressedTensorsWNA8O8Int fake quant of a
// Linear's input and output (compressed_tensors_wNa8o8.py, fake_quant_static_int8), every step in
// the activation dtype, each op an fp32 op rounded to d (round to nearest even), as torch computes:
//   s' = d(s)   x' = d(x)   v = d(x' / s')   q = clamp(round_half_even(v), qmin, qmax)   y = d(q * s')
// That path never forms integer codes: a negative value that rounds to 0 gives -0 (torch.round(-0.3)
// is -0, times s'), where activation_dequantize of level 0 gives +0; the two agree otherwise.
// From a range: the fp32 rule above, then s rounded to d and floored at d's smallest normal (the
// file then holds the scale the runtime computes with).
// Levels travel in int16_t for both widths. On disk (activation_pack): int8 as bytes, int16 as
// little-endian pairs.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

struct ActivationParams {
  float scale = 1.0f;
  int32_t zero_point = 0;  // 0 for symmetric schemes
};

ActivationParams activation_params_from_range(const ActivationScheme& scheme, float min_value,
                                              float max_value);
void activation_encode(const ActivationScheme& scheme, const ActivationParams& params,
                       const float* x, int16_t* levels, int64_t n);
void activation_dequantize(const ActivationScheme& scheme, const ActivationParams& params,
                           const int16_t* levels, float* y, int64_t n);
void fake_quant_activation(const ActivationScheme& scheme, const ActivationParams& params,
                           const float* x, float* y, int64_t n);

size_t activation_packed_bytes(const ActivationScheme& scheme, int64_t n);
void activation_pack(const ActivationScheme& scheme, const int16_t* levels, uint8_t* out, int64_t n);
void activation_unpack(const ActivationScheme& scheme, const uint8_t* in, int16_t* levels, int64_t n);

}  // namespace gq::quant
