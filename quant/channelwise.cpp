#include "quant/channelwise.h"

#include "quant/uniform.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

UniformSpec spec_for(const WeightScheme& s, int64_t cols) {
  validate(s);
  if (s.kind != WeightKind::kChannel)
    fail("channel-wise codec called with scheme " + weight_scheme_name(s));
  return uniform_spec(s, cols);
}

}  // namespace

void channelwise_rtn_scales(const WeightScheme& scheme, const float* x, float* scales,
                            int64_t rows, int64_t cols) {
  uniform_rtn_params(spec_for(scheme, cols), x, scales, nullptr, rows, cols);
}

void channelwise_encode(const WeightScheme& scheme, const float* x, const float* scales,
                        int8_t* levels, int64_t rows, int64_t cols) {
  uniform_encode(spec_for(scheme, cols), x, scales, nullptr, levels, rows, cols);
}

void channelwise_dequantize(const WeightScheme& scheme, const int8_t* levels, const float* scales,
                            float* y, int64_t rows, int64_t cols) {
  uniform_dequantize(spec_for(scheme, cols), levels, scales, nullptr, y, rows, cols);
}

void fake_quant_channelwise(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                            int64_t cols) {
  uniform_fake_quant(spec_for(scheme, cols), x, nullptr, nullptr, y, rows, cols);
}

void fake_quant_channelwise_with_scales(const WeightScheme& scheme, const float* x,
                                        const float* scales, float* y, int64_t rows, int64_t cols) {
  uniform_fake_quant(spec_for(scheme, cols), x, scales, nullptr, y, rows, cols);
}

}  // namespace gq::quant
