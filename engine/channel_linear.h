// A native mobile Linear in fast mode, computing exactly what the fake-quant model's products are:
// that model multiplies the bf16 (or f16) rounded values d(level · s_row) and d(code · s_in). Both
// lie on integer grids: a value of a 2^p-mantissa dtype at least as large as its scale s is a
// multiple of 2^(exponent(s) - p), so d(level · s_row) = k · u_row and d(code · s_in) = j · u_in with
// integers k (one table entry per level and row, built once at load) and j (per token), and powers
// of two u. Each output is the exact int64 sum Σ k j, scaled by u_row · u_in (exact) and rounded
// once to float32: the correctly rounded value of the fake-quant model's exact sum, so only that
// model's float32 accumulation order separates the two.
//
// The weights stay packed (their levels; the table holds 2^bits entries per row). The sums run in
// channel_grid_dot (engine/channel_int_dot.h): SIMD where the table and input fit its bounds.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/int_dot.h"
#include "engine/ops.h"
#include "quant/activation.h"
#include "quant/scheme.h"

namespace gq::engine {

struct PackedChannelWeight {
  int bits = 4;                 // 8, 4 or 2
  int64_t rows = 0, cols = 0;   // [out, in]
  std::vector<uint8_t> levels;  // rows * channel_row_bytes(bits, cols), docs/native-format.md
  std::vector<float> scales;    // one per row, widened from the file's scale dtype
  DType scale_dtype = DType::BF16;
  // Filled by build_level_grid: grid[r << bits | (level & mask)] = k (empty when every row's table
  // follows from grid_split or grid_product_base, see GridRow), and the row's unit u; per row
  // max |k|, (int4 / int2) the table as channel_grid_dot's byte shuffles read it, 32 bytes, and
  // (int8) whether the kernel may compute the table's entries.
  std::vector<int32_t> grid;
  std::vector<double> unit;
  std::vector<int32_t> grid_max_abs;
  std::vector<uint8_t> grid_split;
  std::vector<int32_t> grid_product_base;  // int8: GridRow::bf16_product_base per row

  // Memory it holds (levels, scales and the tables).
  size_t bytes() const {
    return levels.size() + scales.size() * sizeof(float) + grid.size() * sizeof(int32_t) + unit.size() * sizeof(double) +
           grid_max_abs.size() * sizeof(int32_t) + grid_split.size() + grid_product_base.size() * sizeof(int32_t);
  }
};

// Whether the exact-grid kernel covers a weight with this scale dtype and an input scheme: BF16 or
// F16 for both (an f32 grid would not fit the int64 sums), the input 8-bit symmetric.
bool has_level_grid(DType scale_dtype, const quant::ActivationScheme& in_scheme);

// Fills w.grid and w.unit from w.scales; FormatError naming `what` if a rounded value is not on its
// grid (a subnormal scale).
void build_level_grid(PackedChannelWeight& w, const std::string& what);

// x [T, cols] -> [T, rows] as described above. FormatError when x's width is not cols or
// has_level_grid does not hold. Deterministic whatever the thread count (integer sums).
Matrix channel_linear(const Matrix& x, const PackedChannelWeight& w, const quant::ActivationScheme& in_scheme,
                      const quant::ActivationParams& in_params, Isa isa);

}  // namespace gq::engine
