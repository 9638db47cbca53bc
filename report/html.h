// report.html: one self-contained page (no scripts, external stylesheets, fonts or links) with the
// results table and two inline SVG plots: perplexity against bytes (one series per method) and the
// training loss of every QAT run.
#pragma once
#include <string>
#include <vector>

#include "report/results.h"
#include "report/svg_plot.h"

namespace gq::report {

// The plots' data: per method, (bytes, perplexity) of each of its rows in order of bytes; per QAT
// run ("recipe/method"), (step, loss).
std::vector<PlotSeries> perplexity_series(const Results& r);
std::vector<PlotSeries> training_series(const Results& r);

std::string render_html(const Results& r);

}  // namespace gq::report
