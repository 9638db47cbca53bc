#include "report/markdown.h"

#include <cstdio>

namespace gq::report {
namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string fmt(const char* f, const std::optional<double>& v) { return v ? fmt(f, *v) : "-"; }

// A cell must not end the row or the table: pipes and newlines escaped.
std::string md_cell(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n' || c == '\r') o += ' ';
    else o += c;
  }
  return o;
}

std::string exports_cell(const ResultRow& row) {
  std::string s;
  for (const ExportedFile& f : row.exports)
    s += (s.empty() ? "" : ", ") + f.format + (!f.written ? " (FAILED)" : f.validated ? " (validated)" : " (not validated)");
  return s.empty() ? "-" : s;
}

}  // namespace

const std::vector<std::string>& result_columns() {
  static const std::vector<std::string> c = {"recipe", "method", "bytes", "bits/param", "perplexity", "Δppl vs float",
                                             "% RTN gap recovered", "KL (nats/token)", "top-1", "exports"};
  return c;
}

std::vector<std::string> result_cells(const ResultRow& row) {
  return {row.recipe.empty() ? "-" : row.recipe,
          row.method,
          std::to_string(row.bytes),
          fmt("%.3f", row.bits_per_param),
          fmt("%.4f", row.perplexity),
          fmt("%+.4f", row.delta_ppl),
          fmt("%.1f", row.rtn_gap_recovered),
          fmt("%.5f", row.mean_kl),
          row.top1 ? fmt("%.2f%%", *row.top1 * 100.0) : "-",
          exports_cell(row)};
}

std::string render_markdown(const Results& r) {
  std::string o = "# gemma-qat compare\n\n";
  o += "Model `" + md_cell(r.model) + "` (" + std::to_string(r.parameters) + " parameters), trained on `" +
       md_cell(r.data_train) + "`, evaluated on `" + md_cell(r.data_eval) +
       "` (perplexity as llama-perplexity; KL and top-1 against the float model).\n\n";
  std::string head = "|", rule = "|";
  for (const std::string& c : result_columns()) head += " " + c + " |", rule += "---|";
  o += head + "\n" + rule + "\n";
  for (const ResultRow& row : r.rows) {
    std::string line = "|";
    for (const std::string& c : result_cells(row)) line += " " + md_cell(c) + " |";
    o += line + "\n";
  }
  o += "\n% RTN gap recovered = (ppl_rtn - ppl) / (ppl_rtn - ppl_float) * 100, within each recipe.\n";
  bool any = false;
  for (const ResultRow& row : r.rows)
    for (const ExportedFile& f : row.exports) {
      if (!any) o += "\n## Exports\n\n";
      any = true;
      o += "- " + md_cell(row.recipe) + " / " + md_cell(row.method) + ": `" + md_cell(f.path) + "`: " + md_cell(f.validation) + "\n";
    }
  if (!r.curves.empty()) {
    o += "\n## Training (QAT)\n\n| recipe | method | steps logged | first loss | last loss |\n|---|---|---|---|---|\n";
    for (const TrainingCurve& c : r.curves)
      o += "| " + md_cell(c.recipe) + " | " + md_cell(c.method) + " | " + std::to_string(c.loss.size()) + " | " +
           (c.loss.empty() ? "-" : fmt("%.4f", c.loss.front().second)) + " | " +
           (c.loss.empty() ? "-" : fmt("%.4f", c.loss.back().second)) + " |\n";
  }
  return o;
}

}  // namespace gq::report
