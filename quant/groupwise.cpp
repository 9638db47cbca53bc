#include "quant/groupwise.h"

#include <vector>

#include "quant/packing.h"
#include "quant/uniform.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

UniformSpec spec_for(const WeightScheme& s) {
  validate(s);
  if (s.kind != WeightKind::kGroup)
    fail("group-wise codec called with scheme " + weight_scheme_name(s));
  return uniform_spec(s, s.group);
}

std::vector<int32_t> widen(const WeightScheme& s, const int8_t* zps, int64_t n) {
  std::vector<int32_t> out;
  if (s.symmetric) return out;
  if (zps == nullptr) fail(weight_scheme_name(s) + ": asymmetric quantization needs zero points");
  out.assign(zps, zps + n);
  return out;
}

int64_t num_groups(const WeightScheme& s, int64_t rows, int64_t cols) {
  check_shape(weight_scheme_name(s).c_str(), rows, cols, s.group, "group");
  return rows * (cols / s.group);
}

// pack / unpack: a group-wise scheme, rows of whole groups.
void check_packing(const WeightScheme& s, int64_t rows, int64_t cols) {
  spec_for(s);
  num_groups(s, rows, cols);
}

// Whether the zero points are packed too (asymmetric schemes); then both of their arrays are needed.
bool packs_zero_points(const WeightScheme& s, const void* zero_points, const void* packed, const char* what) {
  if (s.symmetric) return false;
  if (zero_points == nullptr || packed == nullptr)
    fail(weight_scheme_name(s) + ": asymmetric " + what + " needs zero points");
  return true;
}

}  // namespace

void groupwise_rtn_params(const WeightScheme& scheme, const float* x, float* scales,
                          int8_t* zero_points, int64_t rows, int64_t cols) {
  const UniformSpec spec = spec_for(scheme);
  const int64_t n = num_groups(scheme, rows, cols);
  std::vector<int32_t> z(scheme.symmetric ? 0 : size_t(n));
  if (!scheme.symmetric && zero_points == nullptr)
    fail(spec.codec + ": asymmetric quantization needs zero points");
  uniform_rtn_params(spec, x, scales, scheme.symmetric ? nullptr : z.data(), rows, cols);
  for (int64_t i = 0; i < int64_t(z.size()); ++i) zero_points[i] = int8_t(z[size_t(i)]);
}

void groupwise_encode(const WeightScheme& scheme, const float* x, const float* scales,
                      const int8_t* zero_points, int8_t* levels, int64_t rows, int64_t cols) {
  const UniformSpec spec = spec_for(scheme);
  const auto z = widen(scheme, zero_points, num_groups(scheme, rows, cols));
  uniform_encode(spec, x, scales, z.empty() ? nullptr : z.data(), levels, rows, cols);
}

void groupwise_dequantize(const WeightScheme& scheme, const int8_t* levels, const float* scales,
                          const int8_t* zero_points, float* y, int64_t rows, int64_t cols) {
  const UniformSpec spec = spec_for(scheme);
  const auto z = widen(scheme, zero_points, num_groups(scheme, rows, cols));
  uniform_dequantize(spec, levels, scales, z.empty() ? nullptr : z.data(), y, rows, cols);
}

void fake_quant_groupwise(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                          int64_t cols) {
  uniform_fake_quant(spec_for(scheme), x, nullptr, nullptr, y, rows, cols);
}

void fake_quant_groupwise_with_params(const WeightScheme& scheme, const float* x,
                                      const float* scales, const int8_t* zero_points, float* y,
                                      int64_t rows, int64_t cols) {
  const UniformSpec spec = spec_for(scheme);
  const auto z = widen(scheme, zero_points, num_groups(scheme, rows, cols));
  uniform_fake_quant(spec, x, scales, z.empty() ? nullptr : z.data(), y, rows, cols);
}

void groupwise_pack(const WeightScheme& scheme, const int8_t* levels, const int8_t* zero_points,
                    int32_t* weight_packed, int32_t* zero_point_packed, int64_t rows,
                    int64_t cols) {
  check_packing(scheme, rows, cols);
  ct_pack_rows(levels, weight_packed, rows, cols, scheme.bits);
  if (packs_zero_points(scheme, zero_points, zero_point_packed, "packing"))
    ct_pack_cols(zero_points, zero_point_packed, rows, cols / scheme.group, scheme.bits);
}

void groupwise_unpack(const WeightScheme& scheme, const int32_t* weight_packed,
                      const int32_t* zero_point_packed, int8_t* levels, int8_t* zero_points,
                      int64_t rows, int64_t cols) {
  check_packing(scheme, rows, cols);
  ct_unpack_rows(weight_packed, levels, rows, cols, scheme.bits);
  if (packs_zero_points(scheme, zero_points, zero_point_packed, "unpacking"))
    ct_unpack_cols(zero_point_packed, zero_points, rows, cols / scheme.group, scheme.bits);
}

}  // namespace gq::quant
