// Calibrated static ranges and scales (`gemma-qat calibrate` writes them; `logits --calib`,
// training and the exporters read them). JSON:
//   {"format": "gemma-qat-calibration/1", "recipe": "...", "observer": "minmax",
//    "activations": {"layers.0.self_attn.q_proj": {"scheme": "int8_asym", "min": -3.1, "max": 4.2,
//                                                  "scale": 0.0286, "zero_point": -19}, ...},
//    "output_activations": {"layers.0.self_attn.q_proj": {...the same fields...}, ...},
//    "kv_cache": {"layers.0.self_attn": {"k_min": ..., "k_max": ..., "v_min": ..., "v_max": ...}}}
// "activations" are the inputs of a Linear (or "lm_head"), "output_activations" their outputs; a
// file without "output_activations" (written before outputs were quantized) reads as having none.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace gq {

struct ActivationCalibration {
  std::string scheme;
  float min = 0, max = 0;
  float scale = 1;
  int32_t zero_point = 0;
};

struct KvCalibration {
  float k_min = 0, k_max = 0, v_min = 0, v_max = 0;
};

struct Calibration {
  std::string recipe, observer;
  std::map<std::string, ActivationCalibration> activations;         // inputs, by Linear module name / "lm_head"
  std::map<std::string, ActivationCalibration> output_activations;  // outputs, likewise
  std::map<std::string, KvCalibration> kv_cache;            // by attention module name

  static Calibration load(const std::string& path);  // FormatError naming the file and key
  void save(const std::string& path) const;          // atomic
};

}  // namespace gq
