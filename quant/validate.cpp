#include "quant/validate.h"

#include <cmath>

#include "io/error.h"
#include "io/format_float.h"
#include "quant/rounding.h"

namespace gq::quant {

void fail(const std::string& message) { throw FormatError(message); }

void check_finite(const char* codec, const float* x, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      const char* what = std::isnan(x[i]) ? "NaN" : (x[i] > 0 ? "+Inf" : "-Inf");
      fail(std::string(codec) + ": input row " + std::to_string(i / cols) + ", element " +
           std::to_string(i % cols) + " is " + what + " (only finite values can be quantized)");
    }
  }
}

void check_shape(const char* codec, int64_t rows, int64_t cols, int64_t block, const char* what) {
  if (rows < 0 || cols < 0)
    fail(std::string(codec) + ": invalid shape [" + std::to_string(rows) + ", " +
         std::to_string(cols) + "]");
  if (block <= 0 || cols % block != 0)
    fail(std::string(codec) + ": row length " + std::to_string(cols) +
         " is not a multiple of the " + what + " size " + std::to_string(block));
}

void check_positive_scale(const char* codec, float given, float s, int64_t row, int64_t block) {
  if (std::isfinite(s) && s > 0) return;
  std::string msg = std::string(codec) + ": scale for row " + std::to_string(row);
  if (block >= 0) msg += ", block " + std::to_string(block);
  msg += " is " + format_float(given);
  if (!(std::isnan(given) && std::isnan(s)) && given != s) msg += " (stored as " + format_float(s) + ")";
  msg += "; it must be finite and > 0";
  fail(msg);
}

void check_nonzero_f16_scale(const char* codec, float given, float s16, int64_t row, int64_t block) {
  if (std::isfinite(s16) && s16 != 0) return;
  fail(std::string(codec) + ": scale for row " + std::to_string(row) + ", block " +
       std::to_string(block) + " is " + format_float(given) + ", which is " +
       (std::isfinite(s16) ? "zero" : "not finite") +
       " in fp16; it must be finite and nonzero after rounding to fp16");
}

void check_f16_storable(const char* codec, float d, int64_t row, int64_t block) {
  if (std::isfinite(round_to_f16(d))) return;
  fail(std::string(codec) + ": scale " + format_float(d) + " of row " + std::to_string(row) +
       ", block " + std::to_string(block) +
       " overflows fp16 (|scale| >= 65520); the block's values are too large for this format");
}

}  // namespace gq::quant
