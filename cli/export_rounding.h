// What an export's allowed rounding (--allow-rounding) does to the model: the fake-quant model of
// the deployment contract against the fake-quant model of what the file stores, on a short fixed
// sequence, as the phrase the exporters add to their warning.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "export/deployment.h"
#include "recipes/calibration.h"

namespace gq::cli {

// Logits over `ids` of the checkpoint's fake-quant model under `rr`: with the run's learned
// parameters (`learned`), or the recipe's RTN (static scales from `calibration`).
std::vector<float> fake_quant_logits(const std::string& checkpoint, const ResolvedRecipe& rr, bool learned,
                                     const std::optional<Calibration>& calibration, const std::vector<int64_t>& ids);

// `calibration`: the export's --calib ("" = the checkpoint's calibration.json), for recipes with
// static input scales.
RoundingEffect logit_rounding_effect(const std::string& calibration);

}  // namespace gq::cli
