// FolderSwap: a folder is replaced only by a complete one, a failed or abandoned swap leaves the
// previous folder as it was, and no `<out>.tmp-<pid>` / `<out>.old-<pid>` is ever left beside it.
#include "io/folder_swap.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "io/error.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

using test::TempDir;

// d/out as an earlier run left it: out/a.txt holds "old".
fs::path earlier_output(const TempDir& d) {
  const fs::path out = d.path() / "out";
  test::write_file(out / "a.txt", "old");
  return out;
}

TEST(FolderSwap, CreatesAFolderThatDidNotExist) {
  TempDir d;
  const fs::path out = d.path() / "sub" / "out";
  FolderSwap swap(out.string());
  EXPECT_EQ(swap.staging(), out.string() + ".tmp-" + std::to_string(::getpid()));
  EXPECT_TRUE(fs::is_directory(swap.staging()));
  EXPECT_FALSE(fs::exists(out));
  test::write_file(fs::path(swap.staging()) / "a.txt", "new");
  swap.commit();
  EXPECT_EQ(test::read_file(out / "a.txt"), "new");
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(d.path() / "sub")) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"out"}));
}

TEST(FolderSwap, ReplacesThePreviousFolderWhole) {
  TempDir d;
  const fs::path out = earlier_output(d);
  test::write_file(out / "stale.txt", "only in the old folder");
  {
    FolderSwap swap(out.string());
    test::write_file(fs::path(swap.staging()) / "a.txt", "new");
    EXPECT_EQ(test::read_file(out / "a.txt"), "old");  // untouched until commit
    swap.commit();
  }
  EXPECT_EQ(test::read_file(out / "a.txt"), "new");
  EXPECT_FALSE(fs::exists(out / "stale.txt"));
  EXPECT_EQ(d.names(), (std::vector<std::string>{"out"}));
}

TEST(FolderSwap, AnAbandonedSwapLeavesNothing) {
  TempDir d;
  const fs::path out = earlier_output(d);
  {
    FolderSwap swap(out.string());
    test::write_file(fs::path(swap.staging()) / "a.txt", "half written");
  }  // e.g. an exception while writing
  EXPECT_EQ(test::read_file(out / "a.txt"), "old");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"out"}));
}

TEST(FolderSwap, AFailedRenameRestoresThePreviousFolder) {
  TempDir d;
  const fs::path out = earlier_output(d);
  FolderSwap swap(out.string());
  test::write_file(fs::path(swap.staging()) / "a.txt", "new");
  fs::remove_all(swap.staging());  // the staging folder can no longer be renamed into place
  try {
    swap.commit();
    FAIL() << "commit must fail";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(out.string() + ": cannot rename " + swap.staging() + " into place", 0), 0u) << msg;
  }
  EXPECT_EQ(test::read_file(out / "a.txt"), "old");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"out"}));
}

TEST(FolderSwap, AFailedRenameWithoutAPreviousFolderLeavesNothing) {
  TempDir d;
  const fs::path out = d.path() / "out";
  FolderSwap swap(out.string());
  fs::remove_all(swap.staging());
  EXPECT_THROW(swap.commit(), FormatError);
  EXPECT_TRUE(d.names().empty());
}

TEST(FolderSwap, ATrailingSlashNamesTheFolderItself) {
  TempDir d;
  const fs::path out = d.path() / "out";
  fs::create_directories(out);
  FolderSwap swap(out.string() + "/");
  EXPECT_EQ(fs::path(swap.staging()).parent_path(), d.path());
  test::write_file(fs::path(swap.staging()) / "a.txt", "new");
  swap.commit();
  EXPECT_EQ(test::read_file(out / "a.txt"), "new");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"out"}));
}

TEST(FolderSwap, AStagingFolderThatCannotBeCreatedIsNamed) {
  TempDir d;
  test::write_file(d.path() / "file", "a file, not a folder");
  const std::string out = (d.path() / "file" / "out").string();
  try {
    FolderSwap swap(out);
    FAIL() << "the staging folder cannot exist under a file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(out + ".tmp-" + std::to_string(::getpid()) + ": cannot create"), std::string::npos)
        << e.what();
  }
}

TEST(RecoverFolderSwap, PutsBackTheFolderACrashLeftAside) {
  TempDir d;
  const fs::path out = d.path() / "checkpoint";
  fs::create_directories(d.path() / "checkpoint.old-4242");
  test::write_file(d.path() / "checkpoint.old-4242" / "a.txt", "previous");
  fs::create_directories(d.path() / "checkpoint.older");  // not a swap's: left alone
  EXPECT_TRUE(recover_folder_swap(out.string()));
  EXPECT_EQ(test::read_file(out / "a.txt"), "previous");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"checkpoint", "checkpoint.older"}));
  EXPECT_FALSE(recover_folder_swap(out.string()));  // nothing to do while the folder exists
}

TEST(RecoverFolderSwap, DoesNothingWithoutAFolderLeftAside) {
  TempDir d;
  EXPECT_FALSE(recover_folder_swap((d.path() / "checkpoint").string()));
  EXPECT_TRUE(d.names().empty());
}

}  // namespace
}  // namespace gq
