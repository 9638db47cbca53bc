// GGUF writer and strict reader: round trips of every value and tensor type, streaming in odd
// chunks, golden bytes of a tiny file, and malformed files rejected with one clear line.
#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/error.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::read_bytes;
using test::TempDir;

// Little-endian byte builder for hand-made (and broken) files.
struct Bytes {
  std::vector<uint8_t> b;
  Bytes& u8(uint8_t v) { b.push_back(v); return *this; }
  Bytes& u32(uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); return *this; }
  Bytes& u64(uint64_t v) { for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i))); return *this; }
  Bytes& str(const std::string& s) { u64(s.size()); b.insert(b.end(), s.begin(), s.end()); return *this; }
  Bytes& f32(float v) { uint32_t u; std::memcpy(&u, &v, 4); return u32(u); }
  Bytes& zeros(size_t n) { b.insert(b.end(), n, 0); return *this; }
  Bytes& pad(size_t a) { return zeros((a - b.size() % a) % a); }
};

// The golden file: one string key, one F32 tensor "t" = {1, -2}.
Bytes golden() {
  Bytes g;
  g.u8('G').u8('G').u8('U').u8('F').u32(3).u64(1).u64(1);
  g.str("general.architecture").u32(8).str("x");
  g.str("t").u32(1).u64(2).u32(0).u64(0);
  g.pad(32);
  g.f32(1.0f).f32(-2.0f).pad(32);
  return g;
}

GgufFile parse(const Bytes& b) { return GgufFile::parse(b.b.data(), b.b.size(), "mem.gguf"); }

// ---- types ----

TEST(GgmlTypes, SizesMatchGgml) {
  EXPECT_EQ(ggml_row_bytes(GgmlType::F32, 10), 40u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::F16, 10), 20u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::BF16, 10), 20u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 64), 68u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q4_0, 64), 36u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q2_0, 128), 36u);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q6_K, 256), 210u);
  EXPECT_EQ(ggml_type_info(4), nullptr);   // Q4_2, removed
  EXPECT_EQ(ggml_type_info(31), nullptr);  // Q4_0_4_4, removed from files
  EXPECT_EQ(ggml_type_info(43), nullptr);
  EXPECT_STREQ(ggml_type_name(GgmlType::Q2_0), "Q2_0");
  EXPECT_EQ(*ggml_type_from_name("q4_0"), GgmlType::Q4_0);
  EXPECT_EQ(*ggml_type_from_name("BF16"), GgmlType::BF16);
  EXPECT_FALSE(ggml_type_from_name("q5_k_m"));
  EXPECT_NE(error_of([] { ggml_row_bytes(GgmlType::Q4_0, 48); }).find("multiple of 32"), std::string::npos);
}

TEST(GgufValue, TypedAccessorsAreExact) {
  EXPECT_EQ(GgufValue::u32(7).as_u32(), 7u);
  EXPECT_EQ(GgufValue::i32(-7).as_int(), -7);
  EXPECT_EQ(GgufValue::f32(0.5f).as_f32(), 0.5f);
  EXPECT_TRUE(GgufValue::boolean(true).as_bool());
  EXPECT_EQ(GgufValue::str("a").as_str(), "a");
  EXPECT_EQ(GgufValue::bool_array({true, false}).as_bool_array(), (std::vector<bool>{true, false}));
  EXPECT_EQ(error_of([] { GgufValue::i32(1).as_u32(); }), "expected UINT32, got INT32");
  EXPECT_EQ(error_of([] { GgufValue::i32_array({1}).as_u32(); }), "expected UINT32, got ARRAY of INT32");
  EXPECT_EQ(error_of([] { GgufValue::u32(1).as_i32_array(); }), "expected ARRAY of INT32, got UINT32");
}

// ---- writer + reader ----

TEST(Gguf, GoldenBytes) {
  TempDir d;
  GgufWriter w(d.file("g.gguf"));
  w.add("general.architecture", GgufValue::str("x"));
  w.add_tensor("t", GgmlType::F32, {2});
  EXPECT_EQ(w.data_start(), 128u);
  EXPECT_EQ(w.file_size(), 160u);
  const float data[2] = {1.0f, -2.0f};
  w.write(data, sizeof data);
  w.finish();
  EXPECT_EQ(read_bytes(d.file("g.gguf")), golden().b);
  const GgufFile f = GgufFile::open(d.file("g.gguf"));
  EXPECT_EQ(f.get_str("general.architecture"), "x");
  EXPECT_EQ(f.data_start(), 128u);
  float back[2];
  std::memcpy(back, f.tensor_data(f.tensor("t")), 8);
  EXPECT_EQ(back[1], -2.0f);
}

