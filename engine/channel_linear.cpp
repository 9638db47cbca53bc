#include "engine/channel_linear.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "engine/channel_int_dot.h"
#include "engine/thread_pool.h"
#include "io/error.h"
#include "quant/rounding.h"

namespace gq::engine {
namespace {

int mantissa_bits(DType t) { return t == DType::BF16 ? 7 : 10; }

// The grid unit of values rounded to `t` that are at least |s| in magnitude: 2^(exponent(s) - p).
double grid_unit(float s, DType t) {
  int e;
  std::frexp(s, &e);  // s = m 2^e, m in [0.5, 1)
  return std::ldexp(1.0, e - 1 - mantissa_bits(t));
}

// v / u as an integer; FormatError when v is not on the grid.
int64_t on_grid(double v, double u, const std::string& what) {
  const double k = v / u;
  if (k != std::nearbyint(k) || std::abs(k) > double(int64_t(1) << 40))
    throw FormatError(what + ": value " + std::to_string(v) + " is not on its scale's grid (subnormal scale?)");
  return int64_t(k);
}

}  // namespace

bool has_level_grid(DType scale_dtype, const quant::ActivationScheme& in_scheme) {
  const auto grid_dtype = [](DType t) { return t == DType::BF16 || t == DType::F16; };
  return grid_dtype(scale_dtype) && grid_dtype(in_scheme.compute_dtype) && in_scheme.bits == 8 && in_scheme.symmetric;
}

void build_level_grid(PackedChannelWeight& w, const std::string& what) {
  const int levels = 1 << w.bits;
  w.grid.assign(size_t(w.rows) * size_t(levels), 0);
  w.unit.assign(size_t(w.rows), 0.0);
  w.grid_max_abs.assign(size_t(w.rows), 0);
  w.grid_split.assign(w.bits == 8 ? 0 : size_t(w.rows) * 32, 0);
  w.grid_product_base.assign(w.bits == 8 ? size_t(w.rows) : 0, 0);
  for (int64_t r = 0; r < w.rows; ++r) {
    const float s = w.scales[size_t(r)];
    w.unit[size_t(r)] = grid_unit(s, w.scale_dtype);
    for (int l = -levels / 2; l < levels / 2; ++l) {
      // What quant::dequantize_weight computes: the product in fp32, rounded to the scale dtype.
      const float v = quant::round_scale_to(float(l) * s, w.scale_dtype);
      const int64_t k = on_grid(v, w.unit[size_t(r)], what);
      w.grid[size_t(r) * levels + size_t(l & (levels - 1))] = int32_t(k);
      w.grid_max_abs[size_t(r)] = int32_t(std::min<int64_t>(INT32_MAX, std::max<int64_t>(w.grid_max_abs[size_t(r)], std::llabs(k))));
    }
    if (w.bits != 8 && w.grid_max_abs[size_t(r)] <= kGridSimdMaxAbs)
      split_grid_row(w.bits, w.grid.data() + size_t(r) * levels, w.grid_split.data() + size_t(r) * 32);
    if (w.bits == 8) w.grid_product_base[size_t(r)] = bf16_product_base(w.bits, w.grid.data() + size_t(r) * levels);
  }
  // When every row's table follows from what the SIMD kernels read (the split bytes; the bf16
  // product rule), the int32 tables are dropped: 1 KB per int8 row, 64 B per int4 row (E2B under
  // mobile-e2b-1gb: about 100 MB). grid_row_entry rebuilds an entry where the scalar path needs it.
  bool derivable = true;
  for (int64_t r = 0; r < w.rows && derivable; ++r)
    derivable = w.bits == 8 ? w.grid_product_base[size_t(r)] != 0 : w.grid_max_abs[size_t(r)] <= kGridSimdMaxAbs;
  if (derivable) {
    w.grid.clear();
    w.grid.shrink_to_fit();
  }
}

Matrix channel_linear(const Matrix& x, const PackedChannelWeight& w, const quant::ActivationScheme& in_scheme,
                      const quant::ActivationParams& in_params, Isa isa) {
  if (x.cols() != w.cols)
    throw FormatError("channel linear: input has " + std::to_string(x.cols()) + " columns, the weight " +
                      std::to_string(w.cols));
  if (!has_level_grid(w.scale_dtype, in_scheme) || in_params.zero_point != 0 || w.unit.empty())
    throw FormatError("channel linear: input scheme " + quant::activation_scheme_name(in_scheme) +
                      " with a weight grid in its scale dtype is not covered (8-bit symmetric, bf16 / f16)");
  const float s_in = quant::round_scale_to(in_params.scale, in_scheme.compute_dtype);
  const double u_in = grid_unit(s_in, in_scheme.compute_dtype);
  const int levels = 1 << w.bits;
  const size_t row_bytes = channel_row_bytes(w.bits, w.cols);
  Matrix y(x.rows(), w.rows);
  std::vector<int16_t> codes(size_t(w.cols));
  std::vector<int32_t> j(size_t(w.cols));
  // Tokens in chunks: each chunk's inputs prepared once, then one pass over the rows, every row
  // against all of them while its levels are in cache (one thread-pool job per chunk, not per token).
  constexpr int64_t kTokensPerChunk = 64;
  std::vector<GridInput> in(size_t(std::min<int64_t>(kTokensPerChunk, x.rows())));
  for (int64_t t0 = 0; t0 < x.rows(); t0 += kTokensPerChunk) {
    const int64_t nt = std::min<int64_t>(kTokensPerChunk, x.rows() - t0);
    for (int64_t i = 0; i < nt; ++i) {
      quant::activation_encode(in_scheme, in_params, x.row(t0 + i).data(), codes.data(), w.cols);
      for (int64_t k = 0; k < w.cols; ++k)
        j[size_t(k)] = int32_t(on_grid(quant::round_scale_to(float(codes[k]) * s_in, in_scheme.compute_dtype), u_in,
                                       "channel linear input"));
      prepare_grid_input(w.bits, isa, j.data(), w.cols, in[size_t(i)]);
    }
    // A thread's part is worth waking a worker for from 128K values (4x the float path's 32K
    // multiply-adds, engine/ops.cpp: these rows run ~4-6x faster).
    const int64_t rows_per_part = std::max<int64_t>(1, (int64_t(1) << 17) / std::max<int64_t>(1, w.cols * nt));
    engine_pool().run(w.rows, rows_per_part, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const GridRow row{w.grid.empty() ? nullptr : w.grid.data() + size_t(r) * levels,
                          w.grid_split.empty() ? nullptr : w.grid_split.data() + size_t(r) * 32,
                          w.grid_max_abs[size_t(r)],
                          w.grid_product_base.empty() ? 0 : w.grid_product_base[size_t(r)]};
        const uint8_t* row_levels = w.levels.data() + size_t(r) * row_bytes;
        for (int64_t i = 0; i < nt; ++i)
          y(t0 + i, r) = float(double(channel_grid_dot(row_levels, row, in[size_t(i)])) * w.unit[size_t(r)] * u_in);
      }
    });
  }
  return y;
}

}  // namespace gq::engine
