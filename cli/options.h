// Options several commands share, declared once so that each means the same and is checked the
// same way in every command.
#pragma once
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace gq::cli {

// --threads N: 1..kMaxThreads; left out, `threads` stays 0 (all cores). Anything else is a one-line
// error naming the flag. `what` is the help text's subject, e.g. "CPU threads".
inline constexpr int kMaxThreads = 4096;
CLI::Option* add_threads_option(CLI::App* cmd, int& threads, const std::string& what = "CPU threads");

// --type T of `convert` and `export --format gguf`: the GGUF tensor types the exporter writes
// (export/gguf_types.h). `what` starts the help text, e.g. "tensor type of the 2-D weights".
inline constexpr const char* kGgufTypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q2_0"};
CLI::Option* add_gguf_type_option(CLI::App* cmd, std::string& type, const std::string& what);

// What a command's MODEL (or --model) may name; run/run_folder.h resolves it for every command.
inline constexpr char kModelHelp[] = "checkpoint folder (config.json + safetensors) or training run folder";

// `--recipe none`: no fake quantization at all (on a QAT run: its float weights).
inline constexpr char kNoRecipe[] = "none";

}  // namespace gq::cli