TEST(Gguf, RoundTripEveryValueAndTensorType) {
  TempDir d;
  const std::string path = d.file("all.gguf");
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"a.u8", GgufValue::u8(200)},          {"a.i8", GgufValue::i8(-100)},
      {"a.u16", GgufValue::u16(60000)},      {"a.i16", GgufValue::i16(-30000)},
      {"a.u32", GgufValue::u32(4000000000u)}, {"a.i32", GgufValue::i32(-2000000000)},
      {"a.f32", GgufValue::f32(1e30f)},      {"a.bool", GgufValue::boolean(true)},
      {"a.str", GgufValue::str("\xe2\x96\x81hello")}, {"a.u64", GgufValue::u64(~uint64_t(0))},
      {"a.i64", GgufValue::i64(-5)},         {"a.f64", GgufValue::f64(0.1)},
      {"b.i32s", GgufValue::i32_array({1, -2, 3})}, {"b.f32s", GgufValue::f32_array({0.5f, -1.0f})},
      {"b.bools", GgufValue::bool_array({true, false, true})}, {"b.strs", GgufValue::str_array({"", "a b", "\n"})},
      {"b.empty", GgufValue::str_array({})}, {"b.u8s", GgufValue::raw_array(GgufType::UINT8, {1, 2, 3})},
  };
  struct T {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
  };
  const std::vector<T> tensors = {{"f32", GgmlType::F32, {3}},           {"f16", GgmlType::F16, {5, 3}},
                                  {"bf16", GgmlType::BF16, {7, 1, 2}},  {"q8", GgmlType::Q8_0, {64, 2}},
                                  {"q4", GgmlType::Q4_0, {32, 3, 2}},   {"q2", GgmlType::Q2_0, {128, 1}},
                                  {"empty", GgmlType::F32, {0, 4}},     {"last", GgmlType::F16, {1}}};
  GgufWriter w(path);
  for (auto& [k, v] : kv) w.add(k, v);
  for (const T& t : tensors) w.add_tensor(t.name, t.type, t.ne);
  // Stream all data as one pattern in chunks of 7 bytes, crossing tensor boundaries.
  std::vector<uint8_t> all;
  for (const GgufTensorInfo& t : w.tensors())
    for (uint64_t i = 0; i < t.nbytes; ++i) all.push_back(uint8_t(i * 31 + t.name.size()));
  for (size_t i = 0; i < all.size(); i += 7) w.write(all.data() + i, std::min<size_t>(7, all.size() - i));
  w.finish();

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.kv().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f.kv()[i].first, kv[i].first);
    EXPECT_EQ(f.kv()[i].second, kv[i].second) << kv[i].first;
  }
  EXPECT_EQ(f.get("b.strs").as_str_array()[1], "a b");
  EXPECT_EQ(f.get("a.u64").as_u64(), ~uint64_t(0));
  ASSERT_EQ(f.tensors().size(), tensors.size());
  size_t off = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, tensors[i].name);
    EXPECT_EQ(t.type, tensors[i].type);
    EXPECT_EQ(t.ne, tensors[i].ne);
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ(t.nbytes, w.tensors()[i].nbytes);
    EXPECT_EQ(std::memcmp(f.tensor_data(t), all.data() + off, t.nbytes), 0) << t.name;
    off += t.nbytes;
  }
  EXPECT_EQ(f.tensor("q4").nbytes, 6u * 18);
  EXPECT_EQ(f.tensor("q2").nbytes, 2u * 18);
  EXPECT_EQ(f.size(), w.file_size());
}

TEST(Gguf, AlignmentKeyIsHonoured) {
  TempDir d;
  GgufWriter w(d.file("a.gguf"));
  w.add_tensor("a", GgmlType::F32, {3});
  w.add("general.alignment", GgufValue::u32(64));
  w.add_tensor("b", GgmlType::F32, {3});
  EXPECT_EQ(w.tensors()[1].offset, 64u);
  const std::vector<float> z(6, 0.0f);
  w.write(z.data(), 24);
  w.finish();
  const GgufFile f = GgufFile::open(d.file("a.gguf"));
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_start() % 64, 0u);
  EXPECT_EQ(f.tensor("b").offset, 64u);
  EXPECT_NE(error_of([&] { GgufWriter(d.file("x")).add("general.alignment", GgufValue::u32(48)); }).find("power of two"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GgufWriter(d.file("x")).add("general.alignment", GgufValue::i32(32)); }).find("UINT32"),
            std::string::npos);
}

