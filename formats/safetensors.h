// safetensors reading (memory-mapped, lazy, strictly validated) and writing (atomic).
//
// File layout: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data
// block; offsets are relative to the data block. Every rule the format states is checked when a
// file is opened, so a tensor view handed out later is always inside the mapping.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/dtype.h"

namespace gq {

class MappedFile;

// A tensor inside a mapped file. Valid while the SafetensorsFile (or Checkpoint) that made it lives.
struct TensorView {
  std::string name;
  std::string file;            // path of the file that holds it, for error messages
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
  // Converts any float dtype (F64/F32/F16/BF16) to float32; integer dtypes are refused with an
  // error naming the tensor.
  std::vector<float> to_f32() const;
  void to_f32(float* out) const;
};

class SafetensorsFile {
 public:
  // Throws FormatError naming `path` (and the tensor, where one is at fault).
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& names() const { return order_; }  // in data-offset order
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& tensor(const std::string& name) const;           // throws if absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  std::map<std::string, TensorView> tensors_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face checkpoint folder: `model.safetensors`, or shards listed by
// `model.safetensors.index.json` (every shard validated; every indexed name must be in the shard the
// index names; no tensor in two shards). A path to a single .safetensors file also works.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorView& tensor(const std::string& name) const;  // throws FormatError naming the checkpoint
  size_t total_bytes() const;

 private:
  std::string path_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> where_;
};

// One tensor to write. `data` must hold numel * dtype_size bytes and stay valid during the write.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes `<path>.tmp-<pid>` and renames it over `path` only once every byte is on disk; on any
// error the temporary file is removed and FormatError is thrown. The data block has no holes (the
// reference readers reject them): tensors are laid out largest element size first, which keeps each
// one aligned to its element size; the header is padded with spaces to a multiple of 8.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gq
