// A QAT run's quantization read back without LibTorch: recipe, calibration and learned
// quantizer parameters, with errors naming quant_params.safetensors and the tensor.
#include "run/quantization.h"

#include <gtest/gtest.h>


#include "formats/safetensors.h"
#include "io/error.h"
#include "run/run_folder.h"
#include "tests/common/test_util.h"

namespace gq::run_folder {
namespace {

using test::error_of;
using test::TempDir;

// quant_params.safetensors holding the named float32 tensors.
void write_params(const TempDir& d, const std::vector<std::pair<std::string, std::vector<float>>>& tensors) {
  std::vector<TensorToWrite> out;
  for (const auto& [name, v] : tensors) out.push_back({name, DType::F32, {int64_t(v.size())}, v.data(), v.size() * 4});
  write_safetensors(d.file(kQuantParams), out, {{"step", "3"}});
}

TEST(RunQuantization, ACheckpointWithoutARecipeIsNoQatRun) {
  TempDir d;
  EXPECT_FALSE(read_recipe(d.path().string()));
  EXPECT_FALSE(read_calibration(d.path().string()));
  EXPECT_EQ(QuantParams::open_if_present(d.path().string()), nullptr);
  EXPECT_NE(error_of([&] { QuantParams::open(d.path().string()); }).find(d.file(kQuantParams)), std::string::npos);
}

TEST(RunQuantization, ReadsTheRecipeAndCalibration) {
  TempDir d;
  test::write_file(d.path() / kRecipe, R"({"name": "t4", "weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})");
  const std::optional<Recipe> r = read_recipe(d.path().string());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "t4");
  EXPECT_EQ(r->source, d.file(kRecipe));
  Calibration c;
  c.recipe = "t4";
  c.observer = "minmax";
  c.activations["layers.0.mlp.up_proj"] = {"int8_sym", -1, 1, 0.5f, 0};
  c.save(d.file(kCalibration));
  const std::optional<Calibration> back = read_calibration(d.path().string());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->activations.at("layers.0.mlp.up_proj").scale, 0.5f);
}

TEST(RunQuantization, AMalformedRecipeIsAnErrorNamingIt) {
  TempDir d;
  test::write_file(d.path() / kRecipe, "{");
  EXPECT_NE(error_of([&] { read_recipe(d.path().string()); }).find(d.file(kRecipe)), std::string::npos);
}

TEST(RunQuantization, LearnedWeightScalesByModule) {
  TempDir d;
  write_params(d, {{"layers.0.mlp.up_proj.weight.scale", {1, 2, 3, 4, 5, 6}},
                   {"layers.0.mlp.up_proj.weight.zero_point", {0, 1, 2, 3, 4, 5}},
                   {"layers.0.self_attn.q_proj.input.scale", {0.25f}},
                   {".weight.scale", {9}}});  // no module: not a module's scales
  const auto qp = QuantParams::open_if_present(d.path().string());
  ASSERT_NE(qp, nullptr);
  EXPECT_EQ(qp->path(), d.file(kQuantParams));
  EXPECT_TRUE(qp->has_weight_scales());
  EXPECT_TRUE(qp->has_weight_scale("layers.0.mlp.up_proj"));
  EXPECT_FALSE(qp->has_weight_scale("layers.0.self_attn.q_proj"));
  const auto all = qp->weight_scales();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all.at("layers.0.mlp.up_proj"), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // [3 rows, 2 per row]: rows 1..2.
  EXPECT_EQ(qp->weight_rows("layers.0.mlp.up_proj", "scale", 3, 2, 1, 2), (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(qp->weight_rows("layers.0.mlp.up_proj", "zero_point", 3, 2, 0, 1), (std::vector<float>{0, 1}));
  EXPECT_EQ(qp->activation_scale("layers.0.self_attn.q_proj", "input"), 0.25f);
  EXPECT_FALSE(qp->activation_scale("layers.0.mlp.up_proj", "input"));
}

TEST(RunQuantization, WrongLearnedParametersAreErrorsNamingTheTensor) {
  TempDir d;
  write_params(d, {{"m.weight.scale", {1, 2, 3, 4, 5, 6}}, {"m.input.scale", {1, 2}}});
  const auto qp = QuantParams::open(d.path().string());
  const std::string file = d.file(kQuantParams);
  EXPECT_EQ(error_of([&] { qp->weight_rows("m", "scale", 4, 2, 0, 4); }),
            file + ": tensor 'm.weight.scale' has 6 values, expected 4 rows x 2");
  EXPECT_EQ(error_of([&] { qp->weight_rows("m", "zero_point", 3, 2, 0, 3); }), file + ": tensor 'm.weight.zero_point' is missing");
  EXPECT_EQ(error_of([&] { qp->activation_scale("m", "input"); }), file + ": tensor 'm.input.scale' must hold one value");
}

TEST(RunQuantization, NoLearnedScalesInAnRtnRun) {
  TempDir d;
  write_params(d, {});
  const auto qp = QuantParams::open(d.path().string());
  EXPECT_FALSE(qp->has_weight_scales());
  EXPECT_TRUE(qp->weight_scales().empty());
}

}  // namespace
}  // namespace gq::run_folder
