#include "export/native_writer.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "export/compressed_tensors_inputs.h"
#include "export/compressed_tensors_items.h"
#include "export/export_warning.h"
#include "export/gguf_encode.h"
#include "export/parallel_rows.h"
#include "export/row_streaming.h"
#include "formats/native_format.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "export/compressed_tensors_messages.h"
#include "io/half.h"
#include "io/text_file.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/packing.h"
#include "quant/rounding.h"
#include "quant/weight.h"
#include "run/run_folder.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using native::Part;

// One tensor to write and where its values come from.
struct Planned {
  native::TensorDesc desc;
  std::string source;         // checkpoint tensor
  std::string weight_module;  // whose learned scales: the module, or the table of a tied head
};

// float32 values -> `t` bytes (already rounded to `t` by round_rows_to: the casts are exact).
void store(const float* x, size_t n, DType t, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::F32) {
      std::memcpy(out + 4 * i, &x[i], 4);
      continue;
    }
    const uint16_t h = t == DType::BF16 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

class Exporter {
 public:
  Exporter(const Deployment& dep, const compressed_tensors::Inputs& in, const Gemma4Config& cfg, const Checkpoint& ck,
           native::NativeWriter& w, const NativeExportOptions& opt, NativeExportResult& res)
      : dep_(dep), in_(in), cfg_(cfg), ck_(ck), w_(w), opt_(opt), res_(res),
        threads_(opt.threads > 0 ? opt.threads : default_threads()) {}

  void write_float(const Planned& p) {
    const native::TensorDesc& d = p.desc;
    const TensorView& tv = ck_.tensor(p.source);
    const std::string what = w_path() + ": tensor '" + d.name + "' (from '" + p.source + "')";
    const int64_t cols = d.cols(), rows = d.rows(), chunk = chunk_rows(opt_.chunk_bytes, cols);
    const size_t es = dtype_size(d.dtype);
    std::vector<float> x;
    std::vector<uint8_t> o;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t n = std::min(chunk, rows - r0);
      x.resize(size_t(n * cols));
      o.resize(x.size() * es);
      parallel_rows(n, threads_, [&](int64_t b, int64_t e) {
        float* xs = x.data() + b * cols;
        row_slice(tv, cols, r0 + b, e - b).to_f32(xs);
        round_rows_to(d.dtype, xs, e - b, cols, what, r0 + b);
        store(xs, size_t((e - b) * cols), d.dtype, o.data() + size_t(b * cols) * es);
      });
      w_.write(d.name, Part::Data, o.data(), o.size());
    }
    release_pages(tv.data, tv.nbytes);
  }

  void write_quantized(const Planned& p) {
    const native::TensorDesc& d = p.desc;
    const quant::WeightScheme& s = d.scheme;
    const TensorView& tv = ck_.tensor(p.source);
    const std::string what = w_path() + ": tensor '" + d.name + "' (module '" + d.module + "', from '" + p.source + "')";
    const int64_t cols = d.cols(), rows = d.rows(), spr = quant::weight_scales_per_row(s, cols);
    const bool asym = !s.symmetric, gguf = s.is_gguf();
    // The run's learned scales (rounded to the scale dtype on use, as its fake quant does), or RTN.
    const bool learned = in_.from_run && in_.has_learned_scales(p.weight_module);
    if (in_.from_run && !learned && dep_.deployed.learns_scale(p.weight_module, cfg_.tie_word_embeddings))
      throw FormatError(run_folder::file_in(in_.checkpoint, run_folder::kQuantParams) + ": tensor '" + p.weight_module +
                        ".weight.scale' is missing (the recipe has learnable_scales)");
    std::vector<float> lscales;
    std::vector<int8_t> lzp;
    if (learned) {
      ++learned_modules_[p.weight_module];
      lscales = in_.quant_params->weight_rows(p.weight_module, "scale", rows, spr, 0, rows);
      if (asym)
        for (float z : in_.quant_params->weight_rows(p.weight_module, "zero_point", rows, spr, 0, rows)) {
          if (z != std::nearbyint(z) || z < float(s.qmin()) || z > float(s.qmax()))
            throw FormatError(in_.quant_params->path() + ": tensor '" + p.weight_module + ".weight.zero_point' value " +
                              compressed_tensors::exact_float(z) + " is not an integer in [" + std::to_string(s.qmin()) + ", " +
                              std::to_string(s.qmax()) + "]");
          lzp.push_back(int8_t(z));
        }
    }
    // A learnable recipe on a plain checkpoint deploys its fake quant before any training: the
    // learned-scale rule at ggml's RTN d (as the GGUF exporter writes it).
    const bool learned_rule_at_rtn = gguf && !learned && !dep_.trained && dep_.deployed.learns_scale(d.module, cfg_.tie_word_embeddings);
    const GgmlType type = gguf ? GgmlType(s.ggml_type()) : GgmlType::F32;
    const uint64_t row_bytes = gguf ? ggml_row_bytes(type, cols) : native::packed_row_bytes(s.bits, cols);
    std::vector<float> scales(gguf ? 0 : size_t(rows * spr));
    std::vector<int8_t> zps(asym ? size_t(rows * spr) : 0);
    const int64_t chunk = chunk_rows(opt_.chunk_bytes, cols);
    std::vector<float> x;
    std::vector<uint8_t> o;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const int64_t n = std::min(chunk, rows - r0);
      x.resize(size_t(n * cols));
      o.assign(size_t(uint64_t(n) * row_bytes), 0);
      try {
        parallel_rows(n, threads_, [&](int64_t b, int64_t e) {
          const int64_t m = e - b, r = r0 + b;
          float* xs = x.data() + b * cols;
          uint8_t* os = o.data() + uint64_t(b) * row_bytes;
          row_slice(tv, cols, r, m).to_f32(xs);
          if (gguf) {
            const float* given = learned ? lscales.data() + r * spr : nullptr;
            std::vector<float> rtn;
            if (learned_rule_at_rtn) {
              rtn.resize(size_t(m * spr));
              gguf_rtn_scales(type, xs, rtn.data(), m, cols, what);
              given = rtn.data();
            }
            encode_rows(type, xs, m, cols, given, os, what, r);
            return;
          }
          const quant::QuantizedWeight q =
              learned ? quant::quantize_weight_with_scales(s, xs, lscales.data() + r * spr, asym ? lzp.data() + r * spr : nullptr, m, cols)
                      : quant::quantize_weight(s, xs, m, cols);
          std::copy(q.scales.begin(), q.scales.end(), scales.begin() + r * spr);
          if (asym) std::copy(q.zero_points.begin(), q.zero_points.end(), zps.begin() + r * spr);
          for (int64_t i = 0; i < m; ++i) quant::tflite_pack(q.levels.data() + i * cols, os + uint64_t(i) * row_bytes, cols, s.bits);
        });
      } catch (const FormatError& e) {
        const std::string msg = e.what();
        throw FormatError(msg.rfind(what, 0) == 0 ? msg : what + ": " + msg);
      }
      w_.write(d.name, Part::Data, o.data(), o.size());
    }
    release_pages(tv.data, tv.nbytes);
    if (gguf) return;
    // The scale the codes were formed with, rounded to the scheme's dtype as the fake-quant model
    // uses it; an overflow there is refused by round_rows_to.
    for (float& v : scales) v = quant::round_scale_to(v, s.scale_dtype);
    round_rows_to(s.scale_dtype, scales.data(), rows, spr, what + " scales");
    std::vector<uint8_t> sb(scales.size() * dtype_size(s.scale_dtype));
    store(scales.data(), scales.size(), s.scale_dtype, sb.data());
    w_.write(d.name, Part::Scales, sb.data(), sb.size());
    if (asym) w_.write(d.name, Part::ZeroPoints, zps.data(), zps.size());
  }

  size_t learned_modules() const { return learned_modules_.size(); }

 private:
  std::string w_path() const { return res_.path; }

  const Deployment& dep_;
  const compressed_tensors::Inputs& in_;
  const Gemma4Config& cfg_;
  const Checkpoint& ck_;
  native::NativeWriter& w_;
  const NativeExportOptions& opt_;
  NativeExportResult& res_;
  int threads_;
  std::map<std::string, size_t> learned_modules_;
};

