// The native format's container: write / read round trip, and corruption: every byte of a small
// file flipped and every truncation rejected with a one-line FormatError naming the field or
// tensor, never a crash (tests/contract checks a real export the same way, on a sample of bytes).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "formats/native_format.h"
#include "io/crc32c.h"
#include "io/half.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

using native::Encoding;
using native::NativeFile;
using native::NativeWriter;
using native::Part;
using native::Section;
using native::TensorDesc;

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = uint8_t(g());
  return v;
}

TensorDesc float_tensor(const std::string& name, std::vector<int64_t> shape, DType t, Section s = Section::Main) {
  TensorDesc d;
  d.name = name;
  d.shape = std::move(shape);
  d.dtype = t;
  d.section = s;
  return d;
}

TensorDesc quantized(const std::string& name, std::vector<int64_t> shape, const std::string& scheme, Section s = Section::Main) {
  TensorDesc d;
  d.name = name;
  d.module = name.substr(0, name.rfind('.'));
  d.shape = std::move(shape);
  d.scheme = quant::parse_weight_scheme(scheme);
  d.encoding = native::encoding_of(d.scheme);
  d.section = s;
  return d;
}

native::Metadata small_metadata() {
  native::Metadata m;
  m.config_json = R"({"model_type": "gemma4_text"})";
  m.recipe = "test";
  m.float_dtype = DType::BF16;
  m.kv_cache = quant::parse_kv_scheme("kv_q8_0");
  m.tokenizer_json = R"({"model": {}})";
  m.activations["a.q_proj"].input = native::ActivationQuant{quant::parse_activation_scheme("int8_sym@bf16"), {0.125f, 0}};
  m.activations["a.q_proj"].output = native::ActivationQuant{quant::parse_activation_scheme("int8_sym@bf16"), {0.5f, 0}};
  m.activations["lm_head"].input = native::ActivationQuant{quant::parse_activation_scheme("int8_asym"), {0.25f, -3}};
  return m;
}

// A file with every encoding and both sections; returns the blobs written, by tensor and part.
std::map<std::string, std::vector<uint8_t>> write_small(const std::string& path) {
  std::vector<TensorDesc> t = {
      float_tensor("norm.weight", {8}, DType::F32),
      quantized("a.q_proj.weight", {4, 64}, "q4_0"),
      quantized("a.k_proj.weight", {3, 64}, "int4_channel@bf16"),
      quantized("a.v_proj.weight", {2, 64}, "int4_g32_asym@f16"),
      float_tensor("embed_tokens_per_layer.weight", {5, 6}, DType::BF16, Section::PerLayerEmbedding),
      quantized("lm_head.weight", {3, 10}, "int2_channel"),
  };
  NativeWriter w(path, small_metadata(), t);
  std::map<std::string, std::vector<uint8_t>> blobs;
  uint32_t seed = 1;
  for (const TensorDesc& d : w.tensors()) {
    const native::BlobSizes b = native::blob_sizes(d, d.name);
    for (const auto& [part, n] : {std::pair<Part, uint64_t>{Part::Data, b.data}, {Part::Scales, b.scales}, {Part::ZeroPoints, b.zero_points}}) {
      if (!n) continue;
      const std::vector<uint8_t> v = pattern(size_t(n), seed++);
      // Two writes per blob: streaming in pieces.
      w.write(d.name, part, v.data(), v.size() / 2);
      w.write(d.name, part, v.data() + v.size() / 2, v.size() - v.size() / 2);
      blobs[d.name + "/" + std::to_string(int(part))] = v;
    }
  }
  w.finish();
  return blobs;
}

TEST(Crc32c, KnownValuesAndContinuation) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::vector<uint8_t> v = pattern(1000, 7);
  EXPECT_EQ(crc32c(v.data() + 123, 877, crc32c(v.data(), 123)), crc32c(v.data(), v.size()));
}

