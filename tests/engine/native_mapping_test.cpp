// A native file's per-layer embedding table is read in place from the mapped file: its checksum and
// level checks at load leave none of it resident, a forward brings in only the rows it looks up,
// and each row decodes to exactly the value the whole-tensor decoder gives.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "engine/activation_quant.h"
#include "engine/forward.h"
#include "engine/native_weights.h"
#include "engine/ops.h"
#include "formats/native_format.h"
#include "io/half.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/packing.h"
#include "quant/weight.h"
#include "quant/activation.h"
#include "quant/scheme.h"
#include "tests/common/test_util.h"

namespace gq::engine {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// A /proc/self/status field in bytes ("RssAnon").
int64_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

// Resident bytes of this process's mappings of `path` (the Rss lines of /proc/self/smaps).
int64_t mapped_rss_bytes(const std::string& path) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool in_file = false;
  int64_t n = 0;
  while (std::getline(in, line)) {
    const bool header = !line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find(':') > line.find(' ');
    if (header) in_file = line.size() >= path.size() && line.compare(line.size() - path.size(), path.size(), path) == 0;
    else if (in_file && line.rfind("Rss:", 0) == 0) n += std::stoll(line.substr(4)) * 1024;
  }
  return n;
}

std::string read_text(const std::string& path) { return test::read_file(path); }

// dense_ple with a per-layer table of `ple_rows` rows (int8 per row, bf16 scales, as the mobile
// recipe stores it) and every other tensor in float32, written with NativeWriter. With
// `int4_linears`, every Linear is int4_channel@bf16 (RTN) with a static int8_sym@bf16 input, as
// the mobile recipe's.
std::string write_big_ple_model(const test::TempDir& dir, int64_t ple_rows, bool int4_linears = false) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  std::string config = read_text(test::fixture("dense_ple") + "/config.json");
  const std::string key = "\"vocab_size_per_layer_input\": 512";
  const size_t at = config.find(key);
  EXPECT_NE(at, std::string::npos);
  config.replace(at, key.size(), "\"vocab_size_per_layer_input\": " + std::to_string(ple_rows));
  const Gemma4Config cfg = Gemma4Config::parse(config, "test config");

  native::Metadata m;
  m.config_json = config;
  m.recipe = "test";
  m.float_dtype = DType::F32;
  std::set<std::string> linears;
  for (const QuantTarget& q : gemma4_quant_targets(cfg))
    if (int4_linears && q.kind == TargetKind::Linear) linears.insert(q.name);
  std::vector<native::TensorDesc> descs;
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused || !st.has(s.name)) continue;
    native::TensorDesc d;
    d.name = s.name;
    d.shape = s.shape;
    const std::string module = s.name.substr(0, s.name.size() - std::string(".weight").size());
    if (s.name.size() > 7 && linears.count(module)) {
      d.module = module;
      d.scheme = quant::parse_weight_scheme("int4_channel@bf16");
      d.encoding = native::encoding_of(d.scheme);
      m.activations[module].input = native::ActivationQuant{quant::parse_activation_scheme("int8_sym@bf16"), {0.05f, 0}};
    } else if (s.name == "embed_tokens_per_layer.weight") {
      d.module = "embed_tokens_per_layer";
      d.scheme = quant::parse_weight_scheme("int8_channel@bf16");
      d.encoding = native::encoding_of(d.scheme);
      d.section = native::Section::PerLayerEmbedding;
    } else {
      d.dtype = DType::F32;
    }
    descs.push_back(d);
  }
  const std::string path = dir.file("big_ple.gqn");
  native::NativeWriter w(path, m, descs);
  std::mt19937 g(7);
  for (const native::TensorDesc& d : w.tensors()) {
    if (d.section == native::Section::Main && d.encoding == native::Encoding::Channel) {
      const std::vector<float>& v = st.get(d.name).data;
      const quant::QuantizedWeight q = quant::quantize_weight(d.scheme, v.data(), d.rows(), d.cols());
      std::vector<uint8_t> packed(quant::tflite_packed_bytes(d.cols(), d.scheme.bits));
      for (int64_t r = 0; r < d.rows(); ++r) {
        quant::tflite_pack(q.levels.data() + r * d.cols(), packed.data(), d.cols(), d.scheme.bits);
        w.write(d.name, native::Part::Data, packed.data(), packed.size());
      }
      std::vector<uint16_t> scales;
      for (float x : q.scales) scales.push_back(f32_to_bf16(x));
      w.write(d.name, native::Part::Scales, scales.data(), scales.size() * 2);
      continue;
    }
    if (d.section == native::Section::Main) {
      const std::vector<float>& v = st.get(d.name).data;
      w.write(d.name, native::Part::Data, v.data(), v.size() * sizeof(float));
      continue;
    }
    const int64_t rows = d.rows(), cols = d.cols();
    std::vector<int8_t> levels(static_cast<size_t>(cols), 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int8_t& l : levels) l = int8_t(int(g() % 255) - 127);
      w.write(d.name, native::Part::Data, levels.data(), levels.size());
    }
    std::vector<uint16_t> scales(static_cast<size_t>(rows), 0);
    for (uint16_t& s : scales) s = f32_to_bf16(0.002f * float(1 + g() % 9));
    w.write(d.name, native::Part::Scales, scales.data(), scales.size() * 2);
  }
  w.finish();
  return path;
}

