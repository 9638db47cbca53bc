// Replacing a whole folder so that readers see the old one or the new one, never a mix: the new
// folder is written beside it (`<out>.tmp-<pid>`) and swapped in with two renames. A failed or
// abandoned swap leaves `out` as it was and nothing beside it.
#pragma once
#include <string>

namespace gq {

class FolderSwap {
 public:
  // Creates out's parent folders and an empty `<out>.tmp-<pid>` (removing a stale one); throws
  // FormatError naming the folder it cannot create.
  explicit FolderSwap(std::string out);
  ~FolderSwap();  // removes the staging folder unless committed
  FolderSwap(const FolderSwap&) = delete;
  FolderSwap& operator=(const FolderSwap&) = delete;

  const std::string& staging() const { return staging_; }  // write the new folder here

  // Moves the previous `out` aside (`<out>.old-<pid>`), renames the staging folder to `out` and
  // removes the previous one. If the staging folder cannot take its place, the previous folder is
  // put back; FormatError names `out` either way.
  void commit();

 private:
  std::string out_, staging_;
  bool committed_ = false;
};

// A process that died between commit's two renames leaves no `out`, only `<out>.old-<pid>` (the
// previous, complete folder): renames the newest such folder back to `out`. Returns whether it did.
// For a folder that one process at a time replaces (a run's checkpoint).
bool recover_folder_swap(const std::string& out);

}  // namespace gq
