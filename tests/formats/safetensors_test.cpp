// safetensors reading, validation, writing and checkpoint folders, plus the real tiny Gemma 4
// fixtures under GQ_TEST_DATA.
#include "formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/error.h"
#include "io/half.h"
#include "tests/common/test_util.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::read_file;
using test::write_file;

// ---- helpers ----

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A safetensors file from its parts: the header length is header.size().
std::string raw_safetensors(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

// Each test gets a fresh folder under the system temp dir, removed afterwards.
class SafetensorsTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path().string(); }
  std::string path(const std::string& name) const { return tmp_.file(name); }

  // Writes a raw file and returns the message SafetensorsFile::open throws for it.
  std::string open_error(const std::string& header, const std::string& data = "") {
    const std::string p = path("bad.safetensors");
    write_file(p, raw_safetensors(header, data));
    return error_of([&] { SafetensorsFile::open(p); });
  }

  std::vector<std::string> files_in_dir() const { return tmp_.names(); }

  test::TempDir tmp_;
};

const std::string kF32Pair = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

// ---- round trip and layout ----

TEST_F(SafetensorsTest, RoundTripsDtypesAndShapes) {
  const std::vector<float> f32 = {1.5f, -2.25f, 3.0f, 0.0f, -0.0f, 1e-30f};
  const std::vector<double> f64 = {3.141592653589793, -1e300};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4049, 0xff80};
  const std::vector<int64_t> i64 = {-1, int64_t(1) << 40, 7};
  const std::vector<int32_t> i32 = {-123456};
  const std::vector<int16_t> i16 = {1, -2, 3, -4};
  const std::vector<int8_t> i8 = {-128, 127, 0, 5, 9};
  const std::vector<uint8_t> u8 = {255, 0, 17};
  const std::vector<uint8_t> boolean = {1, 0, 1};
  const std::vector<TensorToWrite> tensors = {
      {"a.f32", DType::F32, {2, 3}, f32.data(), 24},
      {"b.f64", DType::F64, {2}, f64.data(), 16},
      {"c.f16", DType::F16, {2, 2}, f16.data(), 8},
      {"d.bf16", DType::BF16, {3, 1}, bf16.data(), 6},
      {"e.scalar", DType::I32, {}, i32.data(), 4},
      {"f.empty", DType::F32, {0, 4}, nullptr, 0},
      {"g.i64", DType::I64, {3}, i64.data(), 24},
      {"h.i16", DType::I16, {1, 2, 2}, i16.data(), 8},
      {"i.i8", DType::I8, {5}, i8.data(), 5},
      {"j.u8", DType::U8, {3}, u8.data(), 3},
      {"k.bool", DType::BOOL, {3}, boolean.data(), 3},
      {"l.empty1d", DType::BF16, {0}, nullptr, 0},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "ünïcode"}};
  write_safetensors(path("m.safetensors"), tensors, metadata);

  const auto file = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_EQ(file->metadata(), metadata);
  // Offset order: larger element sizes first (no holes, every tensor aligned), given order within a
  // size; empty tensors share their offset and come out by name.
  std::vector<uint64_t> begins;
  for (const std::string& n : file->names()) begins.push_back(uint64_t(file->tensor(n).data - file->tensor(file->names()[0]).data));
  EXPECT_TRUE(std::is_sorted(begins.begin(), begins.end()));
  std::vector<std::string> written, got = file->names();
  for (const auto& t : tensors) written.push_back(t.name);
  std::sort(written.begin(), written.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, written);
  for (const std::string& n : file->names()) {
    const TensorView& v = file->tensor(n);
    EXPECT_EQ(uintptr_t(v.data) % dtype_size(v.dtype), uintptr_t(file->tensor(file->names()[0]).data) % dtype_size(v.dtype)) << n;
  }
  for (const auto& t : tensors) {
    SCOPED_TRACE(t.name);
    const TensorView& v = file->tensor(t.name);
    EXPECT_EQ(v.name, t.name);
    EXPECT_EQ(v.file, path("m.safetensors"));
    EXPECT_EQ(v.dtype, t.dtype);
    EXPECT_EQ(v.shape, t.shape);
    EXPECT_EQ(v.nbytes, t.nbytes);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v.data), v.nbytes),
              std::string(static_cast<const char*>(t.data ? t.data : ""), t.nbytes));
  }
  EXPECT_EQ(file->tensor("e.scalar").numel(), 1);
  EXPECT_EQ(file->tensor("f.empty").numel(), 0);
  EXPECT_EQ(file->tensor("h.i16").numel(), 4);
  EXPECT_TRUE(file->tensor("f.empty").to_f32().empty());
  EXPECT_EQ(file->tensor("a.f32").to_f32(), f32);
}

