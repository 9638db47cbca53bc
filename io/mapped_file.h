// Read-only memory map of a whole file; the mapping lives as long as the object.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gq {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws FormatError naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the pages of [p, p + n) (inside the mapping) from this process's resident set
  // (madvise MADV_DONTNEED; the mapping is read-only, so a later read faults them back in from the
  // file). What a pass over bytes it does not keep needing calls after each chunk, so that the pass
  // raises peak RSS by one chunk, not by all it reads.
  void release(const uint8_t* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gq
