#include "io/text_file.h"
#include "recipes/recipe.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "formats/safetensors.h"
#include "io/error.h"

namespace gq {
namespace {

using nlohmann::json;

std::vector<std::string> string_list(const json& v, const std::string& where, const std::string& source) {
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) throw FormatError(source + ": " + where + ": expected a string or a list of strings");
  std::vector<std::string> out;
  for (const json& e : v) {
    if (!e.is_string()) throw FormatError(source + ": " + where + ": expected strings, got " + e.dump());
    out.push_back(e.get<std::string>());
  }
  if (out.empty()) throw FormatError(source + ": " + where + ": is empty");
  return out;
}

void check_keys(const json& obj, const std::set<std::string>& allowed, const std::string& where,
                const std::string& source) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string list;
      for (const std::string& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw FormatError(source + ": " + where + "unknown key '" + it.key() + "' (allowed: " + list + ")");
    }
}

std::vector<RecipeRule> read_rules(const json& root, const char* key, const std::string& source) {
  std::vector<RecipeRule> rules;
  if (!root.contains(key)) return rules;
  const json& arr = root[key];
  if (!arr.is_array()) throw FormatError(source + ": " + key + ": expected a list of rules");
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) throw FormatError(source + ": " + where + ": expected an object");
    check_keys(arr[i], {"targets", "scheme"}, where + ": ", source);
    if (!arr[i].contains("targets")) throw FormatError(source + ": " + where + ": 'targets' is missing");
    if (!arr[i].contains("scheme") || !arr[i]["scheme"].is_string())
      throw FormatError(source + ": " + where + ": 'scheme' (a string) is missing");
    rules.push_back({string_list(arr[i]["targets"], where + ".targets", source), arr[i]["scheme"].get<std::string>()});
  }
  return rules;
}

// A pattern as messages quote it: at most 200 characters (a hostile one may be megabytes).
std::string shortened(const std::string& s) { return s.size() <= 200 ? s : s.substr(0, 200) + "..."; }

// A target pattern: a kind keyword, "re:<regex>" (full match) or an exact module name. Regexes are
// RE2's: linear-time matching and bounded memory whatever the recipe holds (std::regex recursed into
// a stack overflow on deep nesting, and a huge back-reference was undefined behaviour in its
// compiler). RE2 has no back-references or look-around (a lookahead is refused as invalid), which
// targets do not need.
class Pattern {
 public:
  Pattern(const std::string& text, const std::string& where, const std::string& source) : text_(text) {
    if (text.rfind("re:", 0) == 0) {
      RE2::Options o;
      o.set_log_errors(false);
      o.set_max_mem(int64_t(8) << 20);
      re_ = std::make_shared<RE2>(text.substr(3), o);
      if (!re_->ok())
        throw FormatError(source + ": " + where + ": invalid regex '" + shortened(text.substr(3)) + "': " +
                          shortened(re_->error()));
    }
  }
  bool matches(const QuantTarget& t) const {
    if (re_) return RE2::FullMatch(t.name, *re_);
    if (text_ == "Linear") return t.kind == TargetKind::Linear;
    if (text_ == "Embedding") return t.kind == TargetKind::Embedding;
    if (text_ == "Experts") return t.kind == TargetKind::Experts;
    if (text_ == "Router") return t.kind == TargetKind::Router;
    return t.name == text_;
  }
  // Kind keywords name what an architecture may or may not have (experts, PLE); a name or regex
  // that matches nothing is a mistake in the recipe.
  bool may_match_nothing() const {
    return !re_ && (text_ == "Linear" || text_ == "Embedding" || text_ == "Experts" || text_ == "Router");
  }

 private:
  std::string text_;
  std::shared_ptr<RE2> re_;  // "re:" patterns
};

}  // namespace

std::string builtin_recipe_dir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("GEMMA_QAT_RECIPES")) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "gemma-qat" / "recipes";
    if (fs::is_regular_file(installed / "q4_0.json", ec)) return installed.string();
  }
  return GQ_RECIPE_DIR;
}

