// Streaming, sharded safetensors output for the compressed-tensors exporter: the tensor list (names,
// dtypes, shapes) is known up front, so each shard's header is written first and the data is then
// appended tensor by tensor, chunk by chunk — nothing larger than a chunk is ever held in memory.
//
// Data is contiguous (no padding between tensors): the reference safetensors readers (Rust, Go)
// reject any hole in the data block, even one that only aligns the next offset. The header is
// padded with spaces so that the data block itself starts 8-byte aligned.
// Above `max_shard_bytes`: model-0000i-of-0000n.safetensors + model.safetensors.index.json.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace gq {
class AtomicFile;
}

namespace gq::compressed_tensors {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t nbytes() const;
};

class ShardWriter {
 public:
  // Throws FormatError for a duplicate name. Files appear in `dir` only when complete.
  ShardWriter(std::string dir, std::vector<TensorInfo> tensors, uint64_t max_shard_bytes,
                std::map<std::string, std::string> metadata);
  ~ShardWriter();

  // The next `n` bytes of tensor `name`, which must be the tensor being written (plan order).
  void write(const std::string& name, const void* data, size_t n);
  // Every byte written: commits the last shard and writes the index (sharded output only).
  void finish();

  size_t shards() const { return files_.size(); }
  uint64_t bytes() const { return total_bytes_; }  // tensor data bytes (the index's total_size)
  const std::vector<std::string>& files() const { return files_; }

 private:
  void open_shard(size_t s);

  std::string dir_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::vector<size_t> shard_of_;     // tensor -> shard
  std::vector<size_t> shard_end_;    // shard -> one past its last tensor
  std::vector<std::string> files_;   // shard file names
  uint64_t total_bytes_ = 0;
  size_t cur_ = 0;                   // tensor being written
  uint64_t left_ = 0;                // its bytes still to come
  std::unique_ptr<AtomicFile> out_;  // the open shard
  size_t open_ = size_t(-1);
};

}  // namespace gq::compressed_tensors
