#include "formats/native_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "formats/native.pb.h"
#include "io/atomic_file.h"
#include "io/crc32c.h"
#include "io/error.h"
#include "io/mapped_file.h"
#include "quant/ggml_types.h"
#include "quant/weight.h"

namespace gq::native {
namespace {

constexpr int64_t kMaxElements = int64_t(1) << 40;  // 4 TB of float32: past any model, safe in uint64 math

uint64_t align_up(uint64_t v) { return (v + kAlignment - 1) / kAlignment * kAlignment; }

[[noreturn]] void fail(const std::string& what, const std::string& why) { throw FormatError(what + ": " + why); }

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t u64_at(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

pb::DataType to_pb(DType t) {
  switch (t) {
    case DType::F32: return pb::F32;
    case DType::F16: return pb::F16;
    case DType::BF16: return pb::BF16;
    default: throw FormatError(std::string("internal: dtype ") + dtype_name(t) + " has no native encoding");
  }
}
std::optional<DType> from_pb(pb::DataType t) {
  switch (t) {
    case pb::F32: return DType::F32;
    case pb::F16: return DType::F16;
    case pb::BF16: return DType::BF16;
    default: return std::nullopt;
  }
}
pb::Encoding to_pb(Encoding e) {
  switch (e) {
    case Encoding::Float: return pb::FLOAT;
    case Encoding::GgmlBlocks: return pb::GGML_BLOCKS;
    case Encoding::Channel: return pb::CHANNEL;
    case Encoding::Group: return pb::GROUP;
  }
  return pb::ENCODING_UNSPECIFIED;
}
std::optional<Encoding> from_pb(pb::Encoding e) {
  switch (e) {
    case pb::FLOAT: return Encoding::Float;
    case pb::GGML_BLOCKS: return Encoding::GgmlBlocks;
    case pb::CHANNEL: return Encoding::Channel;
    case pb::GROUP: return Encoding::Group;
    default: return std::nullopt;
  }
}

std::string activation_what(const std::string& module, const char* seam) {
  return std::string("header.activations['") + module + "']." + seam;
}

// The preamble: magic, version, flags (0), header size, header CRC, then the CRC of those 28 bytes.
void make_preamble(uint8_t* p, uint64_t header_bytes, uint32_t header_crc) {
  std::memcpy(p, kMagic, 8);
  const uint32_t version = kVersion, flags = 0;
  std::memcpy(p + 8, &version, 4);
  std::memcpy(p + 12, &flags, 4);
  std::memcpy(p + 16, &header_bytes, 8);
  std::memcpy(p + 24, &header_crc, 4);
  const uint32_t c = crc32c(p, 28);
  std::memcpy(p + 28, &c, 4);
}

}  // namespace

const char* encoding_name(Encoding e) {
  switch (e) {
    case Encoding::Float: return "float";
    case Encoding::GgmlBlocks: return "ggml_blocks";
    case Encoding::Channel: return "channel";
    case Encoding::Group: return "group";
  }
  return "?";
}

int64_t TensorDesc::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Encoding encoding_of(const quant::WeightScheme& s) {
  if (s.is_gguf()) return Encoding::GgmlBlocks;
  return s.kind == quant::WeightKind::kChannel ? Encoding::Channel : Encoding::Group;
}

uint64_t packed_row_bytes(int bits, int64_t cols) { return (uint64_t(cols) * uint64_t(bits) + 7) / 8; }

BlobSizes blob_sizes(const TensorDesc& t, const std::string& what) {
  if (t.shape.empty()) fail(what, "shape is empty");
  int64_t n = 1;
  for (int64_t d : t.shape) {
    if (d <= 0) fail(what, "shape has a dimension " + std::to_string(d) + " (must be positive)");
    if (d > kMaxElements || n > kMaxElements / d) fail(what, "shape has more than 2^40 elements");
    n *= d;
  }
  BlobSizes b;
  if (t.encoding == Encoding::Float) {
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
      fail(what, std::string("dtype ") + dtype_name(t.dtype) + " is not a float dtype the format stores (F32, F16, BF16)");
    b.data = uint64_t(n) * dtype_size(t.dtype);
    return b;
  }
  const quant::WeightScheme& s = t.scheme;
  try {
    quant::validate(s);
  } catch (const FormatError& e) {
    fail(what, std::string("scheme: ") + e.what());
  }
  if (encoding_of(s) != t.encoding)
    fail(what, std::string("encoding is ") + encoding_name(t.encoding) + " but scheme " + quant::weight_scheme_name(s) +
                   " is stored as " + encoding_name(encoding_of(s)));
  if (t.module.empty()) fail(what, "a quantized tensor needs its module");
  const int64_t cols = t.cols(), rows = n / cols;
  int64_t spr = 0;
  try {
    spr = quant::weight_scales_per_row(s, cols);
  } catch (const FormatError& e) {
    fail(what, "rows of " + std::to_string(cols) + " values do not fit scheme " + quant::weight_scheme_name(s) + ": " + e.what());
  }
  if (t.encoding == Encoding::GgmlBlocks) {
    b.data = uint64_t(rows) * ggml_row_bytes(GgmlType(s.ggml_type()), cols);
    return b;
  }
  b.data = uint64_t(rows) * packed_row_bytes(s.bits, cols);
  b.scales = uint64_t(rows) * uint64_t(spr) * dtype_size(s.scale_dtype);
  if (!s.symmetric) b.zero_points = uint64_t(rows) * uint64_t(spr);
  return b;
}

// ---- reading ------------------------------------------------------------------------------------

namespace {

struct Reader {
  const std::string& path;
  const uint8_t* base;
  uint64_t size;