DType resolve_float_dtype(const std::string& unquantized_dtype, DType source) {
  if (unquantized_dtype == "auto") {
    if (source == DType::F32 || source == DType::F16 || source == DType::BF16) return source;
    return DType::F32;  // F64 or integer checkpoints: store floats as float32
  }
  if (unquantized_dtype == "f32") return DType::F32;
  if (unquantized_dtype == "f16") return DType::F16;
  if (unquantized_dtype == "bf16") return DType::BF16;
  throw FormatError("unquantized_dtype: expected auto, bf16, f16 or f32, got '" + unquantized_dtype + "'");
}

Recipe Recipe::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return parse(read_text_file(path), path);
  const std::string builtin = (fs::path(builtin_recipe_dir()) / (path + ".json")).string();
  if (path.find('/') == std::string::npos && fs::is_regular_file(builtin, ec)) return parse(read_text_file(builtin), builtin);
  std::string names;
  for (const auto& e : fs::directory_iterator(builtin_recipe_dir(), ec))
    if (e.path().extension() == ".json") names += (names.empty() ? "" : ", ") + e.path().stem().string();
  throw FormatError(path + ": no such recipe file or built-in recipe (built-ins: " + names + ")");
}

Recipe Recipe::parse(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw FormatError(source + ": malformed JSON: " + e.what());
  }
  if (!root.is_object()) throw FormatError(source + ": a recipe is a JSON object");
  check_keys(root, {"name", "description", "weights", "input_activations", "output_activations", "kv_cache", "ignore",
                    "observer", "learnable_scales", "unquantized_dtype"},
             "", source);
  Recipe r;
  r.source = source;
  auto str = [&](const char* key, const std::string& dflt) {
    if (!root.contains(key) || root[key].is_null()) return dflt;
    if (!root[key].is_string()) throw FormatError(source + ": " + key + ": expected a string");
    return root[key].get<std::string>();
  };
  r.name = str("name", std::filesystem::path(source).stem().string());
  r.description = str("description", "");
  r.weights = read_rules(root, "weights", source);
  r.input_activations = read_rules(root, "input_activations", source);
  r.output_activations = read_rules(root, "output_activations", source);
  if (root.contains("kv_cache") && !root["kv_cache"].is_null()) r.kv_cache = str("kv_cache", "");
  if (root.contains("ignore")) r.ignore = string_list(root["ignore"], "ignore", source);
  r.observer = str("observer", r.observer);
  static const std::set<std::string> observers = {"minmax", "moving_minmax", "percentile", "mse"};
  if (!observers.count(r.observer))
    throw FormatError(source + ": observer: unknown observer '" + r.observer + "' (minmax, moving_minmax, percentile, mse)");
  if (root.contains("learnable_scales")) {
    if (!root["learnable_scales"].is_boolean()) throw FormatError(source + ": learnable_scales: expected true or false");
    r.learnable_scales = root["learnable_scales"].get<bool>();
  }
  r.unquantized_dtype = str("unquantized_dtype", r.unquantized_dtype);
  if (r.unquantized_dtype != "auto" && r.unquantized_dtype != "bf16" && r.unquantized_dtype != "f16" &&
      r.unquantized_dtype != "f32")
    throw FormatError(source + ": unquantized_dtype: expected auto, bf16, f16 or f32, got '" + r.unquantized_dtype + "'");
  if (r.weights.empty() && r.input_activations.empty() && r.output_activations.empty() && !r.kv_cache)
    throw FormatError(source + ": the recipe quantizes nothing (no weights, input_activations, output_activations or kv_cache)");
  return r;
}

