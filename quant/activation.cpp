#include "quant/activation.h"

#include <cmath>

#include "io/format_float.h"
#include "quant/block_io.h"
#include "quant/rounding.h"
#include "quant/uniform.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

UniformSpec spec_for(const ActivationScheme& s, int64_t n) { return uniform_spec(s, n); }

void check_n(const ActivationScheme& s, int64_t n) {
  if (n < 0) fail(activation_scheme_name(s) + ": negative element count");
}

bool in_compute_dtype(const ActivationScheme& s) { return s.compute_dtype != DType::F32; }

// The scale as the runtime holds it, d(scale): finite and > 0.
float compute_scale(const ActivationScheme& s, const ActivationParams& p) {
  const float sd = round_scale_to(p.scale, s.compute_dtype);
  check_positive_scale(activation_scheme_name(s).c_str(), p.scale, sd, 0, -1);
  return sd;
}

// round_half_even(d(d(x) / s')) clamped, without the "+ 0": -0 stays -0, as torch.round gives it.
float compute_level(const ActivationScheme& s, float x, float sd) {
  const float xd = round_scale_to(x, s.compute_dtype);
  const float q = round_scale_to(xd / sd, s.compute_dtype);
  return clampf(std::nearbyint(q), float(s.qmin()), float(s.qmax()));
}

}  // namespace

ActivationParams activation_params_from_range(const ActivationScheme& scheme, float min_value,
                                              float max_value) {
  validate(scheme);
  const std::string name = activation_scheme_name(scheme);
  if (!std::isfinite(min_value) || !std::isfinite(max_value) || min_value > max_value)
    fail(name + ": invalid calibration range [" + format_float(min_value) + ", " +
         format_float(max_value) + "]");
  // The RTN rule of the engine applied to the two range end points gives exactly the formulas in
  // the header (amax over {min, max}; lo/hi clamped around 0).
  const float pts[2] = {min_value, max_value};
  ActivationParams p;
  float s = 0.0f;
  int32_t z = 0;
  ActivationScheme fp32 = scheme;
  fp32.compute_dtype = DType::F32;
  uniform_rtn_params(spec_for(fp32, 2), pts, &s, scheme.symmetric ? nullptr : &z, 1, 2);
  if (in_compute_dtype(scheme)) {
    const float sd = round_scale_to(s, scheme.compute_dtype);
    if (!std::isfinite(sd))
      fail(name + ": the scale of the range [" + format_float(min_value) + ", " + format_float(max_value) +
           "] overflows its compute dtype");
    s = std::fmax(sd, scale_tiny(scheme.compute_dtype));
  }
  p.scale = s;
  p.zero_point = z;
  return p;
}

void activation_encode(const ActivationScheme& scheme, const ActivationParams& params,
                       const float* x, int16_t* levels, int64_t n) {
  check_n(scheme, n);
  if (n == 0) return;
  if (in_compute_dtype(scheme)) {
    const float sd = compute_scale(scheme, params);
    check_finite(activation_scheme_name(scheme).c_str(), x, 1, n);
    for (int64_t i = 0; i < n; ++i) levels[i] = int16_t(compute_level(scheme, x[i], sd));
    return;
  }
  uniform_encode(spec_for(scheme, n), x, &params.scale, &params.zero_point, levels, 1, n);
}

void activation_dequantize(const ActivationScheme& scheme, const ActivationParams& params,
                           const int16_t* levels, float* y, int64_t n) {
  check_n(scheme, n);
  if (n == 0) return;
  if (in_compute_dtype(scheme)) {
    const float sd = compute_scale(scheme, params);
    for (int64_t i = 0; i < n; ++i) {
      if (levels[i] < scheme.qmin() || levels[i] > scheme.qmax())
        fail(activation_scheme_name(scheme) + ": level " + std::to_string(levels[i]) + " at element " +
             std::to_string(i) + " is out of range");
      const float prod = float(levels[i]) * sd;
      y[i] = round_scale_to(prod, scheme.compute_dtype);
    }
    return;
  }
  uniform_dequantize(spec_for(scheme, n), levels, &params.scale, &params.zero_point, y, 1, n);
}

void fake_quant_activation(const ActivationScheme& scheme, const ActivationParams& params,
                           const float* x, float* y, int64_t n) {
  check_n(scheme, n);
  if (n == 0) return;
  if (in_compute_dtype(scheme)) {
    const float sd = compute_scale(scheme, params);
    check_finite(activation_scheme_name(scheme).c_str(), x, 1, n);
    for (int64_t i = 0; i < n; ++i) {
      const float prod = compute_level(scheme, x[i], sd) * sd;
      y[i] = round_scale_to(prod, scheme.compute_dtype);
    }
    return;
  }
  uniform_fake_quant(spec_for(scheme, n), x, &params.scale, &params.zero_point, y, 1, n);
}

size_t activation_packed_bytes(const ActivationScheme& scheme, int64_t n) {
  validate(scheme);
  check_n(scheme, n);
  return size_t(n) * size_t(scheme.bits / 8);
}

void activation_pack(const ActivationScheme& scheme, const int16_t* levels, uint8_t* out, int64_t n) {
  validate(scheme);
  check_n(scheme, n);
  for (int64_t i = 0; i < n; ++i) {
    if (levels[i] < scheme.qmin() || levels[i] > scheme.qmax())
      fail(activation_scheme_name(scheme) + ": level " + std::to_string(levels[i]) +
           " at element " + std::to_string(i) + " is out of range");
    if (scheme.bits == 8)
      out[i] = uint8_t(int8_t(levels[i]));
    else
      store_u16le(out + 2 * i, uint16_t(levels[i]));
  }
}

void activation_unpack(const ActivationScheme& scheme, const uint8_t* in, int16_t* levels, int64_t n) {
  validate(scheme);
  check_n(scheme, n);
  for (int64_t i = 0; i < n; ++i)
    levels[i] = scheme.bits == 8 ? int16_t(int8_t(in[i])) : int16_t(load_u16le(in + 2 * i));
}

}  // namespace gq::quant
