// What an export's allowed rounding (--allow-rounding) does to the model: the fake-quant model of
// the deployment contract against the fake-quant model of what the file stores, on a short fixed
// sequence, as the phrase the exporters add to their warning.
#pragma once
#include <string>

#include "export/deployment.h"

namespace gq::cli {

// `calibration`: the export's --calib ("" = the checkpoint's calibration.json), for recipes with
// static input scales.
RoundingEffect logit_rounding_effect(const std::string& calibration);

}  // namespace gq::cli
