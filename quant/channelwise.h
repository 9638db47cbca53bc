// Channel-wise symmetric intN weights (N = 8, 4, 2): one scale per row (output channel), as
// ai-edge-quantizer / LiteRT quantize FULLY_CONNECTED and EMBEDDING_LOOKUP weights.
//
//   levels: int8 -127..127 (narrow, as TFLite requires for 8-bit symmetric), int4 -8..7,
//           int2 -2..1 (full range: the extra negative level is usable by a learned scale)
//   RTN:    s = amax(row) / qmax   (qmax = 127, 7, 1), rounded to the scheme's scale dtype and
//           floored at its smallest normal (an all-zero row gets that, not 0)
//   encode: level = clamp(round_half_even(x / s), qmin, qmax)   (torch.round; x / s is a division)
//   decode: y = level * s  (rounded to the scale dtype when that is F16/BF16)
// Differences from ai-edge-quantizer's own PTQ, which only matter when re-quantizing with it: it
// floors amax at 1e-4 and multiplies by 1/s instead of dividing.
//
// On disk: TFLite/LiteRT dense packing (tflite_pack in packing.h; int8 plain, int4 two per byte,
// int2 four per byte, two's complement), or compressed-tensors int32 packing (ct_pack_rows) with
// strategy "channel". Scales are [rows] (one per row).
#pragma once
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

// `scheme` must be a channel scheme (WeightKind::kChannel).
void channelwise_rtn_scales(const WeightScheme& scheme, const float* x, float* scales,
                            int64_t rows, int64_t cols);
void channelwise_encode(const WeightScheme& scheme, const float* x, const float* scales,
                        int8_t* levels, int64_t rows, int64_t cols);
void channelwise_dequantize(const WeightScheme& scheme, const int8_t* levels, const float* scales,
                            float* y, int64_t rows, int64_t cols);
void fake_quant_channelwise(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                            int64_t cols);
void fake_quant_channelwise_with_scales(const WeightScheme& scheme, const float* x,
                                        const float* scales, float* y, int64_t rows, int64_t cols);

}  // namespace gq::quant
