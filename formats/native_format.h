// The gemma-qat native runtime format (".gqn"; docs/native-format.md is the byte-level spec): a
// 32-byte preamble (magic, version, header size and CRC-32C), a protobuf header (formats/native.proto:
// model config, tokenizer, every tensor's encoding, scheme and checksummed blobs, static activation
// scales, KV-cache scheme), then two 64-byte aligned data sections that are mapped, not read: the
// main one (what a forward keeps resident) and the per-layer embedding table's.
//
// Reading validates everything the bytes can get wrong before any value is used: magic, version,
// both checksums, every header field (present, in range, consistent with the tensor's scheme:
// bits, granularity, scale and zero-point counts), every blob (inside its section, aligned, sized
// as its tensor implies, no overlap, padding zero), and with verify_checksums every blob's CRC.
// Any failure is a FormatError naming the file and the field or tensor. Shapes against the model
// config are checked by the loader that knows the model (engine/native_weights.h).
//
// Writing streams: the header is planned from the tensor list (sizes follow from shape and scheme),
// written with placeholder checksums, the blobs appended in order, and the header rewritten in
// place (its fixed-width fields keep its size) before the temporary is renamed.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "quant/activation.h"
#include "quant/scheme.h"

namespace gq {
class AtomicFile;
class MappedFile;
}  // namespace gq

namespace gq::native {

constexpr char kMagic[8] = {'G', 'Q', 'N', 'A', 'T', 'I', 'V', 'E'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kAlignment = 64;
constexpr uint64_t kPreambleBytes = 32;
constexpr uint64_t kMaxHeaderBytes = uint64_t(1) << 30;  // tokenizer included; far above any Gemma
constexpr const char* kExtension = ".gqn";

enum class Encoding { Float, GgmlBlocks, Channel, Group };
enum class Section { Main, PerLayerEmbedding };
const char* encoding_name(Encoding e);  // "float", "ggml_blocks", "channel", "group"

// What one tensor is, independent of where its bytes lie.
struct TensorDesc {
  std::string name;    // spec name: "layers.0.mlp.up_proj.weight"
  std::string module;  // quantized: the recipe module; "" for floats
  std::vector<int64_t> shape;
  Section section = Section::Main;
  Encoding encoding = Encoding::Float;
  DType dtype = DType::F32;    // Float: F32, F16 or BF16
  quant::WeightScheme scheme;  // quantized: its grid and scale dtype

  int64_t numel() const;
  int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
  int64_t rows() const { return cols() > 0 ? numel() / cols() : 0; }
};

// The encoding a weight scheme is stored with.
Encoding encoding_of(const quant::WeightScheme& s);
// Bytes of one row of `cols` levels packed `bits` wide (two's complement, element k at bits
// [bits * (k % (8 / bits)), +bits) of byte k / (8 / bits), rows padded to a whole byte).
uint64_t packed_row_bytes(int bits, int64_t cols);

struct BlobSizes {
  uint64_t data = 0, scales = 0, zero_points = 0;
};
// The blob sizes `t` implies. FormatError (naming `what` and the field) for an inconsistent
// description: a shape that is empty or not positive, a scheme its encoding cannot hold, a row that
// the scheme's blocks do not divide.
BlobSizes blob_sizes(const TensorDesc& t, const std::string& what);

struct ActivationQuant {
  quant::ActivationScheme scheme;
  quant::ActivationParams params;
};
struct ModuleActivations {
  std::optional<ActivationQuant> input, output;
};

struct Metadata {
  std::string producer = "gemma-qat";
  std::string config_json;  // config.json of the model (text part)
  std::string recipe;
  DType float_dtype = DType::F32;
  std::optional<quant::KvScheme> kv_cache;
  std::string tokenizer_json, tokenizer_model;  // bytes as the checkpoint holds them ("" = absent)
  std::map<std::string, ModuleActivations> activations;  // Linear or "lm_head" -> static scales
};

struct Bytes {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  uint64_t offset = 0;  // in the file
};

struct TensorEntry {
  TensorDesc desc;
  Bytes data, scales, zero_points;
};

struct ReadOptions {
  // CRC-32C of every blob on open (about 10 GB/s with SSE4.2: ~0.3 s for an E2B file). Without it
  // a flipped data byte is not detected; every structural check still runs. The pass reads each
  // blob in 8 MiB chunks and drops each chunk's pages from the resident set after it (see
  // NativeFile::release), so verifying a multi-GB per-layer table does not make it resident.
  bool verify_checksums = true;
};

class NativeFile {
 public:
  static NativeFile open(const std::string& path, const ReadOptions& opt = {});

  const std::string& source() const { return path_; }
  const Metadata& metadata() const { return meta_; }
  const std::vector<TensorEntry>& tensors() const { return tensors_; }  // in file order
  const TensorEntry* find(const std::string& name) const;
  uint64_t file_size() const;
  // The per-layer embedding section, [offset, offset + size) of the file.
  Bytes per_layer_section() const { return ple_; }
  // What keeps every Bytes of this file valid: a holder outlives this object with it.
  std::shared_ptr<const void> storage() const { return map_; }
  // The mapping itself, for a holder that releases pages after this object is gone.
  std::shared_ptr<const MappedFile> mapped_file() const { return map_; }
  // Drops the pages of `b` from the resident set (MappedFile::release); the bytes stay readable.
  void release(const Bytes& b) const;

 private:
  std::string path_;
  std::shared_ptr<const MappedFile> map_;
  Metadata meta_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, size_t> index_;
  Bytes ple_;
};

// Which blob of the current tensor write() fills.
enum class Part { Data, Scales, ZeroPoints };

class NativeWriter {
 public:
  // Plans the layout: tensors of the main section first (in the given order), then the per-layer
  // embedding ones. FormatError naming the tensor for a duplicate name or an inconsistent desc.
  NativeWriter(const std::string& path, Metadata meta, std::vector<TensorDesc> tensors);
  ~NativeWriter();
  NativeWriter(const NativeWriter&) = delete;
  NativeWriter& operator=(const NativeWriter&) = delete;

  // The tensors in the order their bytes must come.
  const std::vector<TensorDesc>& tensors() const { return tensors_; }
  // The next `n` bytes of `part` of tensor `name`, which must be the one being written: each tensor's
  // data, then its scales, then its zero points, in tensors() order.
  void write(const std::string& name, Part part, const void* data, size_t n);
  // Every byte written: header completed with the checksums, file renamed into place.
  void finish();
  uint64_t file_size() const { return file_size_; }

 private:
  struct Slot {
    size_t tensor;
    Part part;
    uint64_t offset, size;
    uint32_t crc = 0;
  };
  void advance();
  std::string serialize_header() const;

  std::string path_;
  Metadata meta_;
  std::vector<TensorDesc> tensors_;
  std::vector<Slot> slots_;
  size_t cur_ = 0;       // slot being written
  uint64_t left_ = 0;    // its bytes still to come
  uint64_t header_bytes_ = 0, data_offset_ = 0, data_size_ = 0, ple_offset_ = 0, ple_size_ = 0, file_size_ = 0;
  std::unique_ptr<AtomicFile> out_;
};

}  // namespace gq::native
