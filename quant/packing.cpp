#include "quant/packing.h"

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

}  // namespace

int64_t ct_packed_cols(int64_t cols, int bits) {
  check_bits("pack-quantized", bits);
  return (cols * bits + 31) / 32;
}

void ct_pack_rows(const int8_t* levels, int32_t* out, int64_t rows, int64_t cols, int bits) {
  const char* what = "pack-quantized";
  check_bits(what, bits);
  check_dims(what, rows, cols);
  const int per = 32 / bits, offset = 1 << (bits - 1);
  const uint32_t mask = (1u << bits) - 1u;
  const int64_t pc = ct_packed_cols(cols, bits);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < pc; ++w) {
      uint32_t word = 0;
      for (int k = 0; k < per; ++k) {
        const int64_t c = w * per + k;
        if (c >= cols) break;
        const int v = levels[r * cols + c];
        check_level(what, v, bits, r * cols + c);
        word |= (uint32_t(v + offset) & mask) << (bits * k);
      }
      out[r * pc + w] = int32_t(word);
    }
  }
}

void ct_unpack_rows(const int32_t* in, int8_t* levels, int64_t rows, int64_t cols, int bits) {
  const char* what = "pack-quantized";
  check_bits(what, bits);
  check_dims(what, rows, cols);
  const int per = 32 / bits, offset = 1 << (bits - 1);
  const uint32_t mask = (1u << bits) - 1u;
  const int64_t pc = ct_packed_cols(cols, bits);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t word = uint32_t(in[r * pc + c / per]);
      levels[r * cols + c] = int8_t(int((word >> (bits * (c % per))) & mask) - offset);
    }
}

void ct_pack_cols(const int8_t* values, int32_t* out, int64_t rows, int64_t cols, int bits) {
  const char* what = "pack-quantized (dim 0)";
  check_bits(what, bits);
  check_dims(what, rows, cols);
  const int per = 32 / bits, offset = 1 << (bits - 1);
  const uint32_t mask = (1u << bits) - 1u;
  const int64_t pr = ct_packed_cols(rows, bits);
  for (int64_t w = 0; w < pr; ++w) {
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t word = 0;
      for (int k = 0; k < per; ++k) {
        const int64_t r = w * per + k;
        if (r >= rows) break;
        const int v = values[r * cols + c];
        check_level(what, v, bits, r * cols + c);
        word |= (uint32_t(v + offset) & mask) << (bits * k);
      }
      out[w * cols + c] = int32_t(word);
    }
  }
}

void ct_unpack_cols(const int32_t* in, int8_t* values, int64_t rows, int64_t cols, int bits) {
  const char* what = "pack-quantized (dim 0)";
  check_bits(what, bits);
  check_dims(what, rows, cols);
  const int per = 32 / bits, offset = 1 << (bits - 1);
  const uint32_t mask = (1u << bits) - 1u;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t word = uint32_t(in[(r / per) * cols + c]);
      values[r * cols + c] = int8_t(int((word >> (bits * (r % per))) & mask) - offset);
    }
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
