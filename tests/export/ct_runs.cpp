#include "tests/export/ct_runs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <utility>

#include "model/quant_targets.h"

namespace gq::ct_test {

namespace fs = std::filesystem;

CompressedTensorsExportOptions quiet(CompressedTensorsExportOptions o) {
  o.on_warning = [](const std::string&) {};
  o.threads = 2;
  return o;
}

CompressedTensorsExportOptions with_recipe(const std::string& json_text, CompressedTensorsExportOptions o) {
  o.recipe = Recipe::parse(json_text, "test-recipe.json");
  return quiet(std::move(o));
}

CompressedTensorsExportOptions f32_scales(CompressedTensorsExportOptions o) {
  o.scale_dtype = DType::F32;
  return quiet(std::move(o));
}

void expect_nothing_written(const test::TempDir& d) {
  for (const auto& e : fs::directory_iterator(d.path())) {
    const std::string n = e.path().filename().string();
    EXPECT_TRUE(n.rfind("out", 0) != 0) << "left behind: " << n;
  }
}

std::string refusal(const std::string& model, const std::string& out, const CompressedTensorsExportOptions& o) {
  return test::error_of([&] { export_compressed_tensors(model, out, o); });
}

std::string make_run(const test::TempDir& d, const std::string& fix, const Tensors& weights,
                     const std::string& recipe_json, const Tensors& quant_params) {
  const fs::path ck = d.path() / "run" / "checkpoint";
  fs::create_directories(ck);
  fs::copy_file(test::fixture(fix) + "/config.json", ck / "config.json");
  save_all((ck / "model.safetensors").string(), weights);
  test::write_file((ck / "recipe.json").string(), recipe_json);
  save_all((ck / "quant_params.safetensors").string(), quant_params);
  return (d.path() / "run").string();
}

Calibration w8a8_calibration(const Gemma4Config& cfg) {
  Calibration c;
  c.recipe = "w8a8-static";
  for (const QuantTarget& t : gemma4_quant_targets(cfg)) {
    if (t.kind != TargetKind::Linear) continue;
    std::string key = t.name;
    for (const char* p : {"k_proj", "v_proj"})
      if (key.find(p) != std::string::npos) key.replace(key.find(p), 6, "q_proj");
    if (key.find("up_proj") != std::string::npos) key.replace(key.find("up_proj"), 7, "gate_proj");
    const float scale = 0.01f + float(std::hash<std::string>()(key) % 1000) * 1e-5f;
    c.activations[t.name] = {"int8_sym", -scale * 127, scale * 127, scale, 0};
  }
  return c;
}

}  // namespace gq::ct_test
