#include "io/text_file.h"
#include "model/gemma4_config.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/error.h"

namespace gq {
namespace {

using nlohmann::json;

// Typed, strict access to one JSON object: a wrong type is an error naming the key, a JSON null
// means "use the default" exactly as HF's config classes treat None.
class FieldReader {
 public:
  FieldReader(const json& obj, std::string source, std::string scope)
      : obj_(obj), source_(std::move(source)), scope_(std::move(scope)) {}

  bool present(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw FormatError(source_ + ": " + scope_ + key + ": " + what);
  }

  int64_t integer(const char* key) const {
    if (!present(key)) fail(key, "required field is missing");
    return integer(key, 0);
  }
  int64_t integer(const char* key, int64_t dflt) const {
    if (!present(key)) return dflt;
    const json& v = obj_.at(key);
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) fail(key, "is out of range: " + v.dump());
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      // Range first: converting a double outside int64's range is undefined behaviour.
      const double d = v.get<double>();
      if (std::isfinite(d) && std::fabs(d) < 9.2e18 && d == std::floor(d)) return int64_t(d);
    }
    fail(key, "expected an integer, got " + v.dump());
  }
  // Sizes (dimensions, counts, lengths): positive and at most kMaxConfigSize, so that products of a
  // few of them cannot overflow int64 and nothing is sized from a hostile number.
  int64_t positive(const char* key) const { return size_in_range(key, integer(key)); }
  int64_t positive(const char* key, int64_t dflt) const { return size_in_range(key, integer(key, dflt)); }
  int64_t size_in_range(const char* key, int64_t v) const {
    if (v <= 0) fail(key, "must be positive, got " + std::to_string(v));
    if (v > kMaxConfigSize)
      fail(key, std::to_string(v) + " is above the largest size gemma-qat accepts (" + std::to_string(kMaxConfigSize) + ")");
    return v;
  }
  double number(const char* key, double dflt) const {
    if (!present(key)) return dflt;
    const json& v = obj_.at(key);
    if (!v.is_number()) fail(key, "expected a number, got " + v.dump());
    return v.get<double>();
  }
  std::optional<double> optional_number(const char* key) const {
    if (!present(key)) return std::nullopt;
    return number(key, 0.0);
  }
  bool boolean(const char* key, bool dflt) const {
    if (!present(key)) return dflt;
    const json& v = obj_.at(key);
    if (!v.is_boolean()) fail(key, "expected true or false, got " + v.dump());
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& dflt) const {
    if (!present(key)) return dflt;
    const json& v = obj_.at(key);
    if (!v.is_string()) fail(key, "expected a string, got " + v.dump());
    return v.get<std::string>();
  }
  // eos_token_id may be a list in HF configs; the first entry is the primary EOS.
  int64_t token_id(const char* key, int64_t dflt) const {
    if (present(key) && obj_.at(key).is_array()) {
      const json& a = obj_.at(key);
      if (a.empty() || !a[0].is_number_integer()) fail(key, "expected an integer or a list of integers");
      return a[0].get<int64_t>();
    }
    return integer(key, dflt);
  }
  const json& object(const char* key) const {
    const json& v = obj_.at(key);
    if (!v.is_object()) fail(key, "expected an object, got " + v.dump());
    return v;
  }

 private:
  const json& obj_;
  std::string source_, scope_;
};

RopeParams read_rope(const json& obj, const std::string& source, const std::string& scope,
                     const RopeParams& dflt) {
  if (!obj.is_object()) throw FormatError(source + ": " + scope + ": expected an object");
  FieldReader r(obj, source, scope + ".");
  RopeParams p;
  p.rope_type = r.string("rope_type", dflt.rope_type);
  if (p.rope_type != "default" && p.rope_type != "proportional")
    r.fail("rope_type", "unsupported RoPE type '" + p.rope_type + "' (Gemma 4 uses default/proportional)");
  p.rope_theta = r.number("rope_theta", dflt.rope_theta);
  if (!(p.rope_theta > 0)) r.fail("rope_theta", "must be positive");
  p.partial_rotary_factor = r.number("partial_rotary_factor", 1.0);
  if (!(p.partial_rotary_factor > 0 && p.partial_rotary_factor <= 1))
    r.fail("partial_rotary_factor", "must be in (0, 1]");
  p.factor = r.number("factor", 1.0);
  if (!(p.factor > 0)) r.fail("factor", "must be positive");
  return p;
}

}  // namespace

