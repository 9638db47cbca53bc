// Random-weight Gemma4ForCausalLM checkpoints of the released E2B text config
// (examples/configs/e2b.json), for benchmarks that need its real shapes: all 35 layers and the
// 262144-token vocabulary, or fewer of each. Written in shards of at most ~1 GB (with HF's
// model.safetensors.index.json), so a 10 GB bf16 checkpoint never sits in memory whole.
#pragma once
#include <cstdint>
#include <string>

namespace gq::bench {

struct E2bCheckpointOptions {
  int layers = 0;      // 0: the release's 35; else its first `layers` layer types
  int kv_shared = -1;  // KV-shared layers among them; -1: the release's 20 (or layers / 2 when cut)
  int64_t vocab = 0;   // 0: the release's 262144 (the per-layer vocabulary follows)
  uint64_t seed = 1234;
};

// Writes config.json and the shards into `dir` (created). Weights: bf16, uniform with the
// standard deviation 0.02 of HF's initializer; 1-D tensors (norms, layer scalars) 1. No tokenizer
// (the exporters synthesize a vocabulary). Returns the parameters written.
int64_t write_e2b_checkpoint(const std::string& dir, const E2bCheckpointOptions& opt = {});

}  // namespace gq::bench
