#include "tests/export/ct_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "io/half.h"
#include "quant/weight.h"
#include "tests/common/test_util.h"

namespace gq::ct_test {

namespace fs = std::filesystem;

int32_t i32_at(const TensorView& t, int64_t i) {
  int32_t v;
  std::memcpy(&v, t.data + 4 * i, 4);
  return v;
}

int field(int32_t word, int k, int bits) {
  const uint32_t mask = (1u << bits) - 1u;
  return int((uint32_t(word) >> (bits * k)) & mask) - (1 << (bits - 1));
}

Decoded decode_packed(const Checkpoint& ck, const std::string& m) {
  Decoded d;
  const TensorView& shape = ck.tensor(m + ".weight_shape");
  EXPECT_EQ(shape.dtype, DType::I64);
  EXPECT_EQ(shape.shape, (std::vector<int64_t>{2}));
  int64_t s[2];
  std::memcpy(s, shape.data, 16);
  d.rows = s[0], d.cols = s[1];
  const TensorView& p = ck.tensor(m + ".weight_packed");
  EXPECT_EQ(p.dtype, DType::I32) << m;
  const int64_t words = p.shape.at(1);
  const int bits = int(32 * words / d.cols);
  const int per = 32 / bits;
  EXPECT_EQ(p.shape, (std::vector<int64_t>{d.rows, d.cols * bits / 32})) << m;
  for (int64_t r = 0; r < d.rows; ++r)
    for (int64_t c = 0; c < d.cols; ++c) d.levels.push_back(field(i32_at(p, r * words + c / per), int(c % per), bits));
  const TensorView& sc = ck.tensor(m + ".weight_scale");
  d.scale_dtype = sc.dtype;
  d.spr = sc.shape.at(1);
  EXPECT_EQ(sc.shape.at(0), d.rows);
  d.scales = sc.to_f32();
  if (ck.has(m + ".weight_zero_point")) {
    const TensorView& z = ck.tensor(m + ".weight_zero_point");
    EXPECT_EQ(z.dtype, DType::I32);
    EXPECT_EQ(z.shape, (std::vector<int64_t>{(d.rows * bits + 31) / 32, d.spr})) << m;
    for (int64_t r = 0; r < d.rows; ++r)
      for (int64_t g = 0; g < d.spr; ++g) d.zero_points.push_back(field(i32_at(z, (r / per) * d.spr + g), int(r % per), bits));
  }
  return d;
}

Decoded decode_int8(const Checkpoint& ck, const std::string& m) {
  Decoded d;
  const TensorView& w = ck.tensor(m + ".weight");
  EXPECT_EQ(w.dtype, DType::I8);
  d.rows = w.shape.at(0), d.cols = w.shape.at(1);
  for (int64_t i = 0; i < w.numel(); ++i) d.levels.push_back(int(int8_t(w.data[i])));
  const TensorView& sc = ck.tensor(m + ".weight_scale");
  EXPECT_EQ(sc.shape, (std::vector<int64_t>{d.rows, 1}));
  d.scale_dtype = sc.dtype, d.spr = 1, d.scales = sc.to_f32();
  return d;
}

std::vector<float> dequant(const Decoded& d) {
  std::vector<float> y(size_t(d.rows * d.cols));
  const int64_t group = d.cols / d.spr;
  for (int64_t r = 0; r < d.rows; ++r)
    for (int64_t c = 0; c < d.cols; ++c) {
      const int64_t g = r * d.spr + c / group;
      const int z = d.zero_points.empty() ? 0 : d.zero_points[size_t(g)];
      float v = float(d.levels[size_t(r * d.cols + c)] - z) * d.scales[size_t(g)];
      if (d.scale_dtype == DType::BF16) v = bf16_to_f32(f32_to_bf16(v));
      if (d.scale_dtype == DType::F16) v = f16_to_f32(f32_to_f16(v));
      y[size_t(r * d.cols + c)] = v;
    }
  return y;
}

void expect_bits_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (float_bits(got[i]) != float_bits(want[i]) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at " << first << ": " << got[first] << " vs " << want[first];
}

std::pair<size_t, uint64_t> expect_contiguous(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  std::string h(n, ' ');
  f.read(h.data(), std::streamsize(n));
  EXPECT_EQ((8 + n) % 8, 0u) << file;
  const json j = json::parse(h);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "__metadata__") spans.push_back({it.value()["data_offsets"][0], it.value()["data_offsets"][1]});
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (const auto& [b, e] : spans) {
    EXPECT_EQ(b, at) << file << ": hole or overlap before offset " << b;
    at = e;
  }
  EXPECT_EQ(8 + n + at, uint64_t(fs::file_size(file))) << file;
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  return {spans.size(), at};
}

