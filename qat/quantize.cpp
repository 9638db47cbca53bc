#include "qat/quantize.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <ATen/ATen.h>

#include "io/error.h"
#include "quant/activation.h"
#include "qat/activation_quantizer.h"
#include "qat/float_rounding.h"
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

// q/k/v read one input and write one output, and so do gate/up: runtimes fuse each trio/pair into
// one matmul with one input and one output scale.
std::string share_group(const std::string& module) {
  static const std::regex qkv(R"((.*\.self_attn)\.[qkv]_proj)"), gate_up(R"((.*\.mlp)\.(gate|up)_proj)");
  std::smatch m;
  if (std::regex_match(module, m, qkv)) return m[1].str() + ".qkv";
  if (std::regex_match(module, m, gate_up)) return m[1].str() + ".gate_up";
  return module;
}

// What a seam rounds: a stored tensor (weights, tables, norm weights, router scales, layer scalars),
// an activation (a Linear's or the head's input / output), or a K/V cache write.
enum class SeamKind { Tensor, Activation, Kv };
using SeamVisitor = std::function<void(const std::string& module, const std::string& seam, SeamKind, QuantSeam&)>;

void visit_seams(Gemma4Model& model, const SeamVisitor& fn) {
  fn("embed_tokens", "rows", SeamKind::Tensor, model->embed_quant);
  if (model->embed_tokens_per_layer)  // PLE only: a model without the table has nothing to round
    fn("embed_tokens_per_layer", "rows", SeamKind::Tensor, model->ple_embed_quant);
  fn("lm_head", "weight", SeamKind::Tensor, model->head_quant);
  fn("lm_head", "input", SeamKind::Activation, model->head_input_quant);
  fn("lm_head", "output", SeamKind::Activation, model->head_output_quant);
  for (auto& [name, lin] : modules_of<QLinearImpl>(model)) {
    fn(name, "weight", SeamKind::Tensor, lin->weight_quant);
    fn(name, "input", SeamKind::Activation, lin->input_quant);
    fn(name, "output", SeamKind::Activation, lin->output_quant);
  }
  for (auto& [name, ex] : modules_of<Gemma4ExpertsImpl>(model)) {
    fn(name + ".gate_up_proj", "weight", SeamKind::Tensor, ex->gate_up_quant);
    fn(name + ".down_proj", "weight", SeamKind::Tensor, ex->down_quant);
  }
  for (auto& [name, norm] : modules_of<RMSNormImpl>(model))
    if (norm->weight.defined()) fn(name, "weight", SeamKind::Tensor, norm->weight_quant);
  for (auto& [name, router] : modules_of<Gemma4RouterImpl>(model)) {
    fn(name, "scale", SeamKind::Tensor, router->scale_quant);
    fn(name, "per_expert_scale", SeamKind::Tensor, router->per_expert_scale_quant);
  }
  for (auto& [name, layer] : modules_of<Gemma4DecoderLayerImpl>(model))
    fn(name, "layer_scalar", SeamKind::Tensor, layer->layer_scalar_quant);
  for (auto& [name, at] : modules_of<Gemma4AttentionImpl>(model)) {
    fn(name, "k_cache", SeamKind::Kv, at->k_cache_quant);
    fn(name, "v_cache", SeamKind::Kv, at->v_cache_quant);
  }
}

// The activation seam of `module` ("lm_head" or a Linear) on side "input" / "output".
QuantSeam& activation_seam(Gemma4Model& model, std::map<std::string, std::shared_ptr<QLinearImpl>>& linears,
                           const std::string& module, bool input, const std::string& recipe) {
  if (module == "lm_head") return input ? model->head_input_quant : model->head_output_quant;
  auto it = linears.find(module);
  if (it == linears.end()) throw FormatError("recipe " + recipe + ": the model has no Linear '" + module + "'");
  return input ? it->second->input_quant : it->second->output_quant;
}

// Puts static activation quantizers on one side (inputs or outputs) of the recipe's modules, one
// quantizer per fused group, its scale from `calibrated` when given.
void attach_activations(Gemma4Model& model, const ResolvedRecipe& recipe,
                        const std::map<std::string, quant::ActivationScheme>& schemes, bool input,
                        const std::map<std::string, ActivationCalibration>* calibrated) {
  auto linears = modules_of<QLinearImpl>(model);
  const char* side = input ? "input" : "output";
  std::map<std::string, std::shared_ptr<ActivationQuantizer>> shared;
  for (const auto& [module, scheme] : schemes) {
    const std::string name = quant::activation_scheme_name(scheme);
    std::shared_ptr<ActivationQuantizer>& q = shared[share_group(module) + "/" + name];
    if (!q) {
      q = std::make_shared<ActivationQuantizer>(scheme, recipe.observer, recipe.learnable_scales);
      if (calibrated) {
        auto c = calibrated->find(module);
        if (c == calibrated->end())
          throw FormatError(std::string("calibration has no entry for the ") + side + " of '" + module +
                            "' (recalibrate with this recipe)");
        if (!c->second.scheme.empty() && c->second.scheme != name)
          throw FormatError("calibration of the " + std::string(side) + " of '" + module + "' is for " + c->second.scheme +
                            ", the recipe wants " + name);
        q->set_params(quant::ActivationParams{c->second.scale, c->second.zero_point});
        q->observed_range = {c->second.min, c->second.max};
      }
    }
    activation_seam(model, linears, module, input, recipe.name).set(q);
  }
}

