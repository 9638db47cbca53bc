// Calibrated static ranges and scales (`gemma-qat calibrate` writes them; `logits --calib`,
// training and the exporters read them). JSON, documented in docs/calibration.md:
//   {"format": "gemma-qat-calibration/1", "recipe": "...", "observer": "minmax",
//    "activations": {"layers.0.self_attn.q_proj": {"scheme": "int8_asym", "min": -3.1, "max": 4.2,
//                                                  "scale": 0.0286, "zero_point": -19}, ...},
//    "kv_cache": {"layers.0.self_attn": {"k_min": ..., "k_max": ..., "v_min": ..., "v_max": ...}}}
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
  std::map<std::string, ActivationCalibration> activations;  // by Linear module name
  std::map<std::string, KvCalibration> kv_cache;            // by attention module name

  static Calibration load(const std::string& path);  // FormatError naming the file and key
  void save(const std::string& path) const;          // atomic
};

}  // namespace gq
