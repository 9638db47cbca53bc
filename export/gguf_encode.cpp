#include "export/gguf_encode.h"

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
  if (rows <= 0 || cols <= 0) return;
  switch (type) {
    case GgmlType::F32:
      check_finite(x, rows, cols, what, first_row);
      std::memcpy(out, x, size_t(rows * cols) * 4);
      return;
    case GgmlType::F16:
      check_finite(x, rows, cols, what, first_row);
      cast16(x, rows, cols, out, f32_to_f16, 0x7c00, "overflows F16 (|x| >= 65520)", what, first_row);
      return;
    case GgmlType::BF16:
      check_finite(x, rows, cols, what, first_row);
      cast16(x, rows, cols, out, f32_to_bf16, 0x7f80, "overflows BF16", what, first_row);
      return;
    default: break;
  }
  const BlockCodec* codec = block_codec(type);
  if (!codec) throw FormatError(what + ": the exporter cannot write ggml type " + ggml_type_name(type));
  if (cols % codec->block)
    throw FormatError(what + ": " + ggml_type_name(type) + " needs rows that are a multiple of " +
                      std::to_string(codec->block) + " values, got " + std::to_string(cols));
  // The codecs reject NaN / Inf themselves (naming row and element, counted from `at`). Scratch is
  // left uninitialized: every byte is written by the codec before it is read.
  int64_t at = first_row;
  try {
    if (!scales && !recovery) {  // plain RTN: one fused pass, no scratch
      codec->quantize_rtn(x, out, rows, cols);
      return;
    }
    std::unique_ptr<int8_t[]> levels(new int8_t[size_t(rows * cols)]);
    if (scales) {
      codec->encode(x, scales, levels.get(), rows, cols);
      // Given (learned) scales of a signed grid: zero-free blocks in their canonical sign, which
      // decodes to the same values and is what grid recovery finds again from them.
      std::vector<float> d(scales, scales + rows * (cols / codec->block));
      if (codec->grid.signed_scale)
        for (size_t b = 0; b < d.size(); ++b) quant::canonical_block_sign(codec->grid, levels.get() + b * size_t(codec->block), &d[b]);
      codec->pack(levels.get(), d.data(), out, rows, cols);
    } else {
      // Recovery (the only way here without scales): the probe's rows first (a few times its
      // blocks); once it finds an ordinary tensor the rest takes the fused RTN pass, its blocks
      // counted unsearched.
      const int64_t nb = cols / codec->block;
      const int64_t head = std::min(rows, (4 * quant::kGridProbeBlocks + nb) / nb);
      std::unique_ptr<float[]> d(new float[size_t(rows * nb)]);
      auto recover_range = [&](int64_t r0, int64_t n) {
        at = first_row + r0;
        const float* xr = x + r0 * cols;
        int8_t* lr = levels.get() + r0 * cols;
        float* dr = d.get() + r0 * nb;
        codec->rtn_scales(xr, dr, n, cols);
        codec->encode_rtn(xr, dr, lr, n, cols);
        const quant::GridRecoveryCounts c = quant::recover_rows(codec->grid, xr, recovery->source, n, cols, lr, dr);
        codec->pack(lr, dr, out + uint64_t(r0) * ggml_row_bytes(type, cols), n, cols);
        if (recovery->counts) *recovery->counts += c;
        return c;
      };
      const quant::GridRecoveryCounts probe = recover_range(0, head);
      if (head < rows) {
        if (probe.unsearched > 0) {  // an ordinary tensor
          at = first_row + head;
          codec->quantize_rtn(x + head * cols, out + uint64_t(head) * ggml_row_bytes(type, cols), rows - head, cols);
          if (recovery->counts) {
            recovery->counts->blocks += (rows - head) * nb;
            recovery->counts->unsearched += (rows - head) * nb;
          }
        } else {
          recover_range(head, rows - head);
        }
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
