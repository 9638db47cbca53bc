#include "engine/gguf_config.h"

#include <charconv>
#include <cstdlib>

#include "io/error.h"

namespace gq::engine {

namespace {

class Keys {
 public:
  explicit Keys(const GgufFile& f) : f_(f) {}
  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw FormatError(f_.source() + ": " + key + ": " + why);
  }
  bool has(const std::string& key) const { return f_.find(key) != nullptr; }
  int64_t integer(const std::string& key) const {
    try {
      return f_.get(key).as_int();
    } catch (const FormatError& e) {
      if (!has(key)) throw;
      fail(key, e.what());
    }
  }
  int64_t integer(const std::string& key, int64_t dflt) const { return has(key) ? integer(key) : dflt; }
  // A float32 key as the decimal it was written from (1e-06, not 9.99999997e-07): the shortest
  // decimal that reads back as the same float.
  double number(const std::string& key) const {
    const float v = f_.get_f32(key);
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    *r.ptr = '\0';
    return std::strtod(buf, nullptr);
  }
  // A per-layer quantity: one UINT32 for all layers, or an INT32 array of one value per layer.
  std::vector<int64_t> per_layer(const std::string& key, int64_t L) const {
    const GgufValue& v = f_.get(key);
    if (!v.is_array()) return std::vector<int64_t>(size_t(L), integer(key));
    if (v.elem_type() != GgufType::INT32) fail(key, std::string("expected an INT32 array, got ") + gguf_type_name(v.elem_type()));
    const std::vector<int32_t> a = v.as_i32_array();
    if (int64_t(a.size()) != L) fail(key, std::to_string(a.size()) + " entries for " + std::to_string(L) + " layers");
    return std::vector<int64_t>(a.begin(), a.end());
  }

 private:
  const GgufFile& f_;
};

// ne[1] of a 2-D tensor: the rows of an embedding table.
int64_t rows_of(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo& t = f.tensor(name);
  if (t.ne.size() != 2) throw FormatError(f.source() + ": tensor '" + name + "' is not 2-D");
  return t.ne[1];
}

// rope_freqs holds, per frequency pair of a full layer's head, the factor its inv_freq is divided by:
// the rotated pairs carry RoPE's `factor`, the unrotated ones 1e30 (which stops them). The number of
// rotated pairs gives the partial rotary factor back: rotated = int(prf * head_dim) / 2.
RopeParams full_rope(const GgufFile& f, double theta, int64_t head_dim) {
  RopeParams r{"default", theta, 1.0, 1.0};
  const GgufTensorInfo* t = f.find_tensor("rope_freqs.weight");
  if (!t) return r;
  const std::string what = f.source() + ": tensor 'rope_freqs.weight'";
  if (t->type != GgmlType::F32 || t->ne.size() != 1 || t->ne[0] != head_dim / 2)
    throw FormatError(what + ": expected F32 [" + std::to_string(head_dim / 2) + "]");
  const float* v = reinterpret_cast<const float*>(f.tensor_data(*t));
  int64_t rotated = 0;
  while (rotated < t->ne[0] && v[rotated] < 1e29f) ++rotated;
  for (int64_t j = rotated; j < t->ne[0]; ++j)
    if (v[j] < 1e29f) throw FormatError(what + ": rotated pairs after unrotated ones (not proportional RoPE)");
  for (int64_t j = 1; j < rotated; ++j)
    if (v[j] != v[0]) throw FormatError(what + ": rotated pairs with different factors");
  r.rope_type = "proportional";
  r.partial_rotary_factor = double(2 * rotated) / double(head_dim);
  r.factor = rotated ? double(v[0]) : 1.0;
  return r;
}

}  // namespace