const char* layer_type_name(LayerType t) {
  return t == LayerType::Sliding ? "sliding_attention" : "full_attention";
}

Gemma4Config Gemma4Config::load(const std::string& path_or_dir) {
  namespace fs = std::filesystem;
  std::string path = path_or_dir;
  std::error_code ec;
  if (fs::is_directory(path, ec)) path = (fs::path(path) / "config.json").string();
  if (!fs::exists(path, ec)) throw FormatError(path + ": config file not found");
  return parse(read_text_file(path), path);
}

Gemma4Config Gemma4Config::parse(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw FormatError(source + ": malformed JSON: " + e.what());
  }
  if (!root.is_object()) throw FormatError(source + ": expected a JSON object at the top level");

  Gemma4Config c;
  c.source = source;
  FieldReader top(root, source, "");
  if (root.contains("architectures") && root["architectures"].is_array() && !root["architectures"].empty() &&
      root["architectures"][0].is_string())
    c.architecture = root["architectures"][0].get<std::string>();

  const std::string top_type = top.string("model_type", "");
  const json* text = &root;
  std::string scope;
  if (top_type == "gemma4" || top_type == "gemma4_unified") {
    if (!top.present("text_config")) top.fail("text_config", "required for model_type '" + top_type + "'");
    text = &top.object("text_config");
    scope = "text_config.";
    c.weight_prefix = "model.language_model.";
  } else if (top_type == "gemma4_text" || top_type == "gemma4_unified_text") {
    c.weight_prefix = "model.";
  } else if (top_type.empty()) {
    top.fail("model_type", "required field is missing");
  } else {
    top.fail("model_type", "unsupported model_type '" + top_type +
                               "' (expected gemma4, gemma4_text, gemma4_unified or gemma4_unified_text)");
  }
  FieldReader t(*text, source, scope);
  if (!scope.empty()) {
    const std::string inner = t.string("model_type", "gemma4_text");
    if (inner != "gemma4_text" && inner != "gemma4_unified_text")
      t.fail("model_type", "unsupported text model_type '" + inner + "'");
  }
  c.dtype = top.string("dtype", top.string("torch_dtype", t.string("dtype", "bfloat16")));

  c.vocab_size = t.positive("vocab_size");
  c.hidden_size = t.positive("hidden_size");
  c.intermediate_size = t.positive("intermediate_size");
  c.num_hidden_layers = t.positive("num_hidden_layers");
  c.num_attention_heads = t.positive("num_attention_heads");
  c.num_key_value_heads = t.positive("num_key_value_heads", c.num_key_value_heads);
  c.head_dim = t.positive("head_dim", c.head_dim);
  c.global_head_dim = t.positive("global_head_dim", c.global_head_dim);
  if (t.present("num_global_key_value_heads")) c.num_global_key_value_heads = t.positive("num_global_key_value_heads");
  c.attention_k_eq_v = t.boolean("attention_k_eq_v", false);
  c.hidden_activation = t.string("hidden_activation", c.hidden_activation);
  if (c.hidden_activation != "gelu_pytorch_tanh" && c.hidden_activation != "gelu_tanh")
    t.fail("hidden_activation", "unsupported activation '" + c.hidden_activation + "' (Gemma 4 uses gelu_pytorch_tanh)");
  c.max_position_embeddings = t.positive("max_position_embeddings", c.max_position_embeddings);
  c.rms_norm_eps = t.number("rms_norm_eps", c.rms_norm_eps);
  if (!(c.rms_norm_eps > 0)) t.fail("rms_norm_eps", "must be positive");
  c.pad_token_id = t.token_id("pad_token_id", 0);
  c.eos_token_id = t.token_id("eos_token_id", 1);
  c.bos_token_id = t.token_id("bos_token_id", 2);
  c.tie_word_embeddings = top.boolean("tie_word_embeddings", t.boolean("tie_word_embeddings", true));
  c.attention_bias = t.boolean("attention_bias", false);
  if (c.attention_bias) t.fail("attention_bias", "true is not supported (Gemma 4 has no attention bias)");
  c.sliding_window = t.positive("sliding_window", c.sliding_window);
  c.final_logit_softcapping = t.optional_number("final_logit_softcapping");
  if (c.final_logit_softcapping && *c.final_logit_softcapping <= 0) c.final_logit_softcapping.reset();
  c.use_bidirectional_attention = t.string("use_bidirectional_attention", "");
  if (c.use_bidirectional_attention == "all")
    t.fail("use_bidirectional_attention", "'all' (non-causal text) is not supported");
  c.vocab_size_per_layer_input = t.positive("vocab_size_per_layer_input", c.vocab_size_per_layer_input);
  c.hidden_size_per_layer_input = t.integer("hidden_size_per_layer_input", 256);
  if (t.present("hidden_size_per_layer_input") && c.hidden_size_per_layer_input < 0)
    t.fail("hidden_size_per_layer_input", "must not be negative");
  if ((*text).contains("hidden_size_per_layer_input") && (*text)["hidden_size_per_layer_input"].is_null())
    c.hidden_size_per_layer_input = 0;  // explicit null turns PLE off
  c.num_kv_shared_layers = t.integer("num_kv_shared_layers", 0);
  if (c.num_kv_shared_layers < 0 || c.num_kv_shared_layers >= c.num_hidden_layers)
    t.fail("num_kv_shared_layers", "must be in [0, num_hidden_layers)");
  c.use_double_wide_mlp = t.boolean("use_double_wide_mlp", false);
  c.enable_moe_block = t.boolean("enable_moe_block", false);
  if (c.enable_moe_block) {
    c.num_experts = t.positive("num_experts");
    c.top_k_experts = t.positive("top_k_experts");
    if (c.top_k_experts > c.num_experts) t.fail("top_k_experts", "exceeds num_experts");
    if (t.present("moe_intermediate_size")) c.moe_intermediate_size = t.positive("moe_intermediate_size");
    else if (t.present("expert_intermediate_size")) c.moe_intermediate_size = t.positive("expert_intermediate_size");
    else t.fail("moe_intermediate_size", "required when enable_moe_block is true (or expert_intermediate_size)");
  }

  // Layer pattern: every 6th layer full by default; HF forces the last layer to full attention.
  const int64_t L = c.num_hidden_layers;
  if (t.present("layer_types")) {
    const json& lt = (*text)["layer_types"];
    if (!lt.is_array()) t.fail("layer_types", "expected a list");
    if (int64_t(lt.size()) != L)
      t.fail("layer_types", "has " + std::to_string(lt.size()) + " entries for " + std::to_string(L) + " layers");
    for (const json& e : lt) {
      if (!e.is_string()) t.fail("layer_types", "entries must be strings");
      const std::string s = e.get<std::string>();
      if (s == "sliding_attention") c.layer_types.push_back(LayerType::Sliding);
      else if (s == "full_attention") c.layer_types.push_back(LayerType::Full);
      else t.fail("layer_types", "unknown layer type '" + s + "'");
    }
  } else {
    for (int64_t i = 0; i < L; ++i) c.layer_types.push_back((i + 1) % 6 ? LayerType::Sliding : LayerType::Full);
  }
  c.layer_types.back() = LayerType::Full;

  if (t.present("rope_parameters")) {
    const json& rp = t.object("rope_parameters");
    if (rp.contains("sliding_attention"))
      c.rope_sliding = read_rope(rp["sliding_attention"], source, scope + "rope_parameters.sliding_attention", c.rope_sliding);
    if (rp.contains("full_attention"))
      c.rope_full = read_rope(rp["full_attention"], source, scope + "rope_parameters.full_attention", c.rope_full);
  }

  // Per-layer head dims / KV heads: transformers >= 5.x saves `per_layer_config` (keys = layer index);
  // release configs carry global_head_dim / num_global_key_value_heads instead.
  c.layer_head_dim.assign(size_t(L), 0);
  c.layer_kv_heads.assign(size_t(L), 0);
  for (int64_t i = 0; i < L; ++i) {
    const bool full = c.layer_types[size_t(i)] == LayerType::Full;
    c.layer_head_dim[size_t(i)] = full ? c.global_head_dim : c.head_dim;
    c.layer_kv_heads[size_t(i)] =
        (full && c.attention_k_eq_v && c.num_global_key_value_heads) ? *c.num_global_key_value_heads : c.num_key_value_heads;
  }
  if (t.present("per_layer_config")) {
    const json& plc = t.object("per_layer_config");
    // When per_layer_config is given it is the whole truth: layers it does not name use the base values.
    for (int64_t i = 0; i < L; ++i) {
      c.layer_head_dim[size_t(i)] = c.head_dim;
      c.layer_kv_heads[size_t(i)] = c.num_key_value_heads;
    }
    for (auto it = plc.begin(); it != plc.end(); ++it) {
      int64_t idx = -1;
      try {
        size_t used = 0;
        idx = std::stoll(it.key(), &used);
        if (used != it.key().size()) idx = -1;
      } catch (...) {
        idx = -1;
      }
      const std::string where = scope + "per_layer_config." + it.key();
      if (idx < 0 || idx >= L) throw FormatError(source + ": " + where + ": not a layer index in [0, " + std::to_string(L) + ")");
      if (!it.value().is_object()) throw FormatError(source + ": " + where + ": expected an object");
      FieldReader r(it.value(), source, where + ".");
      c.layer_head_dim[size_t(idx)] = r.positive("head_dim", c.head_dim);
      c.layer_kv_heads[size_t(idx)] = r.positive("num_key_value_heads", c.num_key_value_heads);
      if (c.layer_types[size_t(idx)] == LayerType::Full) c.global_head_dim = c.layer_head_dim[size_t(idx)];
    }
  }
  c.resolve();
  return c;
}

