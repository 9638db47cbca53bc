// IEEE binary16 and bfloat16 <-> float32, bit-exact and branch-light. Round-to-nearest-even on the
// way down, as numpy, PyTorch and ggml's GGML_FP32_TO_FP16 do.
#pragma once
#include <cstdint>
#include <cstring>

namespace gq {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) { return bits_float(uint32_t(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    // zero or subnormal: man * 2^-24, exact in float32
    float v = float(man) * 5.9604644775390625e-08f;
    return bits_float(float_bits(v) | sign);
  }
  if (exp == 31) return bits_float(sign | 0x7f800000u | (man << 13));
  return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

inline uint16_t f32_to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);          // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);         // overflow (>= 65520) -> inf
  if (a < 0x38800000u) {                                         // below 2^-14: subnormal or zero
    // Adding 0.5 lets the FPU do the round-to-nearest-even at the 2^-24 step.
    const float v = bits_float(a) + 0.5f;
    return uint16_t(sign | uint16_t(float_bits(v) - 0x3f000000u));
  }
  uint32_t r = a + 0xc8000fffu + ((a >> 13) & 1u);               // rebias exponent, round to even
  return uint16_t(sign | uint16_t(r >> 13));
}

}  // namespace gq
