// Fast mode: the integer kernels (every instruction set against the scalar definition, bit for
// bit; the integer block sums against brute force), the activation quantizer against ggml's
// reference, packed weights, and thread-count independence of the logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "../common/test_util.h"
#include "engine/decode.h"
#include "engine/dequantize.h"
#include "engine/forward.h"
#include "engine/int_dot.h"
#include "engine/thread_pool.h"
#include "engine/weights.h"
#include "gguf_fixture.h"
#include "io/half.h"
#include "quant/q8_0.h"

namespace gq::engine {
namespace {

const std::vector<int32_t> kIds = {2, 17, 5, 300, 42, 7, 111, 3, 260, 9};

uint32_t bits(float f) { return float_bits(f); }

// n values of `type` weight blocks with random codes and scales `d` (or 1.0 when unit).
std::vector<uint8_t> random_weights(GgmlType type, int64_t n, std::mt19937& rng, bool unit) {
  const GgmlTypeInfo* info = ggml_type_info(uint32_t(type));
  std::vector<uint8_t> w(size_t(n / info->block) * info->block_bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t b = 0; b < w.size(); b += info->block_bytes) {
    const uint16_t d = unit ? f32_to_f16(1.0f) : f32_to_f16(scale(rng));
    w[b] = uint8_t(d & 0xff);
    w[b + 1] = uint8_t(d >> 8);
    for (size_t j = 2; j < info->block_bytes; ++j) w[b + j] = uint8_t(byte(rng));
  }
  return w;
}

std::vector<uint8_t> random_activations(int64_t n, std::mt19937& rng, bool unit) {
  std::vector<uint8_t> a(size_t(n / 32) * kQ8BlockBytes);
  std::uniform_int_distribution<int> code(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  for (size_t b = 0; b < a.size(); b += kQ8BlockBytes) {
    const uint16_t d = f32_to_f16(unit ? 1.0f : scale(rng));
    a[b] = uint8_t(d & 0xff);
    a[b + 1] = uint8_t(d >> 8);
    for (size_t j = 2; j < kQ8BlockBytes; ++j) a[b + j] = uint8_t(int8_t(code(rng)));
  }
  return a;
}

std::vector<float> activation_values(const std::vector<uint8_t>& a, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  dequantize(GgmlType::Q8_0, a.data(), n, v.data(), "test");
  return v;
}

const GgmlType kKernelTypes[] = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q2_0};
const int64_t kLengths[] = {64, 128, 192, 256, 1536, 2112};  // even and odd block counts

TEST(IntDot, EveryInstructionSetEqualsTheScalarPathBitForBit) {
  std::mt19937 rng(7);
  int checked = 0;
  for (GgmlType type : kKernelTypes)
    for (int64_t n : kLengths)
      for (int rep = 0; rep < 20; ++rep) {
        const std::vector<uint8_t> w = random_weights(type, n, rng, false), a = random_activations(n, rng, false);
        const float want = int_dot(type, w.data(), a.data(), n, Isa::Scalar);
        for (Isa isa : {Isa::Avx2, Isa::Avx512Vnni}) {
          if (!isa_supported(isa)) continue;
          ASSERT_EQ(bits(int_dot(type, w.data(), a.data(), n, isa)), bits(want))
              << ggml_type_name(type) << " n=" << n << " " << isa_name(isa);
          ++checked;
        }
      }
  if (checked == 0) GTEST_SKIP() << "no SIMD instruction set on this CPU";
}

// The repacked-activation Q4_0 tiles (every rows x cols shape, weight and activation strides wider
// than a row, a strided output) give int_dot's scalar float for every element, bit for bit.
TEST(IntDot, PackedQ4_0TilesEqualTheScalarPathBitForBit) {
  if (!isa_supported(Isa::Avx512Vnni)) GTEST_SKIP() << "no AVX-512 VNNI on this CPU";
  EXPECT_FALSE(has_packed_q4_0_kernel(GgmlType::Q4_0, Isa::Avx512Vnni, 96));  // odd block count
  EXPECT_FALSE(has_packed_q4_0_kernel(GgmlType::Q8_0, Isa::Avx512Vnni, 128));
  EXPECT_FALSE(has_packed_q4_0_kernel(GgmlType::Q4_0, Isa::Avx2, 128));
  std::mt19937 rng(13);
  for (int64_t n : {64, 128, 256, 1536, 2048}) {
    ASSERT_TRUE(has_packed_q4_0_kernel(GgmlType::Q4_0, Isa::Avx512Vnni, n));
    const size_t w_row = size_t(n / 32) * 18, w_stride = w_row + 18;  // a gap block between rows
    const size_t a_row = size_t(n / 32) * kQ8BlockBytes, p_stride = packed_activation_bytes(n) + 64;
    std::vector<std::vector<uint8_t>> w(4), a(4);
    std::vector<uint8_t> w_all(4 * w_stride, 0xee), p_all(4 * p_stride, 0xee);
    for (int r = 0; r < 4; ++r) {
      w[size_t(r)] = random_weights(GgmlType::Q4_0, n, rng, false);
      std::memcpy(w_all.data() + size_t(r) * w_stride, w[size_t(r)].data(), w_row);
      a[size_t(r)] = random_activations(n, rng, false);
      if (r == 1) a[1][0] = a[1][1] = 0;  // an activation scale of 0
      if (r == 2)
        for (size_t j = 2; j < kQ8BlockBytes; ++j) a[2][j] = uint8_t(int8_t(j % 2 ? 127 : -127));  // extreme codes
      ASSERT_EQ(a[size_t(r)].size(), a_row);
      pack_activations_for_q4_0(a[size_t(r)].data(), n, p_all.data() + size_t(r) * p_stride);
    }
    for (int rows = 1; rows <= 4; ++rows)
      for (int cols = 1; cols <= 4; ++cols) {
        const size_t out_stride = 7;
        std::vector<float> out(4 * out_stride, -1.0f);
        q4_0_packed_tile(rows, cols, w_all.data(), w_stride, p_all.data(), p_stride, n, out.data(), out_stride);
        for (int c = 0; c < cols; ++c)
          for (int r = 0; r < rows; ++r) {
            const float want = int_dot(GgmlType::Q4_0, w[size_t(r)].data(), a[size_t(c)].data(), n, Isa::Scalar);
            ASSERT_EQ(bits(out[size_t(c) * out_stride + size_t(r)]), bits(want))
                << "n=" << n << " tile " << rows << "x" << cols << " row " << r << " activation " << c;
          }
        EXPECT_EQ(out[size_t(rows)], -1.0f) << "wrote past the tile's rows";
      }
  }
}

// Q8_0 weights may hold -128 (a file our exporter did not write); maddubs' sign trick still holds.
TEST(IntDot, Q8_0WeightsOfMinus128AgreeToo) {
  std::mt19937 rng(3);
  std::vector<uint8_t> w = random_weights(GgmlType::Q8_0, 256, rng, true), a = random_activations(256, rng, true);
  for (size_t b = 0; b < w.size(); b += 34)
    for (size_t j = 2; j < 34; ++j) w[b + j] = uint8_t(int8_t(-128));
  for (size_t b = 0; b < a.size(); b += 34)
    for (size_t j = 2; j < 34; ++j) a[b + j] = uint8_t(int8_t(127));
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    EXPECT_EQ(int_dot(GgmlType::Q8_0, w.data(), a.data(), 256, isa), -128.0f * 127.0f * 256.0f) << isa_name(isa);
  }
}

// With both scales 1 every partial sum is an integer below 2^24, so the float result is the exact
// integer dot of the levels, which brute force gives from the dequantized values.
TEST(IntDot, IntegerBlockDotEqualsBruteForce) {
  std::mt19937 rng(11);
  for (GgmlType type : kKernelTypes)
    for (int64_t n : kLengths) {
      const std::vector<uint8_t> w = random_weights(type, n, rng, true), a = random_activations(n, rng, true);
      std::vector<float> wv(static_cast<size_t>(n));
      dequantize(type, w.data(), n, wv.data(), "test");
      const std::vector<float> av = activation_values(a, n);
      int64_t want = 0;
      for (int64_t i = 0; i < n; ++i) want += int64_t(wv[size_t(i)]) * int64_t(av[size_t(i)]);
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
        if (!isa_supported(isa)) continue;
        EXPECT_EQ(double(int_dot(type, w.data(), a.data(), n, isa)), double(want)) << ggml_type_name(type) << " n=" << n;
      }
    }
}

