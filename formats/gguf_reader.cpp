// Strict GGUF reader: every bound is checked before it is used, with ggml's own limits (gguf.cpp),
// so a malformed file gives one clear FormatError instead of a crash or a silent misread.
#include <cstring>
#include <limits>
#include <set>

#include "io/error.h"
#include "formats/gguf.h"
#include "io/mapped_file.h"

namespace gq {

namespace {

constexpr uint64_t kMaxString = uint64_t(1) << 30;  // GGUF_MAX_STRING_LENGTH
constexpr uint64_t kMaxArray = uint64_t(1) << 30;   // GGUF_MAX_ARRAY_ELEMENTS
constexpr size_t kMaxName = 64;                     // GGML_MAX_NAME (with the NUL)
constexpr uint32_t kMaxDims = 4;

bool valid_type(uint32_t t) { return t <= uint32_t(GgufType::FLOAT64); }

// Bounds-checked little-endian cursor; `what` names the field being read for the message.
class Cursor {
 public:
  Cursor(const uint8_t* p, uint64_t n, const std::string& src) : p_(p), n_(n), src_(src) {}
  uint64_t pos() const { return pos_; }
  uint64_t remain() const { return n_ - pos_; }
  [[noreturn]] void fail(const std::string& what) const { throw FormatError(src_ + ": " + what); }

  const uint8_t* take(uint64_t k, const std::string& what) {
    if (k > remain())
      fail(what + ": needs " + std::to_string(k) + " bytes at offset " + std::to_string(pos_) + ", but the file ends after " +
           std::to_string(remain()) + " (truncated?)");
    const uint8_t* q = p_ + pos_;
    pos_ += k;
    return q;
  }
  template <class T>
  T get(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t len = get<uint64_t>(what + " length");
    if (len > kMaxString) fail(what + ": string length " + std::to_string(len) + " exceeds ggml's limit of 1 GiB");
    if (len > remain())
      fail(what + ": string length " + std::to_string(len) + " exceeds the " + std::to_string(remain()) +
           " bytes left in the file");
    const uint8_t* q = take(len, what);
    return std::string(reinterpret_cast<const char*>(q), size_t(len));
  }

 private:
  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
  const std::string& src_;
};

uint64_t pad(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

}  // namespace

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.source_ = path;
  f.map_ = std::make_shared<MappedFile>(path);
  f.base_ = f.map_->data();
  f.size_ = f.map_->size();
  f.parse_all();
  return f;
}

GgufFile GgufFile::parse(const void* data, size_t size, const std::string& source) {
  GgufFile f;
  f.source_ = source;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  f.copy_ = std::make_shared<std::vector<uint8_t>>(p, p + size);
  f.base_ = f.copy_->data();
  f.size_ = size;
  f.parse_all();
  return f;
}

void GgufFile::parse_all() {
  Cursor c(base_, size_, source_);
  if (size_ < 4) c.fail("too short to be a GGUF file (" + std::to_string(size_) + " bytes)");
  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) c.fail("not a GGUF file (bad magic)");
  version_ = c.get<uint32_t>("version");
  if (version_ == 0) c.fail("bad GGUF version 0");
  if ((version_ & 0xffffu) == 0) c.fail("GGUF version " + std::to_string(version_) + " looks byte-swapped (big-endian file?)");
  if (version_ == 1) c.fail("GGUF version 1 is no longer supported");
  if (version_ > 3) c.fail("GGUF version " + std::to_string(version_) + " is newer than 3");
  const int64_t n_tensors = c.get<int64_t>("tensor count");
  const int64_t n_kv = c.get<int64_t>("metadata count");
  // Each record takes at least 13 (KV) / 24 (tensor info) bytes: a count beyond that is a lie.
  if (n_tensors < 0 || uint64_t(n_tensors) > c.remain() / 24)
    c.fail("tensor count " + std::to_string(n_tensors) + " does not fit in the file");
  if (n_kv < 0 || uint64_t(n_kv) > c.remain() / 13) c.fail("metadata count " + std::to_string(n_kv) + " does not fit in the file");

  std::set<std::string> keys;
  for (int64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.str("metadata key " + std::to_string(i));
    if (key.empty()) c.fail("metadata key " + std::to_string(i) + " is empty");
    if (!keys.insert(key).second) c.fail("duplicate metadata key '" + key + "'");
    const std::string at = "key '" + key + "'";
    const uint32_t t = c.get<uint32_t>(at + " type");
    if (!valid_type(t)) c.fail(at + ": invalid GGUF value type " + std::to_string(t));
    GgufValue v;
    v.type_ = v.elem_ = GgufType(t);
    uint64_t count = 1;
    if (v.type_ == GgufType::ARRAY) {
      const uint32_t et = c.get<uint32_t>(at + " array type");
      if (!valid_type(et)) c.fail(at + ": invalid GGUF array element type " + std::to_string(et));
      if (GgufType(et) == GgufType::ARRAY) c.fail(at + ": arrays of arrays are not supported (ggml rejects them)");
      v.elem_ = GgufType(et);
      count = c.get<uint64_t>(at + " array length");
      if (count > kMaxArray) c.fail(at + ": array length " + std::to_string(count) + " exceeds ggml's limit of 2^30");
    }
    v.count_ = count;
    if (v.elem_ == GgufType::STRING) {
      if (count > c.remain() / 8) c.fail(at + ": " + std::to_string(count) + " strings cannot fit in the rest of the file");
      v.strings_.reserve(size_t(count));
      for (uint64_t j = 0; j < count; ++j) v.strings_.push_back(c.str(at + " string " + std::to_string(j)));
    } else {
      const uint64_t es = gguf_scalar_size(v.elem_);
      if (count > c.remain() / es)
        c.fail(at + ": " + (v.is_array() ? std::to_string(count) + " values of " + gguf_type_name(v.elem_) + " run"
                                         : std::string("its ") + gguf_type_name(v.elem_) + " value runs") +
               " past the end of the file (truncated?)");
      const uint8_t* q = c.take(count * es, at + " value");
      v.raw_.assign(q, q + count * es);
      if (v.elem_ == GgufType::BOOL)
        for (uint8_t b : v.raw_)
          if (b > 1) c.fail(at + ": bool value " + std::to_string(b) + " is not 0 or 1");
    }
    kv_.emplace_back(key, std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->is_array() || a->type() != GgufType::UINT32)
      c.fail(std::string("key 'general.alignment' must be UINT32, got ") + gguf_type_name(a->type()));
    alignment_ = a->as_u32();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
      c.fail("key 'general.alignment' = " + std::to_string(alignment_) + " is not a power of 2");
  }

