#include "export/compressed_tensors.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "export/ct_inputs.h"
#include "export/ct_plan.h"
#include "export/ct_safetensors.h"
#include "export/ct_stream.h"
#include "export/parallel_rows.h"
#include "io/atomic_file.h"
#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "io/half.h"
#include "quant/rounding.h"
#include "model/quant_targets.h"
#include "formats/safetensors.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using quant::WeightScheme;

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

const char* hf_dtype(DType t) { return t == DType::F32 ? "float32" : t == DType::F16 ? "float16" : "bfloat16"; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// The text weights' prefix (the rule of the GGUF exporter and the checkpoint loader).
std::string detect_prefix(const Gemma4Config& cfg, const Checkpoint& ck) {
  for (const std::string& p : {cfg.weight_prefix, std::string("model.language_model."), std::string("model.")})
    if (ck.has(p + "embed_tokens.weight")) return p;
  return cfg.weight_prefix;
}

// One export: its inputs, plan and result (the streaming is CtStream).
class Exporter {
 public:
  Exporter(const std::string& out, const CtExportOptions& opt) : out_(out), opt_(opt) { res_.path = out; }

  CtExportResult run(const std::string& input);

 private:
  void warn(const std::string& w) {
    res_.warnings.push_back(w);
    if (opt_.on_warning) opt_.on_warning(w);
    else std::fprintf(stderr, "gemma-qat: warning: %s\n", w.c_str());
  }
  std::vector<CtItem> plan_items(const Checkpoint& ck);
  void add_quantized(std::vector<CtItem>& items, const TensorSpec& s, const std::string& src, const std::string& module);
  void precheck_learned(const std::vector<CtItem>& items, const Checkpoint& ck, CtStream& stream);
  std::string config_json() const;

  std::string out_;
  const CtExportOptions& opt_;
  CtExportResult res_;
  CtInputs in_;
  Gemma4Config cfg_;
  ResolvedRecipe rr_;
  CtPlan plan_;
  DType model_ = DType::BF16, scale_ = DType::BF16;
};

void Exporter::add_quantized(std::vector<CtItem>& items, const TensorSpec& s, const std::string& src, const std::string& module) {
  WeightScheme scheme = rr_.weights.at(module);
  if (!in_.from_run) {
    // No trained integers to keep: RTN directly in the file's scale dtype, as compressed-tensors does.
    if (scheme.scale_dtype != DType::F32 && scheme.scale_dtype != scale_) {
      const std::string w = "recipe '" + rr_.name + "': scheme " + quant::weight_scheme_name(scheme) + " stores its scales as " +
                            ct_dtype(scheme.scale_dtype) + "; this export stores " + ct_dtype(scale_) +
                            " scales, so RTN runs in " + ct_dtype(scale_);
      if (std::find(res_.warnings.begin(), res_.warnings.end(), w) == res_.warnings.end()) warn(w);
    }
    scheme.scale_dtype = scale_;
  }
  const CtGroup& g = plan_.groups.at(plan_.group_of.at(module));
  CtItem it;
  it.kind = g.input ? CtItemKind::Int8 : CtItemKind::Packed;
  it.source = src;
  it.module = module;
  it.scheme = scheme;
  if (s.shape.size() == 2) {
    it.name = "model." + module;
    it.rows = it.total_rows = s.shape[0];
    it.cols = s.shape[1];
    items.push_back(it);
    return;
  }
  // MoE bank [E, R, C]: one Linear per expert (gate_up splits into gate and up), as vLLM loads them.
  const int64_t E = s.shape[0], R = s.shape[1];
  const std::string layer = module.substr(0, module.find(".experts.")), bank = module.substr(module.rfind('.') + 1);
  it.cols = s.shape[2];
  it.total_rows = E * R;
  for (int64_t e = 0; e < E; ++e) {
    const std::string base = "model." + layer + ".experts." + std::to_string(e) + ".";
    if (bank == "gate_up_proj") {
      it.rows = R / 2;
      it.row0 = e * R, it.name = base + "gate_proj";
      items.push_back(it);
      it.row0 = e * R + R / 2, it.name = base + "up_proj";
      items.push_back(it);
    } else {
      it.rows = R;
      it.row0 = e * R, it.name = base + "down_proj";
      items.push_back(it);
    }
  }
}

std::vector<CtItem> Exporter::plan_items(const Checkpoint& ck) {
  const std::string prefix = detect_prefix(cfg_, ck);
  std::map<std::string, std::string> module_of;  // spec name -> quant-target module
  for (const QuantTarget& t : gemma4_quant_targets(cfg_))
    if (!t.tensor.empty()) module_of[t.tensor] = t.name;
  std::vector<CtItem> items;
  std::set<std::string> known;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg_)) {
    const std::string src = s.name == "lm_head.weight" ? s.name : prefix + s.name;
    known.insert(src);
    if (!ck.has(src)) {
      const bool scalar = s.name.size() >= 12 && s.name.compare(s.name.size() - 12, 12, "layer_scalar") == 0;
      if (s.unused || scalar) continue;  // layer_scalar absent = 1, in HF and vLLM
      throw FormatError(ck.path() + ": tensor '" + src + "' is missing (expected shape " + shape_str(s.shape) + ")");
    }
    const TensorView& tv = ck.tensor(src);
    if (tv.shape != s.shape)
      throw FormatError(tv.file + ": tensor '" + src + "' has shape " + shape_str(tv.shape) + ", config implies " + shape_str(s.shape));
    if (!dtype_is_float(tv.dtype))
      throw FormatError(tv.file + ": tensor '" + src + "' has dtype " + dtype_name(tv.dtype) + ", expected a float type");
    if (s.unused) {
      ++res_.unused_skipped;  // k/v of KV-shared layers: never read (vLLM leaves those shards unused)
      continue;
    }
    auto m = module_of.find(s.name);
    if (m != module_of.end() && plan_.group_of.count(m->second)) {
      add_quantized(items, s, src, m->second);
      continue;
    }
    CtItem it;
    it.name = s.name == "lm_head.weight" ? s.name : "model." + s.name;
    it.source = src;
    it.shape = s.shape;
    it.cols = s.shape.back();
    it.rows = it.total_rows = s.numel() / it.cols;
    items.push_back(it);
  }
  for (const std::string& n : ck.names()) {
    if (known.count(n)) continue;
    if (starts_with(n, prefix) && !(prefix == "model." && starts_with(n, "model.language_model.")) &&
        !(prefix == "model." && (starts_with(n, "model.vision_") || starts_with(n, "model.audio_") ||
                                 starts_with(n, "model.embed_vision") || starts_with(n, "model.embed_audio"))))
      throw FormatError(ck.path() + ": tensor '" + n + "' is not part of a Gemma 4 text model with this config");
    ++res_.other_towers_skipped;
  }
  if (res_.other_towers_skipped)
    warn(ck.path() + ": " + std::to_string(res_.other_towers_skipped) +
         " tensors outside the text model (vision / audio towers, a tied lm_head copy) are not written: the export is a "
         "text-only Gemma4ForCausalLM");
  for (const auto& [layer, ks] : in_.kv_scales) {
    CtItem it;
    it.kind = CtItemKind::KvScale;
    it.name = "model.layers." + std::to_string(layer) + ".self_attn.k_scale";
    it.value = ks.first;
    items.push_back(it);
    it.name = "model.layers." + std::to_string(layer) + ".self_attn.v_scale";
    it.value = ks.second;
    items.push_back(it);
  }
  return items;
}

