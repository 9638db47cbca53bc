// GGUF v3, ggml's model container: ggml tensor types, typed metadata values, a streaming writer and
// a strict reader.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count; kv_count records
// (string key, u32 value type, value); tensor_count infos (string name, u32 n_dims, u64 ne[n_dims]
// with ne[0] the contiguous axis, u32 ggml type, u64 offset into the data section); zero padding to
// the alignment (general.alignment, default 32); then the data section, every tensor at its offset
// and padded with zeros to the alignment, in info order. A string is u64 length + bytes, no NUL.
//
// The reader checks everything ggml's gguf.cpp checks (and a little more: bools are 0/1, every
// tensor lies inside the file), so a file it accepts is one llama.cpp's loader accepts too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quant/ggml_types.h"

namespace gq {

class AtomicFile;
class MappedFile;

// ---- metadata values --------------------------------------------------------------------------

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);  // "UINT32", "ARRAY", ...
size_t gguf_scalar_size(GgufType t);      // bytes of one scalar; 0 for STRING, ARRAY and unknown types

// One value: a scalar, or an array of scalars / strings (GGUF arrays of arrays are not supported,
// as in ggml). Numbers and bools are kept as their little-endian bytes.
class GgufValue {
 public:
  GgufValue() = default;
  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f64(double v);
  static GgufValue i32_array(const std::vector<int32_t>& v);
  static GgufValue u32_array(const std::vector<uint32_t>& v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue bool_array(const std::vector<bool>& v);
  static GgufValue str_array(std::vector<std::string> v);
  // Any numeric/bool array from raw little-endian element bytes (count = bytes / element size).
  static GgufValue raw_array(GgufType elem, std::vector<uint8_t> bytes);

  GgufType type() const { return type_; }
  GgufType elem_type() const { return elem_; }  // for arrays
  bool is_array() const { return type_ == GgufType::ARRAY; }
  uint64_t size() const { return count_; }      // elements of an array, 1 for a scalar

  // Exact-type accessors; a value of another type throws FormatError("expected UINT32, got INT32").
  uint32_t as_u32() const;
  int32_t as_i32() const;
  uint64_t as_u64() const;
  float as_f32() const;
  bool as_bool() const;
  const std::string& as_str() const;
  std::vector<int32_t> as_i32_array() const;
  std::vector<uint32_t> as_u32_array() const;
  std::vector<float> as_f32_array() const;
  std::vector<bool> as_bool_array() const;
  const std::vector<std::string>& as_str_array() const;
  // Any integer scalar (UINT8..INT64, BOOL excluded) widened; throws for other types or overflow.
  int64_t as_int() const;

  const std::vector<uint8_t>& raw() const { return raw_; }           // numeric / bool payload
  const std::vector<std::string>& strings() const { return strings_; }  // string payload

  bool operator==(const GgufValue& o) const;
  bool operator!=(const GgufValue& o) const { return !(*this == o); }

 private:
  friend class GgufFile;
  GgufType type_ = GgufType::UINT8, elem_ = GgufType::UINT8;
  uint64_t count_ = 1;
  std::vector<uint8_t> raw_;
  std::vector<std::string> strings_;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous axis (a PyTorch shape reversed)
  uint64_t offset = 0;      // into the data section
  uint64_t nbytes = 0;      // ggml_nbytes: rows * row bytes (no padding)

  int64_t numel() const;
};

// ---- writer -----------------------------------------------------------------------------------

// Streaming writer: declare every key and tensor (offsets follow from shapes and types), then
// stream the tensor data in info order, in chunks of any size; finish() renames the temporary file
// into place, so an interrupted write never leaves a file that looks complete.
class GgufWriter {
 public:
  explicit GgufWriter(std::string path);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Throws FormatError on an empty or duplicate key, a general.alignment that is not a UINT32
  // power of two, or once data has been written.
  void add(const std::string& key, GgufValue value);
  // Throws on a bad name (empty, >= 64 bytes, duplicate), more than 4 dims, a negative dim, or
  // ne[0] not a multiple of the type's block.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne);

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_start() const;  // header size including its padding
  uint64_t file_size() const;   // size of the finished file

  // Appends bytes of the current tensor (the first call writes the header). A chunk may end
  // mid-tensor or span several; writing past the last tensor throws.
  void write(const void* data, size_t n);
  size_t current_tensor() const { return cur_; }  // index of the tensor the next byte belongs to
  void finish();                                  // throws naming the first incomplete tensor

 private:
  std::vector<uint8_t> header() const;
  void start();

  std::string path_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
  uint32_t alignment_ = 32;
  std::unique_ptr<AtomicFile> file_;
  uint64_t header_size_ = 0;
  size_t cur_ = 0;
  uint64_t cur_done_ = 0;  // bytes of tensors_[cur_] written so far
  bool finished_ = false;
};

// ---- reader -----------------------------------------------------------------------------------

class GgufFile {
 public:
  // Memory-maps and validates; FormatError names the file and the key / tensor at fault.
  static GgufFile open(const std::string& path);
  // The same checks on bytes in memory (copied); `source` names them in messages.
  static GgufFile parse(const void* data, size_t size, const std::string& source);

  const std::string& source() const { return source_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_start() const { return data_start_; }
  uint64_t size() const { return size_; }

  const std::vector<std::pair<std::string, GgufValue>>& kv() const { return kv_; }
  const GgufValue* find(const std::string& key) const;  // nullptr if absent
  const GgufValue& get(const std::string& key) const;   // throws naming the file and key
  // get() + exact type; the message names the file, the key and both types.
  uint32_t get_u32(const std::string& key) const;
  int32_t get_i32(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_str(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  const GgufTensorInfo& tensor(const std::string& name) const;  // throws naming the file and tensor
  const uint8_t* tensor_data(const GgufTensorInfo& t) const { return base_ + data_start_ + t.offset; }
  // What keeps tensor_data() valid (the mapping or the copy): a holder outlives this object with it.
  std::shared_ptr<const void> storage() const {
    if (map_) return map_;
    return copy_;
  }

 private:
  void parse_all();

  std::string source_;
  std::shared_ptr<MappedFile> map_;
  std::shared_ptr<std::vector<uint8_t>> copy_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace gq
