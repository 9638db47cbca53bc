// Little-endian helpers for the byte layouts the packers write (GGUF blocks, int32 words).
#pragma once
#include <cstdint>

namespace gq::quant {

inline void store_u16le(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
inline uint16_t load_u16le(const uint8_t* p) { return uint16_t(p[0] | (uint16_t(p[1]) << 8)); }

inline void store_u32le(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline uint32_t load_u32le(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

}  // namespace gq::quant
