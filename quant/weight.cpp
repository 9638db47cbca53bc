#include "quant/weight.h"

#include "quant/channelwise.h"
#include "quant/groupwise.h"
#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

QuantizedWeight make(const WeightScheme& scheme, int64_t rows, int64_t cols) {
  validate(scheme);
  if (rows < 0) fail(weight_scheme_name(scheme) + ": negative row count");
  QuantizedWeight q;
  q.scheme = scheme;
  q.rows = rows;
  q.cols = cols;
  const int64_t ns = rows * weight_scales_per_row(scheme, cols);
  q.levels.resize(size_t(rows * cols));
  q.scales.resize(size_t(ns));
  if (scheme.kind == WeightKind::kGroup && !scheme.symmetric) q.zero_points.resize(size_t(ns));
  return q;
}

}  // namespace

int64_t weight_scales_per_row(const WeightScheme& scheme, int64_t cols) {
  validate(scheme);
  if (scheme.kind == WeightKind::kChannel) {
    if (cols <= 0) fail(weight_scheme_name(scheme) + ": rows must not be empty");
    return 1;
  }
  return scheme.scales_per_row(cols);
}

void rtn_weight_params(const WeightScheme& scheme, const float* x, float* scales,
                       int8_t* zero_points, int64_t rows, int64_t cols) {
  validate(scheme);
  switch (scheme.kind) {
    case WeightKind::kQ4_0: return q4_0_rtn_scales(x, scales, rows, cols);
    case WeightKind::kQ8_0: return q8_0_rtn_scales(x, scales, rows, cols);
    case WeightKind::kQ2_0: return q2_0_rtn_scales(x, scales, rows, cols);
    case WeightKind::kChannel: return channelwise_rtn_scales(scheme, x, scales, rows, cols);
    case WeightKind::kGroup: return groupwise_rtn_params(scheme, x, scales, zero_points, rows, cols);
  }
}

QuantizedWeight quantize_weight(const WeightScheme& scheme, const float* x, int64_t rows,
                                int64_t cols) {
  QuantizedWeight q = make(scheme, rows, cols);
  int8_t* zp = q.zero_points.empty() ? nullptr : q.zero_points.data();
  rtn_weight_params(scheme, x, q.scales.data(), zp, rows, cols);
  switch (scheme.kind) {
    case WeightKind::kQ4_0: q4_0_encode_rtn(x, q.scales.data(), q.levels.data(), rows, cols); break;
    case WeightKind::kQ8_0: q8_0_encode_rtn(x, q.scales.data(), q.levels.data(), rows, cols); break;
    case WeightKind::kQ2_0: q2_0_encode_rtn(x, q.scales.data(), q.levels.data(), rows, cols); break;
    case WeightKind::kChannel:
      channelwise_encode(scheme, x, q.scales.data(), q.levels.data(), rows, cols);
      break;
    case WeightKind::kGroup:
      groupwise_encode(scheme, x, q.scales.data(), zp, q.levels.data(), rows, cols);
      break;
  }
  return q;
}

QuantizedWeight quantize_weight_with_scales(const WeightScheme& scheme, const float* x,
                                            const float* scales, const int8_t* zero_points,
                                            int64_t rows, int64_t cols) {
  QuantizedWeight q = make(scheme, rows, cols);
  q.scales.assign(scales, scales + q.scales.size());
  if (!q.zero_points.empty()) {
    if (zero_points == nullptr)
      fail(weight_scheme_name(scheme) + ": asymmetric quantization needs zero points");
    q.zero_points.assign(zero_points, zero_points + q.zero_points.size());
  }
  const int8_t* zp = q.zero_points.empty() ? nullptr : q.zero_points.data();
  switch (scheme.kind) {
    case WeightKind::kQ4_0: q4_0_encode(x, scales, q.levels.data(), rows, cols); break;
    case WeightKind::kQ8_0: q8_0_encode(x, scales, q.levels.data(), rows, cols); break;
    case WeightKind::kQ2_0: q2_0_encode(x, scales, q.levels.data(), rows, cols); break;
    case WeightKind::kChannel:
      channelwise_encode(scheme, x, scales, q.levels.data(), rows, cols);
      break;
    case WeightKind::kGroup:
      groupwise_encode(scheme, x, scales, zp, q.levels.data(), rows, cols);
      break;
  }
  return q;
}

void dequantize_weight(const QuantizedWeight& q, float* y) {
  const WeightScheme& s = q.scheme;
  validate(s);
  const int64_t ns = q.rows * weight_scales_per_row(s, q.cols);
  if (int64_t(q.levels.size()) != q.rows * q.cols || int64_t(q.scales.size()) != ns)
    fail(weight_scheme_name(s) + ": quantized weight has inconsistent array sizes");
  const int8_t* zp = q.zero_points.empty() ? nullptr : q.zero_points.data();
  switch (s.kind) {
    case WeightKind::kQ4_0: return q4_0_dequantize(q.levels.data(), q.scales.data(), y, q.rows, q.cols);
    case WeightKind::kQ8_0: return q8_0_dequantize(q.levels.data(), q.scales.data(), y, q.rows, q.cols);
    case WeightKind::kQ2_0: return q2_0_dequantize(q.levels.data(), q.scales.data(), y, q.rows, q.cols);
    case WeightKind::kChannel:
      return channelwise_dequantize(s, q.levels.data(), q.scales.data(), y, q.rows, q.cols);
    case WeightKind::kGroup:
      return groupwise_dequantize(s, q.levels.data(), q.scales.data(), zp, y, q.rows, q.cols);
  }
}

void fake_quant_weight(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                       int64_t cols) {
  validate(scheme);
  switch (scheme.kind) {
    case WeightKind::kQ4_0: return fake_quant_q4_0(x, y, rows, cols);
    case WeightKind::kQ8_0: return fake_quant_q8_0(x, y, rows, cols);
    case WeightKind::kQ2_0: return fake_quant_q2_0(x, y, rows, cols);
    case WeightKind::kChannel: return fake_quant_channelwise(scheme, x, y, rows, cols);
    case WeightKind::kGroup: return fake_quant_groupwise(scheme, x, y, rows, cols);
  }
}

void fake_quant_weight_with_scales(const WeightScheme& scheme, const float* x, const float* scales,
                                   const int8_t* zero_points, float* y, int64_t rows, int64_t cols) {
  validate(scheme);
  switch (scheme.kind) {
    case WeightKind::kQ4_0: return fake_quant_q4_0_with_scales(x, scales, y, rows, cols);
    case WeightKind::kQ8_0: return fake_quant_q8_0_with_scales(x, scales, y, rows, cols);
    case WeightKind::kQ2_0: return fake_quant_q2_0_with_scales(x, scales, y, rows, cols);
    case WeightKind::kChannel:
      return fake_quant_channelwise_with_scales(scheme, x, scales, y, rows, cols);
    case WeightKind::kGroup:
      return fake_quant_groupwise_with_params(scheme, x, scales, zero_points, y, rows, cols);
  }
}

}  // namespace gq::quant
