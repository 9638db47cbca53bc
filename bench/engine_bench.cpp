// The reference engine against upstream llama.cpp on the same GGUF Q4_0 file, same threads, same
// run: prefill and decode tokens/s and peak RSS, printed as ratios (engine / llama.cpp). Two
// models: examples/models/tiny-e2b, and an E2B-width stack with random weights (the released E2B
// text config with 10 layers, 5 of them KV-shared, and a 16384-token synthesized vocabulary).
// Each measurement runs in a fresh process (this binary with --child, or node
// bench/llama_bench.mjs), so its peak RSS is its own; every figure is the best of --repeat runs.
//
//
// --native FILE.gqn measures a native file instead (no llama.cpp: it has no reader for them): fast
// mode (channel-wise integer kernels) against exact mode, alternating fresh processes, as a ratio.
//
//   engine_bench [--threads 1,2] [--prompt 64] [--gen 128] [--repeat 3] [--models tiny,e2b-width]
//                [--work DIR] [--mode fast|exact|both]
//   engine_bench --native FILE.gqn [--threads 1,2] [--prompt 64] [--gen 128] [--repeat 3]
//   engine_bench --child FILE --mode fast --threads N --ids .. --gen G --repeat R   (one run)

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/e2b_checkpoint.h"
#include "bench/measured_child.h"
#include "engine/decode.h"
#include "engine/int_dot.h"
#include "engine/native_weights.h"
#include "engine/thread_pool.h"
#include "engine/weights.h"
#include "export/gemma4_gguf.h"
#include "io/error.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace gq;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(int32_t(std::stol(item)));
  return out;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

engine::ModelWeights load_engine_weights(const std::string& file, engine::WeightForm form) {
  return engine::is_native_path(file) ? engine::load_native(file, {}, form) : engine::ModelWeights::load_gguf(file, form);
}

