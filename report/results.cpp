#include "report/results.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/text_file.h"
#include "report/html.h"
#include "report/markdown.h"

namespace gq::report {
namespace {

using nlohmann::json;

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// j[key] as T; FormatError naming the document and the key otherwise.
template <class T>
T get(const json& j, const char* key, const std::string& what) {
  if (!j.is_object() || !j.contains(key)) throw FormatError(what + ": missing key '" + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw FormatError(what + ": key '" + key + "': " + e.what());
  }
}

std::optional<double> get_optional(const json& j, const char* key, const std::string& what) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return get<double>(j, key, what);
}

}  // namespace

std::optional<double> rtn_gap_recovered(double ppl_rtn, double ppl_method, double ppl_float) {
  if (ppl_rtn == ppl_float) return std::nullopt;
  return (ppl_rtn - ppl_method) / (ppl_rtn - ppl_float) * 100.0;
}

void fill_rtn_gap_recovered(Results& r) {
  const ResultRow* fl = nullptr;
  std::map<std::string, const ResultRow*> rtn;
  for (const ResultRow& row : r.rows) {
    if (row.method == "float") fl = &row;
    if (row.method == "rtn") rtn[row.recipe] = &row;
  }
  for (ResultRow& row : r.rows) {
    row.rtn_gap_recovered.reset();
    const auto it = rtn.find(row.recipe);
    if (fl && row.method != "float" && it != rtn.end())
      row.rtn_gap_recovered = rtn_gap_recovered(it->second->perplexity, row.perplexity, fl->perplexity);
  }
}

json to_json(const Results& r) {
  json rows = json::array(), curves = json::array();
  for (const ResultRow& row : r.rows) {
    json files = json::array();
    for (const ExportedFile& f : row.exports)
      files.push_back({{"format", f.format}, {"path", f.path}, {"written", f.written}, {"validated", f.validated}, {"validation", f.validation}});
    rows.push_back({{"recipe", row.recipe},
                    {"method", row.method},
                    {"run_dir", row.run_dir},
                    {"bytes", row.bytes},
                    {"bits_per_param", row.bits_per_param},
                    {"perplexity", row.perplexity},
                    {"delta_ppl", optional_number(row.delta_ppl)},
                    {"rtn_gap_recovered", optional_number(row.rtn_gap_recovered)},
                    {"mean_kl", optional_number(row.mean_kl)},
                    {"top1_agreement", optional_number(row.top1)},
                    {"exports", files}});
  }
  for (const TrainingCurve& c : r.curves) {
    json pts = json::array();
    for (const auto& [step, loss] : c.loss) pts.push_back({step, loss});
    curves.push_back({{"recipe", c.recipe}, {"method", c.method}, {"loss", pts}});
  }
  return {{"model", r.model},   {"data_train", r.data_train}, {"data_eval", r.data_eval},
          {"parameters", r.parameters}, {"rows", rows}, {"training_curves", curves}};
}

Results results_from_json(const json& j, const std::string& what) {
  Results r;
  r.model = get<std::string>(j, "model", what);
  r.data_train = get<std::string>(j, "data_train", what);
  r.data_eval = get<std::string>(j, "data_eval", what);
  r.parameters = get<int64_t>(j, "parameters", what);
  for (const json& row : get<json>(j, "rows", what)) {
    const std::string w = what + ": row " + std::to_string(r.rows.size());
    ResultRow x;
    x.recipe = get<std::string>(row, "recipe", w);
    x.method = get<std::string>(row, "method", w);
    x.run_dir = get<std::string>(row, "run_dir", w);
    x.bytes = get<int64_t>(row, "bytes", w);
    x.bits_per_param = get<double>(row, "bits_per_param", w);
    x.perplexity = get<double>(row, "perplexity", w);
    x.delta_ppl = get_optional(row, "delta_ppl", w);
    x.rtn_gap_recovered = get_optional(row, "rtn_gap_recovered", w);
    x.mean_kl = get_optional(row, "mean_kl", w);
    x.top1 = get_optional(row, "top1_agreement", w);
    for (const json& f : get<json>(row, "exports", w))
      x.exports.push_back({get<std::string>(f, "format", w), get<std::string>(f, "path", w), get<bool>(f, "written", w),
                           get<bool>(f, "validated", w), get<std::string>(f, "validation", w)});
    r.rows.push_back(std::move(x));
  }
  for (const json& c : get<json>(j, "training_curves", what)) {
    const std::string w = what + ": training curve " + std::to_string(r.curves.size());
    TrainingCurve t{get<std::string>(c, "recipe", w), get<std::string>(c, "method", w), {}};
    for (const json& p : get<json>(c, "loss", w)) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number())
        throw FormatError(w + ": key 'loss': each point must be [step, loss]");
      t.loss.emplace_back(p[0].get<int64_t>(), p[1].get<double>());
    }
    r.curves.push_back(std::move(t));
  }
  return r;
}

void write_report(const Results& r, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  // Rendered before anything is written, so a bad value leaves the previous report whole.
  const std::string md = render_markdown(r), html = render_html(r);
  write_text_file((fs::path(dir) / "results.json").string(), to_json(r).dump(2) + "\n");
  write_text_file((fs::path(dir) / "report.md").string(), md);
  write_text_file((fs::path(dir) / "report.html").string(), html);
}

}  // namespace gq::report
