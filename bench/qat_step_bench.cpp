// QAT training-step throughput and memory, in the real Trainer (fake-quant ops of --recipe on,
// AdamW, clipping, metrics.jsonl) on random tokens: of a Gemma 4 layer stack with random weights
// (the release config's widths, default E2B, cut to --layers layers and a --vocab vocabulary) or of
// a model folder (--model, e.g. examples/models/tiny-e2b, whole). The same steps run without fake
// quantization in the same process, alternating --rounds times, so the QAT/plain step-time ratio
// (issue 10: <= 1.10x) is measured as `gemma-qat train` pays it. Reports tokens/s, model FLOP/s
// (6 x matmul parameters per token + the eager attention's score and value products), MFU against a
// matmul rate measured here (bf16 on CUDA, float32 on the CPU), the peak memory (CUDA caching
// allocator / CPU allocator) and plan --train's estimate of it. With --activation-checkpointing on,
// a third run per round trains the QAT steps with per-layer checkpointing: its step time as a ratio
// to the QAT run without it (one more forward: about 1.3x expected) and both peaks beside both
// estimates.
//
//   qat_step_bench [--device cpu|cuda] [--config C | --model DIR] [--layers N] [--vocab V] [--seq T]
//                  [--batch B] [--steps K] [--rounds R] [--recipe R|none] [--threads N]
//                  [--activation-checkpointing on|off]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

#include <unistd.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#ifdef GQ_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "io/text_file.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/cpu_memory_meter.h"
#include "qat/torch_threads.h"
#include "qat/trainer.h"
#include "recipes/train_memory.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

// The release config's text part with `layers` layers (no KV sharing inside so short a stack) and a
// `vocab`-row vocabulary: the stack's widths, without an embedding table that would dwarf it.
gq::Gemma4Config layer_stack(const std::string& path, int layers, int64_t vocab) {
  json j = json::parse(gq::read_text_file(path));
  if (j.contains("text_config")) j = j["text_config"];
  j["model_type"] = "gemma4_text";
  j["architectures"] = {"Gemma4ForCausalLM"};
  j["num_hidden_layers"] = layers;
  auto types = j.at("layer_types");
  json cut = json::array();
  for (int i = 0; i < layers; ++i) cut.push_back(types.at(size_t(i) % types.size()));
  j["layer_types"] = cut;
  j["num_kv_shared_layers"] = 0;
  j["vocab_size"] = vocab;
  j["vocab_size_per_layer_input"] = vocab;
  if (j.contains("per_layer_config")) {
    json keep = json::object();
    for (auto& [k, v] : j["per_layer_config"].items())
      if (std::stoi(k) < layers) keep[k] = v;
    j["per_layer_config"] = keep;
  }
  return gq::Gemma4Config::parse(j.dump(), path + " (" + std::to_string(layers) + "-layer stack)");
}

// Forward FLOPs per token: 2 per matmul weight (MoE banks: top-k of the experts) plus, per layer,
// the eager attention's two [T, T] products over every head (masked or not: they are computed).
double forward_flops_per_token(const gq::Gemma4Config& c, int64_t T) {
  double f = 0;
  for (const gq::QuantTarget& t : gq::gemma4_quant_targets(c)) {
    if (t.kind == gq::TargetKind::Embedding) continue;
    double n = double(t.rows) * double(t.cols) * double(t.matrices);
    if (t.matrices > 1) n *= double(c.top_k_experts) / double(t.matrices);
    f += 2 * n;
  }
  for (int64_t i = 0; i < c.L(); ++i) f += 2.0 * 2.0 * double(T) * double(c.num_attention_heads * c.layer_head_dim[size_t(i)]);
  return f;
}

void sync(const at::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

// Best matmul rate over a few [n, n] x [n, n] products: bf16 on CUDA, float32 on the CPU.
double measured_matmul_flops(const at::Device& d) {
  const int64_t n = d.is_cuda() ? 8192 : 1024;
  const auto opts = at::TensorOptions().device(d).dtype(d.is_cuda() ? at::kBFloat16 : at::kFloat);
  const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::matmul(a, b);
  sync(d);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const int reps = d.is_cuda() ? 20 : 2;
    for (int r = 0; r < reps; ++r) at::matmul(a, b);
    sync(d);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * double(n) * double(n) * double(n) * reps / s);
  }
  return best;
}