// What the file holds, in checkpoint order; the untied head of a tied model last.
std::vector<Planned> plan_tensors(const Gemma4Config& cfg, const Checkpoint& ck, const ResolvedRecipe& rr, const std::string& out) {
  const std::string prefix = detect_prefix(cfg, ck);
  std::map<std::string, std::string> module_of;
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty()) module_of[t.tensor] = t.name;
  std::vector<Planned> plan;
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, const std::string& src, const std::string& module,
                 const std::string& weight_module) {
    Planned p;
    p.desc.name = name;
    p.desc.shape = shape;
    p.desc.section = name == "embed_tokens_per_layer.weight" ? native::Section::PerLayerEmbedding : native::Section::Main;
    p.source = src;
    auto sc = module.empty() ? rr.weights.end() : rr.weights.find(module);
    if (sc != rr.weights.end()) {
      p.desc.module = module;
      p.desc.scheme = sc->second;
      p.desc.encoding = native::encoding_of(sc->second);
      p.weight_module = weight_module;
      // What the format cannot hold is refused here, before anything is written, naming the module.
      try {
        native::blob_sizes(p.desc, out + ": tensor '" + name + "'");
      } catch (const FormatError& e) {
        throw FormatError(std::string(e.what()) + " (module '" + module + "', scheme " + quant::weight_scheme_name(sc->second) + ")");
      }
    } else {
      p.desc.encoding = native::Encoding::Float;
      p.desc.dtype = rr.float_dtype;
    }
    plan.push_back(std::move(p));
  };
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    const std::string src = stored_name(prefix, s.name);
    const TensorView* tv = find_spec_tensor(ck, s, src);  // absent layer_scalar = 1
    if (!tv || s.unused) continue;
    require_float_tensor(*tv);
    auto m = module_of.find(s.name);
    add(s.name, s.shape, src, m == module_of.end() ? "" : m->second, m == module_of.end() ? "" : m->second);
  }
  if (compressed_tensors::writes_untied_head(cfg, rr))  // a copy of the table; a shared scheme shares learned scales
    add("lm_head.weight", {cfg.vocab_size, cfg.hidden_size}, stored_name(prefix, "embed_tokens.weight"),
        rr.weights.count("lm_head") ? "lm_head" : "", rr.untie_head ? "lm_head" : "embed_tokens");
  return plan;
}

