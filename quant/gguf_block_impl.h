// The loops of GgufBlockCodec (gguf_block.h), included only by the format files that instantiate
// it (q4_0.cpp, q8_0.cpp, q2_0.cpp). The format is a template parameter so that its block size,
// level range and rules are constants in the hot loops, as they were in three hand-written copies.
// Besides the members gguf_block.h lists, a format gives quantize_rtn a vector kernel, or none:
//   static int64_t rtn_blocks_fast(const float* x, uint8_t* out, int64_t blocks);
// encodes whole blocks from the first on, returns how many (0: none), and leaves the block it
// stops at to the portable loop, which is the definition of the bytes and of every error.
#pragma once
#include <cmath>
#include <string>

#include "io/half.h"
#include "quant/block_io.h"
#include "quant/gguf_block.h"
#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {

// ggml's roundf(x * id) (half away from zero) clamped to the level range, the RTN rule of Q8_0 and
// Q2_0: a format's rtn_code and rtn_level.
template <int kMin, int kMax>
struct RoundfRtnLevels {
  static int rtn_code(float p) {
    long q = std::lround(p);
    if (q < kMin) q = kMin;
    if (q > kMax) q = kMax;
    return int(q);
  }
  static float rtn_level(float p) { return clampf(round_half_away(p), float(kMin), float(kMax)); }
};

namespace gguf_block_detail {

[[noreturn]] inline void fail_rtn_scale(const char* codec, int64_t row, int64_t block) {
  fail(std::string(codec) + ": RTN scale of row " + std::to_string(row) + ", block " + std::to_string(block) +
       " is not finite");
}

[[noreturn]] inline void fail_stored_scale(const char* codec, int64_t row, int64_t block) {
  fail(std::string(codec) + ": block " + std::to_string(block) + " of row " + std::to_string(row) +
       " has a non-finite scale");
}

template <class F>
void check_input(const float* x, int64_t rows, int64_t cols) {
  check_shape(F::kLayout.codec, rows, cols, F::kLayout.block, "block");
  check_finite(F::kLayout.codec, x, rows, cols);
}

// Calls fn(row, block, index of the block's scale, offset of its first value) for every block. The
// callers' lambdas capture by value: with captured references every byte store could alias the
// array pointers, which then are reloaded in the inner loops (measured: pack 20% slower).
template <class F, class Fn>
void for_each_block(int64_t rows, int64_t cols, Fn fn) {
  const int64_t nb = cols / F::kLayout.block;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) fn(r, b, r * nb + b, r * cols + b * F::kLayout.block);
}

// Names the first level of a block that is outside the format's range.
template <class F>
[[noreturn]] void fail_first_level(const int8_t* lb, int64_t row, int64_t block) {
  constexpr GgufBlockLayout L = F::kLayout;
  int64_t j = 0;
  while (lb[j] >= L.level_min && lb[j] <= L.level_max) ++j;
  fail(std::string(L.codec) + ": level " + std::to_string(lb[j]) + " at row " + std::to_string(row) + ", element " +
       std::to_string(block * L.block + j) + " is outside " + std::to_string(L.level_min) + ".." +
       std::to_string(L.level_max));
}

template <class F>
float rtn_scale_checked(const float* xb, int64_t row, int64_t block) {
  const float d = F::rtn_scale(xb);
  check_f16_storable(F::kLayout.codec, d, row, block);
  return d;
}

// The level of v = x / s16 for a given scale, as a float: the format's rounding, then the clamp.
template <class F>
float given_scale_level(float v) {
  const float q = F::kLayout.rounding == Rounding::kHalfUp ? round_half_up(v) : round_half_away(v);
  return clampf(q, float(F::kLayout.level_min), float(F::kLayout.level_max));
}

// Visits every block with its checked fp16 scale: fn(offset of the block, s16).
template <class F, class Fn>
void for_each_given_scale(const float* x, const float* scales, int64_t rows, int64_t cols, Fn fn) {
  check_input<F>(x, rows, cols);
  for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t i, int64_t o) {
    const float s16 = round_to_f16(scales[i]);
    check_nonzero_f16_scale(F::kLayout.codec, scales[i], s16, r, b);
    fn(o, s16);
  });
}

}  // namespace gguf_block_detail

template <class F>
size_t GgufBlockCodec<F>::row_bytes(int64_t cols) {
  check_shape(F::kLayout.codec, 0, cols, F::kLayout.block, "block");
  return size_t(cols / F::kLayout.block) * F::kLayout.block_bytes;
}

template <class F>
void GgufBlockCodec<F>::rtn_scales(const float* x, float* d, int64_t rows, int64_t cols) {
  gguf_block_detail::check_input<F>(x, rows, cols);
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t i, int64_t o) {
    d[i] = gguf_block_detail::rtn_scale_checked<F>(x + o, r, b);
  });
}

