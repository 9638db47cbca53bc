// ggml tensor types and GGUF metadata values (the writer and reader are gguf_writer.cpp and
// gguf_reader.cpp).
#include "formats/gguf.h"

#include <cstring>
#include <limits>

#include "io/error.h"

namespace gq {

namespace {

template <class T>
std::vector<uint8_t> le_bytes(const T* v, size_t n) {
  // The project targets little-endian hosts (x86-64, aarch64), where memory order is file order.
  std::vector<uint8_t> out(n * sizeof(T));
  if (n) std::memcpy(out.data(), v, out.size());
  return out;
}

template <class T>
GgufValue scalar_value(GgufType t, T v) {
  return GgufValue::raw_array(t, le_bytes(&v, 1));  // then marked scalar by the caller
}

[[noreturn]] void wrong_type(GgufType want, const GgufValue& v) {
  std::string got = gguf_type_name(v.type());
  if (v.is_array()) got += std::string(" of ") + gguf_type_name(v.elem_type());
  throw FormatError(std::string("expected ") + gguf_type_name(want) + ", got " + got);
}
[[noreturn]] void wrong_array_type(GgufType want, const GgufValue& v) {
  std::string got = gguf_type_name(v.type());
  if (v.is_array()) got += std::string(" of ") + gguf_type_name(v.elem_type());
  throw FormatError(std::string("expected ARRAY of ") + gguf_type_name(want) + ", got " + got);
}

template <class T>
T read_scalar(const GgufValue& v, GgufType want) {
  if (v.is_array() || v.type() != want) wrong_type(want, v);
  T out;
  std::memcpy(&out, v.raw().data(), sizeof(T));
  return out;
}

template <class T>
std::vector<T> read_array(const GgufValue& v, GgufType want) {
  if (!v.is_array() || v.elem_type() != want) wrong_array_type(want, v);
  std::vector<T> out(size_t(v.size()));
  if (!out.empty()) std::memcpy(out.data(), v.raw().data(), out.size() * sizeof(T));
  return out;
}

}  // namespace

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    default: return 0;
  }
}

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8: return "UINT8";
    case GgufType::INT8: return "INT8";
    case GgufType::UINT16: return "UINT16";
    case GgufType::INT16: return "INT16";
    case GgufType::UINT32: return "UINT32";
    case GgufType::INT32: return "INT32";
    case GgufType::FLOAT32: return "FLOAT32";
    case GgufType::BOOL: return "BOOL";
    case GgufType::STRING: return "STRING";
    case GgufType::ARRAY: return "ARRAY";
    case GgufType::UINT64: return "UINT64";
    case GgufType::INT64: return "INT64";
    case GgufType::FLOAT64: return "FLOAT64";
  }
  return "?";
}

// ---- GgufValue --------------------------------------------------------------------------------

GgufValue GgufValue::raw_array(GgufType elem, std::vector<uint8_t> bytes) {
  const size_t es = gguf_scalar_size(elem);
  if (es == 0) throw FormatError(std::string("GGUF arrays of ") + gguf_type_name(elem) + " need raw_array's string form");
  if (bytes.size() % es) throw FormatError("GGUF array: byte count is not a multiple of the element size");
  if (elem == GgufType::BOOL)
    for (uint8_t b : bytes)
      if (b > 1) throw FormatError("GGUF bool array: byte " + std::to_string(b) + " is not 0 or 1");
  GgufValue v;
  v.type_ = GgufType::ARRAY;
  v.elem_ = elem;
  v.count_ = bytes.size() / es;
  v.raw_ = std::move(bytes);
  return v;
}

#define GQ_SCALAR(fn, T, TYPE)                  \
  GgufValue GgufValue::fn(T x) {                \
    GgufValue v = scalar_value(GgufType::TYPE, x); \
    v.type_ = v.elem_ = GgufType::TYPE;         \
    v.count_ = 1;                               \
    return v;                                   \
  }
GQ_SCALAR(u8, uint8_t, UINT8)
GQ_SCALAR(i8, int8_t, INT8)
GQ_SCALAR(u16, uint16_t, UINT16)
GQ_SCALAR(i16, int16_t, INT16)
GQ_SCALAR(u32, uint32_t, UINT32)
GQ_SCALAR(i32, int32_t, INT32)
GQ_SCALAR(f32, float, FLOAT32)
GQ_SCALAR(u64, uint64_t, UINT64)
GQ_SCALAR(i64, int64_t, INT64)
GQ_SCALAR(f64, double, FLOAT64)
#undef GQ_SCALAR