// Learned scales that the file's dtype cannot hold are refused before anything is written; so is
// an RTN-trained scheme whose first module already shows it (the stream checks every row anyway).
void Exporter::precheck_learned(const std::vector<CtItem>& items, const Checkpoint& ck, CtStream& stream) {
  std::set<std::string> seen;
  bool rtn_checked = false;
  for (const CtItem& it : items) {
    if ((it.kind != CtItemKind::Packed && it.kind != CtItemKind::Int8) || !in_.from_run || seen.count(it.module)) continue;
    seen.insert(it.module);
    if (!has_learned_scales(in_, it.module)) {
      if (rr_.learnable_scales)
        throw FormatError(in_.checkpoint + "/quant_params.safetensors: tensor '" + it.module +
                          ".weight.scale' is missing (the recipe has learnable_scales)");
      if (!rtn_checked && it.scheme.scale_dtype != scale_) {
        rtn_checked = true;
        std::vector<float> x(size_t(it.rows * it.cols));
        ct_row_slice(ck.tensor(it.source), it.cols, it.row0, it.rows).to_f32(x.data());
        quant::QuantizedWeight q;
        try {
          q = quant::quantize_weight(it.scheme, x.data(), it.rows, it.cols);
        } catch (const FormatError& e) {
          throw FormatError(out_ + ": tensor '" + it.name + "' (from '" + it.source + "'): " + e.what());
        }
        stream.check_storable(q, it, it.row0);
      }
      continue;
    }
    stream.learned.insert(it.module);
    if (it.scheme.scale_dtype == scale_) continue;
    const int64_t spr = quant::weight_scales_per_row(it.scheme, it.cols);
    const std::vector<float> s = learned_rows(in_, it.module, "scale", it.total_rows, spr, 0, it.total_rows);
    for (size_t i = 0; i < s.size(); ++i) {
      const float trained = quant::round_scale_to(s[i], it.scheme.scale_dtype);
      const float stored = quant::round_scale_to(trained, scale_);
      if (float_bits(stored) != float_bits(trained)) {
        WeightScheme alt = it.scheme;
        alt.scale_dtype = scale_;
        throw FormatError(in_.checkpoint + ": module '" + it.module + "' was trained with " + ct_dtype(it.scheme.scale_dtype) +
                          " scales (" + quant::weight_scheme_name(it.scheme) + "); its learned scale " + ct_num(trained) +
                          " (row " + std::to_string(int64_t(i) / spr) + ") becomes " + ct_num(stored) + " in " +
                          ct_dtype(scale_) + ", changing the exported weights: export with --scale-dtype " +
                          ct_dtype(it.scheme.scale_dtype) + ", or train with " + quant::weight_scheme_name(alt));
      }
    }
  }
}

