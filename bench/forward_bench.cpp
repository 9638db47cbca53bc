// Forward throughput of a Gemma 4 checkpoint (default: the tiny E2B-like fixture).
// Reports prefill tokens/s at two batch sizes and greedy decode tokens/s with the KV cache against
// re-running the whole prefix each step (the baseline, measured in the same run). Decoding through a
// run's fake-quant model against the float model: run_generate_bench.
//
//   forward_bench [MODEL_DIR] [--threads N] [--seq T] [--iters K]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "qat/checkpoint_loader.h"
#include "qat/torch_threads.h"

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Best of `iters` runs of fn(), in seconds (best-of filters out a busy shared machine).
template <class F>
double best_of(int iters, F fn) {
  double best = 1e30;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::string(GQ_SOURCE_DIR) + "/tests/data/gemma4-tiny/dense_ple";
  int threads = 0, seq = 128, iters = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--seq" && i + 1 < argc) seq = std::atoi(argv[++i]);
    else if (a == "--iters" && i + 1 < argc) iters = std::atoi(argv[++i]);
    else dir = a;
  }
  const int nthreads = gq::set_torch_threads(threads);
  gq::Gemma4Model model = gq::load_model(dir);
  const int64_t V = model->config().vocab_size;
  at::NoGradGuard ng;
  at::manual_seed(0);
  std::printf("model %s, %d threads, seq %d, best of %d\n", dir.c_str(), nthreads, seq, iters);
  std::printf("%-34s %12s\n", "case", "tokens/s");

  for (int64_t batch : {1, 8}) {
    const at::Tensor ids = at::randint(V, {batch, seq}, at::kLong);
    model->forward(ids);  // warm-up
    const double s = best_of(iters, [&] { model->forward(ids); });
    std::printf("prefill batch %-3lld                  %12.0f\n", (long long)batch, double(batch * seq) / s);
  }

  const int n_new = 32;
  const at::Tensor prompt = at::randint(V, {1, seq}, at::kLong);
  auto decode = [&](gq::Gemma4Model& m) {
    gq::KVCache cache = m->new_cache();
    at::Tensor next = m->forward(prompt, &cache).logits.select(1, -1).argmax(-1, true);
    for (int i = 0; i < n_new; ++i) next = m->forward(next, &cache).logits.select(1, -1).argmax(-1, true);
  };
  const double cached = best_of(iters, [&] { decode(model); });
  const double recompute = best_of(iters, [&] {
    at::Tensor ids = prompt;
    for (int i = 0; i <= n_new; ++i) ids = at::cat({ids, model->forward(ids).logits.select(1, -1).argmax(-1, true)}, 1);
  });
  std::printf("decode %d tokens, KV cache           %12.0f\n", n_new, double(n_new) / cached);
  std::printf("decode %d tokens, recompute prefix   %12.0f\n", n_new, double(n_new) / recompute);
  std::printf("KV-cache speed-up over recompute: %.2fx\n", recompute / cached);

  return 0;
}
