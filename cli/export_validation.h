// Every GGUF export checked on the spot: the torch-free reference engine runs the written file and
// is compared with the fake-quant model of what the file deploys (the recipe it holds, a run's
// learned scales), on a short fixed sequence. `export` prints the line; --no-validate skips it.
#pragma once
#include <string>

#include "export/gemma4_gguf.h"

namespace gq::cli {

// Past this max |Δlogit| the file does not hold what the model computes (a float32 engine and
// LibTorch differ by ~1e-5 on the same weights).
constexpr double kExportTolerance = 1e-3;

// One line with the figures. FormatError past kExportTolerance, except where the fake-quant model is
// not the file's reference and the line says so: blocks on recovered grids (a QAT checkpoint's,
// which RTN does not reproduce), static activations or a KV-cache scheme (not in the engine yet).
std::string validate_gguf_export(const GgufExportResult& r, const std::string& calibration);

}  // namespace gq::cli
