// The run folder `gemma-qat train --out RUN` writes (docs/run-folder.md), as names and paths in one
// place: the trainer writes these files, and every command that accepts a run finds them here.
//
//   RUN/metrics.jsonl
//   RUN/checkpoint/     config.json + weights (a Hugging Face checkpoint), recipe.json,
//                       quant_params.safetensors, calibration.json, optimizer.pt, rng.pt,
//                       train_state.json, tokenizer.json or tokenizer.model
#pragma once
#include <string>

namespace gq::run_folder {

// In RUN/.
inline constexpr char kCheckpoint[] = "checkpoint";  // the latest complete checkpoint
inline constexpr char kMetrics[] = "metrics.jsonl";
// In RUN/checkpoint/.
inline constexpr char kConfig[] = "config.json";
inline constexpr char kRecipe[] = "recipe.json";
inline constexpr char kQuantParams[] = "quant_params.safetensors";
inline constexpr char kCalibration[] = "calibration.json";
inline constexpr char kOptimizer[] = "optimizer.pt";
inline constexpr char kRng[] = "rng.pt";
inline constexpr char kTrainState[] = "train_state.json";
// The tokenizer file a model folder ships with, in order of preference.
inline constexpr const char* kTokenizers[] = {"tokenizer.json", "tokenizer.model"};

// Whether `path` is a run folder: it holds checkpoint/config.json and no config.json of its own (a
// checkpoint folder that merely has a subfolder named "checkpoint" is not one).
bool is_run_folder(const std::string& path);

// The checkpoint folder behind a path as the commands accept it: RUN/checkpoint for a run folder,
// else the path itself.
std::string checkpoint_dir(const std::string& path);

std::string checkpoint_of(const std::string& run_dir);  // RUN/checkpoint, whether or not it exists
std::string metrics_path(const std::string& run_dir);   // RUN/metrics.jsonl
std::string file_in(const std::string& checkpoint_dir, const std::string& name);  // checkpoint_dir/name

// The tokenizer file that ships with a model, checkpoint or run folder, or "".
std::string tokenizer_file(const std::string& path);

// A save that died between its two renames leaves the previous checkpoint beside RUN/checkpoint
// (io/folder_swap.h): put it back. Returns whether there was one.
bool recover_interrupted_save(const std::string& run_dir);

}  // namespace gq::run_folder