std::string read_bytes_if_present(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) ? read_text_file(path) : std::string();
}

}  // namespace

NativeExportResult export_native(const std::string& model_or_run, const std::string& out_path, const NativeExportOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  NativeExportResult res;
  res.path = out_path;
  DeploymentRequest rq;
  rq.recipe = opt.recipe;
  rq.float_dtype = opt.float_dtype;
  rq.scale_dtype = opt.scale_dtype;
  rq.allow_rounding = opt.allow_rounding;
  const Deployment dep = plan_deployment(model_or_run, rq);
  if (!dep.recipe) throw FormatError(dep.checkpoint + ": a native export needs a recipe (e.g. --recipe mobile or --recipe q4_0)");
  {
    std::error_code ec;
    if (fs::exists(out_path, ec) && fs::is_directory(out_path, ec))
      throw FormatError(out_path + ": is a folder; a native export writes one file (e.g. model" + std::string(native::kExtension) + ")");
  }
  compressed_tensors::Inputs in;
  in.checkpoint = dep.checkpoint;
  in.recipe = *dep.recipe;
  in.from_run = dep.trained;
  in.quant_params = dep.quant_params;
  res.checkpoint = in.checkpoint;
  res.from_run = in.from_run;
  res.deployed = dep.deployed;
  const ResolvedRecipe& rr = dep.deployed;
  report_changes(dep, opt.rounding_effect, res.warnings, opt.on_warning);

  const Gemma4Config cfg = Gemma4Config::load(in.checkpoint);
  // The KV scheme needs no static scales (each row's scale is computed at run time), so only the
  // activation scales are read.
  ResolvedRecipe acts = rr;
  acts.kv_cache.reset();
  compressed_tensors::read_static_scales(in, cfg, acts, opt.calibration);

  const Checkpoint ck = Checkpoint::open(in.checkpoint);
  const std::vector<Planned> plan = plan_tensors(cfg, ck, rr, out_path);

  native::Metadata meta;
  Gemma4Config written = cfg;
  if (compressed_tensors::writes_untied_head(cfg, rr)) written.tie_word_embeddings = false;  // the file holds lm_head.weight
  meta.config_json = written.to_causal_lm_json();
  meta.recipe = rr.name;
  meta.float_dtype = rr.float_dtype;
  meta.kv_cache = rr.kv_cache;
  meta.tokenizer_json = read_bytes_if_present(run_folder::file_in(in.checkpoint, "tokenizer.json"));
  meta.tokenizer_model = read_bytes_if_present(run_folder::file_in(in.checkpoint, "tokenizer.model"));
  res.tokenizer = meta.tokenizer_json.empty() && meta.tokenizer_model.empty() ? "none"
                  : meta.tokenizer_json.empty()                               ? "tokenizer.model"
                  : meta.tokenizer_model.empty()                              ? "tokenizer.json"
                                                                              : "tokenizer.json + tokenizer.model";
  if (res.tokenizer == "none")
    report_warning(in.checkpoint + ": no tokenizer.json or tokenizer.model: the file holds no tokenizer", res.warnings, opt.on_warning);
  for (const auto& [module, p] : in.input_params) meta.activations[module].input = native::ActivationQuant{rr.activations.at(module), p};
  for (const auto& [module, p] : in.output_params)
    meta.activations[module].output = native::ActivationQuant{rr.output_activations.at(module), p};
  res.activation_modules = meta.activations.size();

  std::vector<native::TensorDesc> descs;
  std::map<std::string, const Planned*> by_name;
  for (const Planned& p : plan) {
    descs.push_back(p.desc);
    by_name[p.desc.name] = &p;
  }
  native::NativeWriter w(out_path, std::move(meta), std::move(descs));
  Exporter ex(dep, in, cfg, ck, w, opt, res);
  const std::vector<native::TensorDesc>& order = w.tensors();
  for (size_t i = 0; i < order.size(); ++i) {
    const Planned& p = *by_name.at(order[i].name);
    if (opt.on_tensor) opt.on_tensor(i, order.size(), p.desc.name);
    if (p.desc.encoding == native::Encoding::Float) {
      ex.write_float(p);
      ++res.tensors_by_scheme[compressed_tensors::flag_dtype_name(p.desc.dtype)];
    } else {
      ex.write_quantized(p);
      ++res.quantized;
      ++res.tensors_by_scheme[quant::weight_scheme_name(p.desc.scheme)];
    }
  }
  w.finish();
  res.tensors = order.size();
  res.learned_modules = ex.learned_modules();
  res.bytes = w.file_size();
  res.ple_bytes = native::NativeFile::open(out_path, native::ReadOptions{false}).per_layer_section().size;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace gq
