// Run-folder detection and paths: RUN/ resolves to RUN/checkpoint, a checkpoint folder stays itself,
// the tokenizer is found in either, and an interrupted save is recovered.
#include "run/run_folder.h"

#include <gtest/gtest.h>

#include "tests/common/test_util.h"

namespace gq::run_folder {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

TEST(RunFolder, ARunFolderResolvesToItsCheckpoint) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_TRUE(is_run_folder(d.file("run")));
  EXPECT_EQ(checkpoint_dir(d.file("run")), d.file("run/checkpoint"));
  EXPECT_EQ(checkpoint_of(d.file("run")), d.file("run/checkpoint"));
  EXPECT_EQ(metrics_path(d.file("run")), d.file("run/metrics.jsonl"));
  EXPECT_EQ(file_in(d.file("run/checkpoint"), kRecipe), d.file("run/checkpoint/recipe.json"));
}

TEST(RunFolder, ACheckpointFolderIsItself) {
  TempDir d;
  write_file(d.path() / "hf" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.file("hf")));
  EXPECT_EQ(checkpoint_dir(d.file("hf")), d.file("hf"));
  // RUN/checkpoint given directly is a checkpoint folder.
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.file("run/checkpoint")));
  EXPECT_EQ(checkpoint_dir(d.file("run/checkpoint")), d.file("run/checkpoint"));
}

TEST(RunFolder, ACheckpointWithASubfolderNamedCheckpointIsNotARun) {
  TempDir d;
  write_file(d.path() / "hf" / "config.json", "{}");
  write_file(d.path() / "hf" / "checkpoint" / "config.json", "{}");
  EXPECT_FALSE(is_run_folder(d.file("hf")));
  EXPECT_EQ(checkpoint_dir(d.file("hf")), d.file("hf"));
}

TEST(RunFolder, AnEmptyOrMissingFolderIsNotARun) {
  TempDir d;
  fs::create_directories(d.path() / "run" / "checkpoint");  // no config.json yet
  EXPECT_FALSE(is_run_folder(d.file("run")));
  EXPECT_FALSE(is_run_folder(d.file("nope")));
  EXPECT_EQ(checkpoint_dir(d.file("nope")), d.file("nope"));
}

TEST(RunFolder, FindsTheTokenizerOfARunOrAModel) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint" / "config.json", "{}");
  EXPECT_EQ(tokenizer_file(d.file("run")), "");
  write_file(d.path() / "run" / "checkpoint" / "tokenizer.model", "spm");
  EXPECT_EQ(tokenizer_file(d.file("run")), d.file("run/checkpoint/tokenizer.model"));
  write_file(d.path() / "run" / "checkpoint" / "tokenizer.json", "{}");
  EXPECT_EQ(tokenizer_file(d.file("run")), d.file("run/checkpoint/tokenizer.json"));  // preferred
  write_file(d.path() / "hf" / "tokenizer.model", "spm");
  EXPECT_EQ(tokenizer_file(d.file("hf")), d.file("hf/tokenizer.model"));
}

TEST(RunFolder, RecoversASaveInterruptedBetweenItsRenames) {
  TempDir d;
  write_file(d.path() / "run" / "checkpoint.old-777" / "train_state.json", "{}");
  EXPECT_TRUE(recover_interrupted_save(d.file("run")));
  EXPECT_TRUE(fs::exists(d.path() / "run" / "checkpoint" / "train_state.json"));
  EXPECT_FALSE(fs::exists(d.path() / "run" / "checkpoint.old-777"));
  EXPECT_FALSE(recover_interrupted_save(d.file("run")));
}

}  // namespace
}  // namespace gq::run_folder
