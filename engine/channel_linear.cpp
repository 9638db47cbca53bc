#include "engine/channel_linear.h"

#include <string>

#include "engine/channel_int_dot.h"
#include "io/error.h"
#include "quant/rounding.h"

namespace gq::engine {

Matrix channel_linear(const Matrix& x, const PackedChannelWeight& w, const quant::ActivationScheme& in_scheme,
                      const quant::ActivationParams& in_params, Isa isa) {
  if (x.cols() != w.cols)
    throw FormatError("channel linear: input has " + std::to_string(x.cols()) + " columns, the weight " +
                      std::to_string(w.cols));
  if (in_scheme.bits != 8 || !in_scheme.symmetric || in_params.zero_point != 0)
    throw FormatError("channel linear: input scheme " + quant::activation_scheme_name(in_scheme) +
                      " is not 8-bit symmetric; the integer kernel takes int8 codes");
  const float s_in = quant::round_scale_to(in_params.scale, in_scheme.compute_dtype);
  Matrix y(x.rows(), w.rows);
  std::vector<int16_t> levels(size_t(w.cols));
  std::vector<int8_t> codes(size_t(w.cols));
  std::vector<int32_t> sums(size_t(w.rows));
  for (int64_t t = 0; t < x.rows(); ++t) {
    quant::activation_encode(in_scheme, in_params, x.row(t).data(), levels.data(), w.cols);
    for (int64_t k = 0; k < w.cols; ++k) codes[k] = int8_t(levels[k]);
    channel_int_matvec(w.bits, w.levels.data(), w.rows, codes.data(), w.cols, sums.data(), isa);
    for (int64_t r = 0; r < w.rows; ++r) y(t, r) = (float(sums[r]) * s_in) * w.scales[r];
  }
  return y;
}

}  // namespace gq::engine