TEST(NativeMapping, PerLayerTableIsNeverResident) {
  test::TempDir dir;
  const std::string path = write_big_ple_model(dir, 131072);  // 131072 x 192 int8: 24 MiB of levels
  const uint64_t ple_bytes = native::NativeFile::open(path).per_layer_section().size;
  ASSERT_GT(ple_bytes, uint64_t(24) << 20);

  const int64_t anon_before = status_bytes("RssAnon");
  const native::NativeFile file = native::NativeFile::open(path);  // checksums verified
  const int64_t file_after_open = mapped_rss_bytes(path);
  const ModelWeights w = from_native(file);  // levels verified
  const int64_t file_after_load = mapped_rss_bytes(path);
  const std::vector<float> l = logits(w, {2, 17, 300, 511, 42, 7});
  const int64_t file_after_forward = mapped_rss_bytes(path), anon_growth = status_bytes("RssAnon") - anon_before;
  ASSERT_FALSE(l.empty());
  const Tensor& table = w.get("embed_tokens_per_layer.weight");
  EXPECT_TRUE(table.is_row_decoded());
  EXPECT_TRUE(table.data.empty());
  EXPECT_GE(table.mapped_bytes(), ple_bytes - 64);
  // The file's resident pages: the main section's (dense_ple's float32 tensors, ~2.6 MB) and a page
  // or two per looked-up row, never the table's 24 MiB.
  EXPECT_LT(file_after_load, int64_t(ple_bytes / 4)) << "after load " << file_after_load << " bytes of the file are resident";
  EXPECT_LT(file_after_forward, int64_t(ple_bytes / 4)) << "after a forward " << file_after_forward << " bytes of the file are resident";
  // Decoded whole (as before), the table alone would be 4x its section in float32. Under
  // AddressSanitizer RssAnon also holds shadow memory and the quarantine of freed blocks (the writer's
  // buffers among them), so it measures the sanitizer, not the loader: the check runs in plain builds.
  if (!kAddressSanitizer) EXPECT_LT(anon_growth, int64_t(ple_bytes)) << "anonymous memory grew by " << anon_growth << " bytes";
  EXPECT_LT(file_after_open, int64_t(ple_bytes / 4)) << "after the checksum pass " << file_after_open << " bytes of the file are resident";
  std::printf("per-layer section %llu bytes; file resident after open %lld, after load %lld, after forward %lld; anon growth %lld\n",
              (unsigned long long)ple_bytes, (long long)file_after_open, (long long)file_after_load, (long long)file_after_forward, (long long)anon_growth);
}

