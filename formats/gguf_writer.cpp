// Streaming GGUF writer: header first (offsets are known from shapes and types), then the tensor
// data in info order through an AtomicFile.
#include <algorithm>
#include <cstring>
#include <set>

#include "io/atomic_file.h"
#include "io/error.h"
#include "formats/gguf.h"

namespace gq {

namespace {

constexpr size_t kMaxName = 64;  // GGML_MAX_NAME, including the NUL
constexpr int kMaxDims = 4;      // GGML_MAX_DIMS

uint64_t pad(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
}
void put_str(std::vector<uint8_t>& b, const std::string& s) {
  put_u64(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

void put_value(std::vector<uint8_t>& b, const GgufValue& v) {
  put_u32(b, uint32_t(v.type()));
  if (v.is_array()) {
    put_u32(b, uint32_t(v.elem_type()));
    put_u64(b, v.size());
  }
  if (v.elem_type() == GgufType::STRING) {
    for (const std::string& s : v.strings()) put_str(b, s);
  } else {
    b.insert(b.end(), v.raw().begin(), v.raw().end());
  }
}

}  // namespace

GgufWriter::GgufWriter(std::string path) : path_(std::move(path)) {}
GgufWriter::~GgufWriter() = default;  // an unfinished AtomicFile removes its temporary file

void GgufWriter::add(const std::string& key, GgufValue value) {
  if (file_) throw FormatError(path_ + ": key '" + key + "' added after the tensor data started");
  if (key.empty()) throw FormatError(path_ + ": empty metadata key");
  for (const auto& kv : kv_)
    if (kv.first == key) throw FormatError(path_ + ": duplicate metadata key '" + key + "'");
  if (key == "general.alignment") {
    if (value.is_array() || value.type() != GgufType::UINT32)
      throw FormatError(path_ + ": key 'general.alignment' must be UINT32");
    const uint32_t a = value.as_u32();
    if (a == 0 || (a & (a - 1)) != 0 || a % 8 != 0)
      throw FormatError(path_ + ": key 'general.alignment' = " + std::to_string(a) + " is not a power of two >= 8");
    alignment_ = a;
    // Offsets already computed with the old alignment are recomputed.
    uint64_t off = 0;
    for (GgufTensorInfo& t : tensors_) {
      t.offset = off;
      off = pad(off + t.nbytes, alignment_);
    }
  }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne) {
  const std::string at = path_ + ": tensor '" + name + "': ";
  if (file_) throw FormatError(at + "added after the tensor data started");
  if (name.empty() || name.size() >= kMaxName)
    throw FormatError(at + "name must be 1 to " + std::to_string(kMaxName - 1) + " bytes");
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) throw FormatError(at + "duplicate tensor name");
  if (ne.empty() || ne.size() > size_t(kMaxDims))
    throw FormatError(at + std::to_string(ne.size()) + " dimensions (1 to 4 allowed)");
  uint64_t rows = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 0) throw FormatError(at + "dimension " + std::to_string(i) + " is negative");
    if (i > 0) rows *= uint64_t(ne[i]);
  }
  if (!ggml_type_info(uint32_t(type))) throw FormatError(at + "unknown ggml type " + std::to_string(uint32_t(type)));
  uint64_t row_bytes;
  try {
    row_bytes = ggml_row_bytes(type, ne[0]);
  } catch (const FormatError& e) {
    throw FormatError(at + e.what());
  }
  GgufTensorInfo t;
  t.name = name;
  t.type = type;
  t.ne = std::move(ne);
  t.nbytes = rows * row_bytes;
  t.offset = tensors_.empty() ? 0 : pad(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  tensors_.push_back(std::move(t));
}

std::vector<uint8_t> GgufWriter::header() const {
  std::vector<uint8_t> b = {'G', 'G', 'U', 'F'};
  put_u32(b, 3);
  put_u64(b, tensors_.size());
  put_u64(b, kv_.size());
  for (const auto& kv : kv_) {
    put_str(b, kv.first);
    put_value(b, kv.second);
  }
  for (const GgufTensorInfo& t : tensors_) {
    put_str(b, t.name);
    put_u32(b, uint32_t(t.ne.size()));
    for (int64_t d : t.ne) put_u64(b, uint64_t(d));
    put_u32(b, uint32_t(t.type));
    put_u64(b, t.offset);
  }
  b.resize(size_t(pad(b.size(), alignment_)), 0);
  return b;
}

// Once started the header is fixed: its size is known without building it again (a vocabulary of
// 262144 strings makes that a measurable part of a conversion).
uint64_t GgufWriter::data_start() const { return file_ ? header_size_ : header().size(); }

uint64_t GgufWriter::file_size() const {
  const uint64_t data = tensors_.empty() ? 0 : pad(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  return data_start() + data;
}

void GgufWriter::start() {
  file_ = std::make_unique<AtomicFile>(path_);
  const std::vector<uint8_t> h = header();
  header_size_ = h.size();
  file_->write(h.data(), h.size());
  cur_ = 0;
  cur_done_ = 0;
  // Zero-byte tensors lead the way: they need no write() call.
  while (cur_ < tensors_.size() && tensors_[cur_].nbytes == 0) ++cur_;
}

void GgufWriter::write(const void* data, size_t n) {
  if (finished_) throw FormatError(path_ + ": write after finish");
  if (!file_) start();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (cur_ >= tensors_.size()) throw FormatError(path_ + ": more tensor data than the declared tensors hold");
    const GgufTensorInfo& t = tensors_[cur_];
    const uint64_t take = std::min<uint64_t>(n, t.nbytes - cur_done_);
    file_->write(p, size_t(take));
    p += take;
    n -= size_t(take);
    cur_done_ += take;
    if (cur_done_ == t.nbytes) {
      file_->pad_to(alignment_);
      cur_done_ = 0;
      ++cur_;
      while (cur_ < tensors_.size() && tensors_[cur_].nbytes == 0) {
        file_->pad_to(alignment_);
        ++cur_;
      }
    }
  }
}

void GgufWriter::finish() {
  if (finished_) throw FormatError(path_ + ": finished twice");
  if (!file_) start();
  if (cur_ < tensors_.size())
    throw FormatError(path_ + ": tensor '" + tensors_[cur_].name + "' has " + std::to_string(cur_done_) + " of " +
                      std::to_string(tensors_[cur_].nbytes) + " bytes written");
  const uint64_t data = tensors_.empty() ? 0 : pad(tensors_.back().offset + tensors_.back().nbytes, alignment_);
  if (file_->position() != header_size_ + data)
    throw FormatError(path_ + ": internal: wrote " + std::to_string(file_->position()) + " bytes, expected " +
                      std::to_string(header_size_ + data));
  file_->commit();
  finished_ = true;
}

}  // namespace gq
