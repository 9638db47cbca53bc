// The float dtype "auto" resolves to for what the commands accept: a run is float32 (what it
// trained), a checkpoint the dtype of its weights, a bare config the dtype it names.
#include "run/source_dtype.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "run/run_folder.h"
#include "tests/common/test_util.h"

namespace gq::run_folder {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const std::string kTiny = std::string(GQ_TEST_DATA) + "/gemma4-tiny/";

TEST(SourceDtype, CheckpointsGiveTheirWeightsDtype) {
  EXPECT_EQ(source_float_dtype(kTiny + "dense_ple"), DType::F32);
  EXPECT_EQ(source_float_dtype(kTiny + "dense_ple_mm_bf16"), DType::BF16);
  EXPECT_EQ(source_float_dtype(std::string(GQ_TEST_DATA) + "/../../examples/models/tiny-e2b"), DType::BF16);
}

TEST(SourceDtype, AConfigAloneGivesTheDtypeItNames) {
  EXPECT_EQ(source_float_dtype(kTiny + "dense_ple_mm_bf16/config.json"), DType::BF16);
  TempDir d;
  fs::copy_file(kTiny + "dense_ple/config.json", d.path() / "config.json");
  EXPECT_EQ(source_float_dtype(d.path().string()), DType::F32);  // a folder without weights
}

TEST(SourceDtype, RunsAreFloat32WhateverTheirConfigSays) {
  TempDir d;
  // A run folder whose checkpoint config still names bfloat16 (copied from the model it tuned).
  const fs::path ck = d.path() / "run" / kCheckpoint;
  fs::create_directories(ck);
  fs::copy_file(kTiny + "dense_ple_mm_bf16/config.json", ck / kConfig);
  EXPECT_EQ(source_float_dtype(d.file("run")), DType::F32);
  // Its checkpoint folder passed directly: recipe.json marks a QAT run's.
  test::write_file((ck / kRecipe).string(), R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}]})");
  EXPECT_EQ(source_float_dtype(ck.string()), DType::F32);
}

}  // namespace
}  // namespace gq::run_folder
