#include "qat/quantize.h"

#include <map>
#include <regex>

#include "io/error.h"
#include "quant/activation.h"
#include "qat/activation_quantizer.h"
#include "qat/kv_quantizer.h"
#include "qat/weight_quantizer.h"

namespace gq {
namespace {

template <class T>
std::map<std::string, std::shared_ptr<T>> modules_of(Gemma4Model& model) {
  std::map<std::string, std::shared_ptr<T>> out;
  for (const auto& item : model->named_modules("", /*include_self=*/false))
    if (auto m = std::dynamic_pointer_cast<T>(item.value())) out[item.key()] = m;
  return out;
}

// q/k/v read one input, and so do gate/up: runtimes fuse each trio/pair into one matmul.
std::string input_share_group(const std::string& module) {
  static const std::regex qkv(R"((.*\.self_attn)\.[qkv]_proj)"), gate_up(R"((.*\.mlp)\.(gate|up)_proj)");
  std::smatch m;
  if (std::regex_match(module, m, qkv)) return m[1].str() + ".qkv";
  if (std::regex_match(module, m, gate_up)) return m[1].str() + ".gate_up";
  return module;
}

void visit_seams(Gemma4Model& model, const std::function<void(const std::string&, const std::string&, QuantSeam&)>& fn) {
  fn("embed_tokens", "rows", model->embed_quant);
  fn("embed_tokens_per_layer", "rows", model->ple_embed_quant);
  fn("lm_head", "weight", model->head_quant);
  for (auto& [name, lin] : modules_of<QLinearImpl>(model)) {
    fn(name, "weight", lin->weight_quant);
    fn(name, "input", lin->input_quant);
  }
  for (auto& [name, ex] : modules_of<Gemma4ExpertsImpl>(model)) {
    fn(name + ".gate_up_proj", "weight", ex->gate_up_quant);
    fn(name + ".down_proj", "weight", ex->down_quant);
  }
  for (auto& [name, at] : modules_of<Gemma4AttentionImpl>(model)) {
    fn(name, "k_cache", at->k_cache_quant);
    fn(name, "v_cache", at->v_cache_quant);
  }
}

}  // namespace

std::vector<SeamAssignment> quantize_model(Gemma4Model& model, const ResolvedRecipe& recipe, const Calibration* calibration) {
  remove_quantization(model);
  auto linears = modules_of<QLinearImpl>(model);
  auto experts = modules_of<Gemma4ExpertsImpl>(model);

  for (const auto& [module, scheme] : recipe.weights) {
    if (module == "embed_tokens") {
      // Rows are quantized after the gather (each row on its own, so identical to quantizing the
      // table); a learned scale would need the token ids, so embeddings stay RTN.
      model->embed_quant.set(std::make_shared<WeightQuantizer>(scheme, model->embed_tokens->weight, false));
    } else if (module == "embed_tokens_per_layer") {
      model->ple_embed_quant.set(std::make_shared<WeightQuantizer>(scheme, model->embed_tokens_per_layer->weight, false));
    } else if (module == "lm_head") {
      // A tied head that inherits the table's scheme is the same tensor in the file as the
      // embedding, whose rows stay RTN: its scales must not drift apart by learning.
      const bool own_tensor = model->lm_head || recipe.untie_head;
      const at::Tensor table = model->lm_head ? model->lm_head->weight : model->embed_tokens->weight;
      model->head_quant.set(std::make_shared<WeightQuantizer>(scheme, table, recipe.learnable_scales && own_tensor));
    } else if (auto it = linears.find(module); it != linears.end()) {
      it->second->weight_quant.set(std::make_shared<WeightQuantizer>(scheme, it->second->weight, recipe.learnable_scales));
    } else {
      const auto dot = module.rfind('.');
      auto ex = experts.find(module.substr(0, dot));
      if (ex == experts.end()) throw FormatError("recipe " + recipe.name + ": the model has no module '" + module + "'");
      const bool gate_up = module.substr(dot + 1) == "gate_up_proj";
      const at::Tensor bank = gate_up ? ex->second->gate_up_proj : ex->second->down_proj;
      (gate_up ? ex->second->gate_up_quant : ex->second->down_quant)
          .set(std::make_shared<WeightQuantizer>(scheme, bank, recipe.learnable_scales));
    }
  }

  std::map<std::string, std::shared_ptr<ActivationQuantizer>> shared;
  for (const auto& [module, scheme] : recipe.activations) {
    auto it = linears.find(module);
    if (it == linears.end()) throw FormatError("recipe " + recipe.name + ": the model has no Linear '" + module + "'");
    std::shared_ptr<ActivationQuantizer>& q = shared[input_share_group(module) + "/" + quant::activation_scheme_name(scheme)];
    if (!q) {
      q = std::make_shared<ActivationQuantizer>(scheme, recipe.observer, recipe.learnable_scales);
      if (calibration) {
        auto c = calibration->activations.find(module);
        if (c == calibration->activations.end())
          throw FormatError("calibration has no entry for the input of '" + module + "' (recalibrate with this recipe)");
        if (!c->second.scheme.empty() && c->second.scheme != quant::activation_scheme_name(scheme))
          throw FormatError("calibration of '" + module + "' is for " + c->second.scheme + ", the recipe wants " +
                            quant::activation_scheme_name(scheme));
        q->set_params(quant::ActivationParams{c->second.scale, c->second.zero_point});
        q->observed_range = {c->second.min, c->second.max};
      }
    }
    it->second->input_quant.set(q);
  }

  if (recipe.kv_cache) {
    for (auto& [name, attn] : modules_of<Gemma4AttentionImpl>(model)) {
      if (attn->shared) continue;  // reads its donor's (already quantized) K/V
      attn->k_cache_quant.set(std::make_shared<KvQuantizer>(*recipe.kv_cache));
      attn->v_cache_quant.set(std::make_shared<KvQuantizer>(*recipe.kv_cache));
    }
  }
  return describe_quantization(model);
}

void remove_quantization(Gemma4Model& model) {
  visit_seams(model, [](const std::string&, const std::string&, QuantSeam& seam) { seam.set(nullptr); });
}

std::vector<SeamAssignment> describe_quantization(Gemma4Model& model) {
  std::vector<SeamAssignment> out;
  visit_seams(model, [&](const std::string& module, const std::string& seam, QuantSeam& s) {
    if (s.get()) out.push_back({module, seam, s.get()->describe()});
  });
  return out;
}

void set_quantization_enabled(Gemma4Model& model, bool on) {
  visit_seams(model, [on](const std::string&, const std::string&, QuantSeam& s) {
    if (s.get()) s.get()->enabled = on;
  });
}

std::map<std::string, at::Tensor> quantization_state(Gemma4Model& model) {
  std::map<std::string, at::Tensor> out;
  visit_seams(model, [&](const std::string& module, const std::string& seam, QuantSeam& s) {
    if (!s.get()) return;
    for (const auto& p : s.get()->named_parameters(true)) out[module + "." + seam + "." + p.key()] = p.value();
    for (const auto& b : s.get()->named_buffers(true)) out[module + "." + seam + "." + b.key()] = b.value();
  });
  return out;
}

void load_quantization_state(Gemma4Model& model, const std::map<std::string, at::Tensor>& state) {
  at::NoGradGuard ng;
  for (auto& [name, dst] : quantization_state(model)) {
    auto it = state.find(name);
    if (it == state.end()) throw FormatError("quantization state lacks '" + name + "'");
    if (it->second.sizes() != dst.sizes()) throw FormatError("quantization state '" + name + "' has the wrong shape");
    dst.copy_(it->second);
  }
}

Calibration current_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer) {
  Calibration cal;
  cal.recipe = recipe_name;
  cal.observer = observer;
  visit_seams(model, [&](const std::string& module, const std::string&, QuantSeam& s) {
    auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get());
    if (!a || !a->calibrated()) return;
    const quant::ActivationParams p = a->params();
    cal.activations[module] = ActivationCalibration{quant::activation_scheme_name(a->scheme()), a->observed_range.first,
                                                    a->observed_range.second, p.scale, p.zero_point};
  });
  return cal;
}

