// config.json: Gemma4Config::parse on the input text, then what every command derives from it (the
// quantization targets) and the round trip the header promises: parse(to_causal_lm_json()) gives
// back an equal config, so a failure there is a finding too.
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_util.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"

namespace {

bool same(const gq::Gemma4Config& a, const gq::Gemma4Config& b) {
  return a.num_hidden_layers == b.num_hidden_layers && a.hidden_size == b.hidden_size && a.vocab_size == b.vocab_size &&
         a.layer_types == b.layer_types && a.layer_head_dim == b.layer_head_dim && a.layer_kv_heads == b.layer_kv_heads &&
         a.layer_intermediate == b.layer_intermediate && a.kv_donor == b.kv_donor;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  gq::Gemma4Config cfg;
  try {
    cfg = gq::Gemma4Config::parse(text, "fuzz/config.json");
  } catch (const gq::FormatError&) {
    return 0;
  }
  (void)gq::gemma4_quant_targets(cfg);
  (void)cfg.llama_cpp_kv_sharing_problem();
  // An accepted config must survive its own writer: no FormatError is expected here.
  const gq::Gemma4Config again = gq::Gemma4Config::parse(cfg.to_causal_lm_json(), "fuzz/round-trip.json");
  if (!same(cfg, again)) std::abort();
  return 0;
}
