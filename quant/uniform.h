// The shared engine behind the uniform integer codecs (channel-wise, group-wise, activations,
// KV cache): levels q in [qmin, qmax], one scale s (and optionally one integer zero point z) per
// block of `block` consecutive values of a row.
//
//   scale:    s' = round_scale_to(s, scale_dtype); must be finite and > 0
//   encode:   zp_before_round:  q = clamp(round(x / s' + z), qmin, qmax)     (compressed-tensors)
//             otherwise:        q = clamp(round(x / s') + z, qmin, qmax)     (vLLM azp, TFLite)
//             x / s' is an IEEE fp32 division (not a multiply by 1/s'); "+ z" an fp32 add.
//   decode:   y = round_scale_to((q - z) * s', scale_dtype)   (the product is formed in fp32, where
//             it is exact for F16/BF16 scales, then rounded: what a runtime computing in the scale's
//             dtype gets; a no-op for F32)
//   RTN:      symmetric  s = amax / sym_divisor
//             asymmetric lo = min(min x, 0), hi = max(max x, 0), s = (hi - lo) / (qmax - qmin),
//                        z = round_half_even(clamp(qmin - lo / s', qmin, qmax))  (s' = stored s)
//             then s is rounded to scale_dtype and floored at scale_tiny(scale_dtype), so an
//             all-zero block gets the smallest normal scale, never 0.
// Fake-quant computes the same floats with float operations only (no integer conversion).
#pragma once
#include <cstdint>
#include <string>

#include "io/dtype.h"
#include "quant/scheme.h"

namespace gq::quant {

struct UniformSpec {
  std::string codec;  // printed in error messages
  int qmin = -8;
  int qmax = 7;
  int64_t block = 0;  // values per scale along a row; must divide cols
  bool asymmetric = false;
  bool zp_before_round = true;
  Rounding rounding = Rounding::kHalfEven;  // kHalfEven or kHalfAway
  DType scale_dtype = DType::F32;
  float sym_divisor = 7.0f;
};

// The spec each uniform codec runs on; the LibTorch fake-quant builds on the same data so that both
// sides cannot drift apart.
//   weights (kChannel or kGroup; FormatError for the GGUF kinds): block = cols for kChannel
//   activations: one block of n values (the whole tensor), fp32 scale, z added after rounding
//   KV cache: one block per row of head_dim values, fp32 scale
UniformSpec uniform_spec(const WeightScheme& scheme, int64_t cols);
UniformSpec uniform_spec(const ActivationScheme& scheme, int64_t n);
UniformSpec uniform_spec(const KvScheme& scheme, int64_t head_dim);

// RTN parameters: scales [rows, cols / block]; zero_points likewise (only if asymmetric; may be
// null otherwise).
void uniform_rtn_params(const UniformSpec& spec, const float* x, float* scales,
                        int32_t* zero_points, int64_t rows, int64_t cols);

// L is int8_t or int16_t. zero_points may be null for a symmetric spec.
template <class L>
void uniform_encode(const UniformSpec& spec, const float* x, const float* scales,
                    const int32_t* zero_points, L* levels, int64_t rows, int64_t cols);
template <class L>
void uniform_dequantize(const UniformSpec& spec, const L* levels, const float* scales,
                        const int32_t* zero_points, float* y, int64_t rows, int64_t cols);

// scales == nullptr: RTN parameters are computed first.
void uniform_fake_quant(const UniformSpec& spec, const float* x, const float* scales,
                        const int32_t* zero_points, float* y, int64_t rows, int64_t cols);

}  // namespace gq::quant