void Gemma4Config::resolve() {
  const int64_t L = num_hidden_layers;
  const std::string at = source + ": ";
  for (int64_t i = 0; i < L; ++i) {
    const int64_t hd = layer_head_dim[size_t(i)], kv = layer_kv_heads[size_t(i)];
    if (hd % 2) throw FormatError(at + "layer " + std::to_string(i) + ": head_dim " + std::to_string(hd) + " must be even (RoPE pairs)");
    if (num_attention_heads % kv)
      throw FormatError(at + "layer " + std::to_string(i) + ": num_attention_heads " + std::to_string(num_attention_heads) +
                        " is not a multiple of its " + std::to_string(kv) + " KV heads");
  }
  // KV sharing (HF rule): a shared layer reads the K/V of the last non-shared layer of its type.
  const int64_t first_shared = L - num_kv_shared_layers;
  kv_donor.assign(size_t(L), -1);
  for (int64_t i = first_shared; i < L && num_kv_shared_layers > 0; ++i) {
    int donor = -1;
    for (int64_t j = 0; j < first_shared; ++j)
      if (layer_types[size_t(j)] == layer_types[size_t(i)]) donor = int(j);
    if (donor < 0)
      throw FormatError(at + "layer " + std::to_string(i) + " shares K/V but no earlier non-shared " +
                        layer_type_name(layer_types[size_t(i)]) + " layer exists");
    if (layer_head_dim[size_t(donor)] != layer_head_dim[size_t(i)] || layer_kv_heads[size_t(donor)] != layer_kv_heads[size_t(i)])
      throw FormatError(at + "layer " + std::to_string(i) + " shares K/V with layer " + std::to_string(donor) +
                        " but their head_dim / KV heads differ");
    kv_donor[size_t(i)] = donor;
  }
  layer_intermediate.assign(size_t(L), intermediate_size);
  for (int64_t i = 0; i < L; ++i)
    if (use_double_wide_mlp && num_kv_shared_layers > 0 && i >= first_shared) layer_intermediate[size_t(i)] *= 2;
}

std::string Gemma4Config::llama_cpp_kv_sharing_problem() const {
  if (num_kv_shared_layers == 0) return "";
  const int64_t fs = first_kv_shared_layer();
  if (fs < 2) return "llama.cpp needs at least 2 layers before the first KV-shared layer";
  for (int64_t i = fs; i < L(); ++i) {
    const int64_t llama_donor = fs - (is_sliding(i) ? 2 : 1);
    if (llama_donor != kv_donor[size_t(i)])
      return "layer " + std::to_string(i) + " reads K/V of layer " + std::to_string(kv_donor[size_t(i)]) +
             " in Hugging Face but of layer " + std::to_string(llama_donor) +
             " in llama.cpp (llama.cpp needs layer first_shared-1 full and first_shared-2 sliding)";
  }
  return "";
}

}  // namespace gq