std::string gb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f GB", bytes / 1e9);
  return buf;
}

// One Trainer run of `steps` steps; step 1 (allocation, first kernels, calibration) is the warm-up.
struct StepTiming {
  double median_step_s = 0;  // median over steps 2..K
  double peak_bytes = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

StepTiming time_training(const std::function<gq::Gemma4Model()>& make_model, const std::optional<gq::ResolvedRecipe>& recipe,
                         const gq::TrainOptions& o, const gq::TokenWindows& windows, const at::Device& dev) {
  const std::string run_dir = (fs::temp_directory_path() / ("gq_qat_step_bench_" + std::to_string(::getpid()))).string();
  std::unique_ptr<gq::CpuMemoryMeter> cpu_meter;
  if (!dev.is_cuda()) cpu_meter = std::make_unique<gq::CpuMemoryMeter>();
  at::manual_seed(0);
  gq::Trainer trainer(make_model(), recipe, std::nullopt, gq::Gemma4Model(nullptr), windows, windows, o, run_dir, "{}", "");
#ifdef GQ_WITH_CUDA
  if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(dev.index() < 0 ? 0 : dev.index());
#endif
  StepTiming r;
  std::vector<double> steps_s;
  Clock::time_point last;
  trainer.run([&](const gq::TrainProgress& p) {
    sync(dev);
    const Clock::time_point now = Clock::now();
    if (p.step > 1) steps_s.push_back(std::chrono::duration<double>(now - last).count());
    last = now;
    if (p.step == o.steps) {
      if (cpu_meter) r.peak_bytes = double(cpu_meter->peak_bytes());
#ifdef GQ_WITH_CUDA
      if (dev.is_cuda()) {
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(dev.index() < 0 ? 0 : dev.index());
        r.peak_bytes = double(stats.allocated_bytes[size_t(c10::cuda::CUDACachingAllocator::StatType::AGGREGATE)].peak);
      }
#endif
    }
  });
  fs::remove_all(run_dir);
  r.median_step_s = median(steps_s);
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string device = "cpu", config = std::string(GQ_SOURCE_DIR) + "/examples/configs/e2b.json", model_dir, recipe_name = "q4_0";
  int layers = 4, threads = 0, rounds = 2;
  bool with_ckpt = false;
  int64_t vocab = 8192, seq = 512, batch = 4, steps = 6;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--device") device = v;
    else if (a == "--config") config = v;
    else if (a == "--model") model_dir = v;
    else if (a == "--layers") layers = std::stoi(v);
    else if (a == "--vocab") vocab = std::stoll(v);
    else if (a == "--seq") seq = std::stoll(v);
    else if (a == "--batch") batch = std::stoll(v);
    else if (a == "--steps") steps = std::max<int64_t>(3, std::stoll(v));
    else if (a == "--rounds") rounds = std::max(1, std::stoi(v));
    else if (a == "--recipe") recipe_name = v;
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--activation-checkpointing") with_ckpt = v == "on";
    else throw std::runtime_error("unknown flag " + a);
  }
  const int nthreads = gq::set_torch_threads(threads);
  const at::Device dev(device);
  const gq::Gemma4Config cfg = model_dir.empty() ? layer_stack(config, layers, vocab) : gq::load_model(model_dir)->config();
  std::function<gq::Gemma4Model()> make_model = [&] {
    if (!model_dir.empty()) return gq::load_model(model_dir);
    at::manual_seed(0);
    return gq::Gemma4Model(cfg);
  };
  std::optional<gq::ResolvedRecipe> recipe;
  if (recipe_name != "none")
    recipe = gq::resolve_recipe(gq::Recipe::load(recipe_name), gq::gemma4_quant_targets(cfg), gq::DType::F32);

