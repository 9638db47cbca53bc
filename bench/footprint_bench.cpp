// Issue 13's footprint check: an E2B-shaped model (the released text config, all 35 layers and
// the 262144-token vocabulary, random weights) exported native under a recipe whose text-only
// bytes `plan` puts under 1 GB, then decoded for --gen tokens in the engine (fast mode, the
// per-layer embedding table mapped from the file), in a fresh process whose peak RSS (wait4's
// ru_maxrss) is compared with plan's estimate and with 1.0 GB.
//
//   footprint_bench [--recipe examples/recipes/mobile-e2b-1gb.json] [--gen 512] [--prompt 8]
//                   [--threads 2] [--work DIR] [--mode fast|exact] [--layers 0] [--vocab 0] [--run yes|no]
//   footprint_bench --child FILE.gqn --mode fast --threads N --prompt P --gen G     (one run)
//
// The checkpoint (~10 GB bf16) and the native file are kept in --work and reused.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/e2b_checkpoint.h"
#include "bench/measured_child.h"
#include "engine/decode.h"
#include "engine/int_dot.h"
#include "engine/native_weights.h"
#include "engine/thread_pool.h"
#include "export/native_writer.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "quant/activation.h"
#include "recipes/calibration.h"
#include "recipes/memory_footprint.h"
#include "recipes/recipe.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace gq;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Resident set of this process now (VmRSS) and the part of it that is file pages (RssFile), in kB.
std::pair<long, long> rss_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  long rss = 0, file = 0;
  char line[256];
  while (f && std::fgets(line, sizeof line, f)) {
    std::sscanf(line, "VmRSS: %ld", &rss);
    std::sscanf(line, "RssFile: %ld", &file);
  }
  if (f) std::fclose(f);
  return {rss, file};
}

