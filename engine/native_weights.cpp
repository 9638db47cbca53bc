#include "engine/native_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "engine/activation_quant.h"
#include "engine/dequantize.h"
#include "engine/native_packed.h"
#include "io/error.h"
#include "io/half.h"
#include "io/mapped_file.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/packing.h"
#include "quant/weight.h"

namespace gq::engine {

float float_at(const uint8_t* p, DType t, int64_t i) {
  if (t == DType::F32) {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return t == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

void decode_native_rows(const std::string& source, const native::TensorEntry& t, int64_t row0, int64_t nrows, float* y) {
  const native::TensorDesc& d = t.desc;
  const std::string what = source + ": tensor '" + d.name + "'";
  const int64_t cols = d.cols(), n = nrows * cols, first = row0 * cols;
  switch (d.encoding) {
    case native::Encoding::Float:
      for (int64_t i = 0; i < n; ++i) y[i] = float_at(t.data.data, d.dtype, first + i);
      return;
    case native::Encoding::GgmlBlocks: {
      const GgmlType type = GgmlType(d.scheme.ggml_type());
      dequantize(type, t.data.data + uint64_t(row0) * ggml_row_bytes(type, cols), n, y, what);
      return;
    }
    case native::Encoding::Channel:
    case native::Encoding::Group: break;
  }
  const quant::WeightScheme& s = d.scheme;
  quant::QuantizedWeight q;
  q.scheme = s;
  q.rows = nrows;
  q.cols = cols;
  q.levels.resize(size_t(n));
  const uint64_t row_bytes = native::packed_row_bytes(s.bits, cols);
  for (int64_t r = 0; r < nrows; ++r)
    quant::tflite_unpack(t.data.data + uint64_t(row0 + r) * row_bytes, q.levels.data() + r * cols, cols, s.bits);
  const int qmin = s.qmin(), qmax = s.qmax();
  for (int64_t i = 0; i < n; ++i)
    if (q.levels[size_t(i)] < qmin || q.levels[size_t(i)] > qmax)
      throw FormatError(what + ": level " + std::to_string(q.levels[size_t(i)]) + " at element " + std::to_string(first + i) +
                        " is outside " + quant::weight_scheme_name(s) + "'s [" + std::to_string(qmin) + ", " +
                        std::to_string(qmax) + "]");
  const int64_t per_row = quant::weight_scales_per_row(s, cols), ns = nrows * per_row, s0 = row0 * per_row;
  q.scales.resize(size_t(ns));
  for (int64_t i = 0; i < ns; ++i) {
    q.scales[size_t(i)] = float_at(t.scales.data, s.scale_dtype, s0 + i);
    if (!std::isfinite(q.scales[size_t(i)])) throw FormatError(what + ": scale " + std::to_string(s0 + i) + " is not finite");
  }
  if (!s.symmetric) {
    q.zero_points.resize(size_t(ns));
    std::memcpy(q.zero_points.data(), t.zero_points.data + s0, size_t(ns));
    for (int64_t i = 0; i < ns; ++i)
      if (q.zero_points[size_t(i)] < qmin || q.zero_points[size_t(i)] > qmax)
        throw FormatError(what + ": zero point " + std::to_string(q.zero_points[size_t(i)]) + " at " + std::to_string(s0 + i) +
                          " is outside the scheme's levels");
  }
  quant::dequantize_weight(q, y);
}

std::vector<float> decode_native_tensor(const native::NativeFile& file, const native::TensorEntry& t) {
  std::vector<float> y(static_cast<size_t>(t.desc.numel()));
  decode_native_rows(file.source(), t, 0, t.desc.rows(), y.data());
  return y;
}

namespace {

// The bytes of rows [row, row + 1) of a blob holding `row_bytes` per row, widened to the 2 MiB
// windows a fault can map cached pages in: fault-around's 64 KiB, and a large page-cache folio
// (up to 2 MiB), which newer kernels map whole on a fault (with 64 KiB windows, decoding 512
// E2B tokens still left 47 MB of the tables' pages mapped).
native::Bytes fault_window(const native::Bytes& blob, uint64_t row, uint64_t row_bytes) {
  constexpr uint64_t kWindow = uint64_t(2) << 20;
  if (row_bytes == 0 || blob.size == 0) return native::Bytes{blob.data, 0, 0};
  const uint64_t lo = (blob.offset + row * row_bytes) / kWindow * kWindow;
  const uint64_t hi = std::min(blob.offset + blob.size, (blob.offset + (row + 1) * row_bytes + kWindow - 1) / kWindow * kWindow);
  const uint64_t from = std::max(lo, blob.offset);
  return native::Bytes{blob.data + (from - blob.offset), hi - from, from};
}

// A tensor that decodes each row it is asked for from the mapped file, the same values
// decode_native_tensor gives; nothing of it is resident until a row is read. With `drop_after`,
// the pages a lookup brought in are dropped again at once (a lookup table meant never to become
// resident: without it decoding 512 E2B tokens left 170 MB of its pages mapped).
Tensor row_decoded_tensor(const native::NativeFile& file, const native::TensorEntry& t, bool drop_after = false) {
  Tensor out;
  out.shape = t.desc.shape;
  out.mapped_size = size_t(t.data.size + t.scales.size + t.zero_points.size);
  out.mapping = file.storage();
  const int64_t cols = t.desc.cols();
  const bool levels = t.desc.encoding == native::Encoding::Channel || t.desc.encoding == native::Encoding::Group;
  const uint64_t data_row = levels ? native::packed_row_bytes(t.desc.scheme.bits, cols) : 0;
  const uint64_t scales_row = levels ? uint64_t(quant::weight_scales_per_row(t.desc.scheme, cols)) *
                                           uint64_t(dtype_size(t.desc.scheme.scale_dtype)) : 0;
  const uint64_t zp_row = levels && !t.desc.scheme.symmetric ? uint64_t(quant::weight_scales_per_row(t.desc.scheme, cols)) : 0;
  out.decode_row = [source = file.source(), t, map = file.mapped_file(), drop_after, data_row, scales_row,
                    zp_row](int64_t row, float* y) {
    decode_native_rows(source, t, row, 1, y);
    if (drop_after && data_row > 0)
      for (const native::Bytes& b : {fault_window(t.data, uint64_t(row), data_row),
                                     fault_window(t.scales, uint64_t(row), scales_row),
                                     fault_window(t.zero_points, uint64_t(row), zp_row)})
        map->release(b.data, size_t(b.size));
  };
  return out;
}

// An embedding table only looked up by token (the per-layer table; the token table when the file
// has its own head): never decoded whole nor kept resident. Its levels and scales are checked here
// once, chunk by chunk, each chunk's pages dropped after it (so a bad byte is still named at load,
// not when its token first comes), and rows are then decoded as they are looked up.
Tensor mapped_lookup_table(const native::NativeFile& file, const native::TensorEntry& t) {
  const native::TensorDesc& d = t.desc;
  const int64_t rows = d.rows(), cols = d.cols();
  if (d.encoding == native::Encoding::Channel || d.encoding == native::Encoding::Group) {
    const int64_t chunk = std::max<int64_t>(1, (int64_t(256) << 10) / std::max<int64_t>(1, cols));
    std::vector<float> scratch(size_t(std::min(chunk, rows) * cols));
    const uint64_t rb = native::packed_row_bytes(d.scheme.bits, cols);
    // Dropped in spans of at least 8 MiB, each from 2 MiB before it: a fault maps back cached
    // pages around it (fault-around, 64 KiB; a large page-cache folio, up to 2 MiB, whole), so
    // pages of the span before come back with the next span's first faults. Dropping every small
    // decode chunk instead left 20-30% of E2B's tables resident.
    constexpr uint64_t kSpan = uint64_t(8) << 20, kLead = uint64_t(2) << 20;
    uint64_t released = 0;  // [0, released) of the levels dropped
    for (int64_t r = 0; r < rows; r += chunk) {
      const int64_t n = std::min(chunk, rows - r);
      decode_native_rows(file.source(), t, r, n, scratch.data());
      const uint64_t end = uint64_t(r + n) * rb;
      if (end - released >= kSpan || r + n == rows) {
        const uint64_t back = std::min(released, kLead);
        file.release(native::Bytes{t.data.data + released - back, end - released + back, 0});
        released = end;
      }
    }
    file.release(t.scales);
    file.release(t.zero_points);
  }
  return row_decoded_tensor(file, t, /*drop_after=*/true);
}

}  // namespace

ModelWeights from_native(const native::NativeFile& file, WeightForm form) {
  const std::string& path = file.source();
  const native::Metadata& m = file.metadata();
  Gemma4Config cfg = Gemma4Config::parse(m.config_json, path + ": header.config_json");
  auto aq = std::make_shared<ActivationQuantization>();
  aq->modules = m.activations;
  // Fast mode: a Linear's (or the head's) weight the integer kernel takes (engine/channel_linear.h)
  // is packed instead of decoded to float32; quantized_linear reads the packed copy, and the
  // tensor decodes rows from the map only if anything else asks. Other tensors of a module (MoE
  // banks) never go through quantized_linear, so they are not packed.
  const auto packs = [&](const native::TensorEntry& t) {
    const native::ModuleActivations* a = aq->find(t.desc.module);
    return form == WeightForm::Fast && t.desc.name == t.desc.module + ".weight" && a && a->input &&
           has_channel_kernel(t.desc) && has_level_grid(t.desc.scheme.scale_dtype, a->input->scheme);
  };
  // Untied: the token table is only looked up, so it stays in the file like the per-layer table.
  const bool own_head = file.find("lm_head.weight") != nullptr;
  std::map<std::string, Tensor> tensors;
  std::set<std::string> expected;
  for (const TensorSpec& spec : gemma4_tensor_specs(cfg)) {
    if (spec.unused) continue;  // k/v of KV-shared layers: never read, never written
    expected.insert(spec.name);
    const native::TensorEntry* t = file.find(spec.name);
    if (!t) {
      if (ends_with(spec.name, ".layer_scalar")) continue;  // absent = 1, as in HF
      throw FormatError(path + ": missing tensor '" + spec.name + "'");
    }
    if (t->desc.shape != spec.shape)
      throw FormatError(path + ": tensor '" + spec.name + "' has shape " + shape_str(t->desc.shape) +
                        ", but header.config_json implies " + shape_str(spec.shape));
    if (t->desc.section == native::Section::PerLayerEmbedding || (own_head && spec.name == "embed_tokens.weight")) {
      tensors[spec.name] = mapped_lookup_table(file, *t);
      continue;
    }
    if (packs(*t)) {
      aq->packed.emplace(t->desc.module, pack_channel_weight(*t, path + ": tensor '" + spec.name + "'"));
      tensors[spec.name] = row_decoded_tensor(file, *t);
      tensors[spec.name].mapped_size = 0;  // the packed copy serves the Linear; these rows are not read
    } else {
      tensors[spec.name] = Tensor{spec.shape, decode_native_tensor(file, *t)};
    }
    // Decoded or packed into memory of its own: the file's pages of it are not needed again.
    for (const native::Bytes* b : {&t->data, &t->scales, &t->zero_points}) file.release(*b);
  }
  for (const native::TensorEntry& t : file.tensors())
    if (!expected.count(t.desc.name))
      throw FormatError(path + ": tensor '" + t.desc.name + "' is not a tensor of the model header.config_json describes");

  std::set<std::string> linear_modules;
  for (const QuantTarget& q : gemma4_quant_targets(cfg))
    if (q.kind == TargetKind::Linear || q.kind == TargetKind::Router || q.kind == TargetKind::Head) linear_modules.insert(q.name);
  for (const auto& [module, a] : m.activations)
    if (!linear_modules.count(module))
      throw FormatError(path + ": header.activations['" + module + "'] is not a Linear or the head of this model");
  aq->kv_cache = m.kv_cache;
  if (aq->kv_cache && aq->kv_cache->ggml_blocks)
    for (int64_t hd : cfg.layer_head_dim)
      if (hd % 32 != 0) throw FormatError(path + ": header.kv_cache " + quant::kv_scheme_name(*aq->kv_cache) + " needs head dims that divide by 32");
  ModelWeights w = ModelWeights::from_tensors(std::move(cfg), path, std::move(tensors));
  if (!aq->modules.empty() || aq->kv_cache) w.set_activation_quantization(std::move(aq));
  return w;
}

ModelWeights load_native(const std::string& path, const native::ReadOptions& opt, WeightForm form) {
  return from_native(native::NativeFile::open(path, opt), form);
}

bool is_native_path(const std::string& path) { return ends_with(path, native::kExtension); }

}  // namespace gq::engine
