// Writes a model GGUF the way our exporter lays one out (export/gemma4_gguf.cpp: its gemma4.* keys,
// its tensor names and order, rope_freqs after token_embd, norms and 1-D tensors in F32, the unused
// k/v of KV-shared layers left out), from weights already in memory, with a chosen type per tensor
// and deliberate faults. engine_tests links the engine alone, so this is the exporter's layout
// restated, not the exporter.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "engine/gguf_names.h"
#include "engine/weights.h"
#include "formats/gguf.h"
#include "io/error.h"
#include "io/half.h"
#include "model/gemma4_tensors.h"

namespace gq::test {

struct GgufModelOptions {
  // The type of each 2-D / 3-D weight (by HF name); 1-D tensors are always F32.
  std::function<GgmlType(const std::string& hf_name)> type_of = [](const std::string&) { return GgmlType::F32; };
  std::string drop;          // HF name of a tensor to leave out
  std::string halve_rows;    // HF name of a tensor written with half its rows (a misshapen tensor)
  bool metadata = true;      // the exporter's gemma4.* keys
};

// ggml's reference Q8_0 block quantizer (quantize_row_q8_0_ref): d = amax / 127, q = round(x / d).
inline void encode_q8_0(const float* x, int64_t n, std::vector<uint8_t>& out) {
  for (int64_t b = 0; b < n; b += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t h = f32_to_f16(d);
    out.push_back(uint8_t(h & 0xff));
    out.push_back(uint8_t(h >> 8));
    for (int j = 0; j < 32; ++j) out.push_back(uint8_t(int8_t(std::lround(x[b + j] * id))));
  }
}

inline void encode(GgmlType type, const float* x, int64_t n, std::vector<uint8_t>& out) {
  auto put16 = [&](uint16_t h) {
    out.push_back(uint8_t(h & 0xff));
    out.push_back(uint8_t(h >> 8));
  };
  switch (type) {
    case GgmlType::F32: {
      const size_t at = out.size();
      out.resize(at + size_t(n) * 4);
      std::memcpy(out.data() + at, x, size_t(n) * 4);
      return;
    }
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) put16(f32_to_f16(x[i]));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) put16(f32_to_bf16(x[i]));
      return;
    case GgmlType::Q8_0:
      encode_q8_0(x, n, out);
      return;
    case GgmlType::Q5_0:  // refused by the engine: any bytes of the right size
      out.resize(out.size() + size_t(n / 32) * 22, 0x11);
      return;
    default:
      throw FormatError("test: no encoder for " + std::string(ggml_type_name(type)));
  }
}

