#include "engine/dequantize.h"

#include <cstring>

#include "io/error.h"
#include "io/half.h"

namespace gq::engine {

namespace {

uint16_t u16_at(const uint8_t* p) { return uint16_t(p[0] | (uint16_t(p[1]) << 8)); }

// block_q8_0: fp16 d, then 32 int8 codes; y = q * d.
void dequantize_q8_0(const uint8_t* data, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, data += 34, out += 32) {
    const float d = f16_to_f32(u16_at(data));
    for (int j = 0; j < 32; ++j) out[j] = float(int8_t(data[2 + j])) * d;
  }
}

// block_q4_0: fp16 d, then 16 bytes; the low nibbles are elements 0..15, the high ones 16..31;
// y = (q - 8) * d.
void dequantize_q4_0(const uint8_t* data, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, data += 18, out += 32) {
    const float d = f16_to_f32(u16_at(data));
    for (int j = 0; j < 16; ++j) {
      const uint8_t q = data[2 + j];
      out[j] = float(int(q & 0x0f) - 8) * d;
      out[j + 16] = float(int(q >> 4) - 8) * d;
    }
  }
}

// block_q2_0: fp16 d, then 16 bytes for 64 values, element j in byte j / 4 at bits 2 * (j % 4),
// stored as level + 1 (levels -1..2); y = level * d.
void dequantize_q2_0(const uint8_t* data, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, data += 18, out += 64) {
    const float d = f16_to_f32(u16_at(data));
    for (int j = 0; j < 64; ++j) out[j] = float(int((data[2 + j / 4] >> (2 * (j % 4))) & 3) - 1) * d;
  }
}

}  // namespace

void dequantize(GgmlType type, const uint8_t* data, int64_t n, float* out, const std::string& what) {
  switch (type) {
    case GgmlType::F32:
      std::memcpy(out, data, size_t(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(u16_at(data + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(u16_at(data + 2 * i));
      return;
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
      if (n % 32 != 0)
        throw FormatError(what + ": " + std::to_string(n) + " values are not whole blocks of 32 for " + ggml_type_name(type));
      if (type == GgmlType::Q8_0)
        dequantize_q8_0(data, n / 32, out);
      else
        dequantize_q4_0(data, n / 32, out);
      return;
    case GgmlType::Q2_0:
      if (n % 64 != 0) throw FormatError(what + ": " + std::to_string(n) + " values are not whole blocks of 64 for Q2_0");
      dequantize_q2_0(data, n / 64, out);
      return;
    default:
      throw FormatError(what + ": type " + ggml_type_name(type) +
                        " is not supported by the reference engine (F32, F16, BF16, Q8_0, Q4_0, Q2_0)");
  }
}

std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& t) {
  const std::string what = file.source() + ": tensor '" + t.name + "'";
  std::vector<float> out(size_t(t.numel()));
  dequantize(t.type, file.tensor_data(t), t.numel(), out.data(), what);
  return out;
}

}  // namespace gq::engine
