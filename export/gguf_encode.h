// Float rows -> the bytes of one ggml type: plain casts (F32, F16, BF16) or GGUF blocks (Q8_0, Q4_0,
// Q2_0) through the codecs in formats/quant, with ggml's RTN rule or with given (learned) scales.
#pragma once
#include <cstdint>
#include <string>

#include "formats/gguf.h"
#include "io/dtype.h"

namespace gq {

// The ggml types the exporters write.
bool gguf_encodable(GgmlType t);
// Values per scale for Q8_0 / Q4_0 / Q2_0; 0 for the plain types.
int64_t gguf_block_values(GgmlType t);

// Encodes x [rows, cols] (row-major, blocks along a row) into rows * ggml_row_bytes(type, cols)
// bytes. `scales` ([rows, cols / block], as the codecs take them) replaces ggml's RTN for the block
// types; nullptr means RTN. Throws FormatError naming `what` and the row for NaN/Inf input, a value
// that overflows F16/BF16, or a block the codec rejects.
void encode_rows(GgmlType type, const float* x, int64_t rows, int64_t cols, const float* scales, uint8_t* out,
                 const std::string& what, int64_t first_row = 0);

// Rounds x [rows, cols] in place to `t` (F16 or BF16, nearest even; F32: unchanged), for an F32
// tensor that holds a float dtype's values. FormatError naming `what` and the row for a value that
// overflows `t`.
void round_rows_to(DType t, float* x, int64_t rows, int64_t cols, const std::string& what, int64_t first_row = 0);

}  // namespace gq
