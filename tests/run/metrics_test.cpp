// Resuming trims metrics.jsonl back to the checkpoint's step, keeping every earlier line.
#include "run/metrics.h"

#include <gtest/gtest.h>

#include "tests/common/test_util.h"

namespace gq::run_folder {
namespace {

using test::TempDir;

TEST(Metrics, TrimKeepsTheStepsUpToTheCheckpoint) {
  TempDir d;
  test::write_file(d.path() / "metrics.jsonl",
                   "{\"step\": 1, \"loss\": 3.0}\n"
                   "{\"step\": 5, \"loss\": 2.5}\n"
                   "\n"
                   "{\"step\": 10, \"loss\": 2.0, \"val_loss\": 2.1}\n"
                   "{\"step\": 11, \"loss\": 1.9}\n"
                   "{\"step\": 12, \"lo");  // torn by a crash
  trim_metrics(d.path().string(), 10);
  EXPECT_EQ(test::read_file(d.path() / "metrics.jsonl"),
            "{\"step\": 1, \"loss\": 3.0}\n"
            "{\"step\": 5, \"loss\": 2.5}\n"
            "{\"step\": 10, \"loss\": 2.0, \"val_loss\": 2.1}\n");
}

TEST(Metrics, TrimWithoutAFileDoesNothing) {
  TempDir d;
  trim_metrics(d.path().string(), 10);
  EXPECT_FALSE(std::filesystem::exists(d.path() / "metrics.jsonl"));
}

}  // namespace
}  // namespace gq::run_folder
