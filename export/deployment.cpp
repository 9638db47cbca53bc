#include "export/deployment.h"

#include <filesystem>

#include "export/compressed_tensors_messages.h"
#include "export/export_warning.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "quant/rounding.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq {
namespace {

using compressed_tensors::flag_dtype_name;
using quant::WeightScheme;

// The same integers grid, whatever dtype the scales are stored in.
bool same_grid(WeightScheme a, const WeightScheme& b) {
  a.scale_dtype = b.scale_dtype;
  return a == b;
}

// The scheme's name with its scale dtype spelled out ("int4_g32@f32").
std::string named_scale(WeightScheme s, DType scale) {
  s.scale_dtype = DType::F32;
  return quant::weight_scheme_name(s) + "@" + flag_dtype_name(scale);
}

std::string more(size_t n, const char* what) {
  return n ? " (and " + std::to_string(n) + " more " + what + ")" : "";
}

ResolvedRecipe unquantized_recipe(DType t, const std::string& name) {
  ResolvedRecipe rr;
  rr.name = name;
  rr.float_dtype = t;
  rr.unquantized_bytes = int(dtype_size(t));
  return rr;
}

std::string recipe_what(const Recipe& r) { return "recipe '" + r.name + "' (" + r.source + ")"; }

class ChangeFinder {
 public:
  // `targets` orders the modules: a message names the first one in the model.
  ChangeFinder(const Deployment& d, const DeploymentRequest& rq, const std::vector<QuantTarget>& targets)
      : d_(d), rq_(rq), targets_(targets) {}

  std::vector<DeploymentChange> run() {
    schemes();
    activations();
    scale_dtypes();
    float_dtype();
    return out_;
  }

 private:
  std::string trained() const {
    return d_.run ? "the run trained" : (d_.recipe ? "recipe '" + d_.recipe->name + "'" : d_.what) + " states";
  }
  std::string keep() const { return "export without " + rq_.request_flag + " to write what the run trained"; }

  // A run exported with another recipe or --type: other grids, other integers.
  void schemes() {
    const auto& c = d_.contract.weights;
    const auto& e = d_.deployed.weights;
    const std::vector<std::string> differ = modules_where([&](const std::string& m) {
      return c.count(m) != e.count(m) || (c.count(m) && !same_grid(e.at(m), c.at(m)));
    });
    const std::string m = !differ.empty() ? differ.front() : d_.contract.untie_head != d_.deployed.untie_head ? "lm_head" : "";
    if (m.empty()) return;
    auto name = [](const std::map<std::string, WeightScheme>& w, const std::string& m) {
      auto it = w.find(m);
      return it == w.end() ? std::string("float (unquantized)") : quant::weight_scheme_name(it->second);
    };
    std::string what = "module '" + m + "': " + trained() + " " + name(c, m) + ", " + rq_.request_flag + " writes " + name(e, m) +
                       more(differ.empty() ? 0 : differ.size() - 1, "modules differ");
    if (d_.quant_params && d_.quant_params->has_weight_scales())
      what += ", and the run's learned scales (" + d_.quant_params->path() + ") are not written (round-to-nearest instead)";
    out_.push_back({what, keep()});
  }

  void activations() {
    const auto& c = d_.contract.activations;
    const auto& e = d_.deployed.activations;
    auto name = [](const std::map<std::string, quant::ActivationScheme>& a, const std::string& m) {
      auto it = a.find(m);
      return it == a.end() ? std::string("float") : quant::activation_scheme_name(it->second);
    };
    const std::vector<std::string> differ = modules_where([&](const std::string& m) {
      return c.count(m) != e.count(m) || (c.count(m) && !(c.at(m) == e.at(m)));
    });
    if (!differ.empty())
      out_.push_back({"module '" + differ.front() + "' input activations: " + trained() + " " + name(c, differ.front()) +
                          ", " + rq_.request_flag + " writes " + name(e, differ.front()) + more(differ.size() - 1, "modules differ"),
                      keep()});
    const auto& ck = d_.contract.kv_cache;
    const auto& ek = d_.deployed.kv_cache;
    if (ck.has_value() != ek.has_value() || (ck && !(*ck == *ek)))
      out_.push_back({"kv_cache: " + trained() + " " + (ck ? quant::kv_scheme_name(*ck) : std::string("f16")) + ", " +
                          rq_.request_flag + " writes " + (ek ? quant::kv_scheme_name(*ek) : std::string("f16")),
                      keep()});
  }

  // --scale-dtype on modules whose grid is the contract's.
  void scale_dtypes() {
    const auto& c = d_.contract.weights;
    const auto& e = d_.deployed.weights;
    const std::vector<std::string> differ = modules_where([&](const std::string& m) {
      return c.count(m) && e.count(m) && same_grid(e.at(m), c.at(m)) && e.at(m).scale_dtype != c.at(m).scale_dtype;
    });
    if (differ.empty()) return;
    const WeightScheme& s = d_.contract.weights.at(differ.front());
    const DType to = d_.deployed.weights.at(differ.front()).scale_dtype;
    const bool flag = rq_.scale_dtype.has_value();
    out_.push_back({"module '" + differ.front() + "' stores its scales in " + flag_dtype_name(s.scale_dtype) + " (" +
                        named_scale(s, s.scale_dtype) + ": " + trained() + " so); " +
                        (flag ? "--scale-dtype " + flag_dtype_name(to) : rq_.request_flag) + " stores them in " +
                        flag_dtype_name(to) + more(differ.size() - 1, "modules"),
                    !flag ? keep()
                    : d_.run ? "drop --scale-dtype to write what the run trained, or train with " + named_scale(s, to)
                             : "drop --scale-dtype, or name the scale dtype in the recipe (" + named_scale(s, to) + ")"});
  }