GgufValue GgufValue::boolean(bool x) {
  GgufValue v = u8(x ? 1 : 0);
  v.type_ = v.elem_ = GgufType::BOOL;
  return v;
}

GgufValue GgufValue::str(std::string x) {
  GgufValue v;
  v.type_ = v.elem_ = GgufType::STRING;
  v.count_ = 1;
  v.strings_.push_back(std::move(x));
  return v;
}

GgufValue GgufValue::i32_array(const std::vector<int32_t>& x) { return raw_array(GgufType::INT32, le_bytes(x.data(), x.size())); }
GgufValue GgufValue::u32_array(const std::vector<uint32_t>& x) { return raw_array(GgufType::UINT32, le_bytes(x.data(), x.size())); }
GgufValue GgufValue::f32_array(const std::vector<float>& x) { return raw_array(GgufType::FLOAT32, le_bytes(x.data(), x.size())); }

GgufValue GgufValue::bool_array(const std::vector<bool>& x) {
  std::vector<uint8_t> b(x.size());
  for (size_t i = 0; i < x.size(); ++i) b[i] = x[i] ? 1 : 0;
  return raw_array(GgufType::BOOL, std::move(b));
}

GgufValue GgufValue::str_array(std::vector<std::string> x) {
  GgufValue v;
  v.type_ = GgufType::ARRAY;
  v.elem_ = GgufType::STRING;
  v.count_ = x.size();
  v.strings_ = std::move(x);
  return v;
}

uint32_t GgufValue::as_u32() const { return read_scalar<uint32_t>(*this, GgufType::UINT32); }
int32_t GgufValue::as_i32() const { return read_scalar<int32_t>(*this, GgufType::INT32); }
uint64_t GgufValue::as_u64() const { return read_scalar<uint64_t>(*this, GgufType::UINT64); }
float GgufValue::as_f32() const { return read_scalar<float>(*this, GgufType::FLOAT32); }
bool GgufValue::as_bool() const { return read_scalar<uint8_t>(*this, GgufType::BOOL) != 0; }

const std::string& GgufValue::as_str() const {
  if (is_array() || type_ != GgufType::STRING) wrong_type(GgufType::STRING, *this);
  return strings_[0];
}

std::vector<int32_t> GgufValue::as_i32_array() const { return read_array<int32_t>(*this, GgufType::INT32); }
std::vector<uint32_t> GgufValue::as_u32_array() const { return read_array<uint32_t>(*this, GgufType::UINT32); }
std::vector<float> GgufValue::as_f32_array() const { return read_array<float>(*this, GgufType::FLOAT32); }

std::vector<bool> GgufValue::as_bool_array() const {
  const std::vector<uint8_t> b = read_array<uint8_t>(*this, GgufType::BOOL);
  return std::vector<bool>(b.begin(), b.end());
}

const std::vector<std::string>& GgufValue::as_str_array() const {
  if (!is_array() || elem_ != GgufType::STRING) wrong_array_type(GgufType::STRING, *this);
  return strings_;
}

int64_t GgufValue::as_int() const {
  if (is_array()) wrong_type(GgufType::INT64, *this);
  switch (type_) {
    case GgufType::UINT8: return read_scalar<uint8_t>(*this, type_);
    case GgufType::INT8: return read_scalar<int8_t>(*this, type_);
    case GgufType::UINT16: return read_scalar<uint16_t>(*this, type_);
    case GgufType::INT16: return read_scalar<int16_t>(*this, type_);
    case GgufType::UINT32: return read_scalar<uint32_t>(*this, type_);
    case GgufType::INT32: return read_scalar<int32_t>(*this, type_);
    case GgufType::INT64: return read_scalar<int64_t>(*this, type_);
    case GgufType::UINT64: {
      const uint64_t u = read_scalar<uint64_t>(*this, type_);
      if (u > uint64_t(std::numeric_limits<int64_t>::max())) throw FormatError("UINT64 value " + std::to_string(u) + " does not fit int64");
      return int64_t(u);
    }
    default: throw FormatError(std::string("expected an integer, got ") + gguf_type_name(type_));
  }
}

bool GgufValue::operator==(const GgufValue& o) const {
  return type_ == o.type_ && elem_ == o.elem_ && count_ == o.count_ && raw_ == o.raw_ && strings_ == o.strings_;
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

}  // namespace gq
