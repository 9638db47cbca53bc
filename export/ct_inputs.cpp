#include "export/ct_inputs.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "io/error.h"
#include "io/half.h"
#include "formats/safetensors.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string num(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", double(v));
  return b;
}

// vLLM keeps one input scale per fused matmul (q/k/v, gate/up).
void check_shared_inputs(const std::map<std::string, quant::ActivationParams>& p, const Gemma4Config& cfg,
                         const std::string& file) {
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
          throw FormatError(file + ": activations." + it->first + ".scale " + num(it->second.scale) + " differs from " +
                            first_name + "'s " + num(first->scale) +
                            ", but vLLM keeps one input scale per fused matmul (q/k/v, gate/up): calibrate with a "
                            "recipe whose inputs share scales");
        }
      }
    }
  }
}

}  // namespace

CtInputs read_ct_inputs(const std::string& model_or_run, const std::optional<Recipe>& recipe) {
  CtInputs in;
  std::error_code ec;
  const fs::path p(model_or_run), ck = p / "checkpoint";
  in.checkpoint = fs::is_regular_file(ck / "config.json", ec) && !fs::exists(p / "config.json", ec) ? ck.string() : p.string();
  if (!fs::is_directory(in.checkpoint, ec))
    throw FormatError(model_or_run + ": not a checkpoint folder (config.json + safetensors) or run folder");
  const fs::path rj = fs::path(in.checkpoint) / "recipe.json", qp = fs::path(in.checkpoint) / "quant_params.safetensors";
  if (recipe) {
    in.recipe = *recipe;
    if (fs::exists(qp, ec)) {
      const auto f = SafetensorsFile::open(qp.string());
      for (const std::string& n : f->names())
        if (ends_with(n, ".weight.scale")) {
          in.warnings.push_back(in.checkpoint + ": recipe '" + recipe->name +
                                "' re-quantizes the run's weights with RTN scales; the run's learned scales are not used");
          break;
        }
    }
    return in;
  }
  if (!fs::exists(rj, ec))
    throw FormatError(in.checkpoint + ": no recipe.json (not a QAT run): a plain checkpoint needs a recipe (e.g. --recipe w4a16-g32)");
  in.recipe = Recipe::load(rj.string());
  in.from_run = true;
  if (fs::exists(qp, ec)) in.quant_params = SafetensorsFile::open(qp.string());
  return in;
}

void read_ct_scales(CtInputs& in, const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& calibration) {
  if (rr.activations.empty() && !rr.kv_cache) return;
  std::string path = calibration;
  if (path.empty()) {
    const fs::path c = fs::path(in.checkpoint) / "calibration.json";
    if (!fs::exists(c))
      throw FormatError(in.checkpoint + ": recipe '" + rr.name +
                        "' needs static scales (input activations / kv_cache) but there is no calibration.json: run "
                        "gemma-qat calibrate and pass its file");
    path = c.string();
  }
  const Calibration cal = Calibration::load(path);
  for (const auto& [module, scheme] : rr.activations) {
    auto it = cal.activations.find(module);
    if (it == cal.activations.end())
      throw FormatError(path + ": activations." + module + " is missing (calibrate with recipe '" + rr.name + "')");
    const std::string want = quant::activation_scheme_name(scheme);
    if (!it->second.scheme.empty() && it->second.scheme != want)
      throw FormatError(path + ": activations." + module + ".scheme is " + it->second.scheme + ", the recipe wants " + want);
    quant::ActivationParams a{it->second.scale, it->second.zero_point};
    // A learned input scale is the parameter itself; calibration.json mirrors it.
    const std::string key = module + ".input.scale";
    if (in.quant_params && in.quant_params->has(key)) {
      const std::vector<float> v = in.quant_params->tensor(key).to_f32();
      if (v.size() != 1) throw FormatError(in.quant_params->path() + ": tensor '" + key + "' must hold one value");
      a.scale = v[0];
    }
    if (!(a.scale > 0) || !std::isfinite(a.scale))
      throw FormatError(path + ": activations." + module + ".scale must be finite and positive");
    if (scheme.symmetric && a.zero_point != 0)
      throw FormatError(path + ": activations." + module + ".zero_point must be 0 for " + want);
    in.input_params[module] = a;
  }
  check_shared_inputs(in.input_params, cfg, path);
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

bool has_learned_scales(const CtInputs& in, const std::string& module) {
  return in.quant_params && in.quant_params->has(module + ".weight.scale");
}

std::vector<float> learned_rows(const CtInputs& in, const std::string& module, const std::string& what,
                                int64_t total_rows, int64_t per_row, int64_t row0, int64_t rows) {
  const std::string key = module + ".weight." + what;
  if (!in.quant_params || !in.quant_params->has(key))
    throw FormatError(in.checkpoint + "/quant_params.safetensors: tensor '" + key + "' is missing");
  const TensorView& tv = in.quant_params->tensor(key);
  if (tv.numel() != total_rows * per_row)
    throw FormatError(tv.file + ": tensor '" + key + "' has " + std::to_string(tv.numel()) + " values, expected " +
                      std::to_string(total_rows) + " rows x " + std::to_string(per_row));
  TensorView s = tv;
  const size_t es = dtype_size(tv.dtype);
  s.data = tv.data + size_t(row0 * per_row) * es;
  s.shape = {rows, per_row};
  s.nbytes = size_t(rows * per_row) * es;
  return s.to_f32();
}

}  // namespace gq