TEST_F(SafetensorsTest, WritesPaddedHeaderAndHolelessAlignedData) {
  const std::vector<uint8_t> three = {1, 2, 3};
  const std::vector<float> two = {1, 2};
  write_safetensors(path("m.safetensors"),
                    {{"x", DType::U8, {3}, three.data(), 3},
                     {"y", DType::F32, {2}, two.data(), 8},
                     {"z", DType::U8, {1}, three.data(), 1},
                     {"w", DType::F32, {2}, two.data(), 8}},
                    {{"format", "pt"}});
  const std::string bytes = read_file(path("m.safetensors"));
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  const size_t close = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos)
      << "padding must be spaces";
  EXPECT_LT(header.size() - close, 9u);

  const nlohmann::json h = nlohmann::json::parse(header);
  EXPECT_EQ(h["__metadata__"], (nlohmann::json{{"format", "pt"}}));
  // No holes: F32 tensors first (aligned to 4), then the bytes, in their given order.
  EXPECT_EQ(h["y"]["data_offsets"], (nlohmann::json{0, 8}));
  EXPECT_EQ(h["w"]["data_offsets"], (nlohmann::json{8, 16}));
  EXPECT_EQ(h["x"]["data_offsets"], (nlohmann::json{16, 19}));
  EXPECT_EQ(h["z"]["data_offsets"], (nlohmann::json{19, 20}));
  EXPECT_EQ(bytes.size(), 8 + n + 20);
  // The data sits where the offsets say, with nothing between tensors.
  EXPECT_EQ(bytes.substr(8 + n, 8), bytes_of(two));
  EXPECT_EQ(bytes.substr(8 + n + 8, 8), bytes_of(two));
  EXPECT_EQ(bytes.substr(8 + n + 16, 4), std::string("\x01\x02\x03\x01", 4));
}

TEST_F(SafetensorsTest, OmitsEmptyMetadata) {
  const std::vector<float> two = {1, 2};
  write_safetensors(path("m.safetensors"), {{"y", DType::F32, {2}, two.data(), 8}});
  const std::string bytes = read_file(path("m.safetensors"));
  EXPECT_EQ(bytes.find("__metadata__"), std::string::npos);
  EXPECT_TRUE(SafetensorsFile::open(path("m.safetensors"))->metadata().empty());
}

TEST_F(SafetensorsTest, WritesAnEmptyFile) {
  write_safetensors(path("m.safetensors"), {});
  const auto file = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_TRUE(file->names().empty());
}

TEST_F(SafetensorsTest, WriteValidatesEveryTensorBeforeWriting) {
  const std::vector<float> two = {1, 2};
  write_safetensors(path("m.safetensors"), {{"old", DType::F32, {2}, two.data(), 8}});
  const std::string before = read_file(path("m.safetensors"));
  const TensorToWrite good = {"good", DType::F32, {2}, two.data(), 8};
  const auto try_write = [&](const TensorToWrite& bad) {
    return error_of([&] { write_safetensors(path("m.safetensors"), {good, bad}); });
  };

  std::string msg = try_write({"w", DType::F32, {3}, two.data(), 8});
  EXPECT_EQ(msg,
            path("m.safetensors") + ": tensor 'w': holds 8 bytes but shape [3] of F32 needs 12");
  EXPECT_CONTAINS(try_write({"good", DType::F32, {2}, two.data(), 8}),
                  "tensor 'good': appears twice");
  EXPECT_CONTAINS(try_write({"w", DType::F32, {-2}, two.data(), 8}), "negative");
  EXPECT_CONTAINS(try_write({"__metadata__", DType::F32, {2}, two.data(), 8}), "reserved");
  EXPECT_CONTAINS(try_write({"w", DType::F32, {2}, nullptr, 8}), "no data");
  EXPECT_CONTAINS(try_write({"w", DType::F32, {int64_t(1) << 62, 8}, two.data(), 8}), "too large");

  // Nothing was written: the old file is intact and no temporary file is left behind.
  EXPECT_EQ(read_file(path("m.safetensors")), before);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsTest, WriteReplacesAnExistingFile) {
  const std::vector<float> a = {1, 2}, b = {3, 4, 5};
  write_safetensors(path("m.safetensors"), {{"a", DType::F32, {2}, a.data(), 8}});
  write_safetensors(path("m.safetensors"), {{"b", DType::F32, {3}, b.data(), 12}});
  const auto file = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_EQ(file->names(), std::vector<std::string>{"b"});
  EXPECT_EQ(file->tensor("b").to_f32(), b);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsTest, WriteIntoMissingFolderFailsNamingThePath) {
  const std::string target = path("no/such/dir/m.safetensors");
  EXPECT_CONTAINS(error_of([&] { write_safetensors(target, {}); }), target);
}