std::string Exporter::config_json() const {
  json j = json::parse(cfg_.to_causal_lm_json());
  j["dtype"] = hf_dtype(model_);
  j["quantization_config"] = ct_quantization_config(plan_);
  return j.dump(2) + "\n";
}

// A folder this exporter may replace: empty, or an earlier compressed-tensors export.
bool replaceable(const fs::path& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return false;
  if (fs::is_empty(out, ec)) return true;
  std::ifstream f(out / "config.json");
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    const json j = json::parse(ss.str());
    return j.at("quantization_config").at("quant_method") == "compressed-tensors";
  } catch (const std::exception&) {
    return false;
  }
}

// The temporary folder goes away unless it was renamed into place.
struct TmpDir {
  fs::path path;
  bool done = false;
  ~TmpDir() {
    std::error_code ec;
    if (!done) fs::remove_all(path, ec);
  }
};

CtExportResult Exporter::run(const std::string& input) {
  const auto t0 = std::chrono::steady_clock::now();
  in_ = read_ct_inputs(input, opt_.recipe);
  for (const std::string& w : in_.warnings) warn(w);
  res_.checkpoint = in_.checkpoint;
  res_.from_run = in_.from_run;

  const fs::path out(out_);
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (fs::equivalent(out, in_.checkpoint, ec)) throw FormatError(out_ + ": the output folder is the input checkpoint");
    if (!replaceable(out))
      throw FormatError(out_ + ": exists and is not a compressed-tensors export; remove it or choose another output folder");
  }

  cfg_ = Gemma4Config::load(in_.checkpoint);
  const std::string& ud = in_.recipe.unquantized_dtype;
  model_ = ud == "f32" ? DType::F32 : ud == "f16" ? DType::F16 : DType::BF16;
  scale_ = opt_.scale_dtype.value_or(model_);
  if (!quant::is_scale_dtype(scale_))
    throw FormatError(std::string("scale dtype ") + dtype_name(scale_) + ": compressed-tensors scales are bf16, f16 or f32");
  res_.model_dtype = model_;
  res_.scale_dtype = scale_;
  rr_ = resolve_recipe(in_.recipe, gemma4_quant_targets(cfg_));
  plan_ = plan_compressed_tensors(cfg_, rr_, "recipe '" + in_.recipe.name + "' (" + in_.recipe.source + ")");
  for (const std::string& w : plan_.warnings) warn(w);
  read_ct_scales(in_, cfg_, rr_, opt_.calibration);

  const Checkpoint ck = Checkpoint::open(in_.checkpoint);
  const std::vector<CtItem> items = plan_items(ck);
  CtStream stream{in_, out_, model_, scale_, opt_.threads > 0 ? opt_.threads : default_threads(), opt_.chunk_bytes, {}};
  precheck_learned(items, ck, stream);
  res_.learned_modules = stream.learned.size();

  std::vector<CtTensorInfo> tensors;
  for (const CtItem& it : items)
    for (CtTensorInfo& t : ct_tensors_of(it, model_, scale_)) tensors.push_back(std::move(t));
  res_.tensors = tensors.size();

  if (!out.parent_path().empty()) fs::create_directories(out.parent_path(), ec);
  TmpDir tmp{fs::path(out_ + ".tmp-" + std::to_string(::getpid()))};
  fs::remove_all(tmp.path, ec);
  if (!fs::create_directory(tmp.path, ec)) throw FormatError(tmp.path.string() + ": cannot create the output folder: " + ec.message());

  CtShardWriter w(tmp.path.string(), tensors, opt_.max_shard_bytes, {{"format", "pt"}});
  std::set<std::string> sources;
  for (size_t i = 0; i < items.size(); ++i) {
    const CtItem& it = items[i];
    if (opt_.on_tensor) opt_.on_tensor(i, items.size(), it.name);
    if (!it.source.empty() && sources.insert(it.source).second) res_.input_bytes += ck.tensor(it.source).nbytes;
    switch (it.kind) {
      case CtItemKind::Float: stream.write_float(it, ck, w); break;
      case CtItemKind::KvScale: w.write(it.name, &it.value, 4); break;
      case CtItemKind::Packed:
      case CtItemKind::Int8: {
        stream.write_quantized(it, ck, w);
        ++res_.quantized_modules;
        WeightScheme n = it.scheme;
        n.scale_dtype = DType::F32;
        ++res_.modules_by_scheme[quant::weight_scheme_name(n) + (it.kind == CtItemKind::Int8 ? "+int8_sym" : "")];
        break;
      }
    }
  }
  w.finish();
  res_.bytes = w.bytes();
  res_.shards = w.shards();
  res_.format = ct_quantization_config(plan_).at("format").get<std::string>();
  {
    const std::string text = config_json();
    AtomicFile f((tmp.path / "config.json").string());
    f.write(text.data(), text.size());
    f.commit();
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                           "generation_config.json", "chat_template.jinja", "chat_template.json"}) {
    const fs::path src = fs::path(in_.checkpoint) / name;
    if (fs::is_regular_file(src, ec) && !fs::copy_file(src, tmp.path / name, ec))
      throw FormatError(src.string() + ": cannot copy into " + tmp.path.string() + ": " + ec.message());
  }

  // Swap into place: an earlier export is moved aside first and removed once the new one is in.
  const fs::path old(out_ + ".old-" + std::to_string(::getpid()));
  const bool had = fs::exists(out, ec);
  if (had) {
    fs::remove_all(old, ec);
    fs::rename(out, old, ec);
    if (ec) throw FormatError(out_ + ": cannot move the previous export aside: " + ec.message());
  }
  fs::rename(tmp.path, out, ec);
  if (ec) throw FormatError(out_ + ": cannot rename " + tmp.path.string() + " into place: " + ec.message());
  tmp.done = true;
  if (had) fs::remove_all(old, ec);
  res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res_;
}

}  // namespace

CtExportResult export_compressed_tensors(const std::string& model_or_run, const std::string& out_dir, const CtExportOptions& opt) {
  Exporter e(out_dir, opt);
  return e.run(model_or_run);
}

}  // namespace gq