TEST(NativeFormat, RoundTrip) {
  test::TempDir d;
  const auto blobs = write_small(d.file("m.gqn"));
  const NativeFile f = NativeFile::open(d.file("m.gqn"));
  const std::vector<uint8_t> bytes = test::read_bytes(d.file("m.gqn"));
  EXPECT_EQ(f.file_size(), bytes.size());
  EXPECT_EQ(f.file_size() % native::kAlignment, 0u);
  EXPECT_EQ(std::memcmp(bytes.data(), "GQNATIVE", 8), 0);
  const native::Metadata& m = f.metadata();
  EXPECT_EQ(m.config_json, small_metadata().config_json);
  EXPECT_EQ(m.tokenizer_json, small_metadata().tokenizer_json);
  EXPECT_EQ(m.float_dtype, DType::BF16);
  ASSERT_TRUE(m.kv_cache);
  EXPECT_EQ(quant::kv_scheme_name(*m.kv_cache), "kv_q8_0");
  ASSERT_EQ(m.activations.size(), 2u);
  EXPECT_EQ(m.activations.at("a.q_proj").output->params.scale, 0.5f);
  EXPECT_EQ(m.activations.at("lm_head").input->params.zero_point, -3);
  EXPECT_FALSE(m.activations.at("lm_head").output);
  // Main-section tensors first, the per-layer embedding table last, in its own section.
  ASSERT_EQ(f.tensors().size(), 6u);
  EXPECT_EQ(f.tensors().back().desc.name, "embed_tokens_per_layer.weight");
  EXPECT_EQ(f.per_layer_section().offset, f.tensors().back().data.offset);
  for (const native::TensorEntry& e : f.tensors()) {
    for (const auto& [part, b] : {std::pair<int, native::Bytes>{0, e.data}, {1, e.scales}, {2, e.zero_points}}) {
      auto it = blobs.find(e.desc.name + "/" + std::to_string(part));
      if (it == blobs.end()) {
        EXPECT_EQ(b.size, 0u) << e.desc.name;
        continue;
      }
      EXPECT_EQ(b.offset % native::kAlignment, 0u) << e.desc.name;
      ASSERT_EQ(b.size, it->second.size()) << e.desc.name;
      EXPECT_EQ(std::memcmp(b.data, it->second.data(), size_t(b.size)), 0) << e.desc.name;
    }
  }
  const native::TensorEntry* v = f.find("a.v_proj.weight");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(quant::weight_scheme_name(v->desc.scheme), "int4_g32_asym@f16");
  EXPECT_EQ(v->scales.size, 2u * 2 * 2);  // 2 rows x 2 groups x f16
  EXPECT_EQ(v->zero_points.size, 2u * 2);
  EXPECT_EQ(f.find("a.k_proj.weight")->data.size, 3u * 32);  // 64 int4 levels: 32 bytes a row
  EXPECT_EQ(f.find("lm_head.weight")->data.size, 3u * 3);    // 10 int2 levels: 3 bytes a row
}

// Every byte of the file flipped, one at a time: each copy is refused with one line naming what is
// wrong (the preamble, the header, a tensor's blob, padding), never opened, never a crash.
TEST(NativeFormat, EveryFlippedByteIsRejected) {
  test::TempDir d;
  write_small(d.file("m.gqn"));
  const std::vector<uint8_t> good = test::read_bytes(d.file("m.gqn"));
  std::map<std::string, size_t> by_kind;
  for (size_t i = 0; i < good.size(); ++i) {
    // All bits of even bytes, the lowest bit of odd ones.
    for (uint8_t mask : {uint8_t(i % 2 ? 0x01 : 0xFF)}) {
      std::vector<uint8_t> bad = good;
      bad[i] ^= mask;
      test::write_file(d.file("bad.gqn"), std::string(bad.begin(), bad.end()));
      const std::string e = test::error_of([&] { NativeFile::open(d.file("bad.gqn")); });
      ASSERT_FALSE(e.empty()) << "byte " << i << " ^ " << int(mask) << " was accepted";
      EXPECT_CONTAINS(e, d.file("bad.gqn"));
      const std::string kind = e.find("checksum mismatch") != std::string::npos ? "checksum"
                               : e.find("padding") != std::string::npos        ? "padding"
                                                                              : "other";
      ++by_kind[kind];
    }
  }
  EXPECT_GT(by_kind["checksum"], good.size() / 2);  // data and header bytes
  EXPECT_GT(by_kind["padding"], 0u);
  std::printf("%zu bytes flipped: %zu checksum, %zu padding, %zu other rejections\n", good.size(), by_kind["checksum"],
              by_kind["padding"], by_kind["other"]);
}