TEST_F(SafetensorsTest, AtomicFileAppearsOnlyOnCommit) {
  const std::string target = path("out.bin");
  const std::string tmp = target + ".tmp-" + std::to_string(::getpid());
  {
    AtomicFile f(target);
    f.write("abc", 3);
    EXPECT_EQ(f.position(), 3u);
    EXPECT_TRUE(fs::exists(tmp));
    EXPECT_FALSE(fs::exists(target));
  }
  EXPECT_FALSE(fs::exists(tmp)) << "an uncommitted temporary must be removed";
  EXPECT_FALSE(fs::exists(target));

  AtomicFile f(target);
  f.write("abc", 3);
  f.pad_to(8, 'x');
  EXPECT_EQ(f.position(), 8u);
  f.pad_to(8, 'x');  // already aligned: no bytes
  f.write("d", 1);
  f.commit();
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(read_file(target), "abcxxxxxd");
}

// ---- to_f32 ----

TEST_F(SafetensorsTest, ConvertsEveryFloatDtype) {
  const std::vector<double> f64 = {0.1, -1e40, 3.0};
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001};
  const std::vector<uint16_t> bf16 = {0x3f80, 0x4049, 0xff80};
  const std::vector<int32_t> i32 = {1};
  const std::vector<uint8_t> boolean = {1};
  write_safetensors(path("m.safetensors"), {{"f64", DType::F64, {3}, f64.data(), 24},
                                            {"f16", DType::F16, {3}, f16.data(), 6},
                                            {"bf16", DType::BF16, {3}, bf16.data(), 6},
                                            {"i32", DType::I32, {1}, i32.data(), 4},
                                            {"bool", DType::BOOL, {1}, boolean.data(), 1}});
  const auto file = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_EQ(file->tensor("f64").to_f32(), (std::vector<float>{0.1f, -INFINITY, 3.0f}));
  EXPECT_EQ(file->tensor("f16").to_f32(), (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(file->tensor("bf16").to_f32(), (std::vector<float>{1.0f, 3.140625f, -INFINITY}));
  float out[3];
  file->tensor("bf16").to_f32(out);
  EXPECT_EQ(out[1], 3.140625f);

  const std::string msg = error_of([&] { file->tensor("i32").to_f32(); });
  EXPECT_CONTAINS(msg, path("m.safetensors"));
  EXPECT_CONTAINS(msg, "tensor 'i32'");
  EXPECT_CONTAINS(msg, "I32 is not a float type");
  EXPECT_CONTAINS(error_of([&] { file->tensor("bool").to_f32(out); }), "BOOL is not a float type");
}

TEST_F(SafetensorsTest, ReadsUnalignedData) {
  // Padding the header so that 8 + N is 1 mod 8 leaves the F64 misaligned in the mapping.
  const std::string header = R"({"x":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})";
  const std::string padded = header + std::string(9 - header.size() % 8, ' ');
  ASSERT_EQ((8 + padded.size()) % 8, 1u);
  const std::vector<double> v = {-2.5};
  write_file(path("u.safetensors"), raw_safetensors(padded, bytes_of(v)));
  EXPECT_EQ(SafetensorsFile::open(path("u.safetensors"))->tensor("x").to_f32(),
            std::vector<float>{-2.5f});
}

// ---- malformed files ----

TEST_F(SafetensorsTest, RejectsFilesShorterThanTheLengthPrefix) {
  for (const std::string& bytes : {std::string(), std::string("\x02\0\0\0\0", 5)}) {
    write_file(path("short.safetensors"), bytes);
    const std::string msg = error_of([&] { SafetensorsFile::open(path("short.safetensors")); });
    EXPECT_CONTAINS(msg, path("short.safetensors") + ": file is " + std::to_string(bytes.size()) +
                             " bytes, too short");
  }
}

TEST_F(SafetensorsTest, RejectsHeaderLengthBeyondTheFile) {
  const std::string body = "{}";
  for (const uint64_t n : {uint64_t(3), uint64_t(1000), ~uint64_t(0), ~uint64_t(0) - 7}) {
    SCOPED_TRACE(n);
    write_file(path("h.safetensors"), std::string(reinterpret_cast<const char*>(&n), 8) + body);
    EXPECT_CONTAINS(
        error_of([&] { SafetensorsFile::open(path("h.safetensors")); }),
        "header length " + std::to_string(n) + " runs past the end of the file (10 bytes)");
  }
}

TEST_F(SafetensorsTest, RejectsHeaderOverTheSizeLimit) {
  // A sparse file, so the 100 MB cost no disk: the limit is checked before any parsing.
  const uint64_t n = 100'000'001;
  write_file(path("big.safetensors"), std::string(reinterpret_cast<const char*>(&n), 8));
  fs::resize_file(path("big.safetensors"), 8 + n);
  EXPECT_CONTAINS(error_of([&] { SafetensorsFile::open(path("big.safetensors")); }),
                  "header length 100000001 exceeds the 100000000-byte limit");
}

TEST_F(SafetensorsTest, RejectsTruncatedDataBlock) {
  const std::vector<float> v = {1, 2, 3, 4};
  write_safetensors(path("t.safetensors"), {{"w", DType::F32, {4}, v.data(), 16}});
  fs::resize_file(path("t.safetensors"), fs::file_size(path("t.safetensors")) - 4);
  const std::string msg = error_of([&] { SafetensorsFile::open(path("t.safetensors")); });
  EXPECT_EQ(msg,
            path("t.safetensors") +
                ": tensor 'w': data_offsets [0, 16] run past the end of the data block (12 bytes; "
                "truncated file?)");
}

TEST_F(SafetensorsTest, RejectsOffsetsPastTheEnd) {
  const std::string msg = open_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                     std::string(12, 'x'));
  EXPECT_CONTAINS(msg,
                  "tensor 'w': data_offsets [8, 16] run past the end of the data block (12 bytes");
}

