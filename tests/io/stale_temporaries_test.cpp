// Leftovers of killed writers are removed by the next writer of the same output; a running
// writer's files and unrelated names stay.
#include "io/stale_temporaries.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "io/atomic_file.h"
#include "io/folder_swap.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// A pid no process has now (a killed writer's).
long dead_pid() {
  for (long p = 4000000; p > 1000; p -= 7919)
    if (::kill(pid_t(p), 0) != 0 && errno == ESRCH) return p;
  return 0;
}

TEST(StaleTemporaries, TheNextWriterRemovesWhatKilledOnesLeft) {
  TempDir d;
  const long dead = dead_pid();
  ASSERT_GT(dead, 0);
  const fs::path gguf = d.path() / "x.gguf";
  test::write_file(d.path() / ("x.gguf.tmp-" + std::to_string(dead)), "half a file");
  test::write_file(d.path() / ("x.gguf.tmp-" + std::to_string(::getppid())), "a running writer's");
  test::write_file(d.path() / "x.gguf.tmp-notapid", "not ours");
  test::write_file(d.path() / ("y.gguf.tmp-" + std::to_string(dead)), "another output's");
  {
    AtomicFile f(gguf.string());
    f.write("GGUF", 4);
    f.commit();
  }
  EXPECT_FALSE(fs::exists(d.path() / ("x.gguf.tmp-" + std::to_string(dead))));
  EXPECT_TRUE(fs::exists(d.path() / ("x.gguf.tmp-" + std::to_string(::getppid()))));
  EXPECT_TRUE(fs::exists(d.path() / "x.gguf.tmp-notapid"));
  EXPECT_TRUE(fs::exists(d.path() / ("y.gguf.tmp-" + std::to_string(dead))));

  // A killed checkpoint save: its staging folder, and a moved-aside old folder once the checkpoint is back.
  const fs::path ck = d.path() / "checkpoint";
  test::write_file(ck / "config.json", "{}");
  test::write_file(d.path() / ("checkpoint.tmp-" + std::to_string(dead)) / "model.safetensors", "partial");
  test::write_file(d.path() / ("checkpoint.old-" + std::to_string(dead)) / "config.json", "{}");
  EXPECT_EQ(remove_stale_temporaries(ck.string()), 2);
  EXPECT_FALSE(fs::exists(d.path() / ("checkpoint.tmp-" + std::to_string(dead))));
  EXPECT_FALSE(fs::exists(d.path() / ("checkpoint.old-" + std::to_string(dead))));

  // While the checkpoint is missing, its ".old-" folder is the only copy: kept for recovery.
  fs::remove_all(ck);
  test::write_file(d.path() / ("checkpoint.old-" + std::to_string(dead)) / "config.json", "{}");
  EXPECT_EQ(remove_stale_temporaries(ck.string()), 0);
  EXPECT_TRUE(recover_folder_swap(ck.string()));
}

TEST(StaleTemporaries, FolderSwapCleansItsOutputsLeftovers) {
  TempDir d;
  const long dead = dead_pid();
  const fs::path out = d.path() / "hf";
  test::write_file(d.path() / ("hf.tmp-" + std::to_string(dead)) / "model-00001-of-00005.safetensors", "x");
  {
    FolderSwap swap(out.string());
    test::write_file(fs::path(swap.staging()) / "config.json", "{}");
    swap.commit();
  }
  EXPECT_FALSE(fs::exists(d.path() / ("hf.tmp-" + std::to_string(dead))));
  EXPECT_TRUE(fs::exists(out / "config.json"));
}

}  // namespace
}  // namespace gq
