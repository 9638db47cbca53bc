#include "export/compressed_tensors_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "export/compressed_tensors_messages.h"
#include "export/parallel_rows.h"
#include "export/row_streaming.h"
#include "io/error.h"
#include "io/half.h"
#include "model/checkpoint_layout.h"
#include "quant/packing.h"
#include "quant/rounding.h"

namespace gq::compressed_tensors {
namespace {

// float32 values -> `t` bytes (F32 / BF16 / F16, round to nearest even). Overflow is an error.
void store_floats(const float* x, size_t n, DType t, uint8_t* out, const std::string& what) {
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::F32) {
      std::memcpy(out + 4 * i, &x[i], 4);
      continue;
    }
    const uint16_t h = t == DType::BF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
    const float back = t == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    if (std::isinf(back) && std::isfinite(x[i]))
      throw FormatError(what + ": value " + exact_float(x[i]) + " at element " + std::to_string(i) + " overflows " + flag_dtype_name(t));
    std::memcpy(out + 2 * i, &h, 2);
  }
}

}  // namespace

void ItemWriter::write_float(const Item& it, const Checkpoint& ck, ShardWriter& w) const {
  const TensorView& tv = ck.tensor(it.source);
  const std::string what = out + ": tensor '" + it.name + "' (from '" + it.source + "')";
  const int64_t chunk = chunk_rows(chunk_bytes, it.cols);
  const size_t es = dtype_size(model);
  std::vector<float> x;
  std::vector<uint8_t> o;
  for (int64_t r0 = 0; r0 < it.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, it.rows - r0);
    x.resize(size_t(n * it.cols));
    o.resize(x.size() * es);
    parallel_rows(n, threads, [&](int64_t b, int64_t e) {
      row_slice(tv, it.cols, r0 + b, e - b).to_f32(x.data() + b * it.cols);
      store_floats(x.data() + b * it.cols, size_t((e - b) * it.cols), model, o.data() + size_t(b * it.cols) * es, what);
    });
    w.write(it.name, o.data(), o.size());
  }
  release_pages(tv.data, tv.nbytes);
}

void ItemWriter::write_quantized(const Item& it, const Checkpoint& ck, ShardWriter& w) const {
  const TensorView& tv = ck.tensor(it.source);
  const quant::WeightScheme& s = it.scheme;
  const std::string what = out + ": tensor '" + it.name + "' (from '" + it.source + "')";
  const int64_t spr = quant::weight_scales_per_row(s, it.cols), ns = it.rows * spr;
  const bool packed = it.kind == ItemKind::Packed, asym = !s.symmetric, use_learned = learned.count(it.weight_module) != 0;
  std::vector<float> lscales;
  std::vector<int8_t> lzp;
  if (use_learned) {
    lscales = in.quant_params->weight_rows(it.weight_module, "scale", it.total_rows, spr, it.row0, it.rows);
    if (asym)
      for (float z : in.quant_params->weight_rows(it.weight_module, "zero_point", it.total_rows, spr, it.row0, it.rows)) {
        if (z != std::nearbyint(z) || z < float(s.qmin()) || z > float(s.qmax()))
          throw FormatError(in.quant_params->path() + ": tensor '" + it.weight_module + ".weight.zero_point' value " +
                            exact_float(z) + " is not an integer in [" + std::to_string(s.qmin()) + ", " + std::to_string(s.qmax()) + "]");
        lzp.push_back(int8_t(z));
      }
  }
  std::vector<float> scales(static_cast<size_t>(ns));
  std::vector<int8_t> zps(asym ? static_cast<size_t>(ns) : 0);
  const int64_t pc = packed ? quant::ct_packed_cols(it.cols, s.bits) : it.cols;  // words (packed) or bytes per row
  const int64_t chunk = chunk_rows(chunk_bytes, it.cols);
  std::vector<float> x;
  std::vector<int32_t> words;
  std::vector<int8_t> bytes;
  for (int64_t r0 = 0; r0 < it.rows; r0 += chunk) {
    const int64_t n = std::min(chunk, it.rows - r0);
    x.resize(size_t(n * it.cols));
    if (packed) words.resize(size_t(n * pc));
    else bytes.resize(size_t(n * pc));
    try {
      parallel_rows(n, threads, [&](int64_t b, int64_t e) {
        const int64_t m = e - b, r = r0 + b;  // rows of this range, first row within the item
        float* xs = x.data() + b * it.cols;
        row_slice(tv, it.cols, it.row0 + r, m).to_f32(xs);
        quant::QuantizedWeight q =
            use_learned ? quant::quantize_weight_with_scales(s, xs, lscales.data() + r * spr, asym ? lzp.data() + r * spr : nullptr,
                                                             m, it.cols)
                        : quant::quantize_weight(s, xs, m, it.cols);
        std::copy(q.scales.begin(), q.scales.end(), scales.begin() + r * spr);
        if (asym) std::copy(q.zero_points.begin(), q.zero_points.end(), zps.begin() + r * spr);
        if (packed) quant::ct_pack_rows(q.levels.data(), words.data() + b * pc, m, it.cols, s.bits);
        else std::copy(q.levels.begin(), q.levels.end(), bytes.begin() + b * pc);
      });
    } catch (const FormatError& e) {
      throw FormatError(what + ": " + e.what());
    }
    if (packed) w.write(it.name + ".weight_packed", words.data(), words.size() * 4);
    else w.write(it.name + ".weight", bytes.data(), bytes.size());
  }
  release_pages(row_slice(tv, it.cols, it.row0, it.rows).data, size_t(it.rows * it.cols) * dtype_size(tv.dtype));

  // The scale the codes were formed with: learned values rounded to the scheme's dtype, as the
  // fake-quant model used them.
  for (float& v : scales) v = quant::round_scale_to(v, s.scale_dtype);
  std::vector<uint8_t> sb(scales.size() * dtype_size(s.scale_dtype));
  store_floats(scales.data(), scales.size(), s.scale_dtype, sb.data(), what + " scales");
  w.write(it.name + ".weight_scale", sb.data(), sb.size());
  if (packed) {
    const int64_t shape[2] = {it.rows, it.cols};
    w.write(it.name + ".weight_shape", shape, sizeof shape);
    if (asym) {
      std::vector<int32_t> zw(size_t(quant::ct_packed_cols(it.rows, s.bits) * spr));
      quant::ct_pack_cols(zps.data(), zw.data(), it.rows, spr, s.bits);
      w.write(it.name + ".weight_zero_point", zw.data(), zw.size() * 4);
    }
  }
  // Static activation scales, float32 as vLLM's parameters (exact: a bf16-computed scheme's scale
  // is a bf16 value).
  if (it.input_scale) {
    const float v = in.input_params.at(it.module).scale;
    w.write(it.name + ".input_scale", &v, 4);
  }
  if (it.output_scale) {
    const float v = in.output_params.at(it.module).scale;
    w.write(it.name + ".output_scale", &v, 4);
  }
}

}  // namespace gq::compressed_tensors
