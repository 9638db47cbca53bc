#include "cli/engine_file.h"

#include <filesystem>

#include "engine/native_weights.h"
#include "engine/thread_pool.h"

namespace gq::cli {

bool is_engine_file(const std::string& path) {
  std::error_code ec;
  const bool gguf = path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  return (gguf || engine::is_native_path(path)) && std::filesystem::is_regular_file(path, ec);
}

engine::ModelWeights load_engine_file(const std::string& path, engine::WeightForm form, int threads) {
  engine::set_engine_threads(threads);
  return engine::is_native_path(path) ? engine::load_native(path, {}, form) : engine::ModelWeights::load_gguf(path, form);
}

engine::WeightForm decoding_form(bool exact) { return exact ? engine::WeightForm::Exact : engine::WeightForm::Fast; }

}  // namespace gq::cli
