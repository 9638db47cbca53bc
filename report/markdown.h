// report.md: the results table (recipe, method, bytes, bits/param, perplexity, Δppl vs float, % of
// the RTN gap recovered, KL, top-1, exports) in GitHub Markdown.
#pragma once
#include <string>
#include <vector>

#include "report/results.h"

namespace gq::report {

// The table's column headers, in order (report.md and report.html share them).
const std::vector<std::string>& result_columns();

// One row's cells, formatted as both reports print them ("-" where a figure does not apply).
std::vector<std::string> result_cells(const ResultRow& row);

std::string render_markdown(const Results& r);

}  // namespace gq::report
