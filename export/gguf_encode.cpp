#include "export/gguf_encode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "io/error.h"
#include "io/half.h"
#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"

namespace gq {

namespace {

[[noreturn]] void bad_value(const std::string& what, int64_t row, int64_t col, float v, const char* why) {
  throw FormatError(what + ": row " + std::to_string(row) + ", element " + std::to_string(col) + ": value " +
                    std::to_string(v) + " " + why);
}

void check_finite(const float* x, int64_t rows, int64_t cols, const std::string& what, int64_t first_row) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isfinite(x[r * cols + c])) bad_value(what, first_row + r, c, x[r * cols + c], "is not finite");
}

template <class Cast>
void cast16(const float* x, int64_t rows, int64_t cols, uint8_t* out, Cast cast, uint16_t exp_mask, const char* name,
            const std::string& what, int64_t first_row) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = x[r * cols + c];
      const uint16_t h = cast(v);
      // A finite value that rounds to inf would load as a broken weight: refuse it.
      if ((h & exp_mask) == exp_mask) bad_value(what, first_row + r, c, v, name);
      std::memcpy(out + 2 * (r * cols + c), &h, 2);  // little-endian host
    }
}

// One GGUF block type through its codec: RTN scales or the given ones, then levels, then bytes.
struct BlockCodec {
  void (*rtn_scales)(const float*, float*, int64_t, int64_t);
  void (*quantize_rtn)(const float*, uint8_t*, int64_t, int64_t);
  void (*encode_rtn)(const float*, const float*, int8_t*, int64_t, int64_t);
  void (*encode)(const float*, const float*, int8_t*, int64_t, int64_t);
  void (*pack)(const int8_t*, const float*, uint8_t*, int64_t, int64_t);
  int64_t block;
  // ggml's d is a signed fp16; Q8_0's levels are symmetric, so its grids need no negative scale.
  quant::GridSpec grid;
};

const BlockCodec* block_codec(GgmlType t) {
  using quant::GridSpec;
  static const BlockCodec q4{quant::q4_0_rtn_scales, quant::Q4_0Codec::quantize_rtn, quant::q4_0_encode_rtn, quant::q4_0_encode, quant::q4_0_pack,
                             quant::kQ4_0Block,
                             GridSpec{quant::kQ4_0Block, quant::kQ4_0LevelMin, quant::kQ4_0LevelMax, DType::F16, true}};
  static const BlockCodec q8{quant::q8_0_rtn_scales, quant::Q8_0Codec::quantize_rtn, quant::q8_0_encode_rtn, quant::q8_0_encode, quant::q8_0_pack,
                             quant::kQ8_0Block,
                             GridSpec{quant::kQ8_0Block, quant::kQ8_0LevelMin, quant::kQ8_0LevelMax, DType::F16, false}};
  static const BlockCodec q2{quant::q2_0_rtn_scales, quant::Q2_0Codec::quantize_rtn, quant::q2_0_encode_rtn, quant::q2_0_encode, quant::q2_0_pack,
                             quant::kQ2_0Block,
                             GridSpec{quant::kQ2_0Block, quant::kQ2_0LevelMin, quant::kQ2_0LevelMax, DType::F16, true}};
  switch (t) {
    case GgmlType::Q4_0: return &q4;
    case GgmlType::Q8_0: return &q8;
    case GgmlType::Q2_0: return &q2;
    default: return nullptr;
  }
}

}  // namespace

bool gguf_encodable(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16 || block_codec(t) != nullptr;
}

int64_t gguf_block_values(GgmlType t) {
  const BlockCodec* c = block_codec(t);
  return c ? c->block : 0;
}

quant::GridSpec gguf_grid_spec(GgmlType t) {
  const BlockCodec* c = block_codec(t);
  if (!c) throw FormatError(std::string("internal: ggml type ") + ggml_type_name(t) + " has no block grid");
  return c->grid;
}

void encode_rows(GgmlType type, const float* x, int64_t rows, int64_t cols, const float* scales, uint8_t* out,
                 const std::string& what, int64_t first_row, const GridRecoveryRequest* recovery) {
  const FloatRows whole = [x, cols](int64_t r0, int64_t) { return x + r0 * cols; };
  encode_rows(type, whole, rows, cols, scales, out, what, first_row, recovery);
}