Gemma4Config gemma4_config_from_gguf(const GgufFile& f) {
  const Keys k(f);
  const std::string arch = f.get_str("general.architecture");
  if (arch != "gemma4") k.fail("general.architecture", "'" + arch + "', not gemma4");
  const std::string A = "gemma4.";

  Gemma4Config c;
  c.architecture = "Gemma4ForCausalLM";
  c.dtype = "float32";
  const int64_t L = c.num_hidden_layers = k.integer(A + "block_count");
  c.hidden_size = k.integer(A + "embedding_length");
  c.vocab_size = rows_of(f, "token_embd.weight");
  c.num_attention_heads = k.integer(A + "attention.head_count");
  c.max_position_embeddings = k.integer(A + "context_length", c.max_position_embeddings);
  c.rms_norm_eps = k.number(A + "attention.layer_norm_rms_epsilon");
  c.sliding_window = k.integer(A + "attention.sliding_window");
  c.num_kv_shared_layers = k.integer(A + "attention.shared_kv_layers", 0);
  c.bos_token_id = k.integer("tokenizer.ggml.bos_token_id", c.bos_token_id);
  c.eos_token_id = k.integer("tokenizer.ggml.eos_token_id", c.eos_token_id);
  c.pad_token_id = k.integer("tokenizer.ggml.padding_token_id", c.pad_token_id);

  const std::vector<bool> pattern = f.get(A + "attention.sliding_window_pattern").as_bool_array();
  if (int64_t(pattern.size()) != L)
    k.fail(A + "attention.sliding_window_pattern", std::to_string(pattern.size()) + " entries for " + std::to_string(L) + " layers");
  for (bool sliding : pattern) c.layer_types.push_back(sliding ? LayerType::Sliding : LayerType::Full);

  // Head dims: one per layer type; KV heads per layer.
  const int64_t hd_full = k.integer(A + "attention.key_length");
  const int64_t hd_swa = k.integer(A + "attention.key_length_swa", hd_full);
  const std::vector<int64_t> kv = k.per_layer(A + "attention.head_count_kv", L);
  c.head_dim = hd_swa;
  c.global_head_dim = hd_full;
  c.num_key_value_heads = kv[0];
  for (int64_t i = 0; i < L; ++i)
    if (pattern[size_t(i)]) {
      c.num_key_value_heads = kv[size_t(i)];
      break;
    }
  c.layer_head_dim.clear();
  for (int64_t i = 0; i < L; ++i) c.layer_head_dim.push_back(pattern[size_t(i)] ? hd_swa : hd_full);
  c.layer_kv_heads = kv;

  // K=V: full layers that compute their own K/V but store no attn_v.
  const int64_t first_shared = L - c.num_kv_shared_layers;
  for (int64_t i = 0; i < first_shared; ++i)
    if (!pattern[size_t(i)] && !f.find_tensor("blk." + std::to_string(i) + ".attn_v.weight")) c.attention_k_eq_v = true;

  // MLP widths: the base width on the first layer; shared layers twice as wide with double-wide MLP.
  const std::vector<int64_t> ffl = k.per_layer(A + "feed_forward_length", L);
  c.intermediate_size = ffl[0];
  c.use_double_wide_mlp = c.num_kv_shared_layers > 0 && ffl[size_t(L - 1)] == 2 * ffl[0];

  c.hidden_size_per_layer_input = k.integer(A + "embedding_length_per_layer_input", 0);
  c.vocab_size_per_layer_input = c.hidden_size_per_layer_input > 0 ? rows_of(f, "per_layer_token_embd.weight") : c.vocab_size;
  if (k.has(A + "final_logit_softcapping")) {
    const double cap = k.number(A + "final_logit_softcapping");
    if (cap > 0) c.final_logit_softcapping = cap;
  }
  if (k.has(A + "expert_count")) {
    c.enable_moe_block = true;
    c.num_experts = k.integer(A + "expert_count");
    c.top_k_experts = k.integer(A + "expert_used_count");
    c.moe_intermediate_size = k.integer(A + "expert_feed_forward_length");
  }
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.rope_sliding = RopeParams{"default", k.number(A + "rope.freq_base_swa"), 1.0, 1.0};
  c.rope_full = full_rope(f, k.number(A + "rope.freq_base"), hd_full);

  // parse() resolves what the forward derives (KV donors, MLP widths) and checks the whole.
  Gemma4Config out = Gemma4Config::parse(c.to_causal_lm_json(), f.source());
  if (out.layer_intermediate != ffl)
    k.fail(A + "feed_forward_length", "does not match intermediate_size " + std::to_string(c.intermediate_size) +
                                          (c.use_double_wide_mlp ? " with" : " without") + " double-wide MLP on shared layers");
  return out;
}

}  // namespace gq::engine
