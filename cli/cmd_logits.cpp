// `logits` and `generate`: the interface every model form is cross-checked through.
#include <CLI/CLI.hpp>

#include <iostream>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/engine_file.h"
#include "cli/model_setup.h"
#include "cli/options.h"
#include "engine/decode.h"
#include "engine/forward.h"
#include "engine/native_weights.h"
#include "engine/weights.h"
#include "io/error.h"
#include "formats/safetensors.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"
#include "qat/torch_threads.h"

namespace gq::cli {
namespace {

struct ModelArgs {
  std::string model, ids;
  int threads = 0;
  QuantArgs quant;
  bool fast = false, exact = false;  // a GGUF or native file on the engine: its mode (logits: exact, generate: fast)
};

void add_model_args(CLI::App* cmd, ModelArgs& a) {
  cmd->add_option("MODEL", a.model, kModelHelp)->required();
  cmd->add_option("--ids", a.ids, "comma-separated token ids, e.g. 2,17,5")->required();
  add_threads_option(cmd, a.threads);
  add_quant_args(cmd, a.quant);
}

at::Tensor checked_ids(const std::vector<int64_t>& ids, const Gemma4Config& cfg) {
  for (int64_t id : ids)
    if (id >= cfg.vocab_size)
      throw FormatError("--ids: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                        std::to_string(cfg.vocab_size) + ")");
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

// The engine runs a GGUF or native file as it is: a recipe or calibration would have nothing to
// apply to (a native file states its own activation scales and KV scheme).
engine::ModelWeights load_unquantized_engine_file(const ModelArgs& a, engine::WeightForm form) {
  if (!a.quant.recipe.empty() || !a.quant.calib.empty())
    throw FormatError(a.model + ": --recipe / --calib apply to checkpoints and runs; a GGUF or native file is run as it is");
  return load_engine_file(a.model, form, a.threads);
}

// --fast / --exact name the engine's mode; on a checkpoint or run they would mean nothing.
void check_mode_flags(const ModelArgs& a, bool engine_file) {
  if (!engine_file && (a.fast || a.exact))
    throw FormatError(a.model + ": --fast / --exact choose the reference engine's mode and apply to .gguf and .gqn files only");
}

std::vector<int32_t> engine_ids(const std::vector<int64_t>& ids, const Gemma4Config& cfg) {
  checked_ids(ids, cfg);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

void print_ids(const std::vector<int64_t>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? "," : "") << ids[i];
  std::cout << "\n";
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto a = std::make_shared<ModelArgs>();
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("logits", "Write float32 logits [T, V] of one forward pass over --ids");
  add_model_args(cmd, *a);
  cmd->add_option("--out", *out, "output .safetensors file (tensor 'logits')")->required();
  cmd->add_flag("--fast", a->fast,
                "a .gguf or .gqn file: the engine's fast mode (GGUF: Q8_0 activations, integer dot products, as llama.cpp; "
                "native: static int8 activations, channel-wise integer dot products) instead of exact");
  cmd->callback([a, out] {
    set_torch_threads(a->threads);
    const std::vector<int64_t> ids = parse_ids(a->ids);
    const bool engine_file = is_engine_file(a->model);
    check_mode_flags(*a, engine_file);
    if (engine_file) {  // the torch-free reference engine computes on what the file holds
      const engine::ModelWeights w = load_unquantized_engine_file(*a, a->fast ? engine::WeightForm::Fast : engine::WeightForm::Exact);
      const std::vector<int32_t> ids32 = engine_ids(ids, w.config());
      const std::vector<float> y = engine::logits(w, ids32);
      const std::vector<int64_t> shape = {int64_t(ids32.size()), w.config().vocab_size};
      const std::string mode = !a->fast                           ? "reference (float32, exact)"
                               : engine::is_native_path(a->model) ? "reference (fast: static int8 activations, channel-wise integer dot products)"
                                                                  : "reference (fast: Q8_0 activations, integer dot products)";
      write_safetensors(*out, {TensorToWrite{"logits", DType::F32, shape, y.data(), y.size() * sizeof(float)}},
                        {{"model", a->model}, {"ids", a->ids}, {"engine", mode}});
      return;
    }
    Gemma4Model model = load_model(a->model);
    apply_quant_args(model, a->quant, a->model);
    at::NoGradGuard ng;
    const at::Tensor logits = model->forward(checked_ids(ids, model->config())).logits[0].contiguous();
    write_safetensors(*out, {TensorToWrite{"logits", DType::F32, logits.sizes().vec(), logits.data_ptr<float>(),
                                           size_t(logits.numel()) * sizeof(float)}},
                      {{"model", a->model}, {"ids", a->ids}});
  });
}

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<ModelArgs>();
  auto n = std::make_shared<int>(16);
  CLI::App* cmd = app.add_subcommand(
      "generate", "Greedy continuation of --ids with the KV cache (a .gguf or .gqn file: on the reference engine); prints the new ids");
  add_model_args(cmd, *a);
  auto ignore_eos = std::make_shared<bool>(false);
  cmd->add_option("-n,--new-tokens", *n, "number of tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--ignore-eos", *ignore_eos,
                "keep EOS out of the argmax and always generate -n tokens (HF's min_new_tokens)");
  cmd->add_flag("--exact", a->exact,
                "a .gguf or .gqn file: the engine's exact mode (float32 on the dequantized weights) instead of fast");
  cmd->callback([a, n, ignore_eos] {
    set_torch_threads(a->threads);
    const std::vector<int64_t> ids = parse_ids(a->ids);
    const bool engine_file = is_engine_file(a->model);
    check_mode_flags(*a, engine_file);
    if (engine_file) {  // the engine's KV-cache decode on what the file holds
      const engine::ModelWeights w = load_unquantized_engine_file(*a, decoding_form(a->exact));
      const int32_t eos = int32_t(w.config().eos_token_id);
      const std::vector<int32_t> out = engine::greedy(w, engine_ids(ids, w.config()), *n, !*ignore_eos,
                                                      *ignore_eos ? std::vector<int32_t>{eos} : std::vector<int32_t>{});
      print_ids(std::vector<int64_t>(out.begin(), out.end()));
      return;
    }
    Gemma4Model model = load_model(a->model);
    apply_quant_args(model, a->quant, a->model);
    checked_ids(ids, model->config());
    GreedyOptions opt;
    if (*ignore_eos) opt.banned = {model->config().eos_token_id};
    else opt.stop_at_eos = true;
    print_ids(greedy_generate(model, ids, *n, opt));
  });
}

GQ_REGISTER_COMMAND(add_logits_command);
GQ_REGISTER_COMMAND(add_generate_command);

}  // namespace gq::cli
