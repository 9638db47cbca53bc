#include "engine/native_packed.h"

#include <cmath>
#include <vector>

#include "engine/channel_int_dot.h"
#include "io/error.h"
#include "engine/native_weights.h"
#include "quant/packing.h"

namespace gq::engine {

bool has_channel_kernel(const native::TensorDesc& t) {
  const quant::WeightScheme& s = t.scheme;
  return t.encoding == native::Encoding::Channel && s.symmetric && (s.bits == 8 || s.bits == 4 || s.bits == 2);
}

PackedChannelWeight pack_channel_weight(const native::TensorEntry& t, const std::string& what) {
  const native::TensorDesc& d = t.desc;
  if (!has_channel_kernel(d))
    throw FormatError(what + ": " + quant::weight_scheme_name(d.scheme) + " has no fast-mode integer kernel");
  const quant::WeightScheme& s = d.scheme;
  PackedChannelWeight w;
  w.bits = s.bits;
  w.rows = d.rows();
  w.cols = d.cols();
  const size_t row_bytes = channel_row_bytes(s.bits, w.cols);
  w.levels.assign(t.data.data, t.data.data + size_t(w.rows) * row_bytes);
  // A scheme whose levels span every two's complement value of its width cannot hold a bad one.
  const int qmin = s.qmin(), qmax = s.qmax();
  const bool full_range = qmin == -(1 << (s.bits - 1)) && qmax == (1 << (s.bits - 1)) - 1;
  std::vector<int8_t> levels(size_t(w.cols));
  for (int64_t r = 0; r < w.rows && !full_range; ++r) {
    quant::tflite_unpack(w.levels.data() + size_t(r) * row_bytes, levels.data(), w.cols, s.bits);
    for (int64_t k = 0; k < w.cols; ++k)
      if (levels[size_t(k)] < qmin || levels[size_t(k)] > qmax)
        throw FormatError(what + ": level " + std::to_string(levels[size_t(k)]) + " at element " +
                          std::to_string(r * w.cols + k) + " is outside " + quant::weight_scheme_name(s) + "'s [" +
                          std::to_string(qmin) + ", " + std::to_string(qmax) + "]");
  }
  w.scales.resize(size_t(w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    const float v = float_at(t.scales.data, s.scale_dtype, r);
    if (!std::isfinite(v)) throw FormatError(what + ": scale " + std::to_string(r) + " is not finite");
    w.scales[size_t(r)] = v;
  }
  w.scale_dtype = s.scale_dtype;
  if (s.scale_dtype == DType::BF16 || s.scale_dtype == DType::F16) build_level_grid(w, what);
  return w;
}

}  // namespace gq::engine