// --child: one engine measurement, one JSON line on stdout.
int run_child(const std::string& file, const std::string& mode, int threads, const std::vector<int32_t>& ids, int gen,
              int repeat) {
  engine::set_engine_threads(threads);
  const auto t0 = Clock::now();
  const engine::ModelWeights w = load_engine_weights(file, mode == "exact" ? engine::WeightForm::Exact : engine::WeightForm::Fast);
  const double load_s = seconds_since(t0);
  double prefill = 1e30, decode = 1e30;
  const std::vector<int32_t> prompt(ids.begin(), ids.end() - 1);
  for (int r = 0; r < repeat; ++r) {
    engine::Session s(w);
    auto tp = Clock::now();
    s.prefill(prompt);
    prefill = std::min(prefill, seconds_since(tp));
    // gen decode steps, the first on the prompt's last token, each next token the argmax.
    auto td = Clock::now();
    int32_t next = ids.back();
    for (int i = 0; i < gen; ++i) {
      const std::vector<float> logits = s.step(next);
      next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    decode = std::min(decode, seconds_since(td));
  }
  nlohmann::json j = {{"engine", "gemma-qat " + mode},
                      {"isa", engine::isa_name(engine::selected_isa())},
                      {"load_s", load_s},
                      {"prefill_tokens", prompt.size()},
                      {"prefill_tps", double(prompt.size()) / prefill},
                      {"decode_tokens", gen},
                      {"decode_tps", double(gen) / decode},
                      {"weight_bytes", w.bytes()}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

std::string q4_0_gguf(const std::string& checkpoint, const std::string& out) {
  if (fs::exists(out)) return out;
  GgufExportOptions opt;
  opt.type = GgmlType::Q4_0;
  export_gemma4_gguf(checkpoint, out, opt);
  return out;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  for (int32_t v : parse_ids(s)) out.push_back(v);
  return out;
}

// Prompt ids 3 + 7919 i mod (vocab - 3), i = 0..prompt (the last one starts decoding).
std::vector<int32_t> bench_ids(int64_t vocab, int prompt) {
  std::vector<int32_t> ids;
  for (int i = 0; i <= prompt; ++i) ids.push_back(int32_t(3 + (int64_t(i) * 7919) % (vocab - 3)));
  return ids;
}

// --native: fast against exact mode on one native file, per thread count, in the same run.
int run_native(const std::string& self, const std::string& file, std::map<std::string, std::string>& a) {
  if (!engine::is_native_path(file)) throw FormatError("engine_bench --native: " + file + " is not a .gqn file");
  const int64_t vocab = load_engine_weights(file, engine::WeightForm::Exact).config().vocab_size;
  const std::vector<int32_t> ids = bench_ids(vocab, std::stoi(a["--prompt"]));
  std::printf("%s (%.1f MB)\n", file.c_str(), double(fs::file_size(file)) / 1e6);
  for (int threads : parse_list(a["--threads"])) {
    // The modes alternate, one child process per repetition, and each keeps its best rates: a busy
    // shared machine then slows both alike.
    std::map<std::string, nlohmann::json> by_mode;
    for (int r = 0; r < std::stoi(a["--repeat"]); ++r)
      for (const std::string mode : {"exact", "fast"}) {
        const nlohmann::json j = bench::run_measured({self, "--child", file, "--mode", mode, "--threads", std::to_string(threads),
                                               "--ids", join_ids(ids), "--gen", a["--gen"], "--repeat", "1"});
        nlohmann::json& best = by_mode[mode];
        if (best.is_null()) best = j;
        for (const char* k : {"prefill_tps", "decode_tps"}) best[k] = std::max(best[k].get<double>(), j[k].get<double>());
      }
    for (const std::string mode : {"exact", "fast"}) {
      const nlohmann::json& m = by_mode[mode];
      std::printf("  threads %d  gemma-qat %-5s prefill %8.1f tok/s  decode %8.1f tok/s  peak RSS %7.1f MB  [%s]\n", threads,
                  mode.c_str(), m["prefill_tps"].get<double>(), m["decode_tps"].get<double>(),
                  m["peak_rss_kb"].get<double>() / 1024, m["isa"].get<std::string>().c_str());
    }
    const nlohmann::json &f = by_mode["fast"], &e = by_mode["exact"];
    std::printf("  threads %d  ratio fast / exact  prefill %7.2fx        decode %7.2fx        peak RSS %6.2fx\n", threads,
                f["prefill_tps"].get<double>() / e["prefill_tps"].get<double>(),
                f["decode_tps"].get<double>() / e["decode_tps"].get<double>(),
                f["peak_rss_kb"].get<double>() / e["peak_rss_kb"].get<double>());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::map<std::string, std::string> a = {{"--threads", "1,2"}, {"--prompt", "64"}, {"--gen", "128"},
                                            {"--repeat", "3"},    {"--models", "tiny,e2b-width"},
                                            {"--work", (fs::temp_directory_path() / "gq-engine-bench").string()},
                                            {"--mode", "fast"}};
    std::string child, native;
    for (int i = 1; i < argc; ++i) {
      const std::string k = argv[i];
      if (i + 1 >= argc) throw FormatError("engine_bench: " + k + " needs a value");
      if (k == "--child") child = argv[++i];
      else if (k == "--native") native = argv[++i];
      else if (k == "--ids" || a.count(k)) a[k] = argv[++i];
      else throw FormatError("engine_bench: unknown option " + k);
    }
    if (!child.empty())
      return run_child(child, a["--mode"], std::stoi(a["--threads"]), parse_ids(a["--ids"]), std::stoi(a["--gen"]),
                       std::stoi(a["--repeat"]));
    const std::string self = fs::canonical("/proc/self/exe").string();
    if (!native.empty()) return run_native(self, native, a);

    const std::string work = a["--work"];
    fs::create_directories(work);
    std::vector<std::pair<std::string, std::string>> models;  // name, gguf
    for (const std::string& m : {std::string("tiny"), std::string("e2b-width")}) {
      if (a["--models"].find(m) == std::string::npos) continue;
      if (m == "tiny") {
        models.emplace_back(m, q4_0_gguf(std::string(GQ_SOURCE_DIR) + "/examples/models/tiny-e2b", work + "/tiny-e2b-q4_0.gguf"));
      } else {
        const std::string ckpt = work + "/e2b-width-10l";
        if (!fs::exists(work + "/e2b-width-10l-q4_0.gguf")) {
          // The released E2B text config with 10 layers (its first ten layer types; the last five
          // KV-shared, their donors layers 3 and 4) and a 16384-token vocabulary, random bf16 weights.
          bench::E2bCheckpointOptions o;
          o.layers = 10;
          o.kv_shared = 5;
          o.vocab = 16384;
          bench::write_e2b_checkpoint(ckpt, o);
        }
        models.emplace_back(m, q4_0_gguf(ckpt, work + "/e2b-width-10l-q4_0.gguf"));
      }
    }
    const std::string llama_script = std::string(GQ_SOURCE_DIR) + "/bench/llama_bench.mjs";
    std::vector<std::string> modes;
    if (a["--mode"] == "both") modes = {"fast", "exact"};
    else modes = {a["--mode"]};
    for (const auto& [name, file] : models) {
      const engine::ModelWeights probe = engine::ModelWeights::load_gguf(file, engine::WeightForm::Fast);
      const int64_t vocab = probe.config().vocab_size;
      const std::vector<int32_t> ids = bench_ids(vocab, std::stoi(a["--prompt"]));
      std::printf("%s: %s (%.1f MB)\n", name.c_str(), file.c_str(), double(fs::file_size(file)) / 1e6);
      for (int threads : parse_list(a["--threads"])) {
        const nlohmann::json llama = bench::run_measured({"node", llama_script, file, "--ids", join_ids(ids), "--gen", a["--gen"],
                                                   "--threads", std::to_string(threads), "--repeat", a["--repeat"]});
        std::printf("  threads %d  llama.cpp      prefill %8.1f tok/s  decode %8.1f tok/s  peak RSS %7.1f MB (node included)\n",
                    threads, llama["prefill_tps"].get<double>(), llama["decode_tps"].get<double>(),
                    llama["peak_rss_kb"].get<double>() / 1024);
        for (const std::string& mode : modes) {
          const nlohmann::json ours = bench::run_measured({self, "--child", file, "--mode", mode, "--threads", std::to_string(threads),
                                                    "--ids", join_ids(ids), "--gen", a["--gen"], "--repeat", a["--repeat"]});
          std::printf("  threads %d  gemma-qat %-5s prefill %8.1f tok/s  decode %8.1f tok/s  peak RSS %7.1f MB  [%s]\n",
                      threads, mode.c_str(), ours["prefill_tps"].get<double>(), ours["decode_tps"].get<double>(),
                      ours["peak_rss_kb"].get<double>() / 1024, ours["isa"].get<std::string>().c_str());
          std::printf("  threads %d  ratio %-5s     prefill %7.2fx        decode %7.2fx        peak RSS %6.2fx\n", threads,
                      mode.c_str(), ours["prefill_tps"].get<double>() / llama["prefill_tps"].get<double>(),
                      ours["decode_tps"].get<double>() / llama["decode_tps"].get<double>(),
                      ours["peak_rss_kb"].get<double>() / llama["peak_rss_kb"].get<double>());
        }
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
