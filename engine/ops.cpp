#include "engine/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/dequantize.h"
#include "engine/int_dot.h"
#include "engine/thread_pool.h"
#include "io/half.h"

namespace gq::engine {

namespace {
using ConstMap = Eigen::Map<const Matrix>;
}

namespace {

// A fixed-order dot product: 16 interleaved partial sums (the compiler vectorizes them), the tail,
// then a pairwise reduction. Its result depends on the two rows alone.
float dot_impl(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0] + tail;
}

}  // namespace

float fixed_order_dot(const float* a, const float* b, int64_t n) { return dot_impl(a, b, n); }

namespace {

float dot(const float* a, const float* b, int64_t n) { return dot_impl(a, b, n); }

// Work below this many multiply-adds per thread is not worth waking a worker for.
constexpr int64_t kMinWorkPerThread = 32768;

int64_t row_grain(int64_t T, int64_t in) { return std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(1, T * in)); }

// y(t, o) for weight rows row0 + o, o in [0, y.cols()), of a float tensor. Not Eigen's GEMM: a
// GEMM blocks and orders its sums by the shapes of the whole product, so one token's row came out
// differently (~1e-5 on logits) when it was alone (a decode step) than among a sequence's rows.
// Here element (t, o) is dot(x_t, W_o) whatever the other rows are, so the incremental decode
// gives the full forward's logits bit for bit.
void float_rows(const Matrix& x, const Tensor& w, int64_t row0, Matrix& y) {
  const int64_t T = x.rows(), in = w.row_size();
  // Row blocks of ~256 KiB stay in cache while every weight row streams past them once.
  const int64_t block = std::max<int64_t>(1, (int64_t(256) << 10) / (int64_t(sizeof(float)) * std::max<int64_t>(1, in)));
  engine_pool().run(y.cols(), row_grain(T, in), [&](int64_t o0, int64_t o1) {
    for (int64_t t0 = 0; t0 < T; t0 += block) {
      const int64_t t1 = std::min(T, t0 + block);
      for (int64_t o = o0; o < o1; ++o) {
        const float* wo = w.ptr() + (row0 + o) * in;
        for (int64_t t = t0; t < t1; ++t) y(t, o) = dot(x.row(t).data(), wo, in);
      }
    }
  });
}

// Q4_0 rows on the repacked-activation kernel: tiles of 4 weight rows × 4 activation rows, so
// prefill decodes each weight block once per 4 tokens and decode reads the activation once per 4 rows.
void packed_q4_0_rows(const std::vector<uint8_t>& q8, int64_t T, int64_t in, const Tensor& w, int64_t row0, Matrix& y) {
  const size_t q8_bytes = size_t(in / kQ8Block) * kQ8BlockBytes, p_bytes = packed_activation_bytes(in);
  const size_t w_bytes = w.packed_row_bytes();
  thread_local std::vector<uint8_t> packed;
  packed.resize(size_t(T) * p_bytes);
  for (int64_t t = 0; t < T; ++t) pack_activations_for_q4_0(q8.data() + size_t(t) * q8_bytes, in, packed.data() + size_t(t) * p_bytes);
  const uint8_t* a = packed.data();
  // Prefill: a block of weight rows (~128 KiB, stays in L2) meets every 4-token group (in L1) before
  // the next block, so the packed activations (3x the Q8_0 bytes) are not re-read per 4 rows.
  const int64_t block = std::max<int64_t>(4, (int64_t(128) << 10) / int64_t(w_bytes) / 4 * 4);
  engine_pool().run(y.cols(), row_grain(T, in), [&](int64_t o0, int64_t o1) {
    for (int64_t b0 = o0; b0 < o1; b0 += block) {
      const int64_t b1 = std::min(o1, b0 + block);
      for (int64_t t = 0; t < T; t += 4)
        for (int64_t o = b0; o < b1; o += 4)
          q4_0_packed_tile(int(std::min<int64_t>(4, b1 - o)), int(std::min<int64_t>(4, T - t)),
                           w.packed_data() + size_t(row0 + o) * w_bytes, w_bytes, a + size_t(t) * p_bytes, p_bytes, in,
                           &y(t, o), size_t(y.cols()));
    }
  });
}

