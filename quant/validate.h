// Input validation shared by the codecs. Every failure is a gq::FormatError whose message names the
// codec and the offending row / element / block, e.g.
//   "q4_0: input row 3, element 17 is NaN"
//   "int4_g128: row length 100 is not a multiple of the group size 128"
#pragma once
#include <cstdint>
#include <string>

namespace gq::quant {

// Throws unless every x[r * cols + c] is finite.
void check_finite(const char* codec, const float* x, int64_t rows, int64_t cols);

// Throws unless rows >= 0, cols >= 0 and cols % block == 0 (`what` is "block" or "group").
void check_shape(const char* codec, int64_t rows, int64_t cols, int64_t block, const char* what);

// Throws if the scale of (row, block) is not finite or not > 0. `s` is the value after rounding to
// the stored dtype; `given` the value the caller passed (printed when they differ).
void check_positive_scale(const char* codec, float given, float s, int64_t row, int64_t block);

// For the GGUF block codecs, whose scale is signed: throws unless the fp16-rounded scale `s16` is
// finite and nonzero.
void check_nonzero_f16_scale(const char* codec, float given, float s16, int64_t row, int64_t block);

// Throws unless the fp16 scale a block codec is about to store is finite (an RTN scale that
// overflows fp16 cannot be written to a GGUF: llama.cpp rejects non-finite block scales).
void check_f16_storable(const char* codec, float d, int64_t row, int64_t block);

[[noreturn]] void fail(const std::string& message);

}  // namespace gq::quant
