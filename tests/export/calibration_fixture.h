// A W8A8 calibration for any config, without running a model: one static input scale per Linear,
// shared per fused matmul (q/k/v, gate/up) as training shares the quantizer.
#pragma once
#include <functional>
#include <string>

#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/calibration.h"

namespace gq::test {

inline Calibration w8a8_calibration(const Gemma4Config& cfg) {
  Calibration c;
  c.recipe = "w8a8-static";
  for (const QuantTarget& t : gemma4_quant_targets(cfg)) {
    if (t.kind != TargetKind::Linear) continue;
    std::string key = t.name;
    for (const char* p : {"k_proj", "v_proj"})
      if (key.find(p) != std::string::npos) key.replace(key.find(p), 6, "q_proj");
    if (key.find("up_proj") != std::string::npos) key.replace(key.find("up_proj"), 7, "gate_proj");
    const float scale = 0.01f + float(std::hash<std::string>()(key) % 1000) * 1e-5f;
    c.activations[t.name] = {"int8_sym", -scale * 127, scale * 127, scale, 0};
  }
  return c;
}

}  // namespace gq::test