TEST(Gguf, WriterRefusesBadInputAndLeavesNoFile) {
  TempDir d;
  const std::string p = d.file("w.gguf");
  {
    GgufWriter w(p);
    w.add("k", GgufValue::u32(1));
    EXPECT_NE(error_of([&] { w.add("k", GgufValue::u32(2)); }).find("duplicate metadata key 'k'"), std::string::npos);
    EXPECT_NE(error_of([&] { w.add("", GgufValue::u32(2)); }).find("empty"), std::string::npos);
    w.add_tensor("t", GgmlType::Q4_0, {32});
    EXPECT_NE(error_of([&] { w.add_tensor("t", GgmlType::F32, {1}); }).find("duplicate tensor name"), std::string::npos);
    EXPECT_NE(error_of([&] { w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}); }).find("1 to 63 bytes"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.add_tensor("q", GgmlType::Q4_0, {16}); }).find("tensor 'q': Q4_0 needs rows"),
              std::string::npos);
    EXPECT_NE(error_of([&] { w.add_tensor("q", GgmlType::F32, {1, 1, 1, 1, 1}); }).find("5 dimensions"), std::string::npos);
    EXPECT_NE(error_of([&] { w.add_tensor("q", GgmlType(4), {1}); }).find("unknown ggml type 4"), std::string::npos);
    const uint8_t half[9] = {};
    w.write(half, 9);
    EXPECT_NE(error_of([&] { w.add("late", GgufValue::u32(1)); }).find("after the tensor data started"), std::string::npos);
    EXPECT_NE(error_of([&] { w.finish(); }).find("tensor 't' has 9 of 18 bytes written"), std::string::npos);
    const uint8_t more[10] = {};
    EXPECT_NE(error_of([&] { w.write(more, 10); }).find("more tensor data"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_EQ(d.names(), std::vector<std::string>{}) << "temporary file left behind";
}

// ---- malformed files ----

TEST(GgufReader, AcceptsTheGoldenFile) {
  const GgufFile f = parse(golden());
  EXPECT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.get_str("general.architecture"), "x");
  EXPECT_NE(error_of([&] { f.get_u32("general.architecture"); }).find("mem.gguf: key 'general.architecture': expected UINT32, got STRING"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get("nope"); }).find("mem.gguf: key 'nope' is missing"), std::string::npos);
  EXPECT_NE(error_of([&] { f.tensor("nope"); }).find("tensor 'nope' is missing"), std::string::npos);
}