  [[noreturn]] void error(const std::string& what, const std::string& why) const { fail(path + ": " + what, why); }
  void need(bool has, const std::string& field) const {
    if (!has) error(field, "is missing");
  }

  DType dtype(pb::DataType t, const std::string& field) const {
    const std::optional<DType> d = from_pb(t);
    if (!d) error(field, "is " + std::to_string(int(t)) + ", not a data type (F32 = 1, F16 = 2, BF16 = 3)");
    return *d;
  }

  quant::WeightScheme scheme(const pb::WeightScheme& p, const std::string& what) const {
    need(p.has_name(), what + ".scheme.name");
    quant::WeightScheme s;
    try {
      s = quant::parse_weight_scheme(p.name());
    } catch (const FormatError& e) {
      error(what + ".scheme.name", e.what());
    }
    need(p.has_encoding(), what + ".scheme.encoding");
    need(p.has_bits(), what + ".scheme.bits");
    need(p.has_group(), what + ".scheme.group");
    need(p.has_symmetric(), what + ".scheme.symmetric");
    need(p.has_scale_dtype(), what + ".scheme.scale_dtype");
    const std::string n = "scheme " + p.name();
    const std::optional<Encoding> enc = from_pb(p.encoding());
    if (!enc || *enc != encoding_of(s)) error(what + ".scheme.encoding", "is " + std::to_string(int(p.encoding())) + ", not " + n + "'s");
    if (p.bits() != uint32_t(s.bits)) error(what + ".scheme.bits", "is " + std::to_string(p.bits()) + ", " + n + " has " + std::to_string(s.bits));
    const uint64_t group = s.kind == quant::WeightKind::kChannel ? 0 : uint64_t(s.group);
    if (p.group() != group) error(what + ".scheme.group", "is " + std::to_string(p.group()) + ", " + n + " has " + std::to_string(group));
    if (p.symmetric() != s.symmetric) error(what + ".scheme.symmetric", "disagrees with " + n);
    if (dtype(p.scale_dtype(), what + ".scheme.scale_dtype") != s.scale_dtype)
      error(what + ".scheme.scale_dtype", std::string("is ") + dtype_name(*from_pb(p.scale_dtype())) + ", " + n + " stores " +
                                              dtype_name(s.scale_dtype));
    return s;
  }