ResolvedRecipe resolve_recipe(const Recipe& recipe, const std::vector<QuantTarget>& targets, DType source) {
  const std::string& src = recipe.source;
  ResolvedRecipe out;
  out.name = recipe.name;
  out.observer = recipe.observer;
  out.learnable_scales = recipe.learnable_scales;
  out.float_dtype = resolve_float_dtype(recipe.unquantized_dtype, source);
  out.unquantized_bytes = int(dtype_size(out.float_dtype));

  // Exclusions may name modules this architecture lacks (a recipe serves many shapes).
  std::vector<bool> ignored(targets.size(), false);
  for (size_t i = 0; i < recipe.ignore.size(); ++i) {
    const Pattern p(recipe.ignore[i], "ignore[" + std::to_string(i) + "]", src);
    for (size_t t = 0; t < targets.size(); ++t)
      if (p.matches(targets[t])) ignored[t] = true;
  }

  auto apply = [&](const std::vector<RecipeRule>& rules, const char* section, auto&& assign) {
    for (size_t r = 0; r < rules.size(); ++r) {
      const std::string where = std::string(section) + "[" + std::to_string(r) + "]";
      for (size_t k = 0; k < rules[r].targets.size(); ++k) {
        const std::string tw = where + ".targets[" + std::to_string(k) + "]";
        const Pattern p(rules[r].targets[k], tw, src);
        bool any = false;
        for (size_t t = 0; t < targets.size(); ++t) {
          if (!p.matches(targets[t])) continue;
          any = true;
          if (!ignored[t]) assign(targets[t], rules[r].scheme, where);
        }
        if (!any && !p.may_match_nothing())
          throw FormatError(src + ": " + tw + ": '" + shortened(rules[r].targets[k]) + "' matches no module of this model");
      }
    }
  };

  apply(recipe.weights, "weights", [&](const QuantTarget& t, const std::string& scheme_name, const std::string& where) {
    quant::WeightScheme s;
    try {
      s = quant::parse_weight_scheme(scheme_name);
    } catch (const FormatError& e) {
      throw FormatError(src + ": " + where + ": " + e.what());
    }
    // A channel / group scale without an explicit "@dtype" is stored in the model's float dtype.
    if (!s.is_gguf() && scheme_name.find('@') == std::string::npos) s.scale_dtype = out.float_dtype;
    const int64_t block = s.block_size(t.cols);
    if (block <= 0 || t.cols % block != 0)
      throw FormatError(src + ": " + where + ": " + scheme_name + " needs rows whose length is a multiple of " +
                        std::to_string(block) + ", but " + t.name + " has " + std::to_string(t.cols) + " inputs");
    out.weights[t.name] = s;
  });
  auto activations_into = [&](std::map<std::string, quant::ActivationScheme>& dst, const char* what) {
    return [&dst, &src, what](const QuantTarget& t, const std::string& scheme_name, const std::string& where) {
      if (t.kind != TargetKind::Linear && t.kind != TargetKind::Head)
        throw FormatError(src + ": " + where + ": " + what + " activations can only be quantized on Linear modules and " +
                          "the head (lm_head), not " + target_kind_name(t.kind) + " " + t.name);
      try {
        dst[t.name] = quant::parse_activation_scheme(scheme_name);
      } catch (const FormatError& e) {
        throw FormatError(src + ": " + where + ": " + e.what());
      }
    };
  };
  apply(recipe.input_activations, "input_activations", activations_into(out.activations, "input"));
  apply(recipe.output_activations, "output_activations", activations_into(out.output_activations, "output"));
  if (recipe.kv_cache) {
    try {
      out.kv_cache = quant::parse_kv_scheme(*recipe.kv_cache);
    } catch (const FormatError& e) {
      throw FormatError(src + ": kv_cache: " + e.what());
    }
  }
  // A tied head reads the embedding table: it inherits the table's scheme, a scheme of its own that
  // differs means a separate copy, and an ignored head is a float copy of a quantized table.
  bool tied = false, head_ignored = false;
  for (size_t t = 0; t < targets.size(); ++t)
    if (targets[t].kind == TargetKind::Head) {
      tied = targets[t].tensor.empty();
      head_ignored = ignored[t];
    }
  auto head = out.weights.find("lm_head");
  auto emb = out.weights.find("embed_tokens");
  if (tied && head != out.weights.end()) {
    out.untie_head = emb == out.weights.end() || head->second != emb->second;
  } else if (tied && emb != out.weights.end()) {
    if (head_ignored)
      out.untie_head = true;
    else
      out.weights["lm_head"] = emb->second;
  }
  return out;
}

}  // namespace gq
