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

// block_q4_1: fp16 d, fp16 m, then 16 bytes as Q4_0's; y = q * d + m.
void dequantize_q4_1(const uint8_t* data, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, data += 20, out += 32) {
    const float d = f16_to_f32(u16_at(data)), m = f16_to_f32(u16_at(data + 2));
    for (int j = 0; j < 16; ++j) {
      const uint8_t q = data[4 + j];
      out[j] = float(q & 0x0f) * d + m;
      out[j + 16] = float(q >> 4) * d + m;
    }
  }
}

// block_q6_K (256 values, 210 bytes): ql[128] low nibbles, qh[64] high 2-bit pairs, 16 int8 scales
// (one per 16 values), fp16 d last; y = d * scale * (q - 32), in two halves of 128 values.
void dequantize_q6_k(const uint8_t* data, int64_t blocks, float* out) {
  for (int64_t b = 0; b < blocks; ++b, data += 210) {
    const uint8_t* ql = data;
    const uint8_t* qh = data + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(data + 192);
    const float d = f16_to_f32(u16_at(data + 208));
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, out += 128)
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = int((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
        const int q2 = int((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * float(sc[is]) * float(q1);
        out[l + 32] = d * float(sc[is + 2]) * float(q2);
        out[l + 64] = d * float(sc[is + 4]) * float(q3);
        out[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
  }
}

}  // namespace

bool engine_decodes(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: case GgmlType::Q8_0: case GgmlType::Q4_0:
    case GgmlType::Q4_1: case GgmlType::Q2_0: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

bool is_block_quantized(GgmlType type) { return engine_decodes(type) && ggml_type_info(uint32_t(type))->block > 1; }

void require_decodable(GgmlType type, int64_t n, const std::string& what) {
  if (!engine_decodes(type))
    throw FormatError(what + ": type " + ggml_type_name(type) +
                      " is not supported by the reference engine (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q2_0, Q6_K)");
  const int64_t block = ggml_type_info(uint32_t(type))->block;
  if (n % block != 0)
    throw FormatError(what + ": " + std::to_string(n) + " values are not whole blocks of " + std::to_string(block) + " for " +
                      ggml_type_name(type));
}

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
    default:
      break;
  }
  require_decodable(type, n, what);
  const int64_t block = ggml_type_info(uint32_t(type))->block;
  switch (type) {
    case GgmlType::Q8_0: return dequantize_q8_0(data, n / block, out);
    case GgmlType::Q4_0: return dequantize_q4_0(data, n / block, out);
    case GgmlType::Q4_1: return dequantize_q4_1(data, n / block, out);
    case GgmlType::Q2_0: return dequantize_q2_0(data, n / block, out);
    case GgmlType::Q6_K: return dequantize_q6_k(data, n / block, out);
    default: throw FormatError("internal: no dequantizer for " + std::string(ggml_type_name(type)));
  }
}

std::vector<float> dequantize_tensor(const GgufFile& file, const GgufTensorInfo& t) {
  const std::string what = file.source() + ": tensor '" + t.name + "'";
  std::vector<float> out(size_t(t.numel()));
  dequantize(t.type, file.tensor_data(t), t.numel(), out.data(), what);
  return out;
}

}  // namespace gq::engine