TEST(NativeFormat, EveryTruncationIsRejected) {
  test::TempDir d;
  write_small(d.file("m.gqn"));
  const std::string good = test::read_file(d.file("m.gqn"));
  for (size_t n = 0; n < good.size(); ++n) {
    test::write_file(d.file("cut.gqn"), good.substr(0, n));
    const std::string e = test::error_of([&] { NativeFile::open(d.file("cut.gqn")); });
    ASSERT_FALSE(e.empty()) << "truncated at " << n << " was accepted";
    if (n >= native::kPreambleBytes + 200) EXPECT_CONTAINS(e, "truncated");
  }
  test::write_file(d.file("long.gqn"), good + std::string(64, '\0'));
  EXPECT_CONTAINS(test::error_of([&] { NativeFile::open(d.file("long.gqn")); }), "header.file_size");
}

TEST(NativeFormat, ErrorsNameTheFieldOrTensor) {
  test::TempDir d;
  write_small(d.file("m.gqn"));
  const std::string good = test::read_file(d.file("m.gqn"));
  auto with = [&](size_t at, uint8_t v) {
    std::string s = good;
    s[at] = char(v);
    test::write_file(d.file("x.gqn"), s);
    return test::error_of([&] { NativeFile::open(d.file("x.gqn")); });
  };
  EXPECT_CONTAINS(with(0, 'X'), "magic");
  EXPECT_CONTAINS(with(9, 1), "preamble: checksum mismatch");
  EXPECT_CONTAINS(with(40, good[40] ^ 1), "header: checksum mismatch");
  const NativeFile f = NativeFile::open(d.file("m.gqn"));
  EXPECT_CONTAINS(with(size_t(f.find("a.k_proj.weight")->scales.offset + 1), 0x7F), "tensor 'a.k_proj.weight'.scales: checksum mismatch");
  EXPECT_CONTAINS(with(size_t(f.per_layer_section().offset), 0x55), "tensor 'embed_tokens_per_layer.weight'.data: checksum mismatch");
  // Without checksum verification a flipped data byte goes through (the structure is still checked).
  std::string s = good;
  s[size_t(f.find("norm.weight")->data.offset)] ^= 1;
  test::write_file(d.file("y.gqn"), s);
  EXPECT_NO_THROW(NativeFile::open(d.file("y.gqn"), native::ReadOptions{false}));
  EXPECT_ANY_THROW(NativeFile::open(d.file("y.gqn")));
}

TEST(NativeFormat, WriterRefusesWhatTheFormatCannotHold) {
  test::TempDir d;
  EXPECT_CONTAINS(test::error_of([&] { NativeWriter(d.file("a.gqn"), small_metadata(), {quantized("x.weight", {2, 48}, "q4_0")}); }),
                  "tensor 'x.weight'");
  EXPECT_CONTAINS(test::error_of([&] { NativeWriter(d.file("a.gqn"), small_metadata(), {float_tensor("y", {2, 0}, DType::F32)}); }),
                  "tensor 'y': shape");
  EXPECT_CONTAINS(test::error_of([&] { NativeWriter(d.file("a.gqn"), small_metadata(), {float_tensor("z", {2}, DType::I8)}); }),
                  "not a float dtype");
  EXPECT_CONTAINS(test::error_of([&] {
                    NativeWriter(d.file("a.gqn"), small_metadata(), {float_tensor("z", {2}, DType::F32), float_tensor("z", {2}, DType::F32)});
                  }),
                  "written twice");
  // An unfinished writer leaves nothing behind.
  { NativeWriter w(d.file("b.gqn"), small_metadata(), {float_tensor("z", {2}, DType::F32)}); }
  EXPECT_FALSE(std::filesystem::exists(d.file("b.gqn")));
}

}  // namespace
}  // namespace gq
