#include "export/compressed_tensors_config.h"

#include <filesystem>

#include "export/compressed_tensors_messages.h"
#include "io/error.h"
#include "model/checkpoint_layout.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"

namespace gq::compressed_tensors {
namespace {

using nlohmann::json;
using quant::ActivationScheme;
using quant::WeightKind;
using quant::WeightScheme;

// What one Linear gets; equal settings share a config group. The scale dtype is storage, not part
// of the scheme vLLM sees.
struct Setting {
  std::optional<WeightScheme> w;
  std::optional<ActivationScheme> a, o;  // static input, output
  bool embedding = false;
  bool quantized() const { return w.has_value(); }
  std::string key() const {
    if (!w) return "none";
    WeightScheme n = *w;
    n.scale_dtype = DType::F32;
    return quant::weight_scheme_name(n) + (a ? "+" + quant::activation_scheme_name(*a) : "") +
           (o ? "+out:" + quant::activation_scheme_name(*o) : "") + (embedding ? "+embedding" : "");
  }
};

std::string layer_prefix(int64_t i) { return "layers." + std::to_string(i) + "."; }

class ConfigPlanner {
 public:
  ConfigPlanner(const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& what) : cfg_(cfg), rr_(rr), what_(what) {}

  QuantizationConfig run() {
    const std::vector<QuantTarget> targets = gemma4_quant_targets(cfg_);
    for (const QuantTarget& t : targets) {
      switch (t.kind) {
        case TargetKind::Embedding: embedding(t.name); break;
        case TargetKind::Head: head(); break;
        case TargetKind::Router:
          if (rr_.weights.count(t.name))
            fail(t.name, "vLLM keeps the MoE router in float (GateLinear takes no quantization); ignore 'Router'");
          config_.ignore.push_back("model." + t.name);
          break;
        case TargetKind::Linear: linear(t.name, setting(t.name)); break;
        case TargetKind::Experts: experts(t); break;
      }
    }
    check_fused();
    kv();
    return config_;
  }

 private:
  [[noreturn]] void fail(const std::string& module, const std::string& why) const {
    throw FormatError(what_ + ": " + module + ": " + why);
  }

  Setting setting(const std::string& module) const {
    Setting s;
    if (auto w = rr_.weights.find(module); w != rr_.weights.end()) s.w = w->second;
    if (auto a = rr_.activations.find(module); a != rr_.activations.end()) s.a = a->second;
    if (auto o = rr_.output_activations.find(module); o != rr_.output_activations.end()) s.o = o->second;
    if (s.w) check_weight(module, *s.w);
    if (s.a || s.o) check_activations(module, s);
    return s;
  }

  // Token and per-layer embedding tables: weight-only, symmetric (CompressedTensorsEmbeddingWNA16Int
  // reads no zero point), always int32-packed.
  void embedding(const std::string& module) {
    Setting s = setting(module);
    if (!s.w) return;
    s.embedding = true;
    if (!s.w->symmetric)
      fail(module, "scheme " + quant::weight_scheme_name(*s.w) + ": vLLM's int embedding reader "
                   "(CompressedTensorsEmbeddingWNA16Int) dequantizes symmetric codes only (it reads no zero point)");
    assign("model." + module, module, s);
  }

  // The head: its own config group targeting "lm_head" (vLLM's ParallelLMHead matches neither
  // "Linear" nor "Embedding"); ignored when float.
  void head() {
    const Setting s = setting("lm_head");
    if (!s.w) {
      config_.ignore.push_back("lm_head");
      return;
    }
    assign("lm_head", "lm_head", s);
  }

  void check_weight(const std::string& module, const WeightScheme& w) const {
    const std::string name = quant::weight_scheme_name(w);
    if (w.is_gguf())
      fail(module, "scheme " + name + " is a GGUF block type; compressed-tensors holds int2 / int4 / int8 channel-wise "
                   "or group-wise integers (int4_g32, int4_g128, int4_channel, int8_channel, int2_channel): export it as gguf");
    if (w.bits != 2 && w.bits != 4 && w.bits != 8)
      fail(module, "scheme " + name + ": vLLM's compressed-tensors kernels take 2-, 4- or 8-bit integer weights, not " +
                       std::to_string(w.bits) + "-bit");
  }

