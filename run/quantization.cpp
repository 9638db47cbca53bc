#include "run/quantization.h"

#include <filesystem>

#include "formats/safetensors.h"
#include "io/error.h"
#include "model/checkpoint_layout.h"
#include "run/run_folder.h"

namespace gq::run_folder {
namespace {

namespace fs = std::filesystem;

constexpr char kWeightScale[] = ".weight.scale";

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace

std::optional<Recipe> read_recipe(const std::string& checkpoint_dir) {
  const std::string path = file_in(checkpoint_dir, kRecipe);
  if (!exists(path)) return std::nullopt;
  return Recipe::load(path);
}

std::optional<Calibration> read_calibration(const std::string& checkpoint_dir) {
  const std::string path = file_in(checkpoint_dir, kCalibration);
  if (!exists(path)) return std::nullopt;
  return Calibration::load(path);
}

std::shared_ptr<const QuantParams> QuantParams::open(const std::string& checkpoint_dir) {
  return std::shared_ptr<const QuantParams>(new QuantParams(SafetensorsFile::open(file_in(checkpoint_dir, kQuantParams))));
}

std::shared_ptr<const QuantParams> QuantParams::open_if_present(const std::string& checkpoint_dir) {
  if (!exists(file_in(checkpoint_dir, kQuantParams))) return nullptr;
  return open(checkpoint_dir);
}

const std::string& QuantParams::path() const { return file_->path(); }

bool QuantParams::has_weight_scales() const {
  for (const std::string& n : file_->names())
    if (n.size() > sizeof kWeightScale - 1 && ends_with(n, kWeightScale)) return true;
  return false;
}

bool QuantParams::has_weight_scale(const std::string& module) const { return file_->has(module + kWeightScale); }

std::map<std::string, std::vector<float>> QuantParams::weight_scales() const {
  std::map<std::string, std::vector<float>> out;
  const size_t n_suffix = sizeof kWeightScale - 1;
  for (const std::string& n : file_->names())
    if (n.size() > n_suffix && ends_with(n, kWeightScale)) out[n.substr(0, n.size() - n_suffix)] = file_->tensor(n).to_f32();
  return out;
}

std::vector<float> QuantParams::weight_rows(const std::string& module, const std::string& what, int64_t total_rows,
                                            int64_t per_row, int64_t row0, int64_t rows) const {
  const std::string key = module + ".weight." + what;
  if (!file_->has(key)) throw FormatError(path() + ": tensor '" + key + "' is missing");
  const TensorView& tv = file_->tensor(key);
  if (tv.numel() != total_rows * per_row)
    throw FormatError(tv.file + ": tensor '" + key + "' has " + std::to_string(tv.numel()) + " values, expected " +
                      std::to_string(total_rows) + " rows x " + std::to_string(per_row));
  return row_slice(tv, per_row, row0, rows).to_f32();
}

std::optional<float> QuantParams::activation_scale(const std::string& module, const std::string& seam) const {
  const std::string key = module + "." + seam + ".scale";
  if (!file_->has(key)) return std::nullopt;
  const std::vector<float> v = file_->tensor(key).to_f32();
  if (v.size() != 1) throw FormatError(path() + ": tensor '" + key + "' must hold one value");
  return v[0];
}

}  // namespace gq::run_folder
