// What a QAT run's checkpoint says about its quantization, read without LibTorch: the recipe it
// trained with, the calibration in effect, and the learned quantizer parameters
// (quant_params.safetensors, float32, keyed "<module>.<seam>.<name>"):
//   <module>.weight.scale        learned weight scales [rows, scales per row]
//   <module>.weight.zero_point   zero points (asymmetric schemes)
//   <module>.input.scale         a static input scale [1] (learned, or the calibration's)
//   <module>.output.scale        a static output scale [1]
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recipes/calibration.h"
#include "recipes/recipe.h"

namespace gq {
class SafetensorsFile;
}

namespace gq::run_folder {

// The recipe the run trained with (the checkpoint's recipe.json): what makes a checkpoint a QAT
// run's. nullopt for plain fine-tuning and for checkpoints that no QAT run wrote.
std::optional<Recipe> read_recipe(const std::string& checkpoint_dir);

// The activation scales in effect when the checkpoint was saved (calibration.json), or nullopt.
std::optional<Calibration> read_calibration(const std::string& checkpoint_dir);

class QuantParams {
 public:
  // The checkpoint's quant_params.safetensors. FormatError naming the file if it is absent or
  // malformed; open_if_present returns null when there is none.
  static std::shared_ptr<const QuantParams> open(const std::string& checkpoint_dir);
  static std::shared_ptr<const QuantParams> open_if_present(const std::string& checkpoint_dir);

  const std::string& path() const;
  const SafetensorsFile& file() const { return *file_; }  // every parameter, as stored

  bool has_weight_scales() const;  // any module's
  bool has_weight_scale(const std::string& module) const;
  // Every module's learned weight scales, as stored (row-major).
  std::map<std::string, std::vector<float>> weight_scales() const;
  // Rows [row0, row0 + rows) of "<module>.weight.<what>" (what: "scale" or "zero_point") seen as
  // [total_rows, per_row]. FormatError naming the file and tensor if it is missing or of another size.
  std::vector<float> weight_rows(const std::string& module, const std::string& what, int64_t total_rows, int64_t per_row,
                                 int64_t row0, int64_t rows) const;
  // "<module>.<seam>.scale" (seam "input" or "output"), if the run holds one; FormatError unless it
  // holds one value.
  std::optional<float> activation_scale(const std::string& module, const std::string& seam) const;

 private:
  explicit QuantParams(std::shared_ptr<SafetensorsFile> file) : file_(std::move(file)) {}
  std::shared_ptr<SafetensorsFile> file_;
};

}  // namespace gq::run_folder