TEST_F(SafetensorsTest, RejectsOverlappingTensors) {
  const std::string msg = open_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                     std::string(12, 'x'));
  EXPECT_CONTAINS(
      msg, path("bad.safetensors") + ": tensor 'b': data_offsets [4, 12] overlap tensor 'a'");
}

TEST_F(SafetensorsTest, RejectsOverlapHiddenBehindAnEmptyTensor) {
  // Sorted: a [0,16], e [4,4], c [8,12]. Comparing c with its neighbour e alone would miss it.
  const std::string msg = open_error(R"({"c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                     R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                     R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                     std::string(16, 'x'));
  EXPECT_CONTAINS(msg, "tensor 'c': data_offsets [8, 12] overlap tensor 'a' at [0, 16]");
}

TEST_F(SafetensorsTest, AcceptsEmptyTensorInsideAnotherRange) {
  // An empty tensor owns no byte, so it overlaps nothing wherever its offset points.
  write_file(path("e.safetensors"),
             raw_safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                             R"("e":{"dtype":"F16","shape":[0,2],"data_offsets":[4,4]}})",
                             std::string(16, 'x')));
  EXPECT_EQ(SafetensorsFile::open(path("e.safetensors"))->names(),
            (std::vector<std::string>{"a", "e"}));
}

