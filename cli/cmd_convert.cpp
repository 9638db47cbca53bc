// `convert`: the one-line PTQ path users know from llama.cpp (HF checkpoint -> GGUF), on the same
// exporter a QAT run's export uses. Blocks already on a grid (a QAT checkpoint saved unquantized)
// keep it instead of ggml's RTN unless --no-grid-recovery.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/format_units.h"
#include "cli/options.h"
#include "export/gemma4_gguf.h"
#include "io/error.h"
#include "formats/gguf.h"
#include "recipes/recipe.h"

namespace gq::cli {

namespace {

struct ConvertArgs {
  std::string model, to = "gguf", type, recipe, out, name;
  bool nearest = false, quiet = false, no_grid_recovery = false;
  int threads = 0;
};

}  // namespace

void add_convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a Hugging Face Gemma 4 checkpoint to GGUF (llama.cpp)");
  cmd->add_option("HF_DIR", a->model, "checkpoint folder (config.json + safetensors; tokenizer.json if present)")->required();
  cmd->add_option("--to", a->to, "output format")->check(CLI::IsMember({"gguf"}));
  add_gguf_type_option(cmd, a->type, "tensor type of the 2-D weights");
  cmd->add_option("--recipe", a->recipe, "per-module types from a recipe (file or built-in name, e.g. q4_0-embed-q8_0)");
  cmd->add_flag("--nearest", a->nearest,
                "store recipe schemes GGUF lacks (channel/group ints, static activations, KV int8) as the nearest GGUF "
                "equivalent, with a warning, instead of refusing");
  cmd->add_option("--out", a->out, "output .gguf file (written atomically)")->required();
  cmd->add_option("--name", a->name, "general.name (default: the checkpoint folder's name)");
  cmd->add_flag("--no-grid-recovery", a->no_grid_recovery,
                "quantize every block with ggml's RTN, even blocks whose weights already lie on a grid of the type "
                "(by default their scale and levels are recovered and kept)");
  add_threads_option(cmd, a->threads, "quantization threads");
  cmd->add_flag("--quiet", a->quiet, "print nothing but warnings and errors");
  cmd->callback([a] {
    if (!a->type.empty() && !a->recipe.empty())
      throw FormatError("--type and --recipe both given: a recipe sets every module's type (its unquantized_dtype the rest)");
    GgufExportOptions opt;
    if (!a->type.empty()) opt.type = *ggml_type_from_name(a->type);  // default f16; a run's checkpoint: its recipe
    if (!a->recipe.empty()) opt.recipe = Recipe::load(a->recipe);
    opt.nearest = a->nearest;
    opt.name = a->name;
    opt.threads = a->threads;
    opt.grid_recovery = !a->no_grid_recovery;
    const GgufExportResult r = export_gemma4_gguf(a->model, a->out, opt);
    if (a->quiet) return;
    std::string types;
    for (const auto& [t, n] : r.tensors_by_type) types += (types.empty() ? "" : ", ") + std::to_string(n) + " " + t;
    std::printf("wrote %s: %s, %zu tensors (%s), %zu keys, vocabulary %s\n", r.path.c_str(),
                human_bytes(double(r.bytes)).c_str(), r.tensors, types.c_str(), r.keys, r.vocab_source.c_str());
    if (!r.grid_recovery.empty())
      std::printf("grid recovery: %s\n", quant::grid_recovery_summary(r.grid_recovery).c_str());
    if (r.unused_skipped)
      std::printf("left out %zu k/v tensors of KV-shared layers (never read by HF or llama.cpp)\n", r.unused_skipped);
    std::printf("read %s in %.2f s (%.2f GB/s)\n", human_bytes(double(r.input_bytes)).c_str(), r.seconds,
                r.seconds > 0 ? double(r.input_bytes) / r.seconds / 1e9 : 0.0);
  });
}

GQ_REGISTER_COMMAND(add_convert_command);

}  // namespace gq::cli