// export/gemma4_gguf_meta.cpp's keys for `c`.
inline void add_exporter_metadata(GgufWriter& w, const Gemma4Config& c) {
  const std::string A = "gemma4.";
  auto per_layer = [&](const std::string& key, const std::vector<int64_t>& v) {
    if (std::set<int64_t>(v.begin(), v.end()).size() == 1) return w.add(key, GgufValue::u32(uint32_t(v[0])));
    std::vector<int32_t> a(v.begin(), v.end());
    w.add(key, GgufValue::i32_array(a));
  };
  int64_t hd_full = c.global_head_dim, hd_swa = -1;
  for (int64_t i = c.L() - 1; i >= 0; --i) (c.is_sliding(i) ? hd_swa : hd_full) = c.layer_head_dim[size_t(i)];
  if (hd_swa < 0) hd_swa = hd_full;
  w.add("general.architecture", GgufValue::str("gemma4"));
  w.add("general.name", GgufValue::str("engine-test"));
  w.add(A + "context_length", GgufValue::u32(uint32_t(c.max_position_embeddings)));
  w.add(A + "embedding_length", GgufValue::u32(uint32_t(c.hidden_size)));
  w.add(A + "block_count", GgufValue::u32(uint32_t(c.L())));
  per_layer(A + "feed_forward_length", c.layer_intermediate);
  w.add(A + "attention.head_count", GgufValue::u32(uint32_t(c.num_attention_heads)));
  per_layer(A + "attention.head_count_kv", c.layer_kv_heads);
  w.add(A + "attention.key_length", GgufValue::u32(uint32_t(hd_full)));
  w.add(A + "attention.value_length", GgufValue::u32(uint32_t(hd_full)));
  w.add(A + "attention.key_length_swa", GgufValue::u32(uint32_t(hd_swa)));
  w.add(A + "attention.value_length_swa", GgufValue::u32(uint32_t(hd_swa)));
  w.add(A + "rope.dimension_count", GgufValue::u32(uint32_t(hd_full)));
  w.add(A + "rope.dimension_count_swa", GgufValue::u32(uint32_t(hd_swa)));
  w.add(A + "rope.freq_base", GgufValue::f32(float(c.rope_full.rope_theta)));
  w.add(A + "rope.freq_base_swa", GgufValue::f32(float(c.rope_sliding.rope_theta)));
  w.add(A + "attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_norm_eps)));
  w.add(A + "attention.sliding_window", GgufValue::u32(uint32_t(c.sliding_window)));
  std::vector<bool> pattern;
  for (int64_t i = 0; i < c.L(); ++i) pattern.push_back(c.is_sliding(i));
  w.add(A + "attention.sliding_window_pattern", GgufValue::bool_array(pattern));
  w.add(A + "attention.shared_kv_layers", GgufValue::u32(uint32_t(c.num_kv_shared_layers)));
  w.add(A + "embedding_length_per_layer_input", GgufValue::u32(uint32_t(c.has_ple() ? c.hidden_size_per_layer_input : 0)));
  w.add(A + "final_logit_softcapping", GgufValue::f32(float(c.final_logit_softcapping.value_or(0.0))));
  if (c.enable_moe_block) {
    w.add(A + "expert_count", GgufValue::u32(uint32_t(c.num_experts)));
    w.add(A + "expert_used_count", GgufValue::u32(uint32_t(c.top_k_experts)));
    w.add(A + "expert_feed_forward_length", GgufValue::u32(uint32_t(c.moe_intermediate_size)));
  }
}

// export/gemma4_gguf_meta.cpp gemma4_rope_freqs: factor on the rotated pairs, 1e30 on the others.
inline std::vector<float> rope_freqs(const Gemma4Config& c, int64_t hd_full) {
  const RopeParams& r = c.rope_full;
  int64_t rotated = hd_full / 2;
  float ff = 1.0f;
  if (r.rope_type == "proportional") {
    rotated = int64_t(r.partial_rotary_factor * double(hd_full)) / 2;
    ff = float(r.factor);
  }
  std::vector<float> out(size_t(hd_full / 2), 1e30f);
  for (int64_t j = 0; j < rotated; ++j) out[size_t(j)] = ff;
  return out;
}

inline void write_model_gguf(const std::string& path, const engine::ModelWeights& w, const GgufModelOptions& o = {}) {
  const Gemma4Config& c = w.config();
  GgufWriter out(path);
  if (o.metadata) add_exporter_metadata(out, c);
  std::vector<uint8_t> data;
  int64_t hd_full = -1;
  for (int64_t i = 0; i < c.L(); ++i)
    if (!c.is_sliding(i)) hd_full = c.layer_head_dim[size_t(i)];
  for (const TensorSpec& s : gemma4_tensor_specs(c)) {
    const engine::Tensor* t = w.find(s.name);
    if (!t || s.name == o.drop) continue;
    std::vector<int64_t> shape = t->shape;
    int64_t n = int64_t(t->data.size());
    if (s.name == o.halve_rows) {
      shape[0] /= 2;
      n /= 2;
    }
    const GgmlType type = shape.size() >= 2 ? o.type_of(s.name) : GgmlType::F32;
    out.add_tensor(engine::gguf_tensor_name(s.name), type, std::vector<int64_t>(shape.rbegin(), shape.rend()));
    encode(type, t->ptr(), n, data);
    if (s.name == "embed_tokens.weight" && hd_full > 0) {
      const std::vector<float> rf = rope_freqs(c, hd_full);
      out.add_tensor("rope_freqs.weight", GgmlType::F32, {int64_t(rf.size())});
      encode(GgmlType::F32, rf.data(), int64_t(rf.size()), data);
    }
  }
  out.write(data.data(), data.size());
  out.finish();
}

}  // namespace gq::test