  // Random tokens, enough windows for every step.
  std::mt19937 rng(0);
  std::vector<std::vector<int32_t>> docs(1);
  for (int64_t i = 0; i < (steps + 1) * batch * (seq + 1); ++i)
    docs[0].push_back(int32_t(3 + rng() % uint32_t(cfg.vocab_size - 3)));
  const gq::TokenWindows windows = gq::pack_documents(docs, seq, 2);
  gq::TrainOptions o;
  o.steps = steps;
  o.batch_size = batch;
  o.seq_len = seq;
  o.warmup_steps = 1;
  o.eval_every = 0;
  o.save_every = 0;
  o.device = device;

  // Plain and QAT runs alternate so drifting machine load hits both alike; the best median of each.
  gq::TrainOptions o_ckpt = o;
  o_ckpt.activation_checkpointing = true;
  double plain_s = 1e30, qat_s = 1e30, peak = 0, ckpt_s = 1e30, ckpt_peak = 0;
  for (int r = 0; r < rounds; ++r) {
    if (recipe) plain_s = std::min(plain_s, time_training(make_model, std::nullopt, o, windows, dev).median_step_s);
    const StepTiming q = time_training(make_model, recipe, o, windows, dev);
    qat_s = std::min(qat_s, q.median_step_s);
    peak = std::max(peak, q.peak_bytes);
    if (with_ckpt) {
      const StepTiming c = time_training(make_model, recipe, o_ckpt, windows, dev);
      ckpt_s = std::min(ckpt_s, c.median_step_s);
      ckpt_peak = std::max(ckpt_peak, c.peak_bytes);
    }
  }

  const double tokens = double(batch * seq), tok_s = tokens / qat_s;
  const double model_flops = 3.0 * forward_flops_per_token(cfg, seq) * tok_s;  // forward + backward = 3x forward
  const double rate = measured_matmul_flops(dev);
  gq::TrainMemoryOptions mo;
  mo.seq_len = seq;
  mo.micro_batch = batch;
  const int64_t estimate = gq::train_memory(cfg, recipe, mo).per_device(1, 0, false);
  const int64_t ckpt_estimate = gq::train_memory(cfg, recipe, mo).per_device(1, 0, true);

  std::printf("qat_step_bench: %s, %lld params, recipe %s, batch %lld x %lld tokens, %s (%d threads), %lld steps x %d rounds\n",
              cfg.source.c_str(), (long long)gq::train_memory(cfg, recipe, mo).params, recipe_name.c_str(),
              (long long)batch, (long long)seq, device.c_str(), nthreads, (long long)steps, rounds);
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| step time (median of steps 2..%lld, best round) | %.1f ms |\n", (long long)steps, qat_s * 1e3);
  std::printf("| tokens/s | %.0f |\n", tok_s);
  if (recipe) {
    std::printf("| step time without fake quant | %.1f ms |\n", plain_s * 1e3);
    std::printf("| QAT / plain step time | %.3fx (target <= 1.10x) |\n", qat_s / plain_s);
  }
  std::printf("| model TFLOP/s (6N + attention) | %.4g |\n", model_flops / 1e12);
  std::printf("| measured matmul rate (%s) | %.4g TFLOP/s |\n", dev.is_cuda() ? "bf16" : "f32", rate / 1e12);
  std::printf("| MFU | %.1f %% |\n", 100.0 * model_flops / rate);
  std::printf("| peak memory (%s allocator) | %s |\n", dev.is_cuda() ? "CUDA caching" : "CPU", peak > 0 ? gb(peak).c_str() : "n/a");
  std::printf("| plan --train estimate | %s |\n", gb(double(estimate)).c_str());
  if (with_ckpt) {
    std::printf("| step time with --activation-checkpointing | %.1f ms |\n", ckpt_s * 1e3);
    std::printf("| checkpointed / not step time | %.3fx (expected ~1.3x: one more forward) |\n", ckpt_s / qat_s);
    std::printf("| peak memory with checkpointing | %s |\n", ckpt_peak > 0 ? gb(ckpt_peak).c_str() : "n/a");
    std::printf("| plan --train estimate with checkpointing | %s |\n", gb(double(ckpt_estimate)).c_str());
    if (ckpt_peak > 0 && peak > 0) std::printf("| checkpointed / not peak memory | %.3fx |\n", ckpt_peak / peak);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "qat_step_bench: error: %s\n", e.what());
  return 1;
}
