#include "quant/packing.h"

#include <algorithm>
#include <string>

#include "quant/validate.h"

namespace gq::quant {
namespace {

void check_bits(const char* what, int bits) {
  if (bits != 1 && bits != 2 && bits != 4 && bits != 8)
    fail(std::string(what) + ": unsupported bit width " + std::to_string(bits) +
         " (packing supports 1, 2, 4, 8)");
}

void check_dims(const char* what, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0)
    fail(std::string(what) + ": invalid shape [" + std::to_string(rows) + ", " +
         std::to_string(cols) + "]");
}

void check_level(const char* what, int v, int bits, int64_t index) {
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  if (v < lo || v > hi)
    fail(std::string(what) + ": value " + std::to_string(v) + " at flat index " +
         std::to_string(index) + " does not fit in a signed " + std::to_string(bits) + "-bit integer");
}

// compressed-tensors int32 words along dim 1 (each row packed) or dim 0 (each column packed): `per`
// values of `bits` each, offset by +2^(bits-1), LSB first; the last word of a row / column padded.
struct Int32Words {
  const char* what;
  int dim, bits, per, offset;
  uint32_t mask;

  // Calls fn(word, first, stride, n) for every word, in the order of the output: word gets values
  // first, first + stride, ... (n of them; flat indices into the [rows, cols] values).
  template <class Fn>
  void for_each_word(int64_t rows, int64_t cols, Fn fn) const {
    if (dim == 1) {
      const int64_t pc = ct_packed_cols(cols, bits);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < pc; ++k)
          fn(r * pc + k, r * cols + k * per, int64_t(1), std::min<int64_t>(per, cols - k * per));
    } else {
      const int64_t pr = ct_packed_cols(rows, bits);
      for (int64_t k = 0; k < pr; ++k)
        for (int64_t c = 0; c < cols; ++c)
          fn(k * cols + c, k * per * cols + c, cols, std::min<int64_t>(per, rows - k * per));
    }
  }
};

// The lambdas copy what they use: with captured references every store could alias the layout and
// the array pointers, which then are reloaded per value (measured: 3x slower).
void pack_words(const Int32Words w, const int8_t* values, int32_t* out, int64_t rows, int64_t cols) {
  w.for_each_word(rows, cols, [=](int64_t word, int64_t first, int64_t stride, int64_t n) {
    uint32_t packed = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int v = values[first + k * stride];
      check_level(w.what, v, w.bits, first + k * stride);
      packed |= (uint32_t(v + w.offset) & w.mask) << (w.bits * k);
    }
    out[word] = int32_t(packed);
  });
}

void unpack_words(const Int32Words w, const int32_t* in, int8_t* values, int64_t rows, int64_t cols) {
  w.for_each_word(rows, cols, [=](int64_t word, int64_t first, int64_t stride, int64_t n) {
    const uint32_t packed = uint32_t(in[word]);
    for (int64_t k = 0; k < n; ++k)
      values[first + k * stride] = int8_t(int((packed >> (w.bits * k)) & w.mask) - w.offset);
  });
}

Int32Words int32_words(int dim, int bits, int64_t rows, int64_t cols) {
  const char* what = dim == 1 ? "pack-quantized" : "pack-quantized (dim 0)";
  check_bits(what, bits);
  check_dims(what, rows, cols);
  return {what, dim, bits, 32 / bits, 1 << (bits - 1), (1u << bits) - 1u};
}

}  // namespace

int64_t ct_packed_cols(int64_t cols, int bits) {
  check_bits("pack-quantized", bits);
  return (cols * bits + 31) / 32;
}

void ct_pack_rows(const int8_t* levels, int32_t* out, int64_t rows, int64_t cols, int bits) {
  pack_words(int32_words(1, bits, rows, cols), levels, out, rows, cols);
}

void ct_unpack_rows(const int32_t* in, int8_t* levels, int64_t rows, int64_t cols, int bits) {
  unpack_words(int32_words(1, bits, rows, cols), in, levels, rows, cols);
}

void ct_pack_cols(const int8_t* values, int32_t* out, int64_t rows, int64_t cols, int bits) {
  pack_words(int32_words(0, bits, rows, cols), values, out, rows, cols);
}

void ct_unpack_cols(const int32_t* in, int8_t* values, int64_t rows, int64_t cols, int bits) {
  unpack_words(int32_words(0, bits, rows, cols), in, values, rows, cols);
}

size_t tflite_packed_bytes(int64_t n, int bits) {
  check_bits("tflite packing", bits);
  if (n < 0) fail("tflite packing: negative element count");
  return size_t((n * bits + 7) / 8);
}

void tflite_pack(const int8_t* levels, uint8_t* out, int64_t n, int bits) {
  const char* what = "tflite packing";
  const size_t nbytes = tflite_packed_bytes(n, bits);
  for (size_t i = 0; i < nbytes; ++i) out[i] = 0;
  const int per = 8 / bits;
  const unsigned mask = (1u << bits) - 1u;
  for (int64_t k = 0; k < n; ++k) {
    check_level(what, levels[k], bits, k);
    out[k / per] = uint8_t(out[k / per] | ((unsigned(levels[k]) & mask) << (bits * (k % per))));
  }
}

void tflite_unpack(const uint8_t* in, int8_t* levels, int64_t n, int bits) {
  tflite_packed_bytes(n, bits);  // validates
  const int per = 8 / bits;
  const unsigned mask = (1u << bits) - 1u, sign = 1u << (bits - 1);
  for (int64_t k = 0; k < n; ++k) {
    const unsigned u = (unsigned(in[k / per]) >> (bits * (k % per))) & mask;
    levels[k] = int8_t(int(u ^ sign) - int(sign));  // sign-extend
  }
}

}  // namespace gq::quant
