// What `gemma-qat compare` measured, as data: one row per recipe x method (and the float model),
// the training curve of every QAT run. results.json holds exactly this; report.md and report.html
// are rendered from it alone.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gq::report {

// One exported file and what checking it found.
struct ExportedFile {
  std::string format;      // "gguf", "compressed-tensors", "native"
  std::string path;
  bool written = true;     // false: the export or its check failed (`validation` says how)
  bool validated = false;  // run on the reference engine against the fake-quant model and within tolerance
  std::string validation;  // the check's line, why the file was not checked, or the failure
};

struct ResultRow {
  std::string recipe;  // "" for the float model
  std::string method;  // "float", "rtn", "gptq", "awq", "qat"
  std::string run_dir;
  int64_t bytes = 0;           // stored tensor bytes (eval's model_bytes)
  double bits_per_param = 0;   // bytes * 8 / parameters
  double perplexity = 0;
  // Against the float model; absent on the float row itself.
  std::optional<double> delta_ppl, mean_kl, top1;
  // (ppl_rtn - ppl) / (ppl_rtn - ppl_float) * 100, within the row's recipe; absent without an RTN
  // row or when RTN has no gap to recover.
  std::optional<double> rtn_gap_recovered;
  std::vector<ExportedFile> exports;
};

struct TrainingCurve {
  std::string recipe, method;
  std::vector<std::pair<int64_t, double>> loss;  // (step, training loss) from metrics.jsonl
};

struct Results {
  std::string model, data_train, data_eval;
  int64_t parameters = 0;
  std::vector<ResultRow> rows;
  std::vector<TrainingCurve> curves;
};

// (ppl_rtn - ppl_method) / (ppl_rtn - ppl_float) * 100; nullopt when ppl_rtn == ppl_float.
std::optional<double> rtn_gap_recovered(double ppl_rtn, double ppl_method, double ppl_float);

// Sets rtn_gap_recovered on every quantized row from its recipe's RTN row and the float row.
void fill_rtn_gap_recovered(Results& r);

nlohmann::json to_json(const Results& r);
// FormatError naming `what` (e.g. the file) and the key on a malformed document.
Results results_from_json(const nlohmann::json& j, const std::string& what);

// DIR/results.json, DIR/report.md and DIR/report.html, each under a temporary name then renamed.
void write_report(const Results& r, const std::string& dir);

}  // namespace gq::report