// Fast form packs every such Linear and decodes no float copy of it: the weight tensors keep their
// shape and no values, the memory held is exact mode's less those floats plus the packed copies,
// and the forward gives exact mode's logits up to float32 summation order (fast = the exact sums
// rounded once): 1e-5 on logits of magnitude ~1 (measured 1.8e-7).
TEST(NativeMapping, FastFormKeepsNoFloatCopyOfPackedLinears) {
  test::TempDir dir;
  const std::string path = write_big_ple_model(dir, 512, /*int4_linears=*/true);
  const ModelWeights exact = load_native(path, {}, WeightForm::Exact);
  const ModelWeights fast = load_native(path, {}, WeightForm::Fast);
  ASSERT_NE(fast.activation_quantization(), nullptr);
  const auto& packed = fast.activation_quantization()->packed;
  size_t linear_float_bytes = 0;
  int linears = 0;
  for (const QuantTarget& q : gemma4_quant_targets(fast.config())) {
    if (q.kind != TargetKind::Linear || !exact.has(q.name + ".weight")) continue;
    ++linears;
    const Tensor &tf = fast.get(q.name + ".weight"), &te = exact.get(q.name + ".weight");
    EXPECT_TRUE(packed.count(q.name)) << q.name;
    EXPECT_TRUE(tf.data.empty()) << q.name;
    EXPECT_EQ(tf.shape, te.shape) << q.name;
    EXPECT_EQ(int64_t(te.data.size()), q.rows * q.cols) << q.name;
    linear_float_bytes += te.bytes();
  }
  EXPECT_GT(linears, 0);
  EXPECT_EQ(int64_t(packed.size()), linears);
  size_t packed_bytes = 0;
  for (const auto& [module, p] : packed) packed_bytes += p.bytes();
  EXPECT_EQ(fast.bytes() + linear_float_bytes, exact.bytes() + packed_bytes);
  const std::vector<int32_t> ids = {2, 17, 300, 511, 42, 7};
  const std::vector<float> lf = logits(fast, ids), le = logits(exact, ids);
  ASSERT_EQ(lf.size(), le.size());
  float max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < lf.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(lf[i] - le[i]));
    max_abs = std::max(max_abs, std::abs(le[i]));
  }
  std::printf("fast vs exact: max |dlogit| %g (max |logit| %g) over %d packed Linears\n", max_diff, max_abs, linears);
  EXPECT_LE(max_diff, 1e-5f * std::max(1.0f, max_abs));
}

TEST(NativeMapping, RowsDecodeAsTheWholeTensor) {
  test::TempDir dir;
  const std::string path = write_big_ple_model(dir, 2048);
  const native::NativeFile f = native::NativeFile::open(path);
  const native::TensorEntry& e = *f.find("embed_tokens_per_layer.weight");
  const std::vector<float> whole = decode_native_tensor(f, e);
  const ModelWeights w = from_native(f);
  const Tensor& t = w.get("embed_tokens_per_layer.weight");
  const int64_t cols = t.row_size();
  std::vector<float> row(static_cast<size_t>(cols), 0.0f);
  for (int64_t r : {int64_t(0), int64_t(1), int64_t(777), int64_t(2047)}) {
    tensor_row(t, r, row.data());
    for (int64_t i = 0; i < cols; ++i) ASSERT_EQ(row[size_t(i)], whole[size_t(r * cols + i)]) << "row " << r << " col " << i;
  }
}

TEST(NativeMapping, BadLevelInPerLayerTableIsNamedAtLoad) {
  test::TempDir dir;
  const std::string path = write_big_ple_model(dir, 4096);
  uint64_t off;
  {
    const native::NativeFile f = native::NativeFile::open(path);
    off = f.find("embed_tokens_per_layer.weight")->data.offset + 3000 * 192 + 5;
  }
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(std::streamoff(off));
  io.put(char(-128));  // outside int8_channel's [-127, 127]
  io.close();
  native::ReadOptions o;
  o.verify_checksums = false;  // the level check, not the checksum, must catch it
  test::expect_format_error([&] { load_native(path, o); }, "tensor 'embed_tokens_per_layer.weight': level -128 at element " +
                                                               std::to_string(3000 * 192 + 5));
}

}  // namespace
}  // namespace gq::engine
