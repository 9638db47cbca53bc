#include "report/html.h"

#include <algorithm>

#include "report/markdown.h"
#include "report/markup.h"

namespace gq::report {

std::vector<PlotSeries> perplexity_series(const Results& r) {
  std::vector<PlotSeries> out;
  for (const ResultRow& row : r.rows) {
    auto it = std::find_if(out.begin(), out.end(), [&](const PlotSeries& s) { return s.name == row.method; });
    if (it == out.end()) it = out.insert(out.end(), PlotSeries{row.method, {}});
    it->points.emplace_back(double(row.bytes), row.perplexity);
  }
  for (PlotSeries& s : out) std::stable_sort(s.points.begin(), s.points.end());
  return out;
}

std::vector<PlotSeries> training_series(const Results& r) {
  std::vector<PlotSeries> out;
  for (const TrainingCurve& c : r.curves) {
    PlotSeries s{c.recipe + "/" + c.method, {}};
    for (const auto& [step, loss] : c.loss) s.points.emplace_back(double(step), loss);
    out.push_back(std::move(s));
  }
  return out;
}

std::string render_html(const Results& r) {
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>gemma-qat compare: " +
      escape_markup(r.model) +
      "</title>\n<style>\nbody{font-family:sans-serif;margin:24px;color:#222;background:#fff}\n"
      "table{border-collapse:collapse;margin:12px 0}\nth,td{border:1px solid #bbb;padding:4px 8px;text-align:right}\n"
      "th{background:#eee}\ntd:first-child,td:nth-child(2),td:last-child{text-align:left}\n"
      "figure{margin:16px 0}\n</style>\n</head>\n<body>\n<h1>gemma-qat compare</h1>\n";
  o += "<p>Model <code>" + escape_markup(r.model) + "</code> (" + std::to_string(r.parameters) +
       " parameters), trained on <code>" + escape_markup(r.data_train) + "</code>, evaluated on <code>" +
       escape_markup(r.data_eval) + "</code>. Perplexity as llama-perplexity computes it; KL and top-1 against the float "
       "model; % RTN gap recovered = (ppl_rtn &minus; ppl) / (ppl_rtn &minus; ppl_float) &times; 100 within each recipe.</p>\n";
  o += "<table class=\"results\">\n<tr>";
  for (const std::string& c : result_columns()) o += "<th>" + escape_markup(c) + "</th>";
  o += "</tr>\n";
  for (const ResultRow& row : r.rows) {
    o += "<tr>";
    for (const std::string& c : result_cells(row)) o += "<td>" + escape_markup(c) + "</td>";
    o += "</tr>\n";
  }
  o += "</table>\n";

  PlotSpec ppl{"Perplexity vs model bytes", "model bytes", "perplexity", true};
  o += "<figure id=\"perplexity-vs-bytes\">\n" + svg_line_plot(ppl, perplexity_series(r)) + "</figure>\n";
  const std::vector<PlotSeries> train = training_series(r);
  if (train.empty()) {
    o += "<p>No QAT run: no training curves.</p>\n";
  } else {
    PlotSpec loss{"QAT training loss", "step", "training loss", false};
    o += "<figure id=\"training-loss\">\n" + svg_line_plot(loss, train) + "</figure>\n";
  }
  bool any = false;
  for (const ResultRow& row : r.rows)
    for (const ExportedFile& f : row.exports) {
      if (!any) o += "<h2>Exports</h2>\n<ul class=\"exports\">\n";
      any = true;
      o += "<li>" + escape_markup(row.recipe + " / " + row.method) + ": <code>" + escape_markup(f.path) + "</code>: " +
           escape_markup(f.validation) + "</li>\n";
    }
  if (any) o += "</ul>\n";
  o += "</body>\n</html>\n";
  return o;
}

}  // namespace gq::report