void encode_rows(GgmlType type, const FloatRows& x, int64_t rows, int64_t cols, const float* scales, uint8_t* out,
                 const std::string& what, int64_t first_row, const GridRecoveryRequest* recovery) {
  if (rows <= 0 || cols <= 0) return;
  // Rows per request where each block (or value) is encoded on its own: ~64 KiB of floats, which
  // the caller's widening writes and the codec reads back while they are still in cache.
  const int64_t piece = std::max<int64_t>(1, int64_t(16384) / cols);
  auto by_pieces = [&](int64_t r0, int64_t r1, auto&& encode_piece) {
    for (int64_t r = r0; r < r1; r += piece) {
      const int64_t n = std::min(piece, r1 - r);
      encode_piece(x(r, n), r, n);
    }
  };
  switch (type) {
    case GgmlType::F32:
      by_pieces(0, rows, [&](const float* xp, int64_t r, int64_t n) {
        check_finite(xp, n, cols, what, first_row + r);
        std::memcpy(out + size_t(r * cols) * 4, xp, size_t(n * cols) * 4);
      });
      return;
    case GgmlType::F16:
    case GgmlType::BF16: {
      const bool bf = type == GgmlType::BF16;
      by_pieces(0, rows, [&](const float* xp, int64_t r, int64_t n) {
        check_finite(xp, n, cols, what, first_row + r);
        uint8_t* o = out + size_t(r * cols) * 2;
        if (bf) cast16(xp, n, cols, o, f32_to_bf16, 0x7f80, "overflows BF16", what, first_row + r);
        else cast16(xp, n, cols, o, f32_to_f16, 0x7c00, "overflows F16 (|x| >= 65520)", what, first_row + r);
      });
      return;
    }
    default: break;
  }
  const BlockCodec* codec = block_codec(type);
  if (!codec) throw FormatError(what + ": the exporter cannot write ggml type " + ggml_type_name(type));
  if (cols % codec->block)
    throw FormatError(what + ": " + ggml_type_name(type) + " needs rows that are a multiple of " +
                      std::to_string(codec->block) + " values, got " + std::to_string(cols));
  const uint64_t row_bytes = ggml_row_bytes(type, cols);
  const int64_t nb = cols / codec->block;
  // The codecs reject NaN / Inf themselves (naming row and element, counted from `at`). Scratch is
  // left uninitialized: every byte is written by the codec before it is read.
  int64_t at = first_row;
  auto rtn_pieces = [&](int64_t r0, int64_t r1) {  // plain RTN: one fused pass, no scratch
    by_pieces(r0, r1, [&](const float* xp, int64_t r, int64_t n) {
      at = first_row + r;
      codec->quantize_rtn(xp, out + uint64_t(r) * row_bytes, n, cols);
    });
  };
  try {
    if (!scales && !recovery) return rtn_pieces(0, rows);
    if (scales) {
      // Given (learned) scales of a signed grid: zero-free blocks in their canonical sign, which
      // decodes to the same values and is what grid recovery finds again from them.
      std::unique_ptr<int8_t[]> levels(new int8_t[size_t(std::min(piece, rows) * cols)]);
      std::vector<float> d;
      by_pieces(0, rows, [&](const float* xp, int64_t r, int64_t n) {
        at = first_row + r;
        const float* s = scales + r * nb;
        codec->encode(xp, s, levels.get(), n, cols);
        d.assign(s, s + n * nb);
        if (codec->grid.signed_scale)
          for (size_t b = 0; b < d.size(); ++b) quant::canonical_block_sign(codec->grid, levels.get() + b * size_t(codec->block), &d[b]);
        codec->pack(levels.get(), d.data(), out + uint64_t(r) * row_bytes, n, cols);
      });
      return;
    }
    // Recovery (the only way here without scales): the probe's rows first (a few times its
    // blocks); once it finds an ordinary tensor the rest takes the fused RTN pass, its blocks
    // counted unsearched.
    const int64_t head = std::min(rows, (4 * quant::kGridProbeBlocks + nb) / nb);
    auto recover_range = [&](int64_t r0, int64_t n) {
      at = first_row + r0;
      const float* xr = x(r0, n);
      std::unique_ptr<int8_t[]> lr(new int8_t[size_t(n * cols)]);
      std::unique_ptr<float[]> dr(new float[size_t(n * nb)]);
      codec->rtn_scales(xr, dr.get(), n, cols);
      codec->encode_rtn(xr, dr.get(), lr.get(), n, cols);
      const quant::GridRecoveryCounts c = quant::recover_rows(codec->grid, xr, recovery->source, n, cols, lr.get(), dr.get());
      codec->pack(lr.get(), dr.get(), out + uint64_t(r0) * row_bytes, n, cols);
      if (recovery->counts) *recovery->counts += c;
      return c;
    };
    const quant::GridRecoveryCounts probe = recover_range(0, head);
    if (head < rows) {
      if (probe.unsearched > 0) {  // an ordinary tensor
        rtn_pieces(head, rows);
        if (recovery->counts) {
          recovery->counts->blocks += (rows - head) * nb;
          recovery->counts->unsearched += (rows - head) * nb;
        }
      } else {
        recover_range(head, rows - head);
      }
    }
  } catch (const FormatError& e) {
    throw FormatError(what + " (rows from " + std::to_string(at) + "): " + e.what());
  }
}

void gguf_rtn_scales(GgmlType type, const float* x, float* d, int64_t rows, int64_t cols, const std::string& what) {
  const BlockCodec* codec = block_codec(type);
  if (!codec || cols % codec->block)
    throw FormatError(what + ": " + ggml_type_name(type) + " has no RTN block scales for rows of " + std::to_string(cols));
  try {
    codec->rtn_scales(x, d, rows, cols);
  } catch (const FormatError& e) {
    throw FormatError(what + ": " + e.what());
  }
}

void round_rows_to(DType t, float* x, int64_t rows, int64_t cols, const std::string& what, int64_t first_row) {
  if (t == DType::F32) return;
  const bool bf = t == DType::BF16;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& v = x[r * cols + c];
      const float rounded = bf ? bf16_to_f32(f32_to_bf16(v)) : f16_to_f32(f32_to_f16(v));
      if (std::isinf(rounded) && std::isfinite(v)) bad_value(what, first_row + r, c, v, bf ? "overflows BF16" : "overflows F16 (|x| >= 65520)");
      v = rounded;
    }
}

}  // namespace gq
