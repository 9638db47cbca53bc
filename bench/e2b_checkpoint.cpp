#include "bench/e2b_checkpoint.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "formats/safetensors.h"
#include "io/error.h"
#include "io/half.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"

namespace fs = std::filesystem;

namespace gq::bench {
namespace {

constexpr size_t kShardBytes = size_t(1) << 30;

// splitmix64: fast enough for billions of values (a normal distribution from <random> would take
// minutes); the benchmarks need shapes and plausible magnitudes, not Gaussian tails.
struct Uniform {
  uint64_t s;
  float next(float half_width) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * half_width;
  }
};

}  // namespace

int64_t write_e2b_checkpoint(const std::string& dir, const E2bCheckpointOptions& opt) {
  std::ifstream in(std::string(GQ_SOURCE_DIR) + "/examples/configs/e2b.json");
  if (!in) throw FormatError(std::string(GQ_SOURCE_DIR) + "/examples/configs/e2b.json: cannot read");
  nlohmann::json c = nlohmann::json::parse(in)["text_config"];
  c["architectures"] = {"Gemma4ForCausalLM"};
  if (opt.layers > 0) {
    std::vector<std::string> types = c["layer_types"];
    if (opt.layers > int(types.size())) throw FormatError("e2b checkpoint: more layers than the release has");
    types.resize(size_t(opt.layers));
    c["layer_types"] = types;
    c["num_hidden_layers"] = opt.layers;
    c["num_kv_shared_layers"] = opt.kv_shared >= 0 ? opt.kv_shared : opt.layers / 2;
  } else if (opt.kv_shared >= 0) {
    c["num_kv_shared_layers"] = opt.kv_shared;
  }
  if (opt.vocab > 0) {
    c["vocab_size"] = opt.vocab;
    c["vocab_size_per_layer_input"] = opt.vocab;
  }
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << c.dump(2);
  const Gemma4Config cfg = Gemma4Config::load(dir);

  // Uniform on [-a, a] has standard deviation a / sqrt(3).
  const float half_width = 0.02f * std::sqrt(3.0f);
  Uniform rng{opt.seed};
  nlohmann::json weight_map = nlohmann::json::object();
  std::vector<std::vector<uint16_t>> store;
  std::vector<TensorToWrite> shard;
  size_t shard_bytes = 0, total_bytes = 0;
  int64_t params = 0;
  int shard_index = 0;
  const auto flush = [&] {
    if (shard.empty()) return;
    const std::string name = "model-" + std::to_string(++shard_index) + ".safetensors";
    write_safetensors(dir + "/" + name, shard);
    for (const TensorToWrite& t : shard) weight_map[t.name] = name;
    shard.clear();
    store.clear();
    shard_bytes = 0;
  };
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    std::vector<uint16_t> v(size_t(s.numel()));
    const bool norm_like = s.shape.size() == 1;  // norms, layer_scalar: 1 (Gemma 4 norms scale by w)
    for (uint16_t& x : v) x = f32_to_bf16(norm_like ? 1.0f : rng.next(half_width));
    if (shard_bytes > 0 && shard_bytes + v.size() * 2 > kShardBytes) flush();
    shard_bytes += v.size() * 2;
    total_bytes += v.size() * 2;
    params += s.numel();
    store.push_back(std::move(v));
    shard.push_back(TensorToWrite{stored_name(kTextPrefix, s.name), DType::BF16, s.shape, store.back().data(),
                                  store.back().size() * 2});
  }
  flush();
  nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  const std::string tmp = dir + "/model.safetensors.index.json.tmp";
  std::ofstream(tmp) << index.dump(1);
  fs::rename(tmp, dir + "/model.safetensors.index.json");
  return params;
}

}  // namespace gq::bench