  ActivationQuant activation(const pb::ActivationQuant& p, const std::string& what) const {
    need(p.has_scheme(), what + ".scheme");
    need(p.has_scale(), what + ".scale");
    need(p.has_zero_point(), what + ".zero_point");
    ActivationQuant a;
    try {
      a.scheme = quant::parse_activation_scheme(p.scheme());
    } catch (const FormatError& e) {
      error(what + ".scheme", e.what());
    }
    a.params.scale = p.scale();
    a.params.zero_point = p.zero_point();
    if (!std::isfinite(a.params.scale) || !(a.params.scale > 0)) error(what + ".scale", "must be finite and positive");
    if (a.scheme.symmetric && a.params.zero_point != 0) error(what + ".zero_point", "must be 0 for " + p.scheme());
    if (a.params.zero_point < a.scheme.qmin() || a.params.zero_point > a.scheme.qmax())
      error(what + ".zero_point", std::to_string(a.params.zero_point) + " is outside the scheme's levels");
    return a;
  }
};

struct Placed {
  uint64_t offset, size;
  std::string what;
  uint32_t crc;
};

}  // namespace

NativeFile NativeFile::open(const std::string& path, const ReadOptions& opt) {
  NativeFile f;
  f.path_ = path;
  auto map = std::make_shared<const MappedFile>(path);
  f.map_ = map;
  const Reader r{path, map->data(), map->size()};
  const uint8_t* p = r.base;
  const uint64_t size = r.size;

  // Preamble.
  if (size < kPreambleBytes)
    r.error("preamble", "the file is " + std::to_string(size) + " bytes, shorter than the 32-byte preamble (truncated)");
  if (std::memcmp(p, kMagic, 8) != 0) r.error("magic", "not a gemma-qat native file (the first 8 bytes are not GQNATIVE)");
  if (u32_at(p + 28) != crc32c(p, 28))
    r.error("preamble", "checksum mismatch (stored " + hex32(u32_at(p + 28)) + ", computed " + hex32(crc32c(p, 28)) + ")");
  if (u32_at(p + 8) != kVersion)
    r.error("version", std::to_string(u32_at(p + 8)) + " (this reader reads version " + std::to_string(kVersion) + ")");
  if (u32_at(p + 12) != 0) r.error("flags", hex32(u32_at(p + 12)) + " (no flags are defined: must be 0)");
  const uint64_t hbytes = u64_at(p + 16);
  if (hbytes == 0 || hbytes > kMaxHeaderBytes) r.error("header_size", std::to_string(hbytes) + " is not in [1, 2^30]");
  if (hbytes > size - kPreambleBytes)
    r.error("header_size", std::to_string(hbytes) + " bytes run past the end of the file (" + std::to_string(size) +
                               " bytes): truncated");
  const uint32_t hcrc = crc32c(p + kPreambleBytes, hbytes);
  if (hcrc != u32_at(p + 24))
    r.error("header", "checksum mismatch (stored " + hex32(u32_at(p + 24)) + ", computed " + hex32(hcrc) + ")");
  pb::Header h;
  if (!h.ParseFromArray(p + kPreambleBytes, int(hbytes))) r.error("header", "is not a valid protobuf Header message");

  // Layout.
  for (const auto& [has, field] : std::vector<std::pair<bool, const char*>>{
           {h.has_producer(), "header.producer"}, {h.has_config_json(), "header.config_json"}, {h.has_recipe(), "header.recipe"},
           {h.has_float_dtype(), "header.float_dtype"}, {h.has_kv_cache(), "header.kv_cache"},
           {h.has_data_offset(), "header.data_offset"}, {h.has_data_size(), "header.data_size"},
           {h.has_ple_offset(), "header.ple_offset"}, {h.has_ple_size(), "header.ple_size"}, {h.has_file_size(), "header.file_size"}})
    r.need(has, field);
  if (h.file_size() != size)
    r.error("header.file_size", std::to_string(h.file_size()) + ", but the file is " + std::to_string(size) + " bytes (" +
                                    (size < h.file_size() ? "truncated" : "trailing bytes") + ")");
  const uint64_t data0 = align_up(kPreambleBytes + hbytes);
  if (h.data_offset() != data0) r.error("header.data_offset", std::to_string(h.data_offset()) + ", must be " + std::to_string(data0));
  if (h.data_size() % kAlignment || h.data_size() > size - data0)
    r.error("header.data_size", std::to_string(h.data_size()) + " is not a multiple of 64 inside the file");
  if (h.ple_offset() != data0 + h.data_size())
    r.error("header.ple_offset", std::to_string(h.ple_offset()) + ", must follow the main section at " + std::to_string(data0 + h.data_size()));
  if (h.ple_size() % kAlignment || h.ple_size() != size - h.ple_offset())
    r.error("header.ple_size", std::to_string(h.ple_size()) + ", must be a multiple of 64 reaching the end of the file");
  for (uint64_t i = kPreambleBytes + hbytes; i < data0; ++i)
    if (p[i]) r.error("header padding", "byte " + std::to_string(i) + " is not 0");

  // Metadata.
  Metadata& m = f.meta_;
  m.producer = h.producer();
  m.config_json = h.config_json();
  if (m.config_json.empty()) r.error("header.config_json", "is empty");
  m.recipe = h.recipe();
  m.float_dtype = r.dtype(h.float_dtype(), "header.float_dtype");
  if (!h.kv_cache().empty()) {
    try {
      m.kv_cache = quant::parse_kv_scheme(h.kv_cache());
    } catch (const FormatError& e) {
      r.error("header.kv_cache", e.what());
    }
  }
  if (h.has_tokenizer()) {
    m.tokenizer_json = h.tokenizer().tokenizer_json();
    m.tokenizer_model = h.tokenizer().tokenizer_model();
    if (!m.tokenizer_json.empty() && m.tokenizer_json[0] != '{')
      r.error("header.tokenizer.tokenizer_json", "does not start with '{'");
  }
  for (int i = 0; i < h.activations_size(); ++i) {
    const pb::ModuleActivations& a = h.activations(i);
    const std::string at = "header.activations[" + std::to_string(i) + "]";
    r.need(a.has_module() && !a.module().empty(), at + ".module");
    if (m.activations.count(a.module())) r.error(at + ".module", "'" + a.module() + "' appears twice");
    if (!a.has_input() && !a.has_output()) r.error(activation_what(a.module(), ""), "has neither input nor output");
    ModuleActivations& ma = m.activations[a.module()];
    if (a.has_input()) ma.input = r.activation(a.input(), activation_what(a.module(), "input"));
    if (a.has_output()) ma.output = r.activation(a.output(), activation_what(a.module(), "output"));
  }

  // Tensors and their blobs.
  std::vector<Placed> main, ple;
  for (int i = 0; i < h.tensors_size(); ++i) {
    const pb::Tensor& t = h.tensors(i);
    r.need(t.has_name() && !t.name().empty(), "header.tensors[" + std::to_string(i) + "].name");
    const std::string what = "tensor '" + t.name() + "'";
    if (f.index_.count(t.name())) r.error(what, "appears twice");
    TensorEntry e;
    TensorDesc& d = e.desc;
    d.name = t.name();
    d.shape.assign(t.shape().begin(), t.shape().end());
    r.need(t.has_section(), what + ".section");
    if (t.section() != pb::MAIN && t.section() != pb::PER_LAYER_EMBEDDING)
      r.error(what + ".section", std::to_string(int(t.section())) + " is not a section (MAIN = 1, PER_LAYER_EMBEDDING = 2)");
    d.section = t.section() == pb::MAIN ? Section::Main : Section::PerLayerEmbedding;
    r.need(t.has_encoding(), what + ".encoding");
    const std::optional<Encoding> enc = from_pb(t.encoding());
    if (!enc) r.error(what + ".encoding", std::to_string(int(t.encoding())) + " is not an encoding");
    d.encoding = *enc;
    if (d.encoding == Encoding::Float) {
      r.need(t.has_dtype(), what + ".dtype");
      d.dtype = r.dtype(t.dtype(), what + ".dtype");
      if (t.has_scheme() || t.has_module()) r.error(what, "is a float tensor but has a scheme or module");
    } else {
      r.need(t.has_scheme(), what + ".scheme");
      r.need(t.has_module(), what + ".module");
      if (t.has_dtype()) r.error(what + ".dtype", "is given for a quantized tensor");
      d.scheme = r.scheme(t.scheme(), what);
      d.module = t.module();
    }
    const BlobSizes want = blob_sizes(d, path + ": " + what);
    const uint64_t sec0 = d.section == Section::Main ? data0 : h.ple_offset();
    const uint64_t sec1 = sec0 + (d.section == Section::Main ? h.data_size() : h.ple_size());
    auto blob = [&](bool has, const pb::Blob& b, uint64_t expect, const char* field, Bytes& out) {
      const std::string bw = what + "." + field;
      if (expect == 0) {
        if (has) r.error(bw, std::string("is given, but a ") + encoding_name(d.encoding) + " tensor of this scheme has none");
        return;
      }
      r.need(has, bw);
      r.need(b.has_offset(), bw + ".offset");
      r.need(b.has_size(), bw + ".size");
      r.need(b.has_crc32c(), bw + ".crc32c");
      if (b.size() != expect) r.error(bw + ".size", std::to_string(b.size()) + ", the tensor's shape and scheme need " + std::to_string(expect));
      if (b.offset() % kAlignment) r.error(bw + ".offset", std::to_string(b.offset()) + " is not 64-byte aligned");
      if (b.offset() < sec0 || b.offset() > sec1 || b.size() > sec1 - b.offset())
        r.error(bw, "[" + std::to_string(b.offset()) + ", +" + std::to_string(b.size()) + ") is outside its section [" +
                        std::to_string(sec0) + ", " + std::to_string(sec1) + ")");
      out = Bytes{p + b.offset(), b.size(), b.offset()};
      (d.section == Section::Main ? main : ple).push_back(Placed{b.offset(), b.size(), bw, b.crc32c()});
    };
    blob(t.has_data(), t.data(), want.data, "data", e.data);
    blob(t.has_scales(), t.scales(), want.scales, "scales", e.scales);
    blob(t.has_zero_points(), t.zero_points(), want.zero_points, "zero_points", e.zero_points);
    f.index_[d.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(e));
  }
  // The blobs tile each section: each starts at the first aligned offset after the previous one,
  // the section ends at the first aligned offset after the last, and every padding byte is 0, so
  // that no byte of the file goes unchecked.
  auto tile = [&](std::vector<Placed>& v, uint64_t sec0, uint64_t sec_size, const char* section) {
    std::sort(v.begin(), v.end(), [](const Placed& a, const Placed& b) { return a.offset < b.offset; });
    uint64_t at = sec0;
    for (const Placed& b : v) {
      if (b.offset < at) r.error(b.what, "overlaps the blob before it");
      if (b.offset != align_up(at)) r.error(b.what, "leaves a gap before it (offset " + std::to_string(b.offset) + ", expected " + std::to_string(align_up(at)) + ")");
      for (uint64_t i = at; i < b.offset; ++i)
        if (p[i]) r.error(std::string(section) + " padding", "byte " + std::to_string(i) + " is not 0");
      at = b.offset + b.size;
    }
    if (align_up(at) != sec0 + sec_size)
      r.error(std::string("header.") + section + "_size", std::to_string(sec_size) + ", but its blobs end at " + std::to_string(at - sec0));
    for (uint64_t i = at; i < sec0 + sec_size; ++i)
      if (p[i]) r.error(std::string(section) + " padding", "byte " + std::to_string(i) + " is not 0");
    if (opt.verify_checksums)
      for (const Placed& b : v) {
        // In chunks, each dropped from the resident set once summed: checking never keeps a
        // section resident (the per-layer table is meant never to be).
        constexpr uint64_t kChunk = uint64_t(8) << 20;
        uint32_t c = 0;
        for (uint64_t at = 0; at < b.size; at += kChunk) {
          const uint64_t n = std::min(kChunk, b.size - at);
          c = crc32c(p + b.offset + at, n, c);
          // From 64 KiB back: fault-around maps cached pages just before a fault back in.
          const uint64_t back = std::min<uint64_t>(at, uint64_t(64) << 10);
          map->release(p + b.offset + at - back, n + back);
        }
        if (c != b.crc) r.error(b.what, "checksum mismatch (stored " + hex32(b.crc) + ", computed " + hex32(c) + ")");
      }
  };
  tile(main, data0, h.data_size(), "data");
  tile(ple, h.ple_offset(), h.ple_size(), "ple");
  f.ple_ = Bytes{p + h.ple_offset(), h.ple_size(), h.ple_offset()};
  return f;
}

const TensorEntry* NativeFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t NativeFile::file_size() const { return map_->size(); }

void NativeFile::release(const Bytes& b) const { map_->release(b.data, b.size); }

// ---- writing ------------------------------------------------------------------------------------

NativeWriter::NativeWriter(const std::string& path, Metadata meta, std::vector<TensorDesc> tensors)
    : path_(path), meta_(std::move(meta)) {
  std::set<std::string> names;
  for (const TensorDesc& t : tensors) blob_sizes(t, path + ": tensor '" + t.name + "'");  // before the header names its dtypes
  for (int pass = 0; pass < 2; ++pass)
    for (TensorDesc& t : tensors)
      if ((t.section == Section::Main) == (pass == 0)) {
        if (!names.insert(t.name).second) throw FormatError(path + ": tensor '" + t.name + "' is written twice");
        tensors_.push_back(std::move(t));
      }
  // Offsets are fixed64 and checksums fixed32, so the header has one size whatever they hold.
  header_bytes_ = serialize_header().size();
  data_offset_ = align_up(kPreambleBytes + header_bytes_);
  uint64_t at = data_offset_;
  bool in_ple = false;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorDesc& t = tensors_[i];
    if (t.section == Section::PerLayerEmbedding && !in_ple) {
      data_size_ = align_up(at) - data_offset_;
      at = ple_offset_ = data_offset_ + data_size_;
      in_ple = true;
    }
    const BlobSizes b = blob_sizes(t, path + ": tensor '" + t.name + "'");
    for (const auto& [part, n] : {std::pair<Part, uint64_t>{Part::Data, b.data}, {Part::Scales, b.scales}, {Part::ZeroPoints, b.zero_points}}) {
      if (n == 0) continue;
      at = align_up(at);
      slots_.push_back(Slot{i, part, at, n});
      at += n;
    }
  }
  if (!in_ple) {
    data_size_ = align_up(at) - data_offset_;
    ple_offset_ = data_offset_ + data_size_;
  } else {
    ple_size_ = align_up(at) - ple_offset_;
  }
  file_size_ = ple_offset_ + ple_size_;
  if (serialize_header().size() != header_bytes_) throw FormatError(path + ": internal: the header changed size");
  out_ = std::make_unique<AtomicFile>(path);
  const std::vector<uint8_t> zeros(size_t(data_offset_), 0);
  out_->write(zeros.data(), zeros.size());  // preamble and header come last, in place
  advance();
}

NativeWriter::~NativeWriter() = default;

std::string NativeWriter::serialize_header() const {
  pb::Header h;
  h.set_producer(meta_.producer);
  h.set_config_json(meta_.config_json);
  h.set_recipe(meta_.recipe);
  h.set_float_dtype(to_pb(meta_.float_dtype));
  h.set_kv_cache(meta_.kv_cache ? quant::kv_scheme_name(*meta_.kv_cache) : "");
  if (!meta_.tokenizer_json.empty()) h.mutable_tokenizer()->set_tokenizer_json(meta_.tokenizer_json);
  if (!meta_.tokenizer_model.empty()) h.mutable_tokenizer()->set_tokenizer_model(meta_.tokenizer_model);
  for (const auto& [module, a] : meta_.activations) {
    pb::ModuleActivations* pa = h.add_activations();
    pa->set_module(module);
    auto set = [](pb::ActivationQuant* q, const ActivationQuant& v) {
      q->set_scheme(quant::activation_scheme_name(v.scheme));
      q->set_scale(v.params.scale);
      q->set_zero_point(v.params.zero_point);
    };
    if (a.input) set(pa->mutable_input(), *a.input);
    if (a.output) set(pa->mutable_output(), *a.output);
  }
  std::vector<pb::Tensor*> pts;
  for (const TensorDesc& t : tensors_) {
    pb::Tensor* pt = h.add_tensors();
    pts.push_back(pt);
    pt->set_name(t.name);
    for (int64_t d : t.shape) pt->add_shape(d);
    pt->set_section(t.section == Section::Main ? pb::MAIN : pb::PER_LAYER_EMBEDDING);
    pt->set_encoding(to_pb(t.encoding));
    if (t.encoding == Encoding::Float) {
      pt->set_dtype(to_pb(t.dtype));
      continue;
    }
    pt->set_module(t.module);
    pb::WeightScheme* s = pt->mutable_scheme();
    s->set_name(quant::weight_scheme_name(t.scheme));
    s->set_encoding(to_pb(encoding_of(t.scheme)));
    s->set_bits(uint32_t(t.scheme.bits));
    s->set_group(t.scheme.kind == quant::WeightKind::kChannel ? 0 : uint64_t(t.scheme.group));
    s->set_symmetric(t.scheme.symmetric);
    s->set_scale_dtype(to_pb(t.scheme.scale_dtype));
  }
  // Before the layout is planned there are no slots: every tensor gets a placeholder blob of each
  // part it has, so that the size is already the final one.
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const BlobSizes b = blob_sizes(tensors_[i], path_ + ": tensor '" + tensors_[i].name + "'");
    if (b.data) pts[i]->mutable_data()->set_offset(0), pts[i]->mutable_data()->set_size(b.data), pts[i]->mutable_data()->set_crc32c(0);
    if (b.scales) pts[i]->mutable_scales()->set_offset(0), pts[i]->mutable_scales()->set_size(b.scales), pts[i]->mutable_scales()->set_crc32c(0);
    if (b.zero_points)
      pts[i]->mutable_zero_points()->set_offset(0), pts[i]->mutable_zero_points()->set_size(b.zero_points),
          pts[i]->mutable_zero_points()->set_crc32c(0);
  }
  for (const Slot& s : slots_) {
    pb::Tensor* pt = pts[s.tensor];
    pb::Blob* b = s.part == Part::Data ? pt->mutable_data() : s.part == Part::Scales ? pt->mutable_scales() : pt->mutable_zero_points();
    b->set_offset(s.offset);
    b->set_size(s.size);
    b->set_crc32c(s.crc);
  }
  h.set_data_offset(data_offset_);
  h.set_data_size(data_size_);
  h.set_ple_offset(ple_offset_);
  h.set_ple_size(ple_size_);
  h.set_file_size(file_size_);
  std::string out;
  if (!h.SerializeToString(&out)) throw FormatError(path_ + ": internal: cannot serialize the header");
  return out;
}

