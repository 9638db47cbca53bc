#include "export/compressed_tensors_inputs.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>

#include "export/compressed_tensors_messages.h"
#include "io/error.h"
#include "io/half.h"
#include "recipes/calibration.h"
#include "run/run_folder.h"

namespace gq::compressed_tensors {
namespace {

namespace fs = std::filesystem;

// vLLM keeps one input and one output scale per fused matmul (q/k/v, gate/up).
void check_shared(const std::map<std::string, quant::ActivationParams>& p, const Gemma4Config& cfg, const std::string& file,
                  const char* section, const char* what) {
  for (int64_t i = 0; i < cfg.L(); ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    for (const std::vector<std::string>& fused : {std::vector<std::string>{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
                                                  std::vector<std::string>{"mlp.gate_proj", "mlp.up_proj"}}) {
      const quant::ActivationParams* first = nullptr;
      std::string first_name;
      for (const std::string& s : fused) {
        auto it = p.find(l + s);
        if (it == p.end()) continue;
        if (!first) {
          first = &it->second, first_name = it->first;
        } else if (float_bits(first->scale) != float_bits(it->second.scale) || first->zero_point != it->second.zero_point) {
          throw FormatError(file + ": " + section + "." + it->first + ".scale " + exact_float(it->second.scale) +
                            " differs from " + first_name + "'s " + exact_float(first->scale) + ", but vLLM keeps one " +
                            what + " scale per fused matmul (q/k/v, gate/up): calibrate with a recipe whose " + what +
                            "s share scales");
        }
      }
    }
  }
}

// The static scales of one seam ("input" or "output") for every module the recipe quantizes there.
std::map<std::string, quant::ActivationParams> read_seam(const std::map<std::string, quant::ActivationScheme>& schemes,
                                                        const std::map<std::string, ActivationCalibration>& entries,
                                                        const Inputs& in, const std::string& path, const ResolvedRecipe& rr,
                                                        const char* section, const char* seam) {
  std::map<std::string, quant::ActivationParams> out;
  for (const auto& [module, scheme] : schemes) {
    auto it = entries.find(module);
    if (it == entries.end())
      throw FormatError(path + ": " + section + "." + module + " is missing (calibrate with recipe '" + rr.name + "')");
    const std::string want = quant::activation_scheme_name(scheme);
    if (!it->second.scheme.empty() && it->second.scheme != want)
      throw FormatError(path + ": " + section + "." + module + ".scheme is " + it->second.scheme + ", the recipe wants " + want);
    quant::ActivationParams a{it->second.scale, it->second.zero_point};
    // A run's own scale (learned, or the calibrated one it trained with) is the parameter itself;
    // calibration.json mirrors it.
    if (in.quant_params)
      if (const std::optional<float> held = in.quant_params->activation_scale(module, seam)) a.scale = *held;
    if (!(a.scale > 0) || !std::isfinite(a.scale))
      throw FormatError(path + ": " + section + "." + module + ".scale must be finite and positive");
    if (scheme.symmetric && a.zero_point != 0)
      throw FormatError(path + ": " + section + "." + module + ".zero_point must be 0 for " + want);
    out[module] = a;
  }
  return out;
}

}  // namespace

Inputs read_inputs(const Deployment& d) {
  Inputs in;
  in.checkpoint = d.checkpoint;
  if (!d.recipe) throw FormatError(d.checkpoint + ": a compressed-tensors export needs a recipe (e.g. --recipe w4a16-g32)");
  in.recipe = *d.recipe;
  in.from_run = d.trained;
  in.quant_params = d.quant_params;
  return in;
}

void read_static_scales(Inputs& in, const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& calibration) {
  if (!rr.has_static_activations() && !rr.kv_cache) return;
  std::string path = calibration;
  if (path.empty()) {
    const std::string c = run_folder::file_in(in.checkpoint, run_folder::kCalibration);
    if (!fs::exists(c))
      throw FormatError(in.checkpoint + ": recipe '" + rr.name +
                        "' needs static scales (input activations / kv_cache) but there is no calibration.json: run "
                        "gemma-qat calibrate and pass its file");
    path = c;
  }
  const Calibration cal = Calibration::load(path);
  in.input_params = read_seam(rr.activations, cal.activations, in, path, rr, "activations", "input");
  in.output_params = read_seam(rr.output_activations, cal.output_activations, in, path, rr, "output_activations", "output");
  check_shared(in.input_params, cfg, path, "activations", "input");
  check_shared(in.output_params, cfg, path, "output_activations", "output");
  if (!rr.kv_cache) return;
  const float qmax = float(rr.kv_cache->qmax());
  for (int64_t i = 0; i < cfg.L(); ++i) {
    // A KV-shared layer reads its donor's cache, so it dequantizes with the donor's scales.
    const int64_t src = cfg.kv_donor[size_t(i)] >= 0 ? cfg.kv_donor[size_t(i)] : i;
    const std::string key = "layers." + std::to_string(src) + ".self_attn";
    auto it = cal.kv_cache.find(key);
    if (it == cal.kv_cache.end())
      throw FormatError(path + ": kv_cache." + key + " is missing (run gemma-qat calibrate with a kv_cache recipe; the "
                               "calibration.json a training run writes holds no K/V ranges)");
    const KvCalibration& k = it->second;
    auto scale = [&](float lo, float hi, const char* which) {
      const float amax = std::max(std::fabs(lo), std::fabs(hi));
      float s = amax / qmax;
      if (!std::isfinite(s)) throw FormatError(path + ": kv_cache." + key + "." + which + " range is not finite");
      return s < FLT_MIN ? FLT_MIN : s;
    };
    in.kv_scales[i] = {scale(k.k_min, k.k_max, "k"), scale(k.v_min, k.v_max, "v")};
  }
}

}  // namespace gq::compressed_tensors
