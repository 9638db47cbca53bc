// Generation from a run against generation from the float model, one run: greedy decode (what
// `gemma-qat generate` does) with the float model, with the recipe's fake-quant model as it was
// (every weight quantized every forward) and frozen (freeze_fake_quant: each weight once, what
// generate / logits / eval / validate on a run compute). Target: frozen >= 0.9x float tokens/s.
// Cases alternate within each repetition and the best of each is kept, so a busy shared machine
// slows them alike. The frozen and the live fake-quant model must pick the same tokens.
//
//   run_generate_bench [MODEL_DIR] [--recipe R] [--tokens N] [--prompt T] [--iters K] [--threads 1,2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"
#include "qat/quantize.h"
#include "qat/torch_threads.h"
#include "recipes/recipe.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string dir = std::string(GQ_SOURCE_DIR) + "/examples/models/tiny-e2b", recipe = "q4_0", thread_list = "1,2";
  int n_new = 64, prompt_len = 16, iters = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--recipe" && i + 1 < argc) recipe = argv[++i];
    else if (a == "--tokens" && i + 1 < argc) n_new = std::atoi(argv[++i]);
    else if (a == "--prompt" && i + 1 < argc) prompt_len = std::atoi(argv[++i]);
    else if (a == "--iters" && i + 1 < argc) iters = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) thread_list = argv[++i];
    else dir = a;
  }
  gq::Gemma4Model plain = gq::load_model(dir);
  const gq::ResolvedRecipe rr = gq::resolve_recipe(gq::Recipe::load(recipe), gq::gemma4_quant_targets(plain->config()));
  // The recipe's fake-quant model; static activation / KV scales calibrated on the same random ids
  // for both copies (the bench times decoding, not what the scales are).
  auto fake_quant = [&] {
    gq::Gemma4Model m = gq::load_model(dir);
    gq::quantize_model(m, rr);
    if (rr.has_static_activations() || rr.kv_cache) {
      gq::begin_calibration(m);
      at::NoGradGuard ng;
      at::manual_seed(1);
      m->forward(at::randint(m->config().vocab_size, {2, 64}, at::kLong));
      gq::finish_calibration(m, rr.name, rr.observer);
    }
    return m;
  };
  gq::Gemma4Model live = fake_quant();
  gq::Gemma4Model frozen = fake_quant();
  gq::freeze_fake_quant(frozen);

  at::manual_seed(0);
  const at::Tensor p = at::randint(plain->config().vocab_size, {prompt_len}, at::kLong);
  const std::vector<int64_t> prompt(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + prompt_len);
  std::printf("model %s, recipe %s, prompt %d, %d new tokens (greedy, KV cache), best of %d\n", dir.c_str(),
              recipe.c_str(), prompt_len, n_new, iters);

  std::stringstream threads_in(thread_list);
  for (std::string t; std::getline(threads_in, t, ',');) {
    const int nthreads = gq::set_torch_threads(std::atoi(t.c_str()));
    struct Case {
      const char* name;
      gq::Gemma4Model* model;
      double best = 1e30;
      std::vector<int64_t> tokens;
    };
    std::vector<Case> cases = {{"float", &plain, 1e30, {}},
                                {"fake-quant, every forward", &live, 1e30, {}},
                                {"fake-quant, frozen", &frozen, 1e30, {}}};
    for (Case& c : cases) c.tokens = gq::greedy_generate(*c.model, prompt, 2);  // warm-up
    for (int i = 0; i < iters; ++i)
      for (Case& c : cases) {
        const auto t0 = Clock::now();
        c.tokens = gq::greedy_generate(*c.model, prompt, n_new);
        c.best = std::min(c.best, std::chrono::duration<double>(Clock::now() - t0).count());
      }
    std::printf("\n%d thread(s)\n%-28s %10s %10s\n", nthreads, "case", "tokens/s", "vs float");
    for (const Case& c : cases)
      std::printf("%-28s %10.1f %9.2fx\n", c.name, n_new / c.best, cases[0].best / c.best);
    std::printf("run vs float generation, %d thread(s): %.2fx (target >= 0.90x); before freezing %.2fx\n", nthreads,
                cases[0].best / cases[2].best, cases[0].best / cases[1].best);
    if (cases[1].tokens != cases[2].tokens) {
      std::fprintf(stderr, "run_generate_bench: the frozen model generated other tokens than the live one\n");
      return 1;
    }
  }
  return 0;
}
