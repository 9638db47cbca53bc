// One entry point per operation for any WeightScheme, dispatching to the codec of its kind. This
// is what the QAT side and the exporters call; the per-codec headers document the exact math.
//
// Arrays: x, y, levels are row-major [rows, cols] (rows = output features, cols = input features;
// quantization runs along cols). scales and zero_points are [rows, scales_per_row(cols)].
#pragma once
#include <cstdint>
#include <vector>

#include "quant/scheme.h"

namespace gq::quant {

struct QuantizedWeight {
  WeightScheme scheme;
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> levels;       // signed levels, [rows, cols]
  std::vector<float> scales;        // [rows, scales_per_row]; GGUF RTN: the fp32 d (stored as fp16)
  std::vector<int8_t> zero_points;  // asymmetric group schemes only, else empty
};

// Number of scales (and zero points) per row.
int64_t weight_scales_per_row(const WeightScheme& scheme, int64_t cols);

// Round-to-nearest quantization with the scheme's own scale rule (GGUF kinds: ggml's reference
// quantizers bit for bit).
QuantizedWeight quantize_weight(const WeightScheme& scheme, const float* x, int64_t rows,
                                int64_t cols);
// Initial parameters for learned-scale QAT: the RTN scales (and zero points). zero_points may be
// null unless the scheme is asymmetric.
void rtn_weight_params(const WeightScheme& scheme, const float* x, float* scales,
                       int8_t* zero_points, int64_t rows, int64_t cols);
// Quantization with given (learned) scales / zero points, as exported after QAT.
QuantizedWeight quantize_weight_with_scales(const WeightScheme& scheme, const float* x,
                                            const float* scales, const int8_t* zero_points,
                                            int64_t rows, int64_t cols);
// The floats the deployed file decodes to. y has rows * cols entries.
void dequantize_weight(const QuantizedWeight& q, float* y);

// Fake-quant references (float -> float, no bytes): equal bit for bit to
// dequantize_weight(quantize_weight(...)) and dequantize_weight(quantize_weight_with_scales(...)).
void fake_quant_weight(const WeightScheme& scheme, const float* x, float* y, int64_t rows,
                       int64_t cols);
void fake_quant_weight_with_scales(const WeightScheme& scheme, const float* x, const float* scales,
                                   const int8_t* zero_points, float* y, int64_t rows, int64_t cols);

}  // namespace gq::quant