void NativeWriter::advance() {
  while (cur_ < slots_.size() && left_ == 0) {
    if (out_->position() > slots_[cur_].offset) throw FormatError(path_ + ": internal: blob written past its slot");
    const std::vector<uint8_t> pad(size_t(slots_[cur_].offset - out_->position()), 0);
    out_->write(pad.data(), pad.size());
    left_ = slots_[cur_].size;
    if (left_ == 0) ++cur_;
  }
}

void NativeWriter::write(const std::string& name, Part part, const void* data, size_t n) {
  static const char* const kPart[] = {"data", "scales", "zero_points"};
  if (cur_ >= slots_.size()) throw FormatError(path_ + ": internal: tensor '" + name + "' written after every blob");
  Slot& s = slots_[cur_];
  const TensorDesc& t = tensors_[s.tensor];
  if (t.name != name || s.part != part)
    throw FormatError(path_ + ": internal: " + kPart[int(part)] + " of tensor '" + name + "' written while " +
                      kPart[int(s.part)] + " of '" + t.name + "' is due");
  if (n > left_)
    throw FormatError(path_ + ": internal: " + kPart[int(part)] + " of tensor '" + name + "' gets more than its " +
                      std::to_string(s.size) + " bytes");
  out_->write(data, n);
  s.crc = crc32c(data, n, s.crc);
  left_ -= n;
  if (left_ == 0) {
    ++cur_;
    advance();
  }
}

void NativeWriter::finish() {
  if (cur_ < slots_.size()) {
    const TensorDesc& t = tensors_[slots_[cur_].tensor];
    throw FormatError(path_ + ": internal: tensor '" + t.name + "' is incomplete");
  }
  const std::vector<uint8_t> pad(size_t(file_size_ - out_->position()), 0);
  out_->write(pad.data(), pad.size());
  const std::string header = serialize_header();
  if (header.size() != header_bytes_) throw FormatError(path_ + ": internal: the header changed size");
  uint8_t pre[kPreambleBytes];
  make_preamble(pre, header_bytes_, crc32c(header.data(), header.size()));
  out_->write_at(kPreambleBytes, header.data(), header.size());
  out_->write_at(0, pre, sizeof pre);
  out_->commit();
  out_.reset();
}

}  // namespace gq::native