ActivationCalibration calibration_entry(const ActivationQuantizer& a) {
  const quant::ActivationParams p = a.params();
  return ActivationCalibration{quant::activation_scheme_name(a.scheme()), a.observed_range.first, a.observed_range.second,
                               p.scale, p.zero_point};
}

void add_entry(Calibration& cal, const std::string& module, const std::string& seam, const ActivationQuantizer& a) {
  (seam == "output" ? cal.output_activations : cal.activations)[module] = calibration_entry(a);
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
      const at::Tensor table = model->lm_head ? model->lm_head->weight : model->embed_tokens->weight;
      model->head_quant.set(std::make_shared<WeightQuantizer>(scheme, table, recipe.learns_scale(module, !model->lm_head)));
    } else if (auto it = linears.find(module); it != linears.end()) {
      it->second->weight_quant.set(
          std::make_shared<WeightQuantizer>(scheme, it->second->weight, recipe.learns_scale(module, false)));
    } else {
      const auto dot = module.rfind('.');
      auto ex = experts.find(module.substr(0, dot));
      if (ex == experts.end()) throw FormatError("recipe " + recipe.name + ": the model has no module '" + module + "'");
      const bool gate_up = module.substr(dot + 1) == "gate_up_proj";
      const at::Tensor bank = gate_up ? ex->second->gate_up_proj : ex->second->down_proj;
      (gate_up ? ex->second->gate_up_quant : ex->second->down_quant)
          .set(std::make_shared<WeightQuantizer>(scheme, bank, recipe.learns_scale(module, false)));
    }
  }

  // Every tensor no rule quantizes is stored in the float dtype: the model computes with it rounded.
  // The head seam is among them: an unquantized head (tied and ignored, or untied) reads the float
  // table rounded, while the token lookup reads the quantized one through the embedding seam.
  if (recipe.float_dtype != DType::F32) {
    auto rounding = std::make_shared<FloatRounding>(recipe.float_dtype);
    visit_seams(model, [&](const std::string&, const std::string&, SeamKind kind, QuantSeam& s) {
      if (kind == SeamKind::Tensor && !s.get()) s.set(rounding);
    });
  }

  attach_activations(model, recipe, recipe.activations, /*input=*/true, calibration ? &calibration->activations : nullptr);
  attach_activations(model, recipe, recipe.output_activations, /*input=*/false,
                     calibration ? &calibration->output_activations : nullptr);

  if (recipe.kv_cache) {
    const Gemma4Config& c = model->config();
    for (int64_t i = 0; i < c.L(); ++i)
      if (recipe.kv_cache->ggml_blocks && c.layer_head_dim[size_t(i)] % 32)
        throw FormatError("recipe " + recipe.name + ": kv_cache " + quant::kv_scheme_name(*recipe.kv_cache) +
                          ": layer " + std::to_string(i) + " has head_dim " + std::to_string(c.layer_head_dim[size_t(i)]) +
                          ", not a multiple of llama.cpp's 32-value blocks");
    for (auto& [name, attn] : modules_of<Gemma4AttentionImpl>(model)) {
      if (attn->shared) continue;  // reads its donor's (already quantized) K/V
      attn->k_cache_quant.set(std::make_shared<KvQuantizer>(*recipe.kv_cache));
      attn->v_cache_quant.set(std::make_shared<KvQuantizer>(*recipe.kv_cache));
    }
  }
  return describe_quantization(model);
}

void remove_quantization(Gemma4Model& model) {
  visit_seams(model, [](const std::string&, const std::string&, SeamKind, QuantSeam& seam) { seam.set(nullptr); });
}

std::vector<SeamAssignment> describe_quantization(Gemma4Model& model) {
  std::vector<SeamAssignment> out;
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind, QuantSeam& s) {
    if (s.get()) out.push_back({module, seam, s.get()->describe()});
  });
  return out;
}

void set_quantization_enabled(Gemma4Model& model, bool on) {
  visit_seams(model, [on](const std::string&, const std::string&, SeamKind, QuantSeam& s) {
    if (s.get()) s.get()->enabled = on;
  });
}

