#include "export/ct_stream.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "export/parallel_rows.h"
#include "io/error.h"
#include "io/half.h"
#include "quant/packing.h"
#include "quant/rounding.h"

namespace gq {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Drops the (private, read-only) checkpoint pages once written, keeping RSS near one chunk.
void release_pages(const uint8_t* p, size_t n) {
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(p) + page - 1) / page * page, e = (uintptr_t(p) + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

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
      throw FormatError(what + ": value " + ct_num(x[i]) + " at element " + std::to_string(i) + " overflows " + ct_dtype(t));
    std::memcpy(out + 2 * i, &h, 2);
  }
}

int64_t chunk_rows(size_t chunk_bytes, int64_t cols) {
  return std::max<int64_t>(1, int64_t(chunk_bytes / (4 * size_t(std::max<int64_t>(cols, 1)))));
}

}  // namespace

std::string ct_dtype(DType t) { return t == DType::F32 ? "f32" : t == DType::F16 ? "f16" : "bf16"; }

std::string ct_num(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

TensorView ct_row_slice(const TensorView& v, int64_t cols, int64_t row0, int64_t n) {
  TensorView s = v;
  const size_t es = dtype_size(v.dtype);
  s.data = v.data + size_t(row0 * cols) * es;
  s.shape = {n, cols};
  s.nbytes = size_t(n * cols) * es;
  return s;
}

std::vector<CtTensorInfo> ct_tensors_of(const CtItem& it, DType model, DType scale) {
  switch (it.kind) {
    case CtItemKind::Float: return {{it.name, model, it.shape}};
    case CtItemKind::KvScale: return {{it.name, DType::F32, {1}}};
    case CtItemKind::Int8:
      return {{it.name + ".weight", DType::I8, {it.rows, it.cols}},
              {it.name + ".weight_scale", scale, {it.rows, 1}},
              {it.name + ".input_scale", DType::F32, {1}}};
    case CtItemKind::Packed: {
      const int bits = it.scheme.bits;
      const int64_t spr = quant::weight_scales_per_row(it.scheme, it.cols);
      std::vector<CtTensorInfo> t = {{it.name + ".weight_packed", DType::I32, {it.rows, quant::ct_packed_cols(it.cols, bits)}},
                                     {it.name + ".weight_scale", scale, {it.rows, spr}},
                                     {it.name + ".weight_shape", DType::I64, {2}}};
      if (!it.scheme.symmetric)
        t.push_back({it.name + ".weight_zero_point", DType::I32, {quant::ct_packed_cols(it.rows, bits), spr}});
      return t;
    }
  }
  return {};
}

// The trained weights are (level - z) * s rounded to the scheme's scale dtype; the runtime forms
// them in the stored scale dtype.
void CtStream::check_storable(quant::QuantizedWeight& q, const CtItem& it, int64_t row_base) const {
  if (!in.from_run || q.scheme.scale_dtype == scale) return;
  std::vector<float> trained(q.levels.size()), stored(q.levels.size());
  quant::dequantize_weight(q, trained.data());
  const DType own = q.scheme.scale_dtype;
  q.scheme.scale_dtype = scale;
  quant::dequantize_weight(q, stored.data());
  q.scheme.scale_dtype = own;
  for (size_t i = 0; i < trained.size(); ++i) {
    if (float_bits(trained[i]) == float_bits(stored[i])) continue;
    quant::WeightScheme alt = q.scheme;
    alt.scale_dtype = scale;
    throw FormatError(in.checkpoint + ": module '" + it.module + "' was trained with " + ct_dtype(own) + " scales (" +
                      quant::weight_scheme_name(q.scheme) + "); storing them as " + ct_dtype(scale) +
                      " changes its dequantized weights (row " + std::to_string(row_base + int64_t(i) / it.cols) + ", column " +
                      std::to_string(int64_t(i) % it.cols) + ": " + ct_num(trained[i]) + " -> " + ct_num(stored[i]) +
                      "): export with --scale-dtype " + ct_dtype(own) + ", or train with " + quant::weight_scheme_name(alt));
  }
}

void CtStream::write_float(const CtItem& it, const Checkpoint& ck, CtShardWriter& w) const {
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
      ct_row_slice(tv, it.cols, r0 + b, e - b).to_f32(x.data() + b * it.cols);
      store_floats(x.data() + b * it.cols, size_t((e - b) * it.cols), model, o.data() + size_t(b * it.cols) * es, what);
    });
    w.write(it.name, o.data(), o.size());
  }
  release_pages(tv.data, tv.nbytes);
}

