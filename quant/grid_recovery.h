// Grid recovery: finding the scale and levels of a block that already lies on a quantization grid.
//
// A QAT checkpoint saved "unquantized" (what `export --format hf` writes, what Google ships for
// conversion) holds weights w = level * s per block, possibly rounded once more to the checkpoint's
// dtype. Re-quantizing such a block with RTN picks another scale whenever the block's extreme level
// is not the one RTN assumes (Q4_0: -8), and so moves every value. Recovery searches the scale
// instead: for a block x it looks for a scale s, representable in the scale's storage dtype, and
// levels q in [qmin, qmax] such that round_to(source dtype, q * s) == x for every value.
//
// Search: the value m of largest |x| must be some nonzero level c times s. For each c (|c|
// ascending, so the largest scale and smallest levels win where several grids fit; for equal |c|
// the sign RTN gives the extreme value, e.g. negative for Q4_0), the levels are x / (m / c); each
// value then confines s to the interval its source-dtype rounding allows, and the scales in the
// intersection that the storage dtype holds are checked exactly, fewest significant bits first (a
// bf16 scale stored in an fp16 field comes back as itself), the interval's ends last at each
// precision (they are rounding ties, which may go the other way). A block RTN already reproduces
// keeps RTN's result, so recovery is idempotent with RTN.
//
// Ambiguity: a block whose levels share a factor, or (signed scales) one without the level only one
// sign has, fits several grids that decode to the same values; the order above picks one. A zero
// value carries its scale's sign (level 0 times s is -0 for a negative s), so a signed scale of the
// zeros' sign goes first. Writers of signed grids that want their blocks back byte for byte store a
// zero-free mirrored block in canonical_block_sign's form.
//
// Cost: one pass per candidate level that stops at the first value off the grid; random (off-grid)
// blocks usually stop within a few values.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "io/dtype.h"

namespace gq::quant {

struct GridSpec {
  int64_t block = 32;                // values per scale (the row length for channel-wise schemes)
  int qmin = -8, qmax = 7;           // levels
  DType scale_dtype = DType::F16;    // what the file stores the scale in: F16, BF16 or F32
  bool signed_scale = false;         // the format stores a signed scale (ggml's Q4_0 / Q2_0 d)
};

// The canonical sign of a signed-scale block with no zero level (whose mirror, -levels with -scale,
// decodes to the bit-identical values): the first level of largest magnitude negative, as RTN and
// recovery give it. Flips levels and scale in place where needed and possible; returns whether it did.
bool canonical_block_sign(const GridSpec& spec, int8_t* levels, float* scale);

enum class BlockGrid {
  kOnGrid,           // levels and scale found (possibly RTN's own)
  kOffGrid,          // no grid fits: the caller uses RTN
  kScaleUnstorable,  // a grid fits only with a scale the storage dtype cannot hold (e.g. a bf16
                     // scale outside fp16's range): the caller uses RTN and warns
};

// Searches block x[0 .. spec.block) read from a checkpoint of `source` dtype (F32, BF16 or F16; the
// values are that dtype's, widened to float). On kOnGrid fills levels[0 .. block) and *scale (a
// value exactly representable in spec.scale_dtype, nonzero). Non-finite input gives kOffGrid.
// `rtn_levels` / `rtn_scale`, if non-null, are RTN's result for the block: when it reproduces x it
// is returned unchanged.
BlockGrid recover_block_grid(const GridSpec& spec, const float* x, DType source, int8_t* levels, float* scale,
                             const int8_t* rtn_levels = nullptr, const float* rtn_scale = nullptr);

// Whether round_to(source, level * scale) == x for the whole block (the check recovery applies).
bool block_reproduces(const GridSpec& spec, const float* x, DType source, const int8_t* levels, float scale);

struct GridRecoveryCounts {
  int64_t blocks = 0;
  int64_t on_grid = 0;           // kept RTN's grid or recovered one
  int64_t recovered = 0;         // of on_grid: a grid RTN would not have found
  int64_t scale_unstorable = 0;  // fell back to RTN with a warning
  int64_t unsearched = 0;        // left to RTN unsearched: the probe at the start of their rows found no grid
  GridRecoveryCounts& operator+=(const GridRecoveryCounts& o);
};

// Nonzero blocks recover_rows searches before it decides whether the rest is worth searching. A
// checkpoint on a grid has (nearly) every block on it, an ordinary one (almost) none, so the first
// blocks tell which: under half of them on a grid, and the rest keep RTN unsearched (rows whose grid
// starts only later are then written with RTN). Off-grid search costs several times RTN per block.
constexpr int64_t kGridProbeBlocks = 64;

// Recovery over rows x [rows, cols] (row-major, blocks of spec.block along a row). On entry
// `levels` [rows, cols] and `scales` [rows, cols / block] hold RTN's result (scales as RTN computes
// them, before the storage rounding); on return, the recovered grid wherever one was found and RTN's
// elsewhere. If under half of the first `probe_blocks` nonzero blocks lie on a grid, the rest keep
// RTN unsearched.
GridRecoveryCounts recover_rows(const GridSpec& spec, const float* x, DType source, int64_t rows, int64_t cols,
                                int8_t* levels, float* scales, int64_t probe_blocks = kGridProbeBlocks);

// One line for the counts per ggml type name ("Q4_0: 4096 of 4096 blocks on a grid, 1032 of them
// recovered (RTN moves them); ..."); "" when there are none.
std::string grid_recovery_summary(const std::map<std::string, GridRecoveryCounts>& by_type);

}  // namespace gq::quant