json config_of(const std::string& out) { return json::parse(test::read_file(out + "/config.json")); }

std::set<std::string> strings(const json& a) {
  std::set<std::string> s;
  for (const json& e : a) s.insert(e.get<std::string>());
  return s;
}

Tensors load_all(const std::string& dir) {
  const Checkpoint ck = Checkpoint::open(dir);
  Tensors t;
  for (const std::string& n : ck.names()) t[n] = {ck.tensor(n).shape, ck.tensor(n).to_f32()};
  return t;
}

void save_all(const std::string& path, const Tensors& t) {
  std::vector<TensorToWrite> w;
  for (const auto& [n, v] : t) w.push_back({n, DType::F32, v.first, v.second.data(), v.second.size() * 4});
  write_safetensors(path, w);
}

std::vector<float> rows_of(const Tensors& t, const std::string& name, int64_t row0, int64_t rows, int64_t cols) {
  const std::vector<float>& v = t.at(name).second;
  return std::vector<float>(v.begin() + row0 * cols, v.begin() + (row0 + rows) * cols);
}

Source source_of(const Tensors& t, const std::string& out_module) {
  const std::string m = out_module.substr(std::string("model.").size());
  const size_t ex = m.find(".experts.");
  if (ex == std::string::npos) {
    const auto& shape = t.at("model." + m + ".weight").first;
    return {"model." + m + ".weight", m, 0, shape[0], shape[1]};
  }
  const std::string layer = m.substr(0, ex), rest = m.substr(ex + 9);
  const int64_t e = std::stoll(rest.substr(0, rest.find('.')));
  const std::string proj = rest.substr(rest.find('.') + 1);
  const std::string bank = proj == "down_proj" ? "down_proj" : "gate_up_proj";
  const auto& shape = t.at("model." + layer + ".experts." + bank).first;
  const int64_t R = shape[1];
  if (proj == "down_proj") return {"model." + layer + ".experts.down_proj", layer + ".experts.down_proj", e * R, R, shape[2]};
  const int64_t half = R / 2;
  return {"model." + layer + ".experts.gate_up_proj", layer + ".experts.gate_up_proj", e * R + (proj == "up_proj" ? half : 0),
          half, shape[2]};
}

std::vector<std::string> modules_with(const Checkpoint& ck, const std::string& suffix) {
  std::vector<std::string> out;
  for (const std::string& n : ck.names())
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(n.substr(0, n.size() - suffix.size()));
  return out;
}

void expect_packed_equals_fake_quant(const std::string& out, const Tensors& src, const quant::WeightScheme& scheme,
                                     size_t expected_modules) {
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".weight_packed");
  EXPECT_EQ(mods.size(), expected_modules);
  for (const std::string& m : mods) {
    const Source s = source_of(src, m);
    const Decoded d = decode_packed(ck, m);
    ASSERT_EQ(d.rows, s.rows) << m;
    ASSERT_EQ(d.cols, s.cols) << m;
    EXPECT_EQ(d.scale_dtype, scheme.scale_dtype) << m;
    const std::vector<float> x = rows_of(src, s.tensor, s.row0, s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight(scheme, x.data(), y.data(), s.rows, s.cols);
    expect_bits_equal(dequant(d), y, m);
  }
}

void expect_floats(const std::string& out, const Tensors& src, DType t) {
  const Checkpoint ck = Checkpoint::open(out);
  size_t n = 0;
  for (const auto& [name, v] : src) {
    if (!ck.has(name)) continue;
    const TensorView& tv = ck.tensor(name);
    EXPECT_EQ(tv.dtype, t) << name;
    EXPECT_EQ(tv.shape, v.first) << name;
    std::vector<float> want = v.second;
    for (float& f : want) f = t == DType::BF16 ? bf16_to_f32(f32_to_bf16(f)) : f;
    expect_bits_equal(tv.to_f32(), want, name);
    ++n;
  }
  EXPECT_GT(n, 10u);
}

}  // namespace gq::ct_test
