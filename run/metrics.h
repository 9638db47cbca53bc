// RUN/metrics.jsonl: one JSON object per logged training step (docs/run-folder.md).
#pragma once
#include <cstdint>
#include <string>

namespace gq::run_folder {

// Keeps the lines of steps up to `step` (the checkpoint a resumed run continues from): a run that
// died after its last checkpoint logged steps the resumed run repeats. A torn or malformed line is
// dropped. No file: nothing to do.
void trim_metrics(const std::string& run_dir, int64_t step);

}  // namespace gq::run_folder
