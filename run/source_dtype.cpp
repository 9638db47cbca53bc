#include "run/source_dtype.h"

#include <filesystem>

#include "formats/safetensors.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_config.h"
#include "run/run_folder.h"

namespace gq::run_folder {

DType source_float_dtype(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return config_float_dtype(Gemma4Config::load(path));
  const std::string dir = checkpoint_dir(path);
  if (is_run_folder(path) || fs::exists(file_in(dir, kRecipe), ec) || fs::exists(file_in(dir, kTrainState), ec))
    return DType::F32;
  const Gemma4Config cfg = Gemma4Config::load(dir);
  if (!fs::exists(fs::path(dir) / "model.safetensors", ec) && !fs::exists(fs::path(dir) / "model.safetensors.index.json", ec))
    return config_float_dtype(cfg);
  return checkpoint_float_dtype(cfg, Checkpoint::open(dir));
}

}  // namespace gq::run_folder