template <class F>
void GgufBlockCodec<F>::quantize_rtn(const float* x, uint8_t* out, int64_t rows, int64_t cols) {
  constexpr int64_t n = F::kLayout.block;
  check_shape(F::kLayout.codec, rows, cols, n, "block");
  const int64_t nb = cols / n, total = rows * nb;
  for (int64_t i = 0; i < total; ++i) {
    // The format's vector kernel takes the ordinary blocks it can; the next one (a failure, a tiny
    // scale) and every block on a CPU without the kernel go through the portable loop below.
    i += F::rtn_blocks_fast(x + i * n, out + i * int64_t(F::kLayout.block_bytes), total - i);
    if (i == total) break;
    const int64_t r = i / nb, b = i % nb;
    const float* xb = x + i * n;
    bool finite = true;
    for (int64_t j = 0; j < n; ++j) finite = finite & std::isfinite(xb[j]);
    if (!finite) check_finite(F::kLayout.codec, x, rows, cols);  // names the first bad value, as check_input does
    const float d = gguf_block_detail::rtn_scale_checked<F>(xb, r, b);
    const float id = F::rtn_inverse(d);
    int8_t lb[n];
    if (!std::isfinite(id)) {  // |d| < 2^-128: ggml is undefined here; fp16(d) == 0
      for (int64_t j = 0; j < n; ++j) lb[j] = 0;
    } else {
      for (int64_t j = 0; j < n; ++j) lb[j] = int8_t(F::rtn_code(xb[j] * id));
    }
    uint8_t* blk = out + i * int64_t(F::kLayout.block_bytes);
    store_u16le(blk, f32_to_f16(d));
    F::pack_codes(lb, blk + 2);
  }
}

template <class F>
void GgufBlockCodec<F>::encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols) {
  constexpr int64_t n = F::kLayout.block;
  gguf_block_detail::check_input<F>(x, rows, cols);
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t i, int64_t o) {
    if (!std::isfinite(d[i])) gguf_block_detail::fail_rtn_scale(F::kLayout.codec, r, b);
    const float id = F::rtn_inverse(d[i]);
    const float* xb = x + o;
    int8_t* lb = levels + o;
    if (!std::isfinite(id)) {  // |d| < 2^-128: ggml is undefined here; fp16(d) == 0
      for (int64_t j = 0; j < n; ++j) lb[j] = 0;
      return;
    }
    for (int64_t j = 0; j < n; ++j) lb[j] = int8_t(F::rtn_code(xb[j] * id));
  });
}

template <class F>
void GgufBlockCodec<F>::encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols) {
  gguf_block_detail::for_each_given_scale<F>(x, scales, rows, cols, [=](int64_t o, float s16) {
    const float* xb = x + o;
    int8_t* lb = levels + o;
    for (int64_t j = 0; j < F::kLayout.block; ++j) lb[j] = int8_t(gguf_block_detail::given_scale_level<F>(xb[j] / s16));
  });
}

template <class F>
void GgufBlockCodec<F>::pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols) {
  check_shape(F::kLayout.codec, rows, cols, F::kLayout.block, "block");
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t i, int64_t o) {
    check_f16_storable(F::kLayout.codec, scales[i], r, b);
    uint8_t* blk = out + i * F::kLayout.block_bytes;
    store_u16le(blk, f32_to_f16(scales[i]));
    const int8_t* lb = levels + o;
    int lo = lb[0], hi = lb[0];  // a min / max reduction vectorizes: one branch per block
    for (int64_t j = 1; j < F::kLayout.block; ++j) {
      lo = lb[j] < lo ? lb[j] : lo;
      hi = lb[j] > hi ? lb[j] : hi;
    }
    if (lo < F::kLayout.level_min || hi > F::kLayout.level_max) gguf_block_detail::fail_first_level<F>(lb, r, b);
    F::pack_codes(lb, blk + 2);
  });
}

template <class F>
void GgufBlockCodec<F>::unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols) {
  check_shape(F::kLayout.codec, rows, cols, F::kLayout.block, "block");
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t i, int64_t o) {
    const uint8_t* blk = in + i * F::kLayout.block_bytes;
    const float d = f16_to_f32(load_u16le(blk));
    if (!std::isfinite(d)) gguf_block_detail::fail_stored_scale(F::kLayout.codec, r, b);
    scales[i] = d;
    F::unpack_codes(blk + 2, levels + o);
  });
}

template <class F>
void GgufBlockCodec<F>::dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols) {
  check_shape(F::kLayout.codec, rows, cols, F::kLayout.block, "block");
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t, int64_t, int64_t i, int64_t o) {
    const float d = round_to_f16(scales[i]);
    const int8_t* lb = levels + o;
    float* yb = y + o;
    for (int64_t j = 0; j < F::kLayout.block; ++j) yb[j] = float(int(lb[j])) * d;
  });
}

template <class F>
void GgufBlockCodec<F>::fake_quant(const float* x, float* y, int64_t rows, int64_t cols) {
  constexpr int64_t n = F::kLayout.block;
  gguf_block_detail::check_input<F>(x, rows, cols);
  gguf_block_detail::for_each_block<F>(rows, cols, [=](int64_t r, int64_t b, int64_t, int64_t o) {
    const float d = gguf_block_detail::rtn_scale_checked<F>(x + o, r, b);
    const float id = F::rtn_inverse(d);
    const float d16 = round_to_f16(d);
    const float* xb = x + o;
    float* yb = y + o;
    if (!std::isfinite(id)) {  // level 0, as encode_rtn gives
      for (int64_t j = 0; j < n; ++j) yb[j] = 0.0f * d16;
      return;
    }
    for (int64_t j = 0; j < n; ++j) yb[j] = F::rtn_level(xb[j] * id) * d16;
  });
}

template <class F>
void GgufBlockCodec<F>::fake_quant_with_scales(const float* x, const float* scales, float* y, int64_t rows,
                                               int64_t cols) {
  gguf_block_detail::for_each_given_scale<F>(x, scales, rows, cols, [=](int64_t o, float s16) {
    const float* xb = x + o;
    float* yb = y + o;
    for (int64_t j = 0; j < F::kLayout.block; ++j) yb[j] = gguf_block_detail::given_scale_level<F>(xb[j] / s16) * s16;
  });
}

}  // namespace gq::quant
