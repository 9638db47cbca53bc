// Rounding and scale-dtype helpers shared by the codecs, written with float operations that LibTorch
// also has, so that a fake-quant op can reproduce them exactly. Every helper returns +0 (never -0)
// for a zero result: the deployed file holds an integer code, and the runtime's int -> float
// conversion of code 0 gives +0, so the fake-quant reference must too.
//
// Torch equivalents (v a float32 tensor):
//   round_half_even(v) = torch.round(v) + 0.0
//   round_half_up(v)   = f = torch.floor(v);  f + (v - f >= 0.5)            (v - f is exact)
//   round_half_away(v) = t = torch.trunc(v);  t + torch.sign(v) * (torch.abs(v - t) >= 0.5)  then + 0.0
// `torch.floor(v + 0.5)` is NOT the same as round_half_up: v + 0.5 rounds for v = 0.5 - 2^-25
// (0.49999997f), giving 1 instead of 0.
//
// Arithmetic is kept in separate statements so that no compiler fuses a multiply and an add into an
// FMA (GCC in ISO mode and Clang's default only contract within one expression; the project builds
// with CMAKE_CXX_EXTENSIONS OFF).
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>

#include "io/dtype.h"
#include "io/half.h"

namespace gq::quant {

inline float round_half_even(float v) {
  float r = std::nearbyint(v);  // default FE_TONEAREST mode
  return r + 0.0f;
}

inline float round_half_up(float v) {
  const float f = std::floor(v);
  const float frac = v - f;  // exact: f <= v < f + 1
  float r = frac >= 0.5f ? f + 1.0f : f;
  return r + 0.0f;
}

inline float round_half_away(float v) {
  const float t = std::trunc(v);
  const float frac = std::fabs(v - t);  // exact
  float r = t;
  if (frac >= 0.5f) r = v < 0 ? t - 1.0f : t + 1.0f;
  return r + 0.0f;
}

inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// fp16 round trip (what a GGUF block stores). Round-to-nearest-even, overflow -> inf.
inline float round_to_f16(float v) { return f16_to_f32(f32_to_f16(v)); }

// Rounds a scale to the dtype it will be stored in: F32 (no-op), F16 or BF16 (round-to-nearest-even).
// Other dtypes are a programming error and return NaN, which every caller rejects.
inline float round_scale_to(float s, DType scale_dtype) {
  switch (scale_dtype) {
    case DType::F32: return s;
    case DType::F16: return f16_to_f32(f32_to_f16(s));
    case DType::BF16: return bf16_to_f32(f32_to_bf16(s));
    default: return std::nanf("");
  }
}

// Smallest positive normal number of the scale dtype (torch.finfo(dtype).tiny). RTN scales are
// floored at this value so that an all-zero row never gets a zero (or subnormal) scale.
inline float scale_tiny(DType scale_dtype) {
  return scale_dtype == DType::F16 ? 6.103515625e-05f /* 2^-14 */ : FLT_MIN /* 2^-126, F32 and BF16 */;
}

inline bool is_scale_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

}  // namespace gq::quant