  std::set<std::string> names;
  for (int64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.str("tensor name " + std::to_string(i));
    const std::string at = "tensor '" + t.name + "'";
    if (t.name.empty()) c.fail("tensor " + std::to_string(i) + " has an empty name");
    if (t.name.size() >= kMaxName)
      c.fail(at + ": name is " + std::to_string(t.name.size()) + " bytes (ggml allows " + std::to_string(kMaxName - 1) + ")");
    if (!names.insert(t.name).second) c.fail("duplicate tensor name '" + t.name + "'");
    const uint32_t n_dims = c.get<uint32_t>(at + " dimension count");
    if (n_dims > kMaxDims) c.fail(at + ": " + std::to_string(n_dims) + " dimensions (ggml allows 4)");
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t e = c.get<int64_t>(at + " dimension");
      if (e < 0) c.fail(at + ": dimension " + std::to_string(d) + " is negative (" + std::to_string(e) + ")");
      if (e != 0 && numel > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(e))
        c.fail(at + ": element count overflows int64");
      numel *= uint64_t(e);
      t.ne.push_back(e);
    }
    const uint32_t type = c.get<uint32_t>(at + " type");
    const GgmlTypeInfo* info = ggml_type_info(type);
    if (!info) c.fail(at + ": unknown or removed ggml type " + std::to_string(type));
    t.type = GgmlType(type);
    const int64_t ne0 = t.ne.empty() ? 1 : t.ne[0];
    if (ne0 % info->block != 0)
      c.fail(at + ": " + info->name + " rows need a multiple of " + std::to_string(info->block) + " values, got " +
             std::to_string(ne0));
    const uint64_t blocks = numel / uint64_t(info->block);
    if (blocks > std::numeric_limits<uint64_t>::max() / info->block_bytes) c.fail(at + ": byte size overflows");
    t.nbytes = blocks * info->block_bytes;
    t.offset = c.get<uint64_t>(at + " offset");
    tensors_.push_back(std::move(t));
  }

  data_start_ = n_tensors > 0 ? pad(c.pos(), alignment_) : c.pos();
  if (data_start_ > size_) c.fail("the data section would start at byte " + std::to_string(data_start_) + ", past the end of the file");

  // ggml recomputes every offset as the running sum of padded sizes in info order: this makes
  // offsets aligned, ordered and non-overlapping in one rule.
  uint64_t expect = 0;
  for (const GgufTensorInfo& t : tensors_) {
    const std::string at = "tensor '" + t.name + "'";
    if (t.offset != expect)
      c.fail(at + ": offset " + std::to_string(t.offset) + ", expected " + std::to_string(expect) +
             " (tensors must be back to back in info order, each padded to " + std::to_string(alignment_) + " bytes)");
    if (t.nbytes > size_ - data_start_ || t.offset > size_ - data_start_ - t.nbytes)
      c.fail(at + ": data [" + std::to_string(data_start_ + t.offset) + ", " +
             std::to_string(data_start_ + t.offset + t.nbytes) + ") is not within the file (" + std::to_string(size_) +
             " bytes; truncated?)");
    expect = pad(t.offset + t.nbytes, alignment_);
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& kv : kv_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw FormatError(source_ + ": key '" + key + "' is missing");
  return *v;
}

namespace {
template <class F>
auto typed(const GgufFile& f, const std::string& key, F&& fn) -> decltype(fn(f.get(key))) {
  const GgufValue& v = f.get(key);
  try {
    return fn(v);
  } catch (const FormatError& e) {
    throw FormatError(f.source() + ": key '" + key + "': " + e.what());
  }
}
}  // namespace

uint32_t GgufFile::get_u32(const std::string& key) const { return typed(*this, key, [](const GgufValue& v) { return v.as_u32(); }); }
int32_t GgufFile::get_i32(const std::string& key) const { return typed(*this, key, [](const GgufValue& v) { return v.as_i32(); }); }
float GgufFile::get_f32(const std::string& key) const { return typed(*this, key, [](const GgufValue& v) { return v.as_f32(); }); }
bool GgufFile::get_bool(const std::string& key) const { return typed(*this, key, [](const GgufValue& v) { return v.as_bool(); }); }
std::string GgufFile::get_str(const std::string& key) const {
  return typed(*this, key, [](const GgufValue& v) { return v.as_str(); });
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensorInfo& GgufFile::tensor(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) throw FormatError(source_ + ": tensor '" + name + "' is missing");
  return *t;
}

}  // namespace gq