TEST_F(SafetensorsTest, AcceptsGapsTrailingBytesAndEmptyTensors) {
  const std::string p = path("gaps.safetensors");
  std::vector<float> data(8, 0.0f);
  data[0] = 1;
  data[4] = 5;
  write_file(p, raw_safetensors(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},)"
                                R"("z":{"dtype":"BF16","shape":[3,0],"data_offsets":[20,20]},)"
                                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                R"("__metadata__":{}})",
                                bytes_of(data)));
  const auto file = SafetensorsFile::open(p);
  EXPECT_EQ(file->names(), (std::vector<std::string>{"a", "b", "z"}));
  EXPECT_EQ(file->tensor("b").to_f32(), std::vector<float>{5});
  EXPECT_EQ(file->tensor("z").nbytes, 0u);
  EXPECT_TRUE(file->metadata().empty());
}

TEST_F(SafetensorsTest, RejectsUnknownDtype) {
  const std::string msg =
      open_error(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xx");
  EXPECT_CONTAINS(msg, path("bad.safetensors") + ": tensor 'w': unknown dtype 'F8_E4M3'");
  EXPECT_CONTAINS(
      open_error(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x')),
      "tensor 'w': dtype is not a string");
}

TEST_F(SafetensorsTest, RejectsShapeByteMismatch) {
  const std::string msg =
      open_error(R"({"layers.0.w":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})",
                 std::string(120, 'x'));
  EXPECT_EQ(msg,
            path("bad.safetensors") +
                ": tensor 'layers.0.w': data_offsets [0, 100] hold 100 bytes but shape [5, 6] of "
                "F32 needs 120");
  // A scalar is one element, not zero.
  EXPECT_CONTAINS(open_error(R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,0]}})"),
                  "hold 0 bytes but shape [] of I64 needs 8");
}

TEST_F(SafetensorsTest, RejectsSizesThatOverflow) {
  // 2^32 * 2^32 elements wraps to 0 in 64 bits, which would match the empty range.
  EXPECT_CONTAINS(
      open_error(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
      "tensor 'w': shape [4294967296, 4294967296] of U8 is too large");
  // 2^61 elements fit, but 2^61 * 8 bytes wraps to 0.
  EXPECT_CONTAINS(
      open_error(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})"),
      "is too large");
  // 2^63 + 2^32 one-byte elements: the byte count fits u64 and matches the offsets, but the
  // element count does not fit TensorView's int64.
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"U8","shape":[4294967296,2147483649],)"
                             R"("data_offsets":[0,9223372041149743104]}})"),
                  "is too large");
  // Larger than int64 (it parses as u64 in JSON).
  EXPECT_CONTAINS(
      open_error(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})"),
      "not a non-negative integer");
}

TEST_F(SafetensorsTest, RejectsDuplicateTensorNames) {
  const std::string msg = open_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                                     std::string(16, 'x'));
  EXPECT_EQ(msg, path("bad.safetensors") + ": tensor 'w' appears twice");
}

TEST_F(SafetensorsTest, RejectsDuplicateKeysInsideAnEntry) {
  const std::string msg =
      open_error(R"({"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})",
                 std::string(8, 'x'));
  EXPECT_CONTAINS(msg, "key 'dtype' appears twice in 'w'");
}

TEST_F(SafetensorsTest, RejectsHeaderThatIsNotAnObject) {
  EXPECT_CONTAINS(open_error("[1, 2]"),
                  path("bad.safetensors") + ": header is a JSON array, not an object");
  EXPECT_CONTAINS(open_error(R"("w")"), "header is a JSON string, not an object");
  EXPECT_CONTAINS(open_error(R"({"w": 5})"), "tensor 'w': entry is not a JSON object");
}

TEST_F(SafetensorsTest, RejectsMalformedJson) {
  EXPECT_CONTAINS(open_error(R"({"w": {"dtype": "F32")"),
                  path("bad.safetensors") + ": invalid JSON");
  EXPECT_CONTAINS(open_error("{} trailing"), "invalid JSON");
  EXPECT_CONTAINS(open_error("        "), "invalid JSON");
  EXPECT_CONTAINS(open_error("{/* c */}"), "invalid JSON");
  EXPECT_CONTAINS(open_error("{\"__metadata__\": {\"x\": 1e400}}"), "invalid JSON");  // nlohmann's out_of_range, named
  EXPECT_CONTAINS(open_error(std::string("{\"\xff\":1}")), "invalid JSON");  // not UTF-8
}

