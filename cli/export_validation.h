// Every GGUF export checked on the spot: the torch-free reference engine runs the written file and
// is compared with the fake-quant model of what the file deploys (the recipe it holds, a run's
// learned scales), on a short fixed sequence. `export` prints the line; --no-validate skips it.
#pragma once
#include <string>

#include "export/gemma4_gguf.h"
#include "export/native_writer.h"
#include "qat/gemma4_model.h"

namespace gq::cli {

// Past this max |Δlogit| the file does not hold what the model computes (a float32 engine and
// LibTorch differ by ~1e-5 on the same weights).
constexpr double kExportTolerance = 1e-3;

// One line with the figures. FormatError past kExportTolerance, except where the fake-quant model is
// not the file's reference and the line says so: blocks on recovered grids (a QAT checkpoint's,
// which RTN does not reproduce), static activations or a KV-cache scheme (not in the engine yet).
std::string validate_gguf_export(const GgufExportResult& r, const std::string& calibration);

// The same for a native file, which states its static activation scales and KV scheme: the engine
// applies them, so every recipe is checked: FormatError past kExportTolerance, or, for quantized
// activations / KV cache (where float32 noise flips the odd rounding), for any top-1 disagreement.
std::string validate_native_export(const NativeExportResult& r, const std::string& calibration);

// The same for an hf export: the engine on the written folder against `model` (the model the
// folder was written from: a run's fake-quant model, or the checkpoint as loaded). `exact`: the
// folder holds the model's values exactly (f32, or the checkpoint's own dtype), so a difference past
// kExportTolerance is a FormatError; otherwise the line says what the rounding did.
std::string validate_hf_export(const std::string& out, Gemma4Model& model, const ResolvedRecipe* recipe, bool exact);

}  // namespace gq::cli
