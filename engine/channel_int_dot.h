// Fast mode's integer dot for native mobile files (issue 13): one row of static int8 activation
// codes (quant/activation.h, int8_sym: -128..127) times one row of channel-wise packed weight
// levels (docs/native-format.md "Packed levels": int8, int4 or int2, two's complement), summed
// exactly in integers. The result is the int32 sum itself, so every instruction set gives the same
// value by construction (no float summation order to fix); the caller rescales it once per output
// by the activation scale and the row's channel scale.
//
// Exactness bound: |a| <= 128 and |w| <= 128, so n * 128 * 128 <= 2^31 - 1 holds for n <= 131071;
// longer rows are refused (kMaxChannelDotLength).
//
// channel_grid_dot (below) is the kernel channel_linear runs: the same packed levels, each looked
// up in its row's integer table, times the input's integers, summed exactly in int64.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/int_dot.h"

namespace gq::engine {

constexpr int64_t kMaxChannelDotLength = 131071;

// Bytes of one packed row of n levels `bits` wide (8, 4 or 2).
size_t channel_row_bytes(int bits, int64_t n);

using ChannelDotFn = int32_t (*)(const uint8_t* w, const int8_t* a, int64_t n);
// The kernel for `bits`-wide levels on `isa` (which must be supported); nullptr for other widths.
ChannelDotFn channel_int_dot_kernel(int bits, Isa isa);

// Σ level_i · a_i over one packed weight row and n activation codes, on `isa`. FormatError for a
// width without a kernel or n outside [0, kMaxChannelDotLength].
int32_t channel_int_dot(int bits, const uint8_t* w, const int8_t* a, int64_t n, Isa isa);

// rows packed weight rows (channel_row_bytes apart) against one activation row: out[r] is
// channel_int_dot of row r, rows split over the engine's thread pool (integer results, so the
// split cannot change them).
void channel_int_matvec(int bits, const uint8_t* w, int64_t rows, const int8_t* a, int64_t n, int32_t* out, Isa isa);

// ---- The exact-grid dot of engine/channel_linear.h ----
//
// Σ grid[level_i & (2^bits - 1)] · j_i over one packed row of n levels: grid the row's table of
// integers k, j the input's integers. The value is the exact int64 sum on every ISA (integer sums
// only). The SIMD kernels look the levels up as int16 (int4 / int2: byte shuffles of the table's
// low and high bytes, GridRow::split; int8: gathers from the int32 table), multiply pairs into
// int32 (madd / dpwssd) and flush the int32 lanes to int64 before their sum could pass int32 (a
// bound from both operands' largest magnitude). They apply when every table entry and every j fits
// in int16 (|v| <= 32767); otherwise the scalar kernel runs (e.g. an f16 grid of int8 levels).

constexpr int32_t kGridSimdMaxAbs = 32767;

// One weight row's table.
struct GridRow {
  // 2^bits entries; may be null when the row's table follows from `split` (int4 / int2) or from
  // bf16_product_base (int8): grid_row_entry rebuilds it.
  const int32_t* grid = nullptr;
  const uint8_t* split = nullptr;  // int4 / int2: 32 bytes (split_grid_row), nullptr for int8
  int32_t max_abs = 0;             // max |grid entry|
  // int8: m when every entry is level * m rounded to 8 significant bits, as a bf16 scale's table is
  // (m = s / u); the kernel then computes entries (a multiply and a bf16 rounding) instead of
  // gathering them. 0 otherwise.
  int32_t bf16_product_base = 0;
};

// Entry `index` (a level's low `bits` bits) of a row's table, from grid, split or bf16_product_base.
int32_t grid_row_entry(int bits, const GridRow& row, int index);

// The bf16_product_base of a 2^bits table (grid[1] when the whole table follows the rule, else 0).
int32_t bf16_product_base(int bits, const int32_t* grid);

// int4 / int2 table as the byte shuffles read it: the int16 entries' low bytes (16, padded with
// zeros), then their high bytes. Entries must lie in int16 (only used when max_abs allows).
void split_grid_row(int bits, const int32_t* grid, uint8_t* out32);

// One token's input integers, prepared once for every row.
struct GridInput {
  int bits = 0;
  Isa isa = Isa::Scalar;
  int64_t n = 0;
  std::vector<int32_t> j;      // natural order: the scalar kernel and the SIMD kernels' tails
  std::vector<int16_t> lanes;  // whole blocks of j in the SIMD kernel's lane order; empty when none applies
  int32_t max_abs = 0;         // max |j|
};
void prepare_grid_input(int bits, Isa isa, const int32_t* j, int64_t n, GridInput& out);

// Whether channel_grid_dot takes its SIMD kernel for this row and input (the bounds above).
bool grid_dot_uses_simd(const GridRow& row, const GridInput& in);

// The sum above for one packed row against `in` (prepared for the same bits and a supported isa).
int64_t channel_grid_dot(const uint8_t* w, const GridRow& row, const GridInput& in);

}  // namespace gq::engine