  void float_dtype() {
    const DType c = d_.contract.float_dtype, e = d_.deployed.float_dtype;
    if (c == e) return;
    const bool flag = rq_.float_dtype.has_value();
    const std::string setting = "\"unquantized_dtype\": \"" + flag_dtype_name(e) + "\"";
    out_.push_back({"float tensors (embed_tokens.weight, the norms, every unquantized weight) are " + flag_dtype_name(c) +
                        (d_.run ? " in the run" : " as " + trained()) + "; " +
                        (flag ? "--dtype " + flag_dtype_name(e) : rq_.request_flag) + " stores them in " + flag_dtype_name(e),
                    !flag ? keep()
                    : d_.run ? "drop --dtype to write what the run trained, or train with " + setting + " in the recipe"
                             : "drop --dtype, or set " + setting + " in the recipe"});
  }

  template <class Pred>
  std::vector<std::string> modules_where(Pred&& pred) const {
    std::vector<std::string> out;
    for (const QuantTarget& t : targets_)
      if (pred(t.name)) out.push_back(t.name);
    return out;
  }

  const Deployment& d_;
  const DeploymentRequest& rq_;
  const std::vector<QuantTarget>& targets_;
  std::vector<DeploymentChange> out_;
};

}  // namespace

Deployment plan_deployment(const std::string& model_or_run, const DeploymentRequest& rq) {
  namespace fs = std::filesystem;
  Deployment d;
  d.checkpoint = run_folder::checkpoint_dir(model_or_run);
  std::error_code ec;
  if (!fs::is_directory(d.checkpoint, ec))
    throw FormatError(model_or_run + ": not a checkpoint folder (config.json + safetensors) or run folder");
  if (rq.recipe && rq.unquantized) throw FormatError("internal: a deployment request with a recipe and a float type");
  const Gemma4Config cfg = Gemma4Config::load(d.checkpoint);
  const std::vector<QuantTarget> targets = gemma4_quant_targets(cfg);
  const DType source = run_folder::source_float_dtype(d.checkpoint);

  const std::optional<Recipe> own = run_folder::read_recipe(d.checkpoint);
  d.run = own.has_value();
  if (d.run) d.contract = resolve_recipe(*own, targets, source);
  if (rq.recipe) {
    d.recipe = rq.recipe;
    d.what = recipe_what(*rq.recipe);
    d.deployed = resolve_recipe(*rq.recipe, targets, source);
  } else if (rq.unquantized) {
    d.what = rq.request_flag;
    d.deployed = unquantized_recipe(*rq.unquantized, rq.request_flag);
  } else if (d.run) {
    d.recipe = own;
    d.what = recipe_what(*own);
    d.deployed = d.contract;
  } else {
    throw FormatError(d.checkpoint + ": no recipe.json (not a QAT run): a plain checkpoint needs a recipe (e.g. --recipe w4a16-g32)");
  }
  if (!d.run) d.contract = d.deployed;
  if (d.run) {
    d.trained = d.deployed.weights.size() == d.contract.weights.size();
    for (const auto& [m, s] : d.contract.weights)
      d.trained = d.trained && d.deployed.weights.count(m) && same_grid(d.deployed.weights.at(m), s);
    d.quant_params = run_folder::QuantParams::open_if_present(d.checkpoint);
  }

  if (rq.float_dtype) {
    d.deployed.float_dtype = *rq.float_dtype;
    d.deployed.unquantized_bytes = int(dtype_size(*rq.float_dtype));
  }
  if (rq.scale_dtype) {
    if (!quant::is_scale_dtype(*rq.scale_dtype))
      throw FormatError(std::string("scale dtype ") + dtype_name(*rq.scale_dtype) + ": scales are bf16, f16 or f32");
    for (auto& [m, s] : d.deployed.weights)
      if (!s.is_gguf()) s.scale_dtype = *rq.scale_dtype;
  }
  d.changes = ChangeFinder(d, rq, targets).run();
  if (!d.trained) d.quant_params = nullptr;
  if (!d.changes.empty() && !rq.allow_rounding) {
    const DeploymentChange& c = d.changes.front();
    throw FormatError(d.checkpoint + ": " + c.what + ", which changes the deployed numbers: " + c.fix +
                      "; or pass --allow-rounding to export it anyway" + more(d.changes.size() - 1, "changes"));
  }
  return d;
}

void report_changes(const Deployment& d, const RoundingEffect& effect, std::vector<std::string>& kept,
                    const std::function<void(const std::string&)>& on_warning) {
  if (d.changes.empty()) return;
  std::string s = d.checkpoint + ": --allow-rounding: ";
  for (size_t i = 0; i < d.changes.size(); ++i) s += (i ? "; " : "") + d.changes[i].what;
  if (effect) s += "; " + effect(d);
  report_warning(s, kept, on_warning);
}

}  // namespace gq