void freeze_fake_quant(Gemma4Model& model) {
  at::NoGradGuard ng;
  unfreeze_fake_quant(model);
  // The tables stay live: a forward quantizes only the rows it gathers, and a frozen copy would
  // cost a whole float table (E2B's per-layer table alone: 9.4 GB of float32).
  for (auto& [name, ts] : tensor_seams(model))
    if (ts.seam != &model->embed_quant && ts.seam != &model->ple_embed_quant) ts.seam->freeze(ts.tensor);
  const at::Tensor table = model->lm_head ? model->lm_head->weight : model->embed_tokens->weight;
  model->head_quant.freeze(table);
  // A tied head on the table's grid is the quantized table: the gather reads its rows from the
  // head's copy (compared a block of rows at a time, each row quantized on its own).
  const at::Tensor head = model->head_quant.frozen_output(table);
  if (model->lm_head || !head.defined() || !model->embed_quant.get()) return;
  constexpr int64_t kRows = 4096;
  for (int64_t r = 0; r < table.size(0); r += kRows) {
    const int64_t n = std::min(kRows, table.size(0) - r);
    if (!at::equal(head.narrow(0, r, n), model->embed_quant(table.narrow(0, r, n)))) return;
  }
  model->embed_quant.freeze(table, head);
}

void unfreeze_fake_quant(Gemma4Model& model) {
  visit_seams(model, [](const std::string&, const std::string&, SeamKind, QuantSeam& s) { s.unfreeze(); });
}

std::map<std::string, at::Tensor> quantization_state(Gemma4Model& model) {
  std::map<std::string, at::Tensor> out;
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind, QuantSeam& s) {
    if (!s.get()) return;
    for (const auto& [name, t] : s.get()->saved_state()) out[module + "." + seam + "." + name] = t;
  });
  return out;
}

void load_quantization_state(Gemma4Model& model, const std::map<std::string, at::Tensor>& state) {
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind, QuantSeam& s) {
    s.unfreeze();  // the outputs change with the state
    if (!s.get()) return;
    const std::string prefix = module + "." + seam + ".";
    s.get()->load_saved_state(
        [&](const std::string& name) -> const at::Tensor* {
          auto it = state.find(prefix + name);
          return it == state.end() ? nullptr : &it->second;
        },
        prefix);
  });
}

std::vector<at::Tensor> learned_scale_parameters(Gemma4Model& model) {
  std::vector<at::Tensor> out;
  std::set<const void*> seen;  // a fused group's quantizer sits in several seams
  visit_seams(model, [&](const std::string&, const std::string&, SeamKind, QuantSeam& s) {
    if (!s.get()) return;
    for (const at::Tensor& p : s.get()->scale_parameters())
      if (seen.insert(p.unsafeGetTensorImpl()).second) out.push_back(p);
  });
  return out;
}

std::map<std::string, TensorSeam> tensor_seams(Gemma4Model& model) {
  std::map<std::string, at::Tensor> slots;
  for (const auto& kv : model->named_parameters(true)) slots[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(true)) slots[kv.key()] = kv.value();
  std::map<std::string, TensorSeam> out;
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind kind, QuantSeam& s) {
    if (kind != SeamKind::Tensor || !s.get() || module == "lm_head") return;
    // The tensor a seam reads: "<module>.<seam>" (Linear and norm weights, router scales,
    // layer_scalar), the table of an embedding seam, or the expert bank the module names.
    std::string name = module + "." + (seam == "rows" ? "weight" : seam);
    if (!slots.count(name) && slots.count(module)) name = module;
    auto it = slots.find(name);
    if (it == slots.end()) throw FormatError("tensor_seams: no tensor behind seam " + module + "." + seam);
    out[name] = {&s, it->second};
  });
  return out;
}

std::map<std::string, at::Tensor> simulated_tensors(Gemma4Model& model) {
  at::NoGradGuard ng;
  std::map<std::string, at::Tensor> out;
  for (const auto& kv : model->named_parameters(true)) out[kv.key()] = kv.value();
  for (const auto& kv : model->named_buffers(true)) out[kv.key()] = kv.value();
  for (const auto& [name, ts] : tensor_seams(model)) out[name] = (*ts.seam)(ts.tensor);
  for (auto& [name, t] : out) t = t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  out["lm_head.weight"] = model->head_weight().detach().to(at::kCPU).to(at::kFloat).contiguous();
  return out;
}

Calibration current_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer) {
  Calibration cal;
  cal.recipe = recipe_name;
  cal.observer = observer;
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind, QuantSeam& s) {
    auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get());
    if (a && a->calibrated()) add_entry(cal, module, seam, *a);
  });
  return cal;
}

void begin_calibration(Gemma4Model& model) {
  visit_seams(model, [](const std::string&, const std::string&, SeamKind, QuantSeam& s) {
    if (auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get())) a->set_observing(true);
    if (auto k = std::dynamic_pointer_cast<KvQuantizer>(s.get())) k->set_observing(true);
  });
}

Calibration finish_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer) {
  Calibration cal;
  cal.recipe = recipe_name;
  cal.observer = observer;
  std::set<ActivationQuantizer*> done;
  visit_seams(model, [&](const std::string& module, const std::string& seam, SeamKind, QuantSeam& s) {
    if (auto a = std::dynamic_pointer_cast<ActivationQuantizer>(s.get())) {
      if (!done.count(a.get())) {
        if (!a->finish_calibration())
          throw FormatError("calibration saw no " + seam + " for '" + module + "' (no data reached it)");
        a->set_observing(false);
        done.insert(a.get());
      }
      add_entry(cal, module, seam, *a);
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
