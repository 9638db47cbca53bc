#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "io/error.h"
#include "io/stale_temporaries.h"

namespace gq {

namespace {

// `err` is captured by the caller right after the failing call, before anything can reset errno.
[[noreturn]] void fail(const std::string& path, const std::string& what, int err) {
  throw FormatError(path + ": " + what + ": " + std::strerror(err));
}

// Bytes between two starts of writeback (see write()).
constexpr size_t kWritebackWindow = size_t(16) << 20;

}  // namespace

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), tmp_(path + ".tmp-" + std::to_string(::getpid())) {
  remove_stale_temporaries(path_);  // what killed writers of this file left
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) {
    const int err = errno;
    fail(path_, "cannot create " + tmp_, err);
  }
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (!f_) throw FormatError(path_ + ": write after commit");
  if (std::fwrite(data, 1, n, f_) != n) {
    const int err = errno;
    fail(path_, "cannot write " + tmp_, err);
  }
  const size_t before = pos_;
  pos_ += n;
#ifdef SYNC_FILE_RANGE_WRITE
  // Every 16 MiB the kernel is told to start writing the dirty pages out (not waited for), so that
  // commit()'s fsync has only the last of them left to wait for. Advice: a failure shows at the fsync.
  if (before / kWritebackWindow != pos_ / kWritebackWindow && std::fflush(f_) == 0)
    ::sync_file_range(::fileno(f_), 0, 0, SYNC_FILE_RANGE_WRITE);
#else
  (void)before;
#endif
}

void AtomicFile::pad_to(size_t alignment, char fill) {
  const size_t n = (alignment - pos_ % alignment) % alignment;
  const std::vector<char> pad(n, fill);
  write(pad.data(), n);
}

void AtomicFile::write_at(size_t offset, const void* data, size_t n) {
  if (!f_) throw FormatError(path_ + ": write after commit");
  if (offset > pos_ || n > pos_ - offset) throw FormatError(path_ + ": internal: write_at past the written bytes");
  int err = 0;
  if (std::fseek(f_, long(offset), SEEK_SET) != 0 || std::fwrite(data, 1, n, f_) != n) err = errno;
  if (std::fseek(f_, long(pos_), SEEK_SET) != 0 && err == 0) err = errno;
  if (err != 0) fail(path_, "cannot write " + tmp_, err);
}

void AtomicFile::commit() {
  if (!f_) throw FormatError(path_ + ": committed twice");
  // The data must be on disk before the rename publishes the name, or a crash could leave a
  // complete-looking file with missing contents.
  int err = 0;
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0) err = errno;
  if (std::fclose(f_) != 0 && err == 0) err = errno;
  f_ = nullptr;
  if (err != 0) fail(path_, "cannot flush " + tmp_ + " to disk", err);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    err = errno;
    fail(path_, "cannot rename " + tmp_, err);
  }
  committed_ = true;
}

}  // namespace gq