void CtStream::write_quantized(const CtItem& it, const Checkpoint& ck, CtShardWriter& w) const {
  const TensorView& tv = ck.tensor(it.source);
  const quant::WeightScheme& s = it.scheme;
  const std::string what = out + ": tensor '" + it.name + "' (from '" + it.source + "')";
  const int64_t spr = quant::weight_scales_per_row(s, it.cols), ns = it.rows * spr;
  const bool packed = it.kind == CtItemKind::Packed, asym = !s.symmetric, use_learned = learned.count(it.module) != 0;
  std::vector<float> lscales;
  std::vector<int8_t> lzp;
  if (use_learned) {
    lscales = learned_rows(in, it.module, "scale", it.total_rows, spr, it.row0, it.rows);
    if (asym)
      for (float z : learned_rows(in, it.module, "zero_point", it.total_rows, spr, it.row0, it.rows)) {
        if (z != std::nearbyint(z) || z < float(s.qmin()) || z > float(s.qmax()))
          throw FormatError(in.checkpoint + "/quant_params.safetensors: tensor '" + it.module + ".weight.zero_point' value " +
                            ct_num(z) + " is not an integer in [" + std::to_string(s.qmin()) + ", " + std::to_string(s.qmax()) + "]");
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
        ct_row_slice(tv, it.cols, it.row0 + r, m).to_f32(xs);
        quant::QuantizedWeight q =
            use_learned ? quant::quantize_weight_with_scales(s, xs, lscales.data() + r * spr, asym ? lzp.data() + r * spr : nullptr,
                                                             m, it.cols)
                        : quant::quantize_weight(s, xs, m, it.cols);
        check_storable(q, it, it.row0 + r);
        std::copy(q.scales.begin(), q.scales.end(), scales.begin() + r * spr);
        if (asym) std::copy(q.zero_points.begin(), q.zero_points.end(), zps.begin() + r * spr);
        if (packed) quant::ct_pack_rows(q.levels.data(), words.data() + b * pc, m, it.cols, s.bits);
        else std::copy(q.levels.begin(), q.levels.end(), bytes.begin() + b * pc);
      });
    } catch (const FormatError& e) {
      const std::string msg = e.what();
      if (starts_with(msg, in.checkpoint + ": module")) throw;  // the scale-dtype refusal names its module
      throw FormatError(what + ": " + msg);
    }
    if (packed) w.write(it.name + ".weight_packed", words.data(), words.size() * 4);
    else w.write(it.name + ".weight", bytes.data(), bytes.size());
  }
  release_pages(ct_row_slice(tv, it.cols, it.row0, it.rows).data, size_t(it.rows * it.cols) * dtype_size(tv.dtype));

  // The scale as trained (rounded to the scheme's dtype), then as stored: equal unless refused above.
  for (float& v : scales) v = quant::round_scale_to(quant::round_scale_to(v, s.scale_dtype), scale);
  std::vector<uint8_t> sb(scales.size() * dtype_size(scale));
  store_floats(scales.data(), scales.size(), scale, sb.data(), what + " scales");
  w.write(it.name + ".weight_scale", sb.data(), sb.size());
  if (!packed) {
    const float in_scale = in.input_params.at(it.module).scale;
    w.write(it.name + ".input_scale", &in_scale, 4);
    return;
  }
  const int64_t shape[2] = {it.rows, it.cols};
  w.write(it.name + ".weight_shape", shape, sizeof shape);
  if (asym) {
    std::vector<int32_t> zw(size_t(quant::ct_packed_cols(it.rows, s.bits) * spr));
    quant::ct_pack_cols(zps.data(), zw.data(), it.rows, spr, s.bits);
    w.write(it.name + ".weight_zero_point", zw.data(), zw.size() * 4);
  }
}

}  // namespace gq
