// Run-folder detection and paths: RUN/ resolves to RUN/checkpoint, a checkpoint folder stays itself,
// the tokenizer is found in either, and an interrupted save is recovered.
#include "run/run_folder.h"

#include <gtest/gtest.h>

#include "run_test_util.h"

namespace gq::run_folder {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

TEST(RunFolder, ARunFolderResolvesToItsCheckpoint) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_TRUE(is_run_folder(d.str("run")));
  EXPECT_EQ(checkpoint_dir(d.str("run")), d.str("run/checkpoint"));
  EXPECT_EQ(checkpoint_of(d.str("run")), d.str("run/checkpoint"));
  EXPECT_EQ(metrics_path(d.str("run")), d.str("run/metrics.jsonl"));
  EXPECT_EQ(file_in(d.str("run/checkpoint"), kRecipe), d.str("run/checkpoint/recipe.json"));
}

TEST(RunFolder, ACheckpointFolderIsItself) {
  TempDir d;
  write_file(d.path() / "hf" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.str("hf")));
  EXPECT_EQ(checkpoint_dir(d.str("hf")), d.str("hf"));
  // RUN/checkpoint given directly is a checkpoint folder.
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.str("run/checkpoint")));
  EXPECT_EQ(checkpoint_dir(d.str("run/checkpoint")), d.str("run/checkpoint"));
}

TEST(RunFolder, ACheckpointWithASubfolderNamedCheckpointIsNotARun) {
  TempDir d;
  write_file(d.path() / "hf" / "config.json", "{}");
  write_file(d.path() / "hf" / "checkpoint" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.str("hf")));
  EXPECT_EQ(checkpoint_dir(d.str("hf")), d.str("hf"));
}

TEST(RunFolder, AnEmptyOrMissingFolderIsNotARun) {
  TempDir d;
  fs::create_directories(d.path() / "run" / "checkpoint");  // no config.json yet
  EXPECT_FALSE(is_run_folder(d.str("run")));
  EXPECT_FALSE(is_run_folder(d.str("nope")));
  EXPECT_EQ(checkpoint_dir(d.str("nope")), d.str("nope"));
}

TEST(RunFolder, FindsTheTokenizerOfARunOrAModel) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_EQ(tokenizer_file(d.str("run")), "");
  write_file(d.path() / "run" / "checkpoint" / "tokenizer.model", "spm");
  EXPECT_EQ(tokenizer_file(d.str("run")), d.str("run/checkpoint/tokenizer.model"));
  write_file(d.path() / "run" / "checkpoint" / "tokenizer.json", "{}");
  EXPECT_EQ(tokenizer_file(d.str("run")), d.str("run/checkpoint/tokenizer.json"));  // preferred
  write_file(d.path() / "hf" / "tokenizer.model", "spm");
  EXPECT_EQ(tokenizer_file(d.str("hf")), d.str("hf/tokenizer.model"));
}

TEST(RunFolder, RecoversASaveInterruptedBetweenItsRenames) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint.old-777" / "train_state.json", "{}");
  EXPECT_TRUE(recover_interrupted_save(d.str("run")));
  EXPECT_TRUE(fs::exists(d.path() / "run" / "checkpoint" / "train_state.json"));
  EXPECT_FALSE(fs::exists(d.path() / "run" / "checkpoint.old-777"));
  EXPECT_FALSE(recover_interrupted_save(d.str("run")));
}

}  // namespace
}  // namespace gq::run_folder