  void check_activations(const std::string& module, const Setting& s) const {
    if (!s.w)
      fail(module, "static activations need quantized weights in vLLM (W8A8, WNA8O8); the recipe leaves this "
                   "module's weight unquantized");
    if (s.o && !s.a)
      fail(module, "vLLM serves static output activations only together with static int8 inputs "
                   "(CompressedTensorsWNA8O8Int): add an input_activations rule for this module");
    auto check_int8 = [&](const ActivationScheme& a, const char* which, const std::string& why) {
      const std::string name = quant::activation_scheme_name(a);
      if (a.bits != 8 || !a.symmetric || a.narrow || a.rounding != quant::Rounding::kHalfEven)
        fail(module, std::string(which) + " scheme " + name + ": vLLM quantizes static activations to int8 -128..127 "
                     "with half-even rounding and one scale (int8_sym); its asymmetric (azp) path re-derives scale and "
                     "zero point in float, which need not reproduce the trained integers");
      if (!why.empty()) fail(module, std::string(which) + " scheme " + name + ": " + why);
    };
    if (s.o) {
      // WNA8O8: x and y fake-quantized in the activation dtype (the model's): round(x / s) * s.
      const std::string want = std::string("int8_sym@") + flag_dtype_name(rr_.float_dtype);
      auto dtype_rule = [&](const ActivationScheme& a) {
        return a.compute_dtype == rr_.float_dtype
                   ? std::string()
                   : "vLLM's WNA8O8 layers fake-quantize activations in the model dtype (" +
                         std::string(flag_dtype_name(rr_.float_dtype)) + "): use " + want;
      };
      check_int8(*s.a, "input", dtype_rule(*s.a));
      check_int8(*s.o, "output", dtype_rule(*s.o));
      if (!s.w->symmetric)
        fail(module, "vLLM's WNA8O8 layers take symmetric channel- or group-wise int weights, not " +
                         quant::weight_scheme_name(*s.w));
      return;
    }
    // W8A8: vLLM's static int8 kernel divides in float32.
    check_int8(*s.a, "input",
               s.a->compute_dtype == DType::F32 ? std::string()
                                                : "vLLM's W8A8 kernel quantizes inputs in float32: use int8_sym");
    if (!(s.w->kind == WeightKind::kChannel && s.w->bits == 8))
      fail(module, "vLLM serves static int8 inputs without output activations only with int8 channel-wise weights "
                   "(W8A8), not " + quant::weight_scheme_name(*s.w) + " (add int8_sym output activations for WNA8O8)");
  }

  // One Linear as vLLM sees it (also the virtual k/v shards that only exist for the fusion).
  void linear(const std::string& module, const Setting& s) {
    settings_[module] = s;
    order_.push_back(module);
    assign("model." + module, module, s);
  }

  void assign(const std::string& target, const std::string& module, const Setting& s) {
    if (!s.quantized()) {
      config_.ignore.push_back(target);
      return;
    }
    auto [it, fresh] = group_index_.emplace(s.key(), config_.groups.size());
    if (fresh)
      config_.groups.push_back(
          {*s.w, s.a, s.o, ct_int8_weights(*s.w, s.a.has_value(), s.embedding) ? "int-quantized" : "pack-quantized", {}});
    config_.groups[it->second].targets.push_back(target);
    if (!module.empty()) config_.group_of[module] = it->second;
  }

  void experts(const QuantTarget& t) {
    Setting s = setting(t.name);
    const std::string bank = t.name.substr(t.name.rfind('.') + 1);
    const std::string layer = t.name.substr(0, t.name.find(".experts."));
    if (bank == "gate_up_proj") {
      pending_experts_ = s;
      gate_up_bank_ = t.name;
      return;
    }
    if (pending_experts_.key() != s.key())
      fail(layer + ".experts", "vLLM runs one MoE kernel per layer: gate_up_proj (" + pending_experts_.key() +
                                   ") and down_proj (" + s.key() + ") must share a scheme");
    const int64_t i = std::stoll(layer.substr(std::string("layers.").size()));
    assign(experts_target_regex(i), "", s);
    if (s.quantized()) {
      config_.group_of[gate_up_bank_] = group_index_.at(s.key());
      config_.group_of[t.name] = group_index_.at(s.key());
    }
  }

