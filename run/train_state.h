// RUN/checkpoint/train_state.json: where a run stands, so that `train --resume` continues it
// exactly (docs/run-folder.md).
//   {"format": "gemma-qat-run/1", "step": 10, "samples_seen": 80, "fake_quant_on": true,
//    "options": {...the trainer's options...}, "tokenizer": "tokenizer.model", "args": {...}}
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace gq::run_folder {

inline constexpr char kTrainStateFormat[] = "gemma-qat-run/1";

struct TrainState {
  int64_t step = 0;            // optimizer steps done
  int64_t samples_seen = 0;    // data position: training windows consumed
  bool fake_quant_on = false;
  nlohmann::json options = nlohmann::json::object();  // the trainer's options (qat/trainer.cpp)
  std::string tokenizer;       // file name of the tokenizer copied into the checkpoint, or ""
  nlohmann::json args = nlohmann::json::object();     // the command's arguments, kept for --resume
};

// FormatError naming the file when it is missing, malformed, not a gemma-qat run state, or lacks a
// field.
TrainState read_train_state(const std::string& checkpoint_dir);
void write_train_state(const std::string& checkpoint_dir, const TrainState& state);  // atomic

}  // namespace gq::run_folder