TEST_F(SafetensorsTest, RejectsBadShapes) {
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})",
                             std::string(8, 'x')),
                  "tensor 'w': shape -1 is not a non-negative integer in [-1,2]");
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})",
                             std::string(8, 'x')),
                  "not a non-negative integer");
  EXPECT_CONTAINS(
      open_error(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", std::string(8, 'x')),
      "shape is not an array");
}

TEST_F(SafetensorsTest, RejectsBadOffsets) {
  const auto with_offsets = [&](const std::string& offsets) {
    return open_error(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":)" + offsets + "}}",
                      std::string(8, 'x'));
  };
  EXPECT_CONTAINS(with_offsets("[8,0]"), "tensor 'w': data_offsets [8,0] end before they begin");
  EXPECT_CONTAINS(with_offsets("[0]"), "is not a pair");
  EXPECT_CONTAINS(with_offsets("[0,0,0]"), "is not a pair");
  EXPECT_CONTAINS(with_offsets(R"({"a":0,"b":0})"), "is not a pair");
  EXPECT_CONTAINS(with_offsets("[-8,0]"), "are not non-negative integers");
  EXPECT_CONTAINS(with_offsets("[0,\"8\"]"), "are not non-negative integers");
}

TEST_F(SafetensorsTest, RejectsMissingOrExtraKeys) {
  EXPECT_CONTAINS(open_error(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x')),
                  "tensor 'w': missing 'dtype'");
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, 'x')),
                  "tensor 'w': missing 'shape'");
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, 'x')),
                  "tensor 'w': missing 'data_offsets'");
  EXPECT_CONTAINS(open_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})",
                             std::string(8, 'x')),
                  "tensor 'w': unexpected key 'x'");
}

TEST_F(SafetensorsTest, RejectsMetadataThatIsNotStringToString) {
  EXPECT_CONTAINS(open_error(R"({"__metadata__":{"format":"pt","n":1}})"),
                  path("bad.safetensors") +
                      ": __metadata__ must be an object of string to string; 'n' is number");
  EXPECT_CONTAINS(open_error(R"({"__metadata__":["pt"]})"),
                  "__metadata__ must be an object of string to string, not array");
  EXPECT_CONTAINS(open_error(R"({"__metadata__":{"a":{"b":"c"}}})"), "'a' is object");
}

TEST_F(SafetensorsTest, RejectsMissingFileAndDirectory) {
  const std::string missing = path("missing.safetensors");
  EXPECT_CONTAINS(error_of([&] { SafetensorsFile::open(missing); }), missing + ": cannot open");
  EXPECT_CONTAINS(error_of([&] { SafetensorsFile::open(dir()); }),
                  dir() + ": is a directory");
}

TEST_F(SafetensorsTest, UnknownTensorNameIsAnError) {
  const std::vector<float> v = {1, 2};
  write_safetensors(path("m.safetensors"), {{"w", DType::F32, {2}, v.data(), 8}});
  const auto file = SafetensorsFile::open(path("m.safetensors"));
  EXPECT_TRUE(file->has("w"));
  EXPECT_FALSE(file->has("v"));
  EXPECT_EQ(error_of([&] { file->tensor("v"); }), path("m.safetensors") + ": no tensor 'v'");
}

// ---- checkpoints ----

class CheckpointTest : public SafetensorsTest {
 protected:
  // shard-a holds a1 and a2, shard-b holds b1 (plus any `extra_b`); the index lists `weight_map`.
  void write_shards(const std::string& weight_map, const std::vector<std::string>& extra_b = {}) {
    write_safetensors(path("shard-a.safetensors"), {{"a1", DType::F32, {2}, a1_.data(), 8},
                                                    {"a2", DType::F32, {1}, a2_.data(), 4}});
    std::vector<TensorToWrite> b = {{"b1", DType::F32, {3}, b1_.data(), 12}};
    for (const std::string& name : extra_b) b.push_back({name, DType::F32, {1}, a2_.data(), 4});
    write_safetensors(path("shard-b.safetensors"), b);
    write_file(path("model.safetensors.index.json"),
               R"({"metadata":{"total_size":24},"weight_map":)" + weight_map + "}");
  }
  std::string checkpoint_error() const {
    return error_of([&] { Checkpoint::open(dir()); });
  }

