// A native mobile Linear in fast mode: weights kept as packed channel-wise levels plus one scale per
// output row (no float copy), the input quantized to int8 codes with the module's static input scale
// (quant::activation_encode, exactly the codes the fake-quant model forms), each output an exact
// int32 sum (engine/channel_int_dot.h) rescaled once: y = (float(sum) * s_in) * s_row, where s_in is
// the input scale as the scheme computes with it (rounded to its compute dtype). The fake-quant
// model instead sums the rounded products d(level * s_row) * d(code * s_in) in float, so the two
// differ by the scale dtype's rounding of each product and by float summation order.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/int_dot.h"
#include "engine/ops.h"
#include "quant/activation.h"
#include "quant/scheme.h"

namespace gq::engine {

struct PackedChannelWeight {
  int bits = 4;                 // 8, 4 or 2
  int64_t rows = 0, cols = 0;   // [out, in]
  std::vector<uint8_t> levels;  // rows * channel_row_bytes(bits, cols), docs/native-format.md
  std::vector<float> scales;    // one per row, widened from the file's scale dtype
};

// x [T, cols] -> [T, rows]. FormatError when x's width is not cols, when the input scheme is not an
// 8-bit symmetric one (the kernel takes int8 codes, zero point 0) or for a width without a kernel.
Matrix channel_linear(const Matrix& x, const PackedChannelWeight& w, const quant::ActivationScheme& in_scheme,
                      const quant::ActivationParams& in_params, Isa isa);

}  // namespace gq::engine