// With real scales the result is Σ w_i a_i of the dequantized values up to float rounding.
TEST(IntDot, ScaledDotIsTheDequantizedDot) {
  std::mt19937 rng(5);
  for (GgmlType type : kKernelTypes) {
    const int64_t n = 1536;
    const std::vector<uint8_t> w = random_weights(type, n, rng, false), a = random_activations(n, rng, false);
    std::vector<float> wv(static_cast<size_t>(n));
    dequantize(type, w.data(), n, wv.data(), "test");
    const std::vector<float> av = activation_values(a, n);
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double(wv[size_t(i)]) * double(av[size_t(i)]);
      mag += std::fabs(double(wv[size_t(i)]) * double(av[size_t(i)]));
    }
    EXPECT_NEAR(int_dot(type, w.data(), a.data(), n, selected_isa()), want, 1e-6 * mag) << ggml_type_name(type);
  }
}

// The activation quantizer writes ggml's quantize_row_q8_0_ref bytes (quant's Q8_0 codec is that
// reference), ties rounded half away from zero (ggml's AVX2 quantizer rounds them to even).
TEST(IntDot, ActivationQuantizerIsGgmlsReference) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> x(4096);
  for (float& v : x) v = normal(rng);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = j == 0 ? 127.0f : float(j % 8) * 0.5f - 2.0f;  // d = 1: halves tie
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);                                           // d = 0
  std::vector<uint8_t> got(x.size() / 32 * 34), want(got.size());
  quantize_activations_q8_0(x.data(), int64_t(x.size()), got.data());
  quant::Q8_0Codec::quantize_rtn(x.data(), want.data(), 1, int64_t(x.size()));
  EXPECT_EQ(got, want);
  EXPECT_EQ(int8_t(got[2 + 3]), -1);  // -0.5 -> -1
  EXPECT_EQ(int8_t(got[2 + 5]), 1);   // 0.5 -> 1
  EXPECT_EQ(int8_t(got[2 + 7]), 2);   // 1.5 -> 2
}

