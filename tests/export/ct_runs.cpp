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

namespace {

// The module whose scale a fused shard shares: q_proj for q/k/v, gate_proj for gate/up.
std::string fused_key(std::string key) {
  for (const char* p : {"k_proj", "v_proj"})
    if (key.find(p) != std::string::npos) key.replace(key.find(p), 6, "q_proj");
  if (key.find("up_proj") != std::string::npos) key.replace(key.find("up_proj"), 7, "gate_proj");
  return key;
}

ActivationCalibration entry(const std::string& module, const std::string& scheme, float base) {
  const float scale = base + float(std::hash<std::string>()(fused_key(module)) % 1000) * 1e-5f;
  return {scheme, -scale * 127, scale * 127, scale, 0};
}

}  // namespace

Calibration w8a8_calibration(const Gemma4Config& cfg) {
  Calibration c;
  c.recipe = "w8a8-static";
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (t.kind == TargetKind::Linear) c.activations[t.name] = entry(t.name, "int8_sym", 0.01f);
  return c;
}

Calibration static_calibration(const ResolvedRecipe& rr) {
  Calibration c;
  c.recipe = rr.name;
  for (const auto& [m, s] : rr.activations) c.activations[m] = entry(m, quant::activation_scheme_name(s), 0.01f);
  for (const auto& [m, s] : rr.output_activations)
    c.output_activations[m] = entry(m, quant::activation_scheme_name(s), 0.02f);
  return c;
}

}  // namespace gq::ct_test