// Packed rows with an integer kernel: x's rows as Q8_0 blocks, then one int_dot per element.
void int_rows(const Matrix& x, const Tensor& w, int64_t row0, IntDotFn kernel, Matrix& y) {
  const int64_t T = x.rows(), in = w.row_size();
  const size_t a_bytes = size_t(in / kQ8Block) * kQ8BlockBytes, w_bytes = w.packed_row_bytes();
  thread_local std::vector<uint8_t> act;
  act.resize(size_t(T) * a_bytes);
  for (int64_t t = 0; t < T; ++t) quantize_activations_q8_0(x.row(t).data(), in, act.data() + size_t(t) * a_bytes);
  const uint8_t* a = act.data();
  if (has_packed_q4_0_kernel(w.packed_type, selected_isa(), in)) return packed_q4_0_rows(act, T, in, w, row0, y);
  const IntDot4Fn kernel4 = int_dot4_kernel(w.packed_type, selected_isa());
  engine_pool().run(y.cols(), row_grain(T, in), [&](int64_t o0, int64_t o1) {
    int64_t o = o0;
    if (kernel4)
      for (float r4[4]; o + 4 <= o1; o += 4) {
        const uint8_t* wo = w.packed_data() + size_t(row0 + o) * w_bytes;
        for (int64_t t = 0; t < T; ++t) {
          kernel4(wo, w_bytes, a + size_t(t) * a_bytes, in, r4);
          for (int r = 0; r < 4; ++r) y(t, o + r) = r4[r];
        }
      }
    for (; o < o1; ++o) {
      const uint8_t* wo = w.packed_data() + size_t(row0 + o) * w_bytes;
      for (int64_t t = 0; t < T; ++t) y(t, o) = kernel(wo, a + size_t(t) * a_bytes, in);
    }
  });
}

// Packed rows without a kernel (Q4_1, Q6_K), or rows decoded from a native file: each row
// dequantized as exact mode would, then the float dot, so these tensors give exact mode's values.
void dequantized_rows(const Matrix& x, const Tensor& w, int64_t row0, Matrix& y) {
  const int64_t T = x.rows(), in = w.row_size();
  engine_pool().run(y.cols(), row_grain(T, in), [&](int64_t o0, int64_t o1) {
    std::vector<float> row(static_cast<size_t>(in));
    for (int64_t o = o0; o < o1; ++o) {
      tensor_row(w, row0 + o, row.data());
      for (int64_t t = 0; t < T; ++t) y(t, o) = dot(x.row(t).data(), row.data(), in);
    }
  });
}

Matrix rows_times(const Matrix& x, const Tensor& w, int64_t row0, int64_t rows) {
  Matrix y(x.rows(), rows);
  if (w.is_row_decoded()) {
    dequantized_rows(x, w, row0, y);
  } else if (!w.is_packed()) {
    float_rows(x, w, row0, y);
  } else if (const IntDotFn kernel = int_dot_kernel(w.packed_type, selected_isa())) {
    int_rows(x, w, row0, kernel, y);
  } else {
    dequantized_rows(x, w, row0, y);
  }
  return y;
}

}  // namespace

Matrix linear(const Matrix& x, const Tensor& w) { return rows_times(x, w, 0, w.shape[0]); }

Eigen::VectorXf expert_linear(const Eigen::VectorXf& x, const Tensor& w, int64_t expert) {
  const int64_t out = w.shape[1], in = w.shape[2];
  if (w.is_packed() || w.is_row_decoded()) return rows_times(Matrix(x.transpose()), w, expert * out, out).row(0).transpose();
  const ConstMap W(w.ptr() + expert * out * in, out, in);
  return W * x;
}

void tensor_row(const Tensor& t, int64_t r, float* out) {
  const int64_t cols = t.row_size();
  if (t.is_row_decoded()) {
    t.decode_row(r, out);
    return;
  }
  if (!t.is_packed()) {
    std::copy(t.ptr() + r * cols, t.ptr() + (r + 1) * cols, out);
    return;
  }
  dequantize(t.packed_type, t.packed_data() + size_t(r) * t.packed_row_bytes(), cols, out, "packed tensor row");
}

void rms_norm(Matrix& x, int64_t dim, const Tensor* weight, double eps) {
  const int64_t groups = x.cols() / dim;
  for (int64_t r = 0; r < x.rows(); ++r) {
    float* row = x.row(r).data();
    for (int64_t g = 0; g < groups; ++g) {
      float* v = row + g * dim;
      // The mean of squares in double: HF's float32 mean is within float noise of it.
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(v[i]) * double(v[i]);
      const float inv = float(1.0 / std::sqrt(ss / double(dim) + eps));
      for (int64_t i = 0; i < dim; ++i) v[i] = v[i] * inv * (weight ? weight->data[size_t(i)] : 1.0f);
    }
  }
}

float gelu_tanh(float x) {
  const double v = x;
  return float(0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
}

namespace {
std::vector<uint16_t> ggml_gelu_table() {
  std::vector<uint16_t> t(size_t(1) << 16);
  for (size_t h = 0; h < t.size(); ++h) {
    const float x = f16_to_f32(uint16_t(h));
    t[h] = f32_to_f16(0.5f * x * (1.0f + std::tanh(0.79788456080286535587989211986876f * x * (1.0f + 0.044715f * x * x))));
  }
  return t;
}
}  // namespace

float gelu_tanh_f16_table(float x) {
  static const std::vector<uint16_t> table = ggml_gelu_table();
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return f16_to_f32(table[f32_to_f16(x)]);
}

}  // namespace gq::engine