TEST(Dequantize, HandWrittenQ4_1AndQ6_KBlocks) {
  // Q4_1: fp16 d = 0.5, fp16 m = -1, nibbles j (low) and 15 - j (high): y = q * d + m.
  std::vector<uint8_t> q41 = {0x00, 0x38, 0x00, 0xbc};
  for (int j = 0; j < 16; ++j) q41.push_back(uint8_t((15 - j) << 4 | j));
  std::vector<float> y(32);
  dequantize(GgmlType::Q4_1, q41.data(), 32, y.data(), "test");
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[size_t(j)], float(j) * 0.5f - 1.0f);
    EXPECT_EQ(y[size_t(j + 16)], float(15 - j) * 0.5f - 1.0f);
  }
  // Q6_K: levels q_i (0..63) packed as ggml lays them out; y_i = d * scale[i / 16] * (q_i - 32).
  std::vector<int> q(256);
  std::vector<int8_t> sc(16);
  for (int i = 0; i < 256; ++i) q[size_t(i)] = (i * 37 + 11) % 64;
  for (int s = 0; s < 16; ++s) sc[size_t(s)] = int8_t(s * 9 - 70);
  std::vector<uint8_t> blk(210, 0);
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int* e = q.data() + 128 * h + l;
      blk[size_t(64 * h + l)] = uint8_t((e[0] & 15) | (e[64] & 15) << 4);
      blk[size_t(64 * h + l + 32)] = uint8_t((e[32] & 15) | (e[96] & 15) << 4);
      blk[size_t(128 + 32 * h + l)] = uint8_t((e[0] >> 4) | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 | (e[96] >> 4) << 6);
    }
  std::memcpy(blk.data() + 192, sc.data(), 16);
  const uint16_t d = f32_to_f16(0.25f);
  std::memcpy(blk.data() + 208, &d, 2);
  std::vector<float> z(256);
  dequantize(GgmlType::Q6_K, blk.data(), 256, z.data(), "test");
  for (int i = 0; i < 256; ++i) EXPECT_EQ(z[size_t(i)], 0.25f * float(sc[size_t(i / 16)]) * float(q[size_t(i)] - 32)) << i;
}

