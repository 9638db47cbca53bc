// `export`: a QAT run or a checkpoint to a deployable format.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "formats/error.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"

namespace gq::cli {
namespace {

struct ExportArgs {
  std::string model, format, out, dtype = "bf16";
  int64_t shard_mb = 5000;
};

void export_hf(const ExportArgs& a) {
  Gemma4Model model = load_model(a.model);
  HfSaveOptions opt;
  opt.dtype = a.dtype == "f32" ? DType::F32 : a.dtype == "f16" ? DType::F16 : DType::BF16;
  opt.max_shard_bytes = a.shard_mb * 1000 * 1000;
  save_hf_checkpoint(model, a.out, opt);
  const std::string tok = model_tokenizer_path(a.model);
  if (!tok.empty()) {
    namespace fs = std::filesystem;
    fs::copy_file(tok, fs::path(a.out) / fs::path(tok).filename(), fs::copy_options::overwrite_existing);
  }
  std::printf("wrote %s (Gemma4ForCausalLM, %s)\n", a.out.c_str(), a.dtype.c_str());
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Export a run or checkpoint: unquantized HF checkpoint (hf)");
  cmd->add_option("MODEL", a->model, "run folder or checkpoint folder")->required();
  cmd->add_option("--format", a->format, "output format")->required()->check(CLI::IsMember({"hf"}));
  cmd->add_option("--out", a->out, "output folder")->required();
  cmd->add_option("--dtype", a->dtype, "hf: weight dtype")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  cmd->add_option("--shard-mb", a->shard_mb, "hf: largest shard in MB (above it: sharded with an index)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->callback([a] {
    if (a->format == "hf") export_hf(*a);
  });
}

GQ_REGISTER_COMMAND(add_export_command);

}  // namespace gq::cli