  const std::string kGoodMap =
      R"({"a1":"shard-a.safetensors","a2":"shard-a.safetensors","b1":"shard-b.safetensors"})";
  const std::vector<float> a1_ = {1, 2}, a2_ = {3}, b1_ = {4, 5, 6};
};

TEST_F(CheckpointTest, OpensSingleFileFolderAndFilePath) {
  write_safetensors(path("model.safetensors"),
                    {{"z", DType::F32, {1}, a2_.data(), 4}, {"a", DType::F32, {2}, a1_.data(), 8}});
  for (const std::string& p : {dir(), path("model.safetensors")}) {
    SCOPED_TRACE(p);
    const Checkpoint ck = Checkpoint::open(p);
    EXPECT_EQ(ck.path(), p);
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "z"}));
    EXPECT_EQ(ck.tensor("a").to_f32(), a1_);
    EXPECT_EQ(ck.total_bytes(), 12u);
    EXPECT_TRUE(ck.has("z"));
    EXPECT_FALSE(ck.has("y"));
    EXPECT_EQ(error_of([&] { ck.tensor("y"); }), p + ": no tensor 'y'");
  }
}

TEST_F(CheckpointTest, RejectsFolderWithoutWeights) {
  EXPECT_EQ(checkpoint_error(),
            "no model.safetensors or model.safetensors.index.json in " + dir());
  EXPECT_CONTAINS(error_of([&] { Checkpoint::open(path("nope")); }), path("nope"));
}

TEST_F(CheckpointTest, OpensShardsThroughTheIndex) {
  write_shards(kGoodMap);
  // The index wins over a stray single file.
  write_safetensors(path("model.safetensors"), {{"stray", DType::F32, {1}, a2_.data(), 4}});
  for (const std::string& p : {dir(), path("model.safetensors.index.json")}) {
    SCOPED_TRACE(p);
    const Checkpoint ck = Checkpoint::open(p);
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a1", "a2", "b1"}));
    EXPECT_EQ(ck.tensor("a2").to_f32(), a2_);
    EXPECT_EQ(ck.tensor("b1").to_f32(), b1_);
    EXPECT_EQ(ck.tensor("b1").file, path("shard-b.safetensors"));
    EXPECT_EQ(ck.total_bytes(), 24u);
  }
}

TEST_F(CheckpointTest, RejectsIndexNamingMissingShard) {
  write_shards(
      R"({"a1":"shard-a.safetensors","a2":"shard-a.safetensors","b1":"shard-c.safetensors"})");
  EXPECT_CONTAINS(checkpoint_error(), path("shard-c.safetensors") + ": cannot open");
}

TEST_F(CheckpointTest, RejectsIndexNamingTensorNotInThatShard) {
  write_shards(
      R"({"a1":"shard-a.safetensors","a2":"shard-a.safetensors","b1":"shard-a.safetensors",)"
      R"("x":"shard-b.safetensors"})");
  const std::string msg = checkpoint_error();
  EXPECT_CONTAINS(msg, path("model.safetensors.index.json") + ": tensor 'b1': listed in " +
                           path("shard-a.safetensors") + ", which does not hold it (it is in " +
                           path("shard-b.safetensors") + ")");
}

TEST_F(CheckpointTest, RejectsIndexNamingTensorInNoShard) {
  write_shards(
      R"({"a1":"shard-a.safetensors","a2":"shard-a.safetensors","b1":"shard-b.safetensors",)"
      R"("x":"shard-b.safetensors"})");
  EXPECT_EQ(checkpoint_error(), path("model.safetensors.index.json") + ": tensor 'x': listed in " +
                                    path("shard-b.safetensors") + ", which does not hold it");
}

