#include "quant/uniform.h"

#include <cmath>
#include <utility>
#include <vector>

#include "io/format_float.h"
#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

const char* dtype_label(DType t) {
  return t == DType::F16 ? "F16" : (t == DType::BF16 ? "BF16" : "F32");
}

void check_spec(const UniformSpec& spec, int64_t rows, int64_t cols) {
  const char* c = spec.codec.c_str();
  if (!(spec.qmin < 0 && spec.qmax > 0))
    fail(spec.codec + ": invalid level range [" + std::to_string(spec.qmin) + ", " +
         std::to_string(spec.qmax) + "]");
  if (spec.rounding == Rounding::kHalfUp) fail(spec.codec + ": half-up rounding is Q4_0-only");
  if (!is_scale_dtype(spec.scale_dtype)) fail(spec.codec + ": scale dtype must be F32, F16 or BF16");
  check_shape(c, rows, cols, spec.block, spec.block == cols ? "row" : "group");
}

// Block index to print: -1 when there is one scale per row.
int64_t block_label(const UniformSpec& spec, int64_t cols, int64_t b) {
  return spec.block == cols ? -1 : b;
}

float checked_scale(const UniformSpec& spec, const float* scales, int64_t row, int64_t nb,
                    int64_t b, int64_t cols) {
  const float given = scales[row * nb + b];
  const float s = round_scale_to(given, spec.scale_dtype);
  check_positive_scale(spec.codec.c_str(), given, s, row, block_label(spec, cols, b));
  return s;
}

int32_t checked_zero_point(const UniformSpec& spec, const int32_t* zps, int64_t row, int64_t nb,
                           int64_t b) {
  if (!spec.asymmetric) return 0;
  if (zps == nullptr) fail(spec.codec + ": asymmetric quantization needs zero points");
  const int32_t z = zps[row * nb + b];
  if (z < spec.qmin || z > spec.qmax)
    fail(spec.codec + ": zero point " + std::to_string(z) + " of row " + std::to_string(row) +
         " is outside [" + std::to_string(spec.qmin) + ", " + std::to_string(spec.qmax) + "]");
  return z;
}

// Rounds an RTN scale to the scale dtype and floors it at the dtype's smallest normal.
float finish_rtn_scale(const UniformSpec& spec, float s, int64_t row, int64_t b, int64_t cols) {
  float r = round_scale_to(s, spec.scale_dtype);
  if (!std::isfinite(r)) {
    std::string msg = spec.codec + ": the scale of row " + std::to_string(row);
    if (block_label(spec, cols, b) >= 0) msg += ", block " + std::to_string(b);
    fail(msg + " (" + format_float(s) + ") overflows " + dtype_label(spec.scale_dtype) +
         "; the values are too large for this scheme");
  }
  const float tiny = scale_tiny(spec.scale_dtype);
  return r < tiny ? tiny : r;
}

float finish_value(const UniformSpec& spec, float y, int64_t index, int64_t cols) {
  const float r = round_scale_to(y, spec.scale_dtype);
  if (!std::isfinite(r))
    fail(spec.codec + ": the dequantized value at row " + std::to_string(index / cols) +
         ", element " + std::to_string(index % cols) + " overflows " +
         dtype_label(spec.scale_dtype));
  return r;
}

// What every spec starts from: symmetric, amax / qmax, half-even, an fp32 scale.
UniformSpec symmetric_spec(std::string codec, int qmin, int qmax, int64_t block) {
  UniformSpec u;
  u.codec = std::move(codec);
  u.qmin = qmin;
  u.qmax = qmax;
  u.block = block;
  u.asymmetric = false;
  u.rounding = Rounding::kHalfEven;
  u.scale_dtype = DType::F32;
  u.sym_divisor = float(qmax);
  return u;
}

}  // namespace

UniformSpec uniform_spec(const WeightScheme& s, int64_t cols) {
  validate(s);
  if (s.kind != WeightKind::kChannel && s.kind != WeightKind::kGroup)
    fail("quant scheme " + weight_scheme_name(s) + " is a GGUF block type, not a uniform codec");
  const bool channel = s.kind == WeightKind::kChannel;  // ai-edge-quantizer: amax / qmax
  UniformSpec u = symmetric_spec(weight_scheme_name(s), s.qmin(), s.qmax(), channel ? cols : s.group);
  u.scale_dtype = s.scale_dtype;
  if (!channel) {  // compressed-tensors: amax / ((qmax - qmin) / 2), z added before rounding
    u.asymmetric = !s.symmetric;
    u.zp_before_round = true;
    u.sym_divisor = float(s.qmax() - s.qmin()) / 2.0f;
  }
  return u;
}

UniformSpec uniform_spec(const ActivationScheme& s, int64_t n) {
  validate(s);
  UniformSpec u = symmetric_spec(activation_scheme_name(s), s.qmin(), s.qmax(), n);
  u.asymmetric = !s.symmetric;
  u.zp_before_round = false;
  u.rounding = s.rounding;
  return u;
}

UniformSpec uniform_spec(const KvScheme& s, int64_t head_dim) {
  validate(s);
  if (s.ggml_blocks) fail(kv_scheme_name(s) + ": ggml blocks are the Q8_0 / Q4_0 codecs' (kv_block_weight_scheme), not a row scale");
  return symmetric_spec(kv_scheme_name(s), s.qmin(), s.qmax(), head_dim);
}