int run_child(const std::string& file, const std::string& mode, int threads, int prompt, int gen) {
  engine::set_engine_threads(threads);
  const auto t0 = Clock::now();
  const engine::ModelWeights w =
      engine::load_native(file, {}, mode == "exact" ? engine::WeightForm::Exact : engine::WeightForm::Fast);
  const double load_s = seconds_since(t0);
  const auto [after_load_kb, file_after_load_kb] = rss_kb();
  const int64_t vocab = w.config().vocab_size;
  std::vector<int32_t> ids;
  for (int i = 0; i < prompt; ++i) ids.push_back(int32_t(3 + (int64_t(i) * 7919) % (vocab - 3)));
  engine::Session s(w);
  const auto tp = Clock::now();
  std::vector<float> logits = s.prefill(ids);
  const double prefill_s = seconds_since(tp);
  const auto td = Clock::now();
  for (int i = 0; i < gen; ++i) {
    const int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = s.step(next);
  }
  const double decode_s = seconds_since(td);
  nlohmann::json j = {{"mode", mode},
                      {"isa", engine::isa_name(engine::selected_isa())},
                      {"load_s", load_s},
                      {"rss_after_load_kb", after_load_kb},
                      {"rss_file_after_load_kb", file_after_load_kb},
                      {"prefill_tps", double(prompt) / prefill_s},
                      {"decode_tokens", gen},
                      {"decode_tps", double(gen) / decode_s},
                      {"weight_bytes", w.bytes()},
                      {"mapped_bytes", w.mapped_bytes()},
                      {"rss_end_kb", rss_kb().first},
                      {"rss_file_end_kb", rss_kb().second}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

double mb(double bytes) { return bytes / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  try {
    std::map<std::string, std::string> a = {
        {"--recipe", std::string(GQ_SOURCE_DIR) + "/examples/recipes/mobile-e2b-1gb.json"},
        {"--gen", "512"}, {"--prompt", "8"}, {"--threads", "2"}, {"--mode", "fast"}, {"--layers", "0"}, {"--vocab", "0"}, {"--run", "yes"},
        {"--work", (fs::temp_directory_path() / "gq-footprint-bench").string()}};
    std::string child;
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (i + 1 >= argc) throw FormatError("footprint_bench: " + k + " needs a value");
      if (k == "--child") child = argv[++i];
      else if (a.count(k)) a[k] = argv[++i];
      else throw FormatError("footprint_bench: unknown option " + k);
    }
    if (!child.empty())
      return run_child(child, a["--mode"], std::stoi(a["--threads"]), std::stoi(a["--prompt"]), std::stoi(a["--gen"]));

    const std::string work = a["--work"];
    const int layers = std::stoi(a["--layers"]);
    const int64_t vocab = std::stoll(a["--vocab"]);
    const std::string tag = "e2b-" + (layers ? std::to_string(layers) + "l" : std::string("full")) +
                            (vocab ? "-v" + std::to_string(vocab) : std::string());
    const std::string ckpt = work + "/" + tag;
    fs::create_directories(work);
    if (!fs::exists(ckpt + "/model.safetensors.index.json")) {
      const auto t0 = Clock::now();
      bench::E2bCheckpointOptions o;
      o.layers = layers;
      o.vocab = vocab;
      const int64_t params = bench::write_e2b_checkpoint(ckpt, o);
      std::printf("wrote %s: %.3f B parameters, bf16, random (%.0f s)\n", ckpt.c_str(), double(params) / 1e9,
                  seconds_since(t0));
    }
    const Gemma4Config cfg = Gemma4Config::load(ckpt);
    const Recipe recipe = Recipe::load(a["--recipe"]);
    const ResolvedRecipe rr = resolve_recipe(recipe, gemma4_quant_targets(cfg), DType::BF16);
    // The native file stores what compressed-tensors does for these schemes (levels + bf16 scales).
    const MemoryFootprint plan = memory_footprint(cfg, rr, StorageFormat::CompressedTensors,
                                                  std::stoll(a["--prompt"]) + std::stoll(a["--gen"]));
    const int64_t text_only = plan.total.bytes - plan.ple_table_bytes;
    const std::string file = work + "/" + tag + "-" + recipe.name + ".gqn";
    if (!fs::exists(file)) {
      const auto t0 = Clock::now();
      NativeExportOptions eo;
      eo.recipe = recipe;
      if (rr.has_static_activations()) {
        // Random weights have no meaningful activation ranges to calibrate (and calibrating takes
        // LibTorch): every static scale is that of [-4, 4], which bytes and speed do not depend on.
        Calibration cal;
        cal.recipe = recipe.name;
        cal.observer = "minmax";
        const auto fixed = [](const quant::ActivationScheme& s) {
          ActivationCalibration c;
          c.scheme = quant::activation_scheme_name(s);
          c.min = -4, c.max = 4, c.scale = 4.0f / 127, c.zero_point = 0;
          return c;
        };
        for (const auto& [m, s] : rr.activations) cal.activations[m] = fixed(s);
        for (const auto& [m, s] : rr.output_activations) cal.output_activations[m] = fixed(s);
        eo.calibration = work + "/" + tag + "-" + recipe.name + "-calibration.json";
        cal.save(eo.calibration);
      }
      const NativeExportResult r = export_native(ckpt, file, eo);
      std::printf("exported %s: %.1f MB (per-layer table %.1f MB) in %.0f s\n", file.c_str(), mb(double(r.bytes)),
                  mb(double(r.ple_bytes)), seconds_since(t0));
    }
    std::printf("plan (%s, %s): text-only weights %.1f MB, KV cache %.1f MB at %lld tokens; file %.1f MB\n",
                recipe.name.c_str(), tag.c_str(), mb(double(text_only)), mb(double(plan.kv_cache_bytes)),
                (long long)plan.context, mb(double(fs::file_size(file))));
    std::fflush(stdout);
    if (a["--run"] == "no") return 0;  // files prepared only
    const std::string self = fs::canonical("/proc/self/exe").string();
    const nlohmann::json r = bench::run_measured({self, "--child", file, "--mode", a["--mode"], "--threads", a["--threads"],
                                           "--prompt", a["--prompt"], "--gen", a["--gen"]});
    const double peak = double(r["peak_rss_kb"].get<long>()) * 1024;
    std::printf("engine %s [%s], %s threads: load %.1f s, RSS after load %.1f MB (file pages %.1f MB), prefill %.1f "
                "tok/s, decode %d tokens at %.2f tok/s, RSS at the end %.1f MB (file pages %.1f MB)\n",
                a["--mode"].c_str(), r["isa"].get<std::string>().c_str(), a["--threads"].c_str(), r["load_s"].get<double>(),
                r["rss_after_load_kb"].get<double>() * 1024 / 1e6, r["rss_file_after_load_kb"].get<double>() * 1024 / 1e6,
                r["prefill_tps"].get<double>(), r["decode_tokens"].get<int>(), r["decode_tps"].get<double>(),
                r["rss_end_kb"].get<double>() * 1024 / 1e6, r["rss_file_end_kb"].get<double>() * 1024 / 1e6);
    std::printf("weights held %.1f MB, read in place from the map %.1f MB\n", mb(r["weight_bytes"].get<double>()),
                mb(r["mapped_bytes"].get<double>()));
    std::printf("peak RSS %.1f MB = %.3fx plan's text-only + KV (%.1f MB); target <= 1000 MB: %s\n", mb(peak),
                peak / double(text_only + plan.kv_cache_bytes), mb(double(text_only + plan.kv_cache_bytes)),
                peak <= 1e9 ? "met" : "NOT met");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