  // q/k/v and gate/up are one matmul in vLLM: one scheme (or all ignored). Missing shards (k/v of
  // KV-shared layers, v of K=V layers) follow q_proj.
  void check_fused() {
    for (int64_t i = 0; i < cfg_.L(); ++i) {
      const std::string p = layer_prefix(i);
      check_same({p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, "q/k/v");
      check_same({p + "mlp.gate_proj", p + "mlp.up_proj"}, "gate/up");
      const Setting& q = settings_.at(p + "self_attn.q_proj");
      for (const char* shard : {"self_attn.k_proj", "self_attn.v_proj"})
        if (!settings_.count(p + shard)) assign("model." + p + shard, "", q);
    }
  }

  void check_same(const std::vector<std::string>& shards, const char* what) const {
    const std::string* first = nullptr;
    std::string first_key;
    for (const std::string& s : shards) {
      auto it = settings_.find(s);
      if (it == settings_.end()) continue;
      if (!first) {
        first = &s, first_key = it->second.key();
      } else if (it->second.key() != first_key) {
        fail(s, std::string("vLLM fuses ") + what + " into one matmul: " + *first + " (" + first_key + ") and " + s +
                    " (" + it->second.key() + ") must share a scheme (or all be ignored)");
      }
    }
  }

  void kv() {
    if (!rr_.kv_cache) return;
    const quant::KvScheme& k = *rr_.kv_cache;
    if (k.ggml_blocks)
      fail("kv_cache", "scheme " + quant::kv_scheme_name(k) + " is llama.cpp's cache (export it as gguf); vLLM's KV "
                       "cache takes per-tensor scales: kv_int8");
    if (k.bits != 8)
      fail("kv_cache", "scheme " + quant::kv_scheme_name(k) + ": compressed-tensors / vLLM hold an 8-bit KV cache only");
    config_.kv_cache = k;
    config_.warnings.push_back(
        what_ + ": kv_cache " + quant::kv_scheme_name(k) +
        " (dynamic, per token and head) is written as a static per-tensor int8 kv_cache_scheme with "
        "k_scale / v_scale = amax / 127 from the calibration; vLLM applies them with --kv-cache-dtype fp8, while "
        "--kv-cache-dtype int8_per_token_head reproduces the trained per-(token, head) scales at run time");
  }

  const Gemma4Config& cfg_;
  const ResolvedRecipe& rr_;
  std::string what_;
  QuantizationConfig config_;
  std::map<std::string, Setting> settings_;
  std::vector<std::string> order_;
  std::map<std::string, size_t> group_index_;
  Setting pending_experts_;
  std::string gate_up_bank_;
};

json weight_args(const WeightScheme& w) {
  const bool group = w.kind == WeightKind::kGroup;
  return {{"num_bits", w.bits},         {"type", "int"},
          {"symmetric", w.symmetric},   {"strategy", group ? "group" : "channel"},
          {"group_size", group ? json(w.group) : json(nullptr)},
          {"block_structure", nullptr}, {"dynamic", false},
          {"actorder", nullptr}};
}

json tensor_args(int bits, bool symmetric) {
  return {{"num_bits", bits},       {"type", "int"},  {"symmetric", symmetric}, {"strategy", "tensor"},
          {"group_size", nullptr},  {"block_structure", nullptr}, {"dynamic", false}, {"actorder", nullptr}};
}

}  // namespace

std::string experts_target_regex(int64_t layer) {
  return "re:model\\.layers\\." + std::to_string(layer) + "\\.(moe\\.)?experts\\.\\d+\\.(gate|up|down)_proj$";
}

QuantizationConfig plan_quantization_config(const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& what) {
  return ConfigPlanner(cfg, rr, what).run();
}

json quantization_config_json(const QuantizationConfig& qc) {
  std::string format;
  for (const ConfigGroup& g : qc.groups) format = format.empty() || format == g.format ? g.format : "mixed-precision";
  if (format.empty()) format = "dense";  // a KV-cache-only recipe
  json groups = json::object();
  for (size_t i = 0; i < qc.groups.size(); ++i) {
    const ConfigGroup& g = qc.groups[i];
    json o = {{"targets", g.targets},
              {"weights", weight_args(g.weights)},
              {"input_activations", g.input ? tensor_args(g.input->bits, g.input->symmetric) : json(nullptr)},
              {"output_activations", g.output ? tensor_args(g.output->bits, g.output->symmetric) : json(nullptr)}};
    // Per-group formats only when they differ: older compressed-tensors releases reject the key.
    if (format == "mixed-precision") o["format"] = g.format;
    groups["group_" + std::to_string(i)] = o;
  }
  return {{"quant_method", "compressed-tensors"},
          {"format", format},
          {"quantization_status", "compressed"},
          {"config_groups", groups},
          {"ignore", qc.ignore},
          {"kv_cache_scheme", qc.kv_cache ? tensor_args(8, true) : json(nullptr)},
          {"global_compression_ratio", nullptr},
          {"version", "0.18.0"}};
}

std::string config_json(const Gemma4Config& cfg, DType model_dtype, const QuantizationConfig& qc) {
  json j = json::parse(cfg.to_causal_lm_json());
  j["dtype"] = hf_dtype_name(model_dtype);
  j["quantization_config"] = quantization_config_json(qc);
  return j.dump(2) + "\n";
}

void copy_companion_files(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                           "generation_config.json", "chat_template.jinja", "chat_template.json"}) {
    const fs::path src = fs::path(from) / name;
    if (fs::is_regular_file(src, ec) && !fs::copy_file(src, fs::path(to) / name, ec))
      throw FormatError(src.string() + ": cannot copy into " + to + ": " + ec.message());
  }
}

}  // namespace gq::compressed_tensors
