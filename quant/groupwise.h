// Group-wise int4 (also int8) weights in compressed-tensors' conventions ("pack-quantized",
// strategy "group", group_size 32 / 64 / 128), symmetric or asymmetric.
//
//   levels:  signed, int4 -8..7 (int8 -128..127); zero points are signed too, in the same range
//            (compressed-tensors keeps both as int8 and offsets them by +8 only when packing)
//   RTN sym:  s = amax(group) / 7.5  ((qmax - qmin) / 2; 127.5 for int8), z = 0
//   RTN asym: lo = min(min x, 0), hi = max(max x, 0), s = (hi - lo) / 15 (255),
//             z = round_half_even(clamp(-8 - lo / s, -8, 7))
//             s is rounded to the scale dtype and floored at its smallest normal before z is
//             computed (compressed-tensors computes z from the unrounded s and replaces a zero
//             scale by eps; both only differ for degenerate groups or non-F32 scale dtypes).
//   encode:  level = clamp(round_half_even(x / s + z), qmin, qmax)   (torch.round(x / s + z))
//   decode:  y = (level - z) * s, formed in fp32 and rounded to the scale dtype (compressed-
//            tensors' decompress computes in the scale's dtype, e.g. bf16)
//
// On disk (compressed-tensors, see packing.h):
//   weight_packed      int32 [rows, cols / 8]     = ct_pack_rows(levels, bits)
//   weight_scale       [rows, cols / group]       (the scale dtype)
//   weight_zero_point  int32 [ceil(rows / 8), cols / group] = ct_pack_cols(zero_points, bits)
//                      (asymmetric only; packed along dim 0)
//   weight_shape       int64 [2] = [rows, cols]
#pragma once
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

// `scheme` must be a group scheme. scales / zero_points are [rows, cols / group]; zero_points is
// only read or written for asymmetric schemes (pass nullptr for symmetric ones).
void groupwise_rtn_params(const WeightScheme& scheme, const float* x, float* scales,
                          int8_t* zero_points, int64_t rows, int64_t cols);
void groupwise_encode(const WeightScheme& scheme, const float* x, const float* scales,
                      const int8_t* zero_points, int8_t* levels, int64_t rows, int64_t cols);
void groupwise_dequantize(const WeightScheme& scheme, const int8_t* levels, const float* scales,
                          const int8_t* zero_points, float* y, int64_t rows, int64_t cols);
void fake_quant_groupwise(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                          int64_t cols);
void fake_quant_groupwise_with_params(const WeightScheme& scheme, const float* x,
                                      const float* scales, const int8_t* zero_points, float* y,
                                      int64_t rows, int64_t cols);

// compressed-tensors tensors. weight_packed: [rows, ct_packed_cols(cols, bits)];
// zero_point_packed: [ct_packed_cols(rows, bits), cols / group] (asymmetric only, else ignored).
void groupwise_pack(const WeightScheme& scheme, const int8_t* levels, const int8_t* zero_points,
                    int32_t* weight_packed, int32_t* zero_point_packed, int64_t rows,
                    int64_t cols);
void groupwise_unpack(const WeightScheme& scheme, const int32_t* weight_packed,
                      const int32_t* zero_point_packed, int8_t* levels, int8_t* zero_points,
                      int64_t rows, int64_t cols);

}  // namespace gq::quant
