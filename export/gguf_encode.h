// Float rows -> the bytes of one ggml type: plain casts (F32, F16, BF16) or GGUF blocks (Q8_0, Q4_0,
// Q2_0) through the codecs in formats/quant, with ggml's RTN rule, with given (learned) scales, or
// with RTN where no grid is already there (quant/grid_recovery.h).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "formats/gguf.h"
#include "io/dtype.h"
#include "quant/grid_recovery.h"

namespace gq {

// The ggml types the exporters write.
bool gguf_encodable(GgmlType t);
// Values per scale for Q8_0 / Q4_0 / Q2_0; 0 for the plain types.
int64_t gguf_block_values(GgmlType t);

// The grid a block type's blocks can lie on (levels, fp16 scale, its sign), for recovery.
quant::GridSpec gguf_grid_spec(GgmlType t);

// Grid recovery on the RTN path: blocks of x that already lie on a grid of the type (a QAT
// checkpoint's weights, read from a `source`-dtype tensor) keep that grid's scale and levels.
struct GridRecoveryRequest {
  DType source = DType::F32;
  quant::GridRecoveryCounts* counts = nullptr;  // added to, if given
};

// Encodes x [rows, cols] (row-major, blocks along a row) into rows * ggml_row_bytes(type, cols)
// bytes. `scales` ([rows, cols / block], as the codecs take them) replaces ggml's RTN for the block
// types; nullptr means RTN, or RTN plus grid recovery with `recovery`. Throws FormatError naming
// `what` and the row for NaN/Inf input, a value that overflows F16/BF16, or a block the codec rejects.
void encode_rows(GgmlType type, const float* x, int64_t rows, int64_t cols, const float* scales, uint8_t* out,
                 const std::string& what, int64_t first_row = 0, const GridRecoveryRequest* recovery = nullptr);

// Rows of float32 values made on demand (a checkpoint's bf16 rows widened, say): rows(r0, n) gives
// rows [r0, r0 + n) of the array being encoded, n * cols values, valid until the next call.
using FloatRows = std::function<const float*(int64_t row0, int64_t n)>;
// The same bytes and errors as encode_rows on the whole array, asking `x` for a few rows at a time
// (about 64 KiB of floats, so that they stay in cache) where the encoding is per block; grid
// recovery asks for its probe's rows and, on a tensor that lies on a grid, for the rest at once.
void encode_rows(GgmlType type, const FloatRows& x, int64_t rows, int64_t cols, const float* scales, uint8_t* out,
                 const std::string& what, int64_t first_row = 0, const GridRecoveryRequest* recovery = nullptr);

// ggml's RTN block scales d (float32, before fp16 storage) of x [rows, cols] for a block type:
// [rows, cols / block]. FormatError naming `what` for a type without blocks or a block the codec rejects.
void gguf_rtn_scales(GgmlType type, const float* x, float* d, int64_t rows, int64_t cols, const std::string& what);

// Rounds x [rows, cols] in place to `t` (F16 or BF16, nearest even; F32: unchanged), for an F32
// tensor that holds a float dtype's values. FormatError naming `what` and the row for a value that
// overflows `t`.
void round_rows_to(DType t, float* x, int64_t rows, int64_t cols, const std::string& what, int64_t first_row = 0);

}  // namespace gq