void begin_calibration(Gemma4Model& model) {
  visit_seams(model, [](const std::string&, const std::string&, QuantSeam& s) {
    if (auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get())) a->set_observing(true);
    if (auto k = std::dynamic_pointer_cast<KvQuantizer>(s.get())) k->set_observing(true);
  });
}

Calibration finish_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer) {
  Calibration cal;
  cal.recipe = recipe_name;
  cal.observer = observer;
  std::map<ActivationQuantizer*, bool> done;
  visit_seams(model, [&](const std::string& module, const std::string& seam, QuantSeam& s) {
    if (auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get())) {
      if (!done.count(a.get())) {
        if (!a->finish_calibration())
          throw FormatError("calibration saw no input for '" + module + "' (no data reached it)");
        a->set_observing(false);
        done[a.get()] = true;
      }
      const quant::ActivationParams p = a->params();
      cal.activations[module] = ActivationCalibration{quant::activation_scheme_name(a->scheme()), a->observed_range.first,
                                                      a->observed_range.second, p.scale, p.zero_point};
    }
    if (auto k = std::dynamic_pointer_cast<KvQuantizer>(s.get())) {
      k->set_observing(false);
      const auto r = k->observer.range(quant::ActivationScheme{});
      KvCalibration& kv = cal.kv_cache[module];
      if (seam == "k_cache") kv.k_min = r.first, kv.k_max = r.second;
      else kv.v_min = r.first, kv.v_max = r.second;
    }
  });
  return cal;
}

}  // namespace gq
