#include "quant/grid_recovery.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "io/half.h"

namespace gq::quant {

namespace {

float round_to(DType t, float v) {
  switch (t) {
    case DType::BF16: return bf16_to_f32(f32_to_bf16(v));
    case DType::F16: return f16_to_f32(f32_to_f16(v));
    default: return v;
  }
}

// Tries scale s: fills levels and returns true if every value is reproduced.
bool try_scale(const GridSpec& spec, const float* x, DType source, float s, int8_t* levels) {
  for (int64_t i = 0; i < spec.block; ++i) {
    const float q = std::nearbyint(x[i] / s);
    if (!(q >= float(spec.qmin) && q <= float(spec.qmax))) return false;
    const float y = q * s;
    if (round_to(source, y) != x[i]) return false;
    levels[i] = int8_t(q);
  }
  return true;
}

// The closed interval of reals that round to x in the source dtype (a point for F32). Bounds are the
// midpoints to x's neighbours; whether a tie rounds to x is left to the final exact check.
void rounding_preimage(DType source, float x, double* lo, double* hi) {
  if (source == DType::F32) {
    *lo = *hi = x;
    return;
  }
  const int mant_bits = source == DType::BF16 ? 8 : 11;  // significant bits incl. the implicit one
  int e;
  std::frexp(x, &e);  // |x| in [2^(e-1), 2^e)
  const int min_e = source == DType::BF16 ? -125 : -13;
  const double ulp = std::ldexp(1.0, std::max(e, min_e) - mant_bits);
  // Below a normal power of two the spacing halves: the midpoint toward zero is a quarter ulp away.
  const bool power_of_two = std::fabs(x) == std::ldexp(1.0, e - 1) && e > min_e;
  const double toward_zero = power_of_two ? ulp / 4 : ulp / 2;
  *lo = double(x) - (x > 0 ? toward_zero : ulp / 2);
  *hi = double(x) + (x > 0 ? ulp / 2 : toward_zero);
}

// Rounds v to `bits` significant bits.
double round_to_bits(double v, int bits) {
  int e;
  const double m = std::frexp(v, &e);
  return std::ldexp(std::nearbyint(std::ldexp(m, bits)), e - bits);
}

enum class Pick { kFound, kNone, kUnstorable };

// Tries the scales in [lo, hi] (same sign), fewest significant bits first, and at each precision
// the ones strictly inside before the interval's ends: an end is a rounding tie of some value, which
// may round the other way. The first scale the storage dtype holds that reproduces the block wins;
// kUnstorable when only scales it cannot hold do.
Pick find_scale_in(const GridSpec& spec, const float* x, DType source, double lo, double hi, float* scale,
                   int8_t* levels) {
  const double mid = (lo + hi) / 2;
  const int max_bits = spec.scale_dtype == DType::F16 ? 11 : spec.scale_dtype == DType::BF16 ? 8 : 24;
  bool unstorable = false;
  float tried[3 * 24];  // three candidates per precision
  int n_tried = 0;
  auto attempt = [&](double v, int bits) {
    const float f = float(v);
    if (v < lo || v > hi || double(f) != v || f == 0.0f || !std::isfinite(f)) return false;
    if (std::find(tried, tried + n_tried, f) != tried + n_tried) return false;
    tried[n_tried++] = f;
    const bool storable = bits <= max_bits && round_to(spec.scale_dtype, f) == f;
    if (!try_scale(spec, x, source, f, levels)) return false;
    if (!storable) {
      unstorable = true;
      return false;
    }
    *scale = f;
    return true;
  };
  for (int bits = 1; bits <= 24; ++bits) {
    const double v = round_to_bits(mid, bits);
    int e;
    std::frexp(v, &e);
    const double step = std::ldexp(1.0, e - bits);
    const double near[3] = {v, v - step, v + step};
    for (int end = 0; end < 2; ++end)  // interior first, then the ends themselves
      for (double c : near)
        if (((c == lo || c == hi) == (end == 1)) && attempt(c, bits)) return Pick::kFound;
  }
  // Representable values at the interval's ends (e.g. subnormal fp16 scales).
  for (double end : {lo, hi}) {
    const float f = round_to(spec.scale_dtype, float(end));
    if (std::isfinite(f) && f != 0.0f && double(f) >= lo && double(f) <= hi && try_scale(spec, x, source, f, levels)) {
      *scale = f;
      return Pick::kFound;
    }
  }
  return unstorable ? Pick::kUnstorable : Pick::kNone;
}

// For extreme level c: the levels x / (m / c), the interval of scales that reproduce every value
// with them, and a storable scale in it that reproduces the block (levels filled).
Pick scale_for_level(const GridSpec& spec, const float* x, DType source, float m, int c, float* scale, int8_t* levels) {
  const double approx = double(m) / c;
  double lo = -INFINITY, hi = INFINITY;
  for (int64_t i = 0; i < spec.block; ++i) {
    const double q = std::nearbyint(double(x[i]) / approx);
    if (q < spec.qmin || q > spec.qmax) return Pick::kNone;
    if (q == 0) {
      if (x[i] != 0.0f) return Pick::kNone;
      continue;
    }
    double a, b;
    rounding_preimage(source, x[i], &a, &b);
    a /= q;
    b /= q;
    if (a > b) std::swap(a, b);
    lo = std::max(lo, a);
    hi = std::min(hi, b);
    if (lo > hi) return Pick::kNone;
  }
  return find_scale_in(spec, x, source, lo, hi, scale, levels);
}

}  // namespace

bool canonical_block_sign(const GridSpec& spec, int8_t* levels, float* scale) {
  if (!spec.signed_scale) return false;
  int64_t first = -1;
  for (int64_t i = 0; i < spec.block; ++i) {
    if (levels[i] == 0) return false;  // its zero carries the sign: recovery reads it from there
    if (first < 0 || std::abs(levels[i]) > std::abs(levels[first])) first = i;
  }
  if (levels[first] < 0) return false;
  for (int64_t i = 0; i < spec.block; ++i)
    if (-levels[i] < spec.qmin || -levels[i] > spec.qmax) return false;
  for (int64_t i = 0; i < spec.block; ++i) levels[i] = int8_t(-levels[i]);
  *scale = -*scale;
  return true;
}

bool block_reproduces(const GridSpec& spec, const float* x, DType source, const int8_t* levels, float scale) {
  for (int64_t i = 0; i < spec.block; ++i)
    if (round_to(source, float(levels[i]) * scale) != x[i]) return false;
  return true;
}

BlockGrid recover_block_grid(const GridSpec& spec, const float* x, DType source, int8_t* levels, float* scale,
                             const int8_t* rtn_levels, const float* rtn_scale) {
  float m = 0.0f;
  int zero_sign = 0;  // the sign of the block's first zero value: level 0 times the scale
  for (int64_t i = 0; i < spec.block; ++i) {
    if (!std::isfinite(x[i])) return BlockGrid::kOffGrid;
    if (std::fabs(x[i]) > std::fabs(m)) m = x[i];
    if (x[i] == 0.0f && zero_sign == 0) zero_sign = std::signbit(x[i]) ? -1 : 1;
  }
  // A signed scale of the other sign decodes the zeros as the other zero: the grid that wrote the
  // block had the zeros' sign, and is preferred where both signs fit.
  auto disagrees = [&](double s) { return spec.signed_scale && zero_sign != 0 && (s < 0 ? -1 : 1) != zero_sign; };
  if (rtn_levels && rtn_scale) {
    const float stored = round_to(spec.scale_dtype, *rtn_scale);
    if (std::isfinite(stored) && !disagrees(stored) && block_reproduces(spec, x, source, rtn_levels, stored)) {
      std::memcpy(levels, rtn_levels, size_t(spec.block));
      *scale = *rtn_scale;
      return BlockGrid::kOnGrid;
    }
  }
  if (m == 0.0f) return BlockGrid::kOffGrid;  // all zeros: RTN's grid is as good as any

  const int max_abs_level = std::max(std::abs(spec.qmin), std::abs(spec.qmax));
  // The level RTN gives the extreme value: always negative for a signed scale over a range with
  // more negative levels (Q4_0: d = m / -8, level -8); else of m's sign (a positive scale).
  const bool rtn_negative = spec.signed_scale && std::abs(spec.qmin) > std::abs(spec.qmax);
  bool unstorable = false;
  for (int a = 1; a <= max_abs_level; ++a) {
    for (int pass = 0; pass < 2; ++pass) {
      // pass 0: the level of RTN's sign (or the zeros' scale sign); pass 1: the other (signed scales only).
      if (pass == 1 && !spec.signed_scale) break;
      int preferred = rtn_negative ? -a : (m > 0 ? a : -a);
      if (disagrees(double(m) / preferred)) preferred = -preferred;
      const int c = pass == 0 ? preferred : -preferred;
      if (c < spec.qmin || c > spec.qmax) continue;
      float s;
      const Pick p = scale_for_level(spec, x, source, m, c, &s, levels);
      if (p == Pick::kUnstorable) unstorable = true;
      if (p == Pick::kFound) {
        *scale = s;
        return BlockGrid::kOnGrid;
      }
    }
  }
  if (unstorable) return BlockGrid::kScaleUnstorable;
  return BlockGrid::kOffGrid;
}

GridRecoveryCounts recover_rows(const GridSpec& spec, const float* x, DType source, int64_t rows, int64_t cols,
                                int8_t* levels, float* scales, int64_t probe_blocks) {
  GridRecoveryCounts n;
  const int64_t nb = cols / spec.block, total = rows * nb;
  // The probe: nonzero blocks searched and how many of them lie on a grid. All-zero blocks (padding
  // rows) are on every grid and say nothing about the tensor.
  int64_t probed = 0, probed_on_grid = 0;
  std::vector<int8_t> found(size_t(spec.block));
  for (int64_t i = 0; i < total; ++i) {
    if (probed == probe_blocks && 2 * probed_on_grid < probed) {  // an ordinary tensor: RTN from here
      n.unsearched = total - i;
      n.blocks += n.unsearched;
      return n;
    }
    ++n.blocks;
    const int64_t r = i / nb, b = i % nb;
    const float* xb = x + r * cols + b * spec.block;
    int8_t* lb = levels + r * cols + b * spec.block;
    bool zero = true;
    for (int64_t j = 0; j < spec.block && zero; ++j) zero = xb[j] == 0.0f;
    probed += !zero;
    float s = 0.0f;
    switch (recover_block_grid(spec, xb, source, found.data(), &s, lb, &scales[i])) {
      case BlockGrid::kOnGrid:
        ++n.on_grid;
        probed_on_grid += !zero;
        if (s != scales[i] || std::memcmp(found.data(), lb, size_t(spec.block)) != 0) {
          ++n.recovered;
          std::memcpy(lb, found.data(), size_t(spec.block));
          scales[i] = s;
        }
        break;
      case BlockGrid::kScaleUnstorable:
        ++n.scale_unstorable;
        probed_on_grid += !zero;
        break;
      case BlockGrid::kOffGrid: break;
    }
  }
  return n;
}

GridRecoveryCounts& GridRecoveryCounts::operator+=(const GridRecoveryCounts& o) {
  blocks += o.blocks;
  on_grid += o.on_grid;
  recovered += o.recovered;
  scale_unstorable += o.scale_unstorable;
  unsearched += o.unsearched;
  return *this;
}

std::string grid_recovery_summary(const std::map<std::string, GridRecoveryCounts>& by_type) {
  std::string out;
  for (const auto& [type, n] : by_type) {
    char line[320];
    std::snprintf(line, sizeof line, "%s: %lld of %lld blocks on a grid, %lld of them recovered (RTN would move them)",
                  type.c_str(), (long long)n.on_grid, (long long)n.blocks, (long long)n.recovered);
    out += (out.empty() ? "" : "; ") + std::string(line);
    if (n.scale_unstorable)
      out += ", " + std::to_string(n.scale_unstorable) + " on a grid whose scale fp16 cannot hold (RTN used)";
    if (n.unsearched) out += ", " + std::to_string(n.unsearched) + " not searched (their rows started off every grid)";
  }
  return out;
}

}  // namespace gq::quant
