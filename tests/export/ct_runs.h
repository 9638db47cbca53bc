// compressed-tensors exports the way the tests run them: quiet options, refusals that must leave
// nothing behind, run folders with learned parameters, W8A8 calibrations.
#pragma once
#include <string>

#include "export/compressed_tensors.h"
#include "model/gemma4_config.h"
#include "recipes/calibration.h"
#include "tests/common/test_util.h"
#include "tests/export/ct_reader.h"

namespace gq::ct_test {

using test::fixture;
using test::read_file;
using test::TempDir;
using test::write_file;

// No warnings printed, two threads.
CompressedTensorsExportOptions quiet(CompressedTensorsExportOptions o = {});
CompressedTensorsExportOptions with_recipe(const std::string& json_text, CompressedTensorsExportOptions o = {});
// quiet, scales stored as F32.
CompressedTensorsExportOptions f32_scales(CompressedTensorsExportOptions o = {});

// Nothing may be left behind by a failed export: no output folder, no temporary folder.
void expect_nothing_written(const test::TempDir& d);
// The one-line FormatError the export refuses with.
std::string refusal(const std::string& model, const std::string& out, const CompressedTensorsExportOptions& o);

// RUN/checkpoint with the fixture's config, `weights`, a recipe.json and quant_params.
std::string make_run(const test::TempDir& d, const std::string& fix, const Tensors& weights,
                     const std::string& recipe_json, const Tensors& quant_params);

// Scales shared per fused matmul (q/k/v, gate/up), as training shares the quantizer.
Calibration w8a8_calibration(const Gemma4Config& cfg);
// Input and output scales for every static activation of `rr`, under its schemes, shared likewise
// (outputs differ from inputs).
Calibration static_calibration(const ResolvedRecipe& rr);

}  // namespace gq::ct_test
