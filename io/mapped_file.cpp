#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/error.h"

namespace gq {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw FormatError(path + ": " + what);
}

// Call right after the failing system call: reads errno before anything can reset it.
[[noreturn]] void fail_sys(const std::string& path, const char* what) {
  const int err = errno;
  fail(path, std::string(what) + ": " + std::strerror(err));
}

// Closes the descriptor on every path out of the constructor; the mapping does not need it.
struct Fd {
  int fd;
  ~Fd() { ::close(fd); }
};

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_sys(path, "cannot open");
  Fd guard{fd};

  struct stat st;
  if (::fstat(fd, &st) != 0) fail_sys(path, "cannot stat");
  // open() succeeds on a directory; only a regular file has a size worth mapping.
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, not a file");
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");

  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return;  // mmap() rejects a zero length; an empty file maps to nothing
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) fail_sys(path, "cannot map");
  data_ = static_cast<const uint8_t*>(p);
}

void MappedFile::release(const uint8_t* p, size_t n) const {
  if (n == 0 || !data_) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = std::max(uintptr_t(p) & ~(page - 1), uintptr_t(data_));
  const uintptr_t hi = std::min((uintptr_t(p) + n + page - 1) & ~(page - 1), (uintptr_t(data_) + size_ + page - 1) & ~(page - 1));
  // Advice only: a failure leaves the pages resident, never wrong.
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace gq
