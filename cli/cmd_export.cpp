// `export`: a QAT run or a checkpoint to a deployable format.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "cli/export_rounding.h"
#include "cli/export_validation.h"
#include "cli/format_units.h"
#include "cli/options.h"
#include "export/compressed_tensors.h"
#include "export/gemma4_gguf.h"
#include "export/native_writer.h"
#include "formats/gguf.h"
#include "io/error.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_config.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"
#include "qat/quantize.h"
#include "qat/run_quantization.h"
#include "quant/grid_recovery.h"
#include "run/quantization.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"
#include "run/train_state.h"

namespace gq::cli {
namespace {

struct ExportArgs {
  std::string model, format, out, dtype, type, recipe, scale_dtype, calib, layout = "text", source,
      weights = "fake-quant";
  int64_t shard_mb = 5000;
  bool nearest = false, allow_rounding = false;
  bool dtype_given = false;  // --dtype on the command line (gguf, compressed-tensors: it changes the contract)
  bool no_validate = false;  // gguf: skip running the written file on the reference engine
  int threads = 0;
};

DType dtype_flag(const std::string& f) { return f == "f32" ? DType::F32 : f == "f16" ? DType::F16 : DType::BF16; }
std::string hf_dtype_flag(DType t) { return t == DType::F32 ? "f32" : t == DType::F16 ? "f16" : "bf16"; }

// GGUF: a QAT run exports the recipe it trained and its learned scales (the integers it trained
// with); a plain checkpoint takes --type or --recipe (RTN scales, as `convert`).
void export_gguf(const ExportArgs& a) {
  if (!a.scale_dtype.empty()) throw FormatError("--scale-dtype is for compressed-tensors: GGUF block scales are always fp16");
  GgufExportOptions opt;
  opt.nearest = a.nearest;
  opt.threads = a.threads;
  if (!a.type.empty()) opt.type = *ggml_type_from_name(a.type);
  if (!a.recipe.empty()) opt.recipe = Recipe::load(a.recipe);
  if (a.dtype_given) opt.float_dtype = dtype_flag(a.dtype);
  opt.allow_rounding = a.allow_rounding;
  opt.rounding_effect = logit_rounding_effect(a.calib);
  const GgufExportResult r = export_gemma4_gguf(a.model, a.out, opt);
  std::string types;
  for (const auto& [t, n] : r.tensors_by_type) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
  std::printf("wrote %s: %s, %zu tensors (%s), vocabulary %s%s\n", r.path.c_str(), human_bytes(double(r.bytes)).c_str(),
              r.tensors, types.c_str(), r.vocab_source.c_str(), r.recipe.empty() ? "" : (", recipe " + r.recipe).c_str());
  if (r.learned_available)
    std::printf("%zu block tensors carry the run's learned scales (of %zu learned modules)\n", r.learned_modules,
                r.learned_available);
  if (!r.grid_recovery.empty()) std::printf("grid recovery: %s\n", quant::grid_recovery_summary(r.grid_recovery).c_str());
  if (!a.no_validate) std::printf("%s\n", validate_gguf_export(r, a.calib).c_str());
}

// The multimodal checkpoint whose layout and towers an hf export copies: --source, the model itself
// when it is one, or the checkpoint a run was fine-tuned from.
std::string multimodal_source(const ExportArgs& a) {
  namespace fs = std::filesystem;
  if (!a.source.empty()) return a.source;
  const std::string dir = run_folder::checkpoint_dir(a.model);
  if (Gemma4Config::load(dir).weight_prefix == kMultimodalTextPrefix) return dir;
  if (fs::exists(run_folder::file_in(dir, run_folder::kTrainState))) {
    const std::string origin = run_folder::read_train_state(dir).args.value("model", "");
    const std::string origin_dir = run_folder::checkpoint_dir(origin);
    if (!origin.empty() && Gemma4Config::load(origin_dir).weight_prefix == kMultimodalTextPrefix) return origin_dir;
  }
  throw FormatError(a.model + ": --layout multimodal needs --source DIR (a Gemma4ForConditionalGeneration checkpoint)");
}

// An unquantized checkpoint. A QAT run writes the weights its fake-quant model computes with (each
// quantized weight dequantized on its trained grid, which `convert` recovers), or with --weights
// latent its trainable ones; a checkpoint without a recipe is written as it is.
void export_hf(const ExportArgs& a) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string dir = run_folder::checkpoint_dir(a.model);
  if (fs::exists(a.out, ec) && fs::equivalent(a.out, dir, ec))
    throw FormatError(a.out + ": the output folder is the input checkpoint");
  Gemma4Model model = load_model(a.model);
  HfSaveOptions opt;
  if (a.layout == "multimodal") opt.multimodal_source = multimodal_source(a);
  // Default dtype: one that holds what the model computes with (a checkpoint's own; a QAT run's
  // fake-quant weights below), never a silent rounding.
  opt.dtype = a.dtype_given ? dtype_flag(a.dtype) : run_folder::source_float_dtype(dir);
  opt.max_shard_bytes = a.shard_mb * 1000 * 1000;
  std::string weights = "weights as stored (no QAT recipe)";
  std::optional<RunQuantization> rq;
  if (a.weights == "latent" && run_folder::read_recipe(dir)) {
    weights = "the run's latent (trainable) weights";
  } else if (a.weights == "fake-quant") {
    if ((rq = apply_run_quantization(model, dir))) {
      opt.weights = HfWeights::kFakeQuant;
      // F32 by default: it holds every simulated value exactly (grid values (q - z) * s need more
      // mantissa than bf16 / f16 have; floats rounded to the run's float dtype are exact in F32).
      if (!a.dtype_given) opt.dtype = DType::F32;
      weights = "the run's fake-quant weights (recipe " + rq->recipe.name + ")";
      if (opt.dtype != DType::F32)
        weights += ", rounded to " + hf_dtype_flag(opt.dtype) + ": --dtype f32 keeps them exactly on the grid";
    }
  }
  const std::string tok = run_folder::tokenizer_file(a.model);
  export_hf_checkpoint(model, a.out, opt, tok.empty() ? std::vector<std::string>{} : std::vector<std::string>{tok});
  std::printf("wrote %s (%s, %s, %s)\n", a.out.c_str(),
              opt.multimodal_source.empty() ? "Gemma4ForCausalLM" : ("multimodal layout of " + opt.multimodal_source).c_str(),
              hf_dtype_flag(opt.dtype).c_str(), weights.c_str());
  // Latent weights of a run are not what it computes: the engine would compare them with its
  // fake-quant model; so only fake-quant and plain exports are validated.
  if (!a.no_validate && opt.weights == HfWeights::kFakeQuant) {
    std::printf("%s\n", validate_hf_export(a.out, model, &rq->recipe, opt.dtype == DType::F32).c_str());
  } else if (!a.no_validate && !run_folder::read_recipe(dir)) {
    remove_quantization(model);
    std::printf("%s\n", validate_hf_export(a.out, model, nullptr, opt.dtype == run_folder::source_float_dtype(dir)).c_str());
  }
}

// What the compressed-tensors and native exporters take alike: recipe, dtypes, rounding, static scales.
template <class Options>
void set_recipe_options(const ExportArgs& a, Options& opt) {
  if (!a.recipe.empty()) opt.recipe = Recipe::load(a.recipe);
  if (!a.scale_dtype.empty()) opt.scale_dtype = dtype_flag(a.scale_dtype);
  if (a.dtype_given) opt.float_dtype = dtype_flag(a.dtype);
  opt.allow_rounding = a.allow_rounding;
  opt.rounding_effect = logit_rounding_effect(a.calib);
  opt.calibration = a.calib;
  opt.threads = a.threads;
}

// compressed-tensors (vLLM): a QAT run's own recipe and learned scales, or a recipe's RTN.
void export_ct(const ExportArgs& a) {
  if (!a.type.empty()) throw FormatError("--type is for gguf: a compressed-tensors export takes a recipe (--recipe)");
  if (a.nearest) throw FormatError("--nearest is for gguf: compressed-tensors refuses what it cannot hold");
  CompressedTensorsExportOptions opt;
  set_recipe_options(a, opt);
  opt.max_shard_bytes = uint64_t(a.shard_mb) * 1000 * 1000;
  const CompressedTensorsExportResult r = export_compressed_tensors(a.model, a.out, opt);
  std::string s;
  for (const auto& [k, n] : r.modules_by_scheme) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  std::printf("wrote %s: compressed-tensors %s, %zu quantized modules (%s), %s scales, %zu tensors in %zu shard(s)%s\n",
              r.path.c_str(), r.format.c_str(), r.quantized_modules, s.c_str(), dtype_name(r.scale_dtype), r.tensors,
              r.shards, r.from_run ? ", the run's trained integers" : "");
}

// The native runtime format: one file, any recipe; a QAT run's own recipe and learned scales, or a
// recipe's RTN. Validated on the engine, activation and KV quantization included.
void export_native_file(const ExportArgs& a) {
  if (!a.type.empty()) throw FormatError("--type is for gguf: a native export takes a recipe (--recipe q4_0)");
  if (a.nearest) throw FormatError("--nearest is for gguf: the native format holds every recipe's schemes");
  NativeExportOptions opt;
  set_recipe_options(a, opt);
  const NativeExportResult r = export_native(a.model, a.out, opt);
  std::string s;
  for (const auto& [k, n] : r.tensors_by_scheme) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + k;
  std::printf("wrote %s: native, %s (per-layer embedding section %s), %zu tensors (%s), recipe %s, %zu modules with static "
              "activation scales%s%s, tokenizer: %s%s\n",
              r.path.c_str(), human_bytes(double(r.bytes)).c_str(), human_bytes(double(r.ple_bytes)).c_str(), r.tensors, s.c_str(),
              r.deployed.name.c_str(), r.activation_modules, r.deployed.kv_cache ? ", KV cache " : "",
              r.deployed.kv_cache ? quant::kv_scheme_name(*r.deployed.kv_cache).c_str() : "", r.tokenizer.c_str(),
              r.from_run ? ", the run's trained integers" : "");
  if (!a.no_validate) std::printf("%s\n", validate_native_export(r, a.calib).c_str());
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Export a QAT run or a checkpoint: GGUF (llama.cpp), compressed-tensors (vLLM), native (.gqn, the reference "
      "engine's runtime format), unquantized HF checkpoint (hf)");
  cmd->add_option("MODEL", a->model, "run folder or checkpoint folder")->required();
  cmd->add_option("--format", a->format, "output format")->required()->check(CLI::IsMember({"gguf", "compressed-tensors", "native", "hf"}));
  cmd->add_option("--out", a->out, "output file (gguf, native: FILE.gqn) or folder (hf, compressed-tensors)")->required();
  add_gguf_type_option(cmd, a->type, "gguf: type of the 2-D weights (on a run: refused unless --allow-rounding)");
  cmd->add_option("--recipe", a->recipe,
                  "gguf, compressed-tensors, native: quantize with this recipe (RTN scales); on a run, instead of its own "
                  "(refused unless --allow-rounding)");
  cmd->add_option("--scale-dtype", a->scale_dtype,
                  "compressed-tensors, native: every scale in this dtype instead of the recipe's (refused unless --allow-rounding)")
      ->check(CLI::IsMember({"bf16", "f16", "f32"}));
  cmd->add_flag("--allow-rounding", a->allow_rounding,
                "gguf, compressed-tensors, native: write what --type / --recipe on a run, --dtype or --scale-dtype change instead "
                "of refusing, with a warning stating the measured max |Δlogit|");
  cmd->add_option("--calib", a->calib, "compressed-tensors, native: calibration.json for static input / output / KV scales");
  cmd->add_flag("--no-validate", a->no_validate,
                "gguf, native, hf: do not run the written file on the reference engine against the (fake-quant) model");
  cmd->add_flag("--nearest", a->nearest, "gguf: map schemes GGUF lacks to the nearest type, with a warning");
  add_threads_option(cmd, a->threads, "gguf, compressed-tensors, native: quantization threads");
  cmd->add_option("--dtype", a->dtype, "hf: weight dtype (default: f32 for a QAT run's fake-quant weights, else the checkpoint's)")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  cmd->add_option("--weights", a->weights,
                  "hf, QAT runs: fake-quant (default: each quantized weight as the run computes with it, on its trained "
                  "grid) or latent (the trainable weights)")
      ->check(CLI::IsMember({"fake-quant", "latent"}));
  cmd->add_option("--layout", a->layout,
                  "hf: text (Gemma4ForCausalLM) or multimodal (the source's Gemma4ForConditionalGeneration layout, "
                  "vision/audio tensors copied through)")
      ->check(CLI::IsMember({"text", "multimodal"}));
  cmd->add_option("--source", a->source, "hf --layout multimodal: the checkpoint whose layout and towers to copy");
  cmd->add_option("--shard-mb", a->shard_mb, "hf, compressed-tensors: largest shard in MB (above it: sharded with an index)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->callback([a, cmd] {
    a->dtype_given = cmd->count("--dtype") > 0;
    if (a->format == "hf") export_hf(*a);
    else if (a->format == "compressed-tensors") export_ct(*a);
    else if (a->format == "native") export_native_file(*a);
    else export_gguf(*a);
  });
}

GQ_REGISTER_COMMAND(add_export_command);

}  // namespace gq::cli
