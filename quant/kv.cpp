#include "quant/kv.h"

#include "quant/packing.h"
#include "quant/weight.h"
#include "quant/uniform.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

UniformSpec spec_for(const KvScheme& s, int64_t head_dim) { return uniform_spec(s, head_dim); }

}  // namespace

void kv_rtn_scales(const KvScheme& scheme, const float* x, float* scales, int64_t rows,
                   int64_t head_dim) {
  uniform_rtn_params(spec_for(scheme, head_dim), x, scales, nullptr, rows, head_dim);
}

void kv_encode(const KvScheme& scheme, const float* x, const float* scales, int8_t* levels,
               int64_t rows, int64_t head_dim) {
  uniform_encode(spec_for(scheme, head_dim), x, scales, nullptr, levels, rows, head_dim);
}

void kv_dequantize(const KvScheme& scheme, const int8_t* levels, const float* scales, float* y,
                   int64_t rows, int64_t head_dim) {
  uniform_dequantize(spec_for(scheme, head_dim), levels, scales, nullptr, y, rows, head_dim);
}

WeightScheme kv_block_weight_scheme(const KvScheme& scheme) {
  validate(scheme);
  if (!scheme.ggml_blocks) fail(kv_scheme_name(scheme) + ": not a ggml-block KV scheme");
  return scheme.bits == 8 ? q8_0_scheme() : q4_0_scheme();
}

void fake_quant_kv(const KvScheme& scheme, const float* x, float* y, int64_t rows,
                   int64_t head_dim) {
  if (scheme.ggml_blocks) {
    if (head_dim % 32) fail(kv_scheme_name(scheme) + ": head_dim " + std::to_string(head_dim) + " is not a multiple of 32");
    fake_quant_weight(kv_block_weight_scheme(scheme), x, y, rows, head_dim);
    return;
  }
  uniform_fake_quant(spec_for(scheme, head_dim), x, nullptr, nullptr, y, rows, head_dim);
}

void fake_quant_kv_with_scales(const KvScheme& scheme, const float* x, const float* scales,
                               float* y, int64_t rows, int64_t head_dim) {
  uniform_fake_quant(spec_for(scheme, head_dim), x, scales, nullptr, y, rows, head_dim);
}

size_t kv_packed_row_bytes(const KvScheme& scheme, int64_t head_dim) {
  validate(scheme);
  const std::string name = kv_scheme_name(scheme);
  check_shape(name.c_str(), 0, head_dim, scheme.bits == 4 ? 2 : 1, "packing");
  return tflite_packed_bytes(head_dim, scheme.bits);
}

void kv_pack(const KvScheme& scheme, const int8_t* levels, uint8_t* out, int64_t rows,
             int64_t head_dim) {
  const size_t rb = kv_packed_row_bytes(scheme, head_dim);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < head_dim; ++j) {
      const int v = levels[r * head_dim + j];
      if (v < scheme.qmin() || v > scheme.qmax())
        fail(kv_scheme_name(scheme) + ": level " + std::to_string(v) + " at row " +
             std::to_string(r) + ", element " + std::to_string(j) + " is out of range");
    }
    tflite_pack(levels + r * head_dim, out + size_t(r) * rb, head_dim, scheme.bits);
  }
}

void kv_unpack(const KvScheme& scheme, const uint8_t* in, int8_t* levels, int64_t rows,
               int64_t head_dim) {
  const size_t rb = kv_packed_row_bytes(scheme, head_dim);
  for (int64_t r = 0; r < rows; ++r)
    tflite_unpack(in + size_t(r) * rb, levels + r * head_dim, head_dim, scheme.bits);
}

}  // namespace gq::quant
