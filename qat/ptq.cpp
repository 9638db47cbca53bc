#include "qat/ptq.h"

#include <map>
#include <memory>

#include <ATen/ATen.h>
#include <torch/types.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "io/error.h"
#include "io/folder_swap.h"
#include "io/text_file.h"
#include "qat/calibration_pass.h"
#include "qat/checkpoint_writer.h"
#include "qat/quantize.h"
#include "run/run_folder.h"
#include "run/train_state.h"
#include "qat/weight_quantizer.h"

namespace gq {
namespace {

struct Target {
  std::string module;
  at::Tensor weight;               // the parameter GPTQ rewrites
  QuantSeam* input = nullptr;      // where its input passes
  std::shared_ptr<WeightQuantizer> quantizer;
  std::shared_ptr<InputStatsCollector> collector;
};

// Stage of a module: 0 the PLE model projection, 1 + layer for a decoder layer's, the last the head.
int64_t stage_of(const std::string& module, int64_t layers) {
  if (module == "lm_head") return layers + 1;
  if (module.rfind("layers.", 0) == 0) return 1 + std::stoll(module.substr(7, module.find('.', 7) - 7));
  return 0;
}

}  // namespace

ResolvedRecipe with_stored_weight_scales(ResolvedRecipe recipe) {
  recipe.learnable_scales = true;
  return recipe;
}

std::vector<GptqModuleReport> gptq_quantize_model(Gemma4Model& model, const ResolvedRecipe& recipe, const TokenWindows& calib,
                                                  int64_t batch_size, int64_t max_batches, const GptqOptions& opt,
                                                  const std::function<void(int64_t, int64_t)>& progress) {
  if (!recipe.learnable_scales) throw FormatError("gptq: recipe " + recipe.name + " must store its weight scales");
  if (calib.count() == 0) throw FormatError("gptq: the calibration data holds no window");
  at::NoGradGuard ng;
  quantize_model(model, weight_schemes_only(recipe));
  model->eval();

  const int64_t L = model->config().L();
  std::map<int64_t, std::vector<Target>> stages;
  for (const auto& item : model->named_modules("", /*include_self=*/false)) {
    auto lin = std::dynamic_pointer_cast<QLinearImpl>(item.value());
    if (!lin) continue;
    auto q = std::dynamic_pointer_cast<WeightQuantizer>(lin->weight_quant.get());
    if (!q || !q->learnable()) continue;  // unquantized, or an RTN quantizer the recipe keeps (none for Linears)
    stages[stage_of(item.key(), L)].push_back({item.key(), lin->weight, &lin->input_quant, q, nullptr});
  }
  if (model->lm_head) {  // a head of its own; a tied head reads the token table, which stays RTN
    auto q = std::dynamic_pointer_cast<WeightQuantizer>(model->head_quant.get());
    if (q && q->learnable()) stages[L + 1].push_back({"lm_head", model->lm_head->weight, &model->head_input_quant, q, nullptr});
  }

  int64_t batches = (calib.count() + batch_size - 1) / batch_size;
  if (max_batches > 0) batches = std::min(batches, max_batches);
  std::vector<GptqModuleReport> report;
  int64_t done = 0;
  for (auto& [stage, targets] : stages) {
    for (Target& t : targets) {
      t.collector = std::make_shared<InputStatsCollector>(t.weight.size(1));
      t.input->set(t.collector);
      t.quantizer->enabled = false;  // the stage itself in float while its inputs are collected
    }
    forward_calibration(model, calib, batch_size, batches);
    for (Target& t : targets) {
      t.input->set(nullptr);
      t.quantizer->enabled = true;
      GptqModuleReport r{t.module, t.weight.size(0), t.weight.size(1), t.collector->rows(), 0, 0};
      const at::Tensor w = t.weight.detach().to(at::kCPU).to(at::kFloat).contiguous();
      if (r.samples > 0) {
        const at::Tensor H = t.collector->hessian();
        const GptqResult g = gptq_quantize(t.quantizer->scheme(), w, H, opt);
        r.loss_rtn = gptq_loss(w, t.quantizer->forward(w), H);  // the RTN scales the quantizer starts at
        r.loss_gptq = gptq_loss(w, g.weight, H);
        t.weight.copy_(g.weight.to(t.weight.device()));
        t.quantizer->learned().reset(g.scale.to(t.weight.device()));
        if (t.quantizer->zero_point.defined()) t.quantizer->zero_point.copy_(g.zero_point.to(t.weight.device()));
      }
      t.collector.reset();
      report.push_back(r);
    }
    if (progress) progress(++done, int64_t(stages.size()));
  }
  return report;
}

std::string ptq_recipe_json(const Recipe& recipe, const ResolvedRecipe& resolved, bool stored_scales) {
  nlohmann::json j = nlohmann::json::parse(read_text_file(recipe.source));
  j["unquantized_dtype"] = resolved.float_dtype == DType::BF16 ? "bf16" : resolved.float_dtype == DType::F16 ? "f16" : "f32";
  if (stored_scales) j["learnable_scales"] = true;
  return j.dump(2) + "\n";
}

void write_ptq_run(Gemma4Model& model, const std::string& run_dir, const ResolvedRecipe& recipe, const std::string& recipe_json,
                   const std::string& tokenizer_file, const std::string& args_json) {
  namespace fs = std::filesystem;
  fs::create_directories(run_dir);
  FolderSwap swap(run_folder::checkpoint_of(run_dir));
  const std::string& dir = swap.staging();
  auto file = [&](const std::string& name) { return run_folder::file_in(dir, name); };
  model->to(at::kCPU);
  save_hf_checkpoint(model, dir);  // float32, the weights as held (GPTQ's dequantized ones where it ran)
  std::vector<TensorToWrite> qs;
  std::vector<at::Tensor> keep;
  for (const auto& [name, t] : quantization_state(model)) {
    keep.push_back(t.detach().to(at::kFloat).contiguous());
    qs.push_back({name, DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(), size_t(keep.back().numel()) * 4});
  }
  write_safetensors(file(run_folder::kQuantParams), qs, {{"step", "0"}});
  current_calibration(model, recipe.name, recipe.observer).save(file(run_folder::kCalibration));
  write_text_file(file(run_folder::kRecipe), recipe_json);
  run_folder::TrainState st;
  if (!tokenizer_file.empty()) {
    st.tokenizer = fs::path(tokenizer_file).filename().string();
    fs::copy_file(tokenizer_file, fs::path(dir) / st.tokenizer);
  }
  st.args = nlohmann::json::parse(args_json);
  run_folder::write_train_state(dir, st);
  swap.commit();
}

}  // namespace gq
