// Native mobile fast mode's integer Linear (engine/channel_linear.h) against the float Linear on the
// same dequantized weights, one token at a time (the decode shape), in the same run: the ratio is
// what the integer path buys (or costs) a decode step's Linears. Not a whole-model decode figure.
//   channel_linear_bench [threads]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "engine/channel_int_dot.h"
#include "engine/channel_linear.h"
#include "engine/ops.h"
#include "engine/thread_pool.h"
#include "engine/weights.h"
#include "quant/activation.h"
#include "quant/rounding.h"

using namespace gq::engine;

namespace {

template <class F>
double best_seconds(F&& f, int reps) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  set_engine_threads(threads);
  const auto scheme = gq::quant::parse_activation_scheme("int8_sym@bf16");
  const gq::quant::ActivationParams in{0.03125f, 0};
  struct Shape { const char* name; int bits; int64_t rows, cols; };
  // Gemma 4 E2B's shapes: MLP up (1536 -> 6144) and down (6144 -> 1536) int4, a 32768-row slice of
  // the 2-bit head, and up_proj as int8 (the table lookups are gathers there).
  const Shape shapes[] = {{"up_proj int4", 4, 6144, 1536},
                          {"down_proj int4", 4, 1536, 6144},
                          {"head slice int2", 2, 32768, 1536},
                          {"up_proj int8", 8, 6144, 1536}};
  std::mt19937 rng(1);
  std::printf("isa %s, %d thread(s)\n", isa_name(selected_isa()), threads);
  for (const Shape& s : shapes) {
    PackedChannelWeight w;
    w.bits = s.bits;
    w.rows = s.rows;
    w.cols = s.cols;
    w.levels.resize(size_t(s.rows) * channel_row_bytes(s.bits, s.cols));
    for (auto& b : w.levels) b = uint8_t(rng());
    const float scale = gq::quant::round_scale_to(0.01f, gq::DType::BF16);
    w.scales.assign(size_t(s.rows), scale);
    w.scale_dtype = gq::DType::BF16;
    build_level_grid(w, s.name);
    std::vector<float> wf(size_t(s.rows * s.cols));
    const int per_byte = 8 / s.bits;
    const size_t rb = channel_row_bytes(s.bits, s.cols);
    for (int64_t r = 0; r < s.rows; ++r)
      for (int64_t k = 0; k < s.cols; ++k) {
        int v = (w.levels[r * rb + k / per_byte] >> (s.bits * (k % per_byte))) & ((1 << s.bits) - 1);
        if (v >= (1 << (s.bits - 1))) v -= 1 << s.bits;
        wf[size_t(r * s.cols + k)] = gq::quant::round_scale_to(float(v) * scale, gq::DType::BF16);
      }
    const Tensor wt({s.rows, s.cols}, std::move(wf));
    Matrix x(1, s.cols);
    std::normal_distribution<float> nd;
    for (int64_t k = 0; k < s.cols; ++k) x(0, k) = nd(rng);
    Matrix xq(1, s.cols);
    gq::quant::fake_quant_activation(scheme, in, x.data(), xq.data(), s.cols);
    volatile float sink = 0;
    const double t_float = best_seconds([&] { sink = sink + linear(xq, wt)(0, 0); }, 20);
    const double t_int = best_seconds([&] { sink = sink + channel_linear(x, w, scheme, in, selected_isa())(0, 0); }, 20);
    std::printf("%-16s [%lld x %lld]: float %.3f ms, integer %.3f ms, integer / float speed %.2fx\n", s.name,
                (long long)s.rows, (long long)s.cols, t_float * 1e3, t_int * 1e3, t_float / t_int);
  }
  return 0;
}