void expect_rejected(const Bytes& b, const std::string& fragment) {
  const std::string msg = error_of([&] { parse(b); });
  EXPECT_EQ(msg.rfind("mem.gguf: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(fragment), std::string::npos) << "message: " << msg << "\nexpected to contain: " << fragment;
}

// Header with n tensors and n_kv keys, then `rest`.
Bytes header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
  Bytes g;
  g.u8('G').u8('G').u8('U').u8('F').u32(version).u64(n_tensors).u64(n_kv);
  return g;
}

TEST(GgufReader, RejectsBadHeaders) {
  expect_rejected(Bytes{{'G', 'G'}}, "too short");
  Bytes magic = golden();
  magic.b[0] = 'X';
  expect_rejected(magic, "not a GGUF file");
  expect_rejected(header(0, 0, 1), "version 1 is no longer supported");
  expect_rejected(header(0, 0, 4), "version 4 is newer than 3");
  expect_rejected(header(0, 0, 0x03000000), "byte-swapped");
  expect_rejected(header(1000000, 0), "tensor count 1000000 does not fit");
  expect_rejected(header(0, uint64_t(-1)), "metadata count -1");
  Bytes cut = header(0, 0);
  cut.b.resize(20);
  expect_rejected(cut, "metadata count: needs 8 bytes at offset 16");
}

TEST(GgufReader, RejectsBadMetadata) {
  expect_rejected(header(0, 1).str("k").u32(13).u32(0), "key 'k': invalid GGUF value type 13");
  expect_rejected(header(0, 1).str("k").u32(9).u32(9).u64(0), "key 'k': arrays of arrays");
  expect_rejected(header(0, 1).str("k").u32(9).u32(99).u64(0), "invalid GGUF array element type 99");
  expect_rejected(header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(1), "duplicate metadata key 'k'");
  expect_rejected(header(0, 1).str("").u32(4).u32(1), "metadata key 0 is empty");
  expect_rejected(header(0, 1).str("k").u32(8).u64(1000).zeros(4), "string length 1000 exceeds the");
  expect_rejected(header(0, 1).str("k").u32(8).u64(uint64_t(1) << 40), "exceeds ggml's limit of 1 GiB");
  expect_rejected(header(0, 1).str("k").u32(9).u32(4).u64(100).u32(1), "100 values of UINT32 run past the end");
  expect_rejected(header(0, 1).str("k").u32(9).u32(8).u64(uint64_t(1) << 31), "array length 2147483648 exceeds");
  expect_rejected(header(0, 1).str("k").u32(7).u8(2), "key 'k': bool value 2 is not 0 or 1");
  expect_rejected(header(0, 1).str("k").u32(4).zeros(2), "key 'k': its UINT32 value runs past the end of the file");
  expect_rejected(header(0, 1).str("general.alignment").u32(5).u32(32), "'general.alignment' must be UINT32, got INT32");
  expect_rejected(header(0, 1).str("general.alignment").u32(4).u32(48), "general.alignment' = 48 is not a power of 2");
}

// One tensor info (after a 0-key header) and a data section of `data` bytes.
Bytes one_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data) {
  Bytes g = header(1, 0);
  g.str(name).u32(uint32_t(ne.size()));
  for (uint64_t e : ne) g.u64(e);
  g.u32(type).u64(offset).pad(32).zeros(data);
  return g;
}

TEST(GgufReader, RejectsBadTensorInfos) {
  EXPECT_NO_THROW(parse(one_tensor("t", {32, 2}, 2, 0, 36)));
  expect_rejected(one_tensor(std::string(64, 'n'), {1}, 0, 0, 32), "is 64 bytes (ggml allows 63)");
  expect_rejected(one_tensor("", {1}, 0, 0, 32), "empty name");
  expect_rejected(one_tensor("t", {1, 1, 1, 1, 1}, 0, 0, 32), "tensor 't': 5 dimensions");
  expect_rejected(one_tensor("t", {uint64_t(-3)}, 0, 0, 32), "tensor 't': dimension 0 is negative");
  expect_rejected(one_tensor("t", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0, 32), "element count overflows");
  expect_rejected(one_tensor("t", {1}, 4, 0, 32), "tensor 't': unknown or removed ggml type 4");
  expect_rejected(one_tensor("t", {1}, 43, 0, 32), "unknown or removed ggml type 43");
  expect_rejected(one_tensor("t", {16}, 2, 0, 32), "tensor 't': Q4_0 rows need a multiple of 32 values, got 16");
  expect_rejected(one_tensor("t", {1}, 0, 32, 64), "tensor 't': offset 32, expected 0");
  expect_rejected(one_tensor("t", {64}, 0, 0, 100), "tensor 't': data [");
  Bytes two = header(2, 0);
  two.str("t").u32(1).u64(1).u32(0).u64(0).str("t").u32(1).u64(1).u32(0).u64(32).pad(32).zeros(64);
  expect_rejected(two, "duplicate tensor name 't'");
  Bytes gap = header(2, 0);  // second tensor placed after a gap: ggml refuses any layout but back to back
  gap.str("a").u32(1).u64(1).u32(0).u64(0).str("b").u32(1).u64(1).u32(0).u64(64).pad(32).zeros(96);
  expect_rejected(gap, "tensor 'b': offset 64, expected 32");
  Bytes overlap = header(2, 0);
  overlap.str("a").u32(1).u64(16).u32(0).u64(0).str("b").u32(1).u64(1).u32(0).u64(32).pad(32).zeros(96);
  expect_rejected(overlap, "tensor 'b': offset 32, expected 64");
}

TEST(GgufReader, RejectsTruncatedData) {
  Bytes g = golden();
  g.b.resize(g.b.size() - 28);  // the 8 data bytes end 4 bytes early
  expect_rejected(g, "tensor 't': data [128, 136) is not within the file (132 bytes; truncated?)");
  Bytes h = golden();
  h.b.resize(100);
  expect_rejected(h, "the data section would start at byte 128");
}

}  // namespace
}  // namespace gq
