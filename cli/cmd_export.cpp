// `export`: a QAT run or a checkpoint to a deployable format.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <map>
#include <vector>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/format_units.h"
#include "export/compressed_tensors.h"
#include "export/gemma4_gguf.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"

namespace gq::cli {
namespace {

struct ExportArgs {
  std::string model, format, out, dtype = "bf16", type, recipe, scale_dtype, calib, layout = "text", source;
  int64_t shard_mb = 5000;
  bool nearest = false;
  int threads = 0;
};

// A run's learned weight scales ("<module>.weight.scale" in quant_params.safetensors), by module.
std::map<std::string, std::vector<float>> learned_weight_scales(const std::string& checkpoint_dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::vector<float>> out;
  const fs::path file = fs::path(checkpoint_dir) / "quant_params.safetensors";
  if (!fs::exists(file)) return out;
  const auto st = SafetensorsFile::open(file.string());
  const std::string suffix = ".weight.scale";
  for (const std::string& n : st->names())
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out[n.substr(0, n.size() - suffix.size())] = st->tensor(n).to_f32();
  return out;
}

// GGUF: a QAT run exports with its own recipe and learned scales (the integers it trained with);
// a plain checkpoint takes --type or --recipe (RTN scales, as `convert`).
void export_gguf(const ExportArgs& a) {
  namespace fs = std::filesystem;
  const std::string dir = resolve_checkpoint_dir(a.model);
  const bool is_run = dir != a.model || fs::exists(fs::path(dir) / "train_state.json");
  GgufExportOptions opt;
  opt.nearest = a.nearest;
  opt.threads = a.threads;
  if (!a.type.empty() && !a.recipe.empty()) throw FormatError("--type and --recipe both given");
  opt.type = a.type.empty() ? GgmlType::F16 : *ggml_type_from_name(a.type);
  size_t learned = 0;
  if (!a.recipe.empty()) {
    opt.recipe = Recipe::load(a.recipe);
  } else if (is_run && fs::exists(fs::path(dir) / "recipe.json")) {
    opt.recipe = Recipe::load((fs::path(dir) / "recipe.json").string());
    auto scales = learned_weight_scales(dir);
    learned = scales.size();
    if (!scales.empty()) opt.learned_scales = learned_scales_from(std::move(scales));
  }
  const GgufExportResult r = export_gemma4_gguf(dir, a.out, opt);
  std::string types;
  for (const auto& [t, n] : r.tensors_by_type) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  std::printf("wrote %s: %s, %zu tensors (%s), vocabulary %s%s\n", r.path.c_str(), human_bytes(double(r.bytes)).c_str(),
              r.tensors, types.c_str(), r.vocab_source.c_str(),
              opt.recipe ? (", recipe " + opt.recipe->name).c_str() : "");
  if (learned) std::printf("%zu block tensors carry the run's learned scales (of %zu learned modules)\n", r.learned_modules, learned);
}

// The multimodal checkpoint whose layout and towers an hf export copies: --source, the model itself
// when it is one, or the checkpoint a run was fine-tuned from.
std::string multimodal_source(const ExportArgs& a) {
  namespace fs = std::filesystem;
  if (!a.source.empty()) return a.source;
  const std::string dir = resolve_checkpoint_dir(a.model);
  if (Gemma4Config::load(dir).weight_prefix == "model.language_model.") return dir;
  const fs::path state = fs::path(dir) / "train_state.json";
  if (fs::exists(state)) {
    std::ifstream f(state);
    const nlohmann::json st = nlohmann::json::parse(f);
    const std::string origin = st.value("args", nlohmann::json::object()).value("model", "");
    if (!origin.empty() && Gemma4Config::load(resolve_checkpoint_dir(origin)).weight_prefix == "model.language_model.")
      return resolve_checkpoint_dir(origin);
  }
  throw FormatError(a.model + ": --layout multimodal needs --source DIR (a Gemma4ForConditionalGeneration checkpoint)");
}

void export_hf(const ExportArgs& a) {
  Gemma4Model model = load_model(a.model);
  HfSaveOptions opt;
  if (a.layout == "multimodal") opt.multimodal_source = multimodal_source(a);
  opt.dtype = a.dtype == "f32" ? DType::F32 : a.dtype == "f16" ? DType::F16 : DType::BF16;
  opt.max_shard_bytes = a.shard_mb * 1000 * 1000;
  save_hf_checkpoint(model, a.out, opt);
  const std::string tok = model_tokenizer_path(a.model);
  if (!tok.empty()) {
    namespace fs = std::filesystem;
    fs::copy_file(tok, fs::path(a.out) / fs::path(tok).filename(), fs::copy_options::overwrite_existing);
  }
  std::printf("wrote %s (%s, %s)\n", a.out.c_str(),
              opt.multimodal_source.empty() ? "Gemma4ForCausalLM" : ("multimodal layout of " + opt.multimodal_source).c_str(),
              a.dtype.c_str());
}

// compressed-tensors (vLLM): a QAT run's own recipe and learned scales, or a recipe's RTN.
void export_ct(const ExportArgs& a) {
  CtExportOptions opt;
  if (!a.recipe.empty()) opt.recipe = Recipe::load(a.recipe);
  if (!a.scale_dtype.empty())
    opt.scale_dtype = a.scale_dtype == "f32" ? DType::F32 : a.scale_dtype == "f16" ? DType::F16 : DType::BF16;
  opt.calibration = a.calib;
  opt.max_shard_bytes = uint64_t(a.shard_mb) * 1000 * 1000;
  opt.threads = a.threads;
  const CtExportResult r = export_compressed_tensors(a.model, a.out, opt);
  std::string s;
  for (const auto& [k, n] : r.modules_by_scheme) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  std::printf("wrote %s: compressed-tensors %s, %zu quantized Linears (%s), %s scales, %zu tensors in %zu shard(s)%s\n",
              r.path.c_str(), r.format.c_str(), r.quantized_modules, s.c_str(), dtype_name(r.scale_dtype), r.tensors,
              r.shards, r.from_run ? ", the run's trained integers" : "");
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Export a QAT run or a checkpoint: GGUF (llama.cpp), compressed-tensors (vLLM), unquantized HF checkpoint (hf)");
  cmd->add_option("MODEL", a->model, "run folder or checkpoint folder")->required();
  cmd->add_option("--format", a->format, "output format")->required()->check(CLI::IsMember({"gguf", "compressed-tensors", "hf"}));
  cmd->add_option("--out", a->out, "output file (gguf) or folder (hf)")->required();
  cmd->add_option("--type", a->type, "gguf, plain checkpoints: type of the 2-D weights")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}));
  cmd->add_option("--recipe", a->recipe,
                  "gguf, compressed-tensors: quantize with this recipe (RTN scales) instead of the run's own");
  cmd->add_option("--scale-dtype", a->scale_dtype, "compressed-tensors: scale dtype (default: the model dtype)")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}));
  cmd->add_option("--calib", a->calib, "compressed-tensors: calibration.json for static input / KV scales");
  cmd->add_flag("--nearest", a->nearest, "gguf: map schemes GGUF lacks to the nearest type, with a warning");
  cmd->add_option("--threads", a->threads, "gguf, compressed-tensors: quantization threads (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_option("--dtype", a->dtype, "hf: weight dtype")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  cmd->add_option("--layout", a->layout,
                  "hf: text (Gemma4ForCausalLM) or multimodal (the source's Gemma4ForConditionalGeneration layout, "
                  "vision/audio tensors copied through)")
      ->check(CLI::IsMember({"text", "multimodal"}));
  cmd->add_option("--source", a->source, "hf --layout multimodal: the checkpoint whose layout and towers to copy");
  cmd->add_option("--shard-mb", a->shard_mb, "hf, compressed-tensors: largest shard in MB (above it: sharded with an index)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->callback([a] {
    if (a->format == "hf") export_hf(*a);
    else if (a->format == "compressed-tensors") export_ct(*a);
    else export_gguf(*a);
  });
}

GQ_REGISTER_COMMAND(add_export_command);

}  // namespace gq::cli