void uniform_rtn_params(const UniformSpec& spec, const float* x, float* scales,
                        int32_t* zero_points, int64_t rows, int64_t cols) {
  check_spec(spec, rows, cols);
  check_finite(spec.codec.c_str(), x, rows, cols);
  if (spec.asymmetric && zero_points == nullptr)
    fail(spec.codec + ": asymmetric quantization needs zero points");
  const int64_t nb = cols / spec.block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + r * cols + b * spec.block;
      if (!spec.asymmetric) {
        float amax = 0.0f;
        for (int64_t j = 0; j < spec.block; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
        scales[r * nb + b] = finish_rtn_scale(spec, amax / spec.sym_divisor, r, b, cols);
        continue;
      }
      float lo = 0.0f, hi = 0.0f;
      for (int64_t j = 0; j < spec.block; ++j) {
        lo = std::fmin(lo, xb[j]);
        hi = std::fmax(hi, xb[j]);
      }
      const float range = hi - lo;
      const float s = finish_rtn_scale(spec, range / float(spec.qmax - spec.qmin), r, b, cols);
      const float t = lo / s;
      const float z = clampf(float(spec.qmin) - t, float(spec.qmin), float(spec.qmax));
      scales[r * nb + b] = s;
      zero_points[r * nb + b] = int32_t(round_half_even(z));
    }
  }
}

template <class L>
void uniform_encode(const UniformSpec& spec, const float* x, const float* scales,
                    const int32_t* zero_points, L* levels, int64_t rows, int64_t cols) {
  check_spec(spec, rows, cols);
  check_finite(spec.codec.c_str(), x, rows, cols);
  const int64_t nb = cols / spec.block;
  const bool half_even = spec.rounding == Rounding::kHalfEven;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float s = checked_scale(spec, scales, r, nb, b, cols);
      const int32_t z = checked_zero_point(spec, zero_points, r, nb, b);
      const bool before = spec.asymmetric && spec.zp_before_round;
      const int32_t add = before ? 0 : z;  // added to the rounded value
      const float lo = float(spec.qmin - add), hi = float(spec.qmax - add);
      const int64_t o = r * cols + b * spec.block;
      for (int64_t j = 0; j < spec.block; ++j) {
        float v = x[o + j] / s;
        if (before) v = v + float(z);
        if (v < lo) v = lo;  // clamping first keeps the conversion defined; bounds are integers
        if (v > hi) v = hi;
        const long q = half_even ? std::lrint(v) : std::lround(v);
        levels[o + j] = L(q + add);
      }
    }
  }
}

template <class L>
void uniform_dequantize(const UniformSpec& spec, const L* levels, const float* scales,
                        const int32_t* zero_points, float* y, int64_t rows, int64_t cols) {
  check_spec(spec, rows, cols);
  const int64_t nb = cols / spec.block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float s = checked_scale(spec, scales, r, nb, b, cols);
      const int32_t z = checked_zero_point(spec, zero_points, r, nb, b);
      const int64_t o = r * cols + b * spec.block;
      for (int64_t j = 0; j < spec.block; ++j) {
        const int q = int(levels[o + j]);
        if (q < spec.qmin || q > spec.qmax)
          fail(spec.codec + ": level " + std::to_string(q) + " at row " + std::to_string(r) +
               ", element " + std::to_string(b * spec.block + j) + " is outside [" +
               std::to_string(spec.qmin) + ", " + std::to_string(spec.qmax) + "]");
        y[o + j] = finish_value(spec, float(q - z) * s, o + j, cols);
      }
    }
  }
}

void uniform_fake_quant(const UniformSpec& spec, const float* x, const float* scales,
                        const int32_t* zero_points, float* y, int64_t rows, int64_t cols) {
  check_spec(spec, rows, cols);
  const int64_t nb = cols / spec.block;
  std::vector<float> rtn_scales;
  std::vector<int32_t> rtn_zps;
  if (scales == nullptr) {
    rtn_scales.resize(size_t(rows * nb));
    if (spec.asymmetric) rtn_zps.resize(size_t(rows * nb));
    uniform_rtn_params(spec, x, rtn_scales.data(), spec.asymmetric ? rtn_zps.data() : nullptr, rows,
                       cols);
    scales = rtn_scales.data();
    zero_points = spec.asymmetric ? rtn_zps.data() : nullptr;
  } else {
    check_finite(spec.codec.c_str(), x, rows, cols);
  }
  const float qmin = float(spec.qmin), qmax = float(spec.qmax);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float s = checked_scale(spec, scales, r, nb, b, cols);
      const float zf = float(checked_zero_point(spec, zero_points, r, nb, b));
      const int64_t o = r * cols + b * spec.block;
      for (int64_t j = 0; j < spec.block; ++j) {
        float v = x[o + j] / s;
        if (spec.asymmetric && spec.zp_before_round) v = v + zf;
        float q = spec.rounding == Rounding::kHalfEven ? round_half_even(v) : round_half_away(v);
        if (spec.asymmetric && !spec.zp_before_round) q = q + zf;
        q = clampf(q, qmin, qmax);
        const float d = spec.asymmetric ? q - zf : q;
        y[o + j] = finish_value(spec, d * s, o + j, cols);
      }
    }
  }
}

template void uniform_encode<int8_t>(const UniformSpec&, const float*, const float*,
                                     const int32_t*, int8_t*, int64_t, int64_t);
template void uniform_encode<int16_t>(const UniformSpec&, const float*, const float*,
                                      const int32_t*, int16_t*, int64_t, int64_t);
template void uniform_dequantize<int8_t>(const UniformSpec&, const int8_t*, const float*,
                                         const int32_t*, float*, int64_t, int64_t);
template void uniform_dequantize<int16_t>(const UniformSpec&, const int16_t*, const float*,
                                          const int32_t*, float*, int64_t, int64_t);

}  // namespace gq::quant