// A Q8_0 model file (fast mode needs blocks; the fixtures are float; the fixture writes no Q4_0).
std::string write_quantized_model(const test::TempDir& dir, const ModelWeights& st) {
  test::GgufModelOptions o;
  o.type_of = [](const std::string&) { return GgmlType::Q8_0; };
  const std::string path = dir.file("q.gguf");
  test::write_model_gguf(path, st, o);
  return path;
}

TEST(FastMode, KeepsNoFloatCopiesOfQuantizedWeights) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  test::TempDir dir;
  const std::string path = write_quantized_model(dir, st);
  const ModelWeights fast = ModelWeights::load_gguf(path, WeightForm::Fast);
  const ModelWeights exact = ModelWeights::load_gguf(path, WeightForm::Exact);
  int packed = 0;
  for (const TensorSpec& s : gemma4_tensor_specs(st.config())) {
    const Tensor* t = fast.find(s.name);
    if (!t || s.shape.size() < 2) continue;
    EXPECT_TRUE(t->is_packed()) << s.name;
    EXPECT_TRUE(t->data.empty()) << s.name;
    packed += t->is_packed();
  }
  EXPECT_GT(packed, 10);
  // Q8_0 is 34 bytes per 32 values against float32's 128.
  EXPECT_LT(double(fast.bytes()), 0.35 * double(exact.bytes()));
}

TEST(FastMode, LogitsCloseToExactAndDecodeEqualsForwardBitForBit) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  test::TempDir dir;
  const std::string path = write_quantized_model(dir, st);
  const ModelWeights fast = ModelWeights::load_gguf(path, WeightForm::Fast);
  const ModelWeights exact = ModelWeights::load_gguf(path, WeightForm::Exact);
  const std::vector<float> f = logits(fast, kIds), e = logits(exact, kIds);
  ASSERT_EQ(f.size(), e.size());
  const int64_t V = st.config().vocab_size;
  double diff2 = 0, norm2 = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    diff2 += (double(f[i]) - double(e[i])) * (double(f[i]) - double(e[i]));
    norm2 += double(e[i]) * double(e[i]);
  }
  std::printf("fast vs exact: rms difference / rms logit = %.4f\n", std::sqrt(diff2 / norm2));
  EXPECT_GT(diff2, 0.0);  // fast mode really is another computation
  // 8-bit activations at every linear of a random-weight model (logits near 0, so relative error
  // is large; on tiny-e2b max |dlogit| is 0.024 of 9.3, docs/engine.md); a wrong scale or level
  // gives a ratio near 1 or more.
  EXPECT_LT(std::sqrt(diff2 / norm2), 0.2);
  // Each row is its own: a session's steps give the full forward's rows exactly.
  Session s(fast);
  for (size_t t = 0; t < kIds.size(); ++t) {
    const std::vector<float> row = s.step(kIds[t]);
    for (int64_t i = 0; i < V; ++i) ASSERT_EQ(bits(row[size_t(i)]), bits(f[t * size_t(V) + size_t(i)])) << t << "," << i;
  }
}

TEST(Threads, LogitsDoNotDependOnTheThreadCount) {
  const ModelWeights st = ModelWeights::load_safetensors(test::fixture("dense_ple"));
  test::TempDir dir;
  const std::string path = write_quantized_model(dir, st);
  for (WeightForm form : {WeightForm::Exact, WeightForm::Fast}) {
    const ModelWeights w = ModelWeights::load_gguf(path, form);
    set_engine_threads(1);
    const std::vector<float> one = logits(w, kIds);
    for (int n : {2, 3, 5}) {
      set_engine_threads(n);
      EXPECT_EQ(engine_pool().threads(), n);
      const std::vector<float> got = logits(w, kIds);
      ASSERT_EQ(got.size(), one.size());
      EXPECT_EQ(std::memcmp(got.data(), one.data(), one.size() * 4), 0) << n << " threads";
    }
    set_engine_threads(1);
  }
}

TEST(Threads, PoolCoversEveryItemOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 3, 7, 1000}) {
    std::vector<int> hits(size_t(n), 0);
    pool.run(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[size_t(i)];
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[size_t(i)], 1) << n << ":" << i;
  }
}

}  // namespace
}  // namespace gq::engine