TEST_F(CheckpointTest, RejectsTensorInTwoShards) {
  write_shards(kGoodMap, {"a2"});
  const std::string msg = checkpoint_error();
  EXPECT_CONTAINS(msg, dir() + ": tensor 'a2': in two shards");
  EXPECT_CONTAINS(msg, path("shard-a.safetensors"));
  EXPECT_CONTAINS(msg, path("shard-b.safetensors"));
}

TEST_F(CheckpointTest, RejectsShardTensorMissingFromIndex) {
  write_shards(kGoodMap, {"extra"});
  EXPECT_CONTAINS(checkpoint_error(), "tensor 'extra': in " + path("shard-b.safetensors") +
                                          " but not listed in weight_map");
}

TEST_F(CheckpointTest, RejectsMalformedIndex) {
  write_shards(kGoodMap);
  const std::string index = path("model.safetensors.index.json");
  write_file(index, R"({"metadata":{}})");
  EXPECT_EQ(checkpoint_error(), index + ": no 'weight_map' object");
  write_file(index, R"({"weight_map":{"a1":"shard-a.safetensors","a1":"shard-b.safetensors"}})");
  EXPECT_EQ(checkpoint_error(), index + ": key 'a1' appears twice in 'weight_map'");
  write_file(index, R"({"weight_map":{"a1":"../shard-a.safetensors"}})");
  EXPECT_CONTAINS(checkpoint_error(), "not a file name in the folder");
  write_file(index, R"({"weight_map":{"a1":7}})");
  EXPECT_CONTAINS(checkpoint_error(), "weight_map entry 'a1' names 7");
  write_file(index, "");
  EXPECT_CONTAINS(checkpoint_error(), index + ": invalid JSON");
}

TEST_F(CheckpointTest, RejectsCorruptShardNamingIt) {
  write_shards(kGoodMap);
  write_file(path("shard-b.safetensors"), "garbage");
  EXPECT_CONTAINS(checkpoint_error(), path("shard-b.safetensors") + ": file is 7 bytes");
}

// ---- the real tiny Gemma 4 fixtures ----

TEST(Fixtures, DensePleIsOneFloat32File) {
  const Checkpoint ck = Checkpoint::open(test::fixture("dense_ple"));
  EXPECT_EQ(ck.names().size(), 98u);
  const TensorView& embed = ck.tensor("model.embed_tokens.weight");
  EXPECT_EQ(embed.dtype, DType::F32);
  EXPECT_EQ(embed.shape, (std::vector<int64_t>{512, 128}));
  EXPECT_EQ(
      SafetensorsFile::open(test::fixture("dense_ple/model.safetensors"))->metadata().at("format"),
      "pt");
}

TEST(Fixtures, ShardedBf16EqualsFloat32RoundedToBf16) {
  const Checkpoint f32 = Checkpoint::open(test::fixture("dense_ple"));
  const Checkpoint bf16 = Checkpoint::open(test::fixture("dense_ple_mm_bf16"));
  const std::string f32_prefix = "model.", bf16_prefix = "model.language_model.";
  ASSERT_EQ(bf16.names().size(), f32.names().size());

  std::set<std::string> files;
  for (const std::string& name : bf16.names()) {
    SCOPED_TRACE(name);
    ASSERT_EQ(name.rfind(bf16_prefix, 0), 0u);
    const TensorView& b = bf16.tensor(name);
    const TensorView& f = f32.tensor(f32_prefix + name.substr(bf16_prefix.size()));
    files.insert(b.file);
    EXPECT_EQ(b.dtype, DType::BF16);
    ASSERT_EQ(b.shape, f.shape);
    const std::vector<float> got = b.to_f32(), want = f.to_f32();
    size_t mismatches = 0;
    for (size_t i = 0; i < got.size(); ++i)
      mismatches += float_bits(got[i]) != float_bits(bf16_to_f32(f32_to_bf16(want[i])));
    EXPECT_EQ(mismatches, 0u);
    // Rounding actually happened, so the comparison above is not trivially exact.
    if (name == bf16_prefix + "embed_tokens.weight") {
      EXPECT_NE(got, want);
    }
  }
  EXPECT_EQ(files.size(), 29u);
  EXPECT_EQ(bf16.total_bytes() * 2, f32.total_bytes());
}

}  // namespace
}  // namespace gq
