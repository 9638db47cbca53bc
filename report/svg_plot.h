// A self-contained SVG line plot (no scripts, fonts or links): axes with ticks and labels, one
// <polyline> and one <circle> per point for each series, a legend. Inline in report.html.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace gq::report {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the order given
};

struct PlotSpec {
  std::string title, x_label, y_label;
  bool log_x = false;  // x on a log10 scale (every x must be > 0)
  int width = 640, height = 400;
};

// Each series is a <g class="series" data-series="NAME"> holding its <polyline> (two points or
// more) and its <circle>s, in the order of its points. Larger x is further right, larger y higher.
// FormatError on a non-finite value, or x <= 0 with log_x.
std::string svg_line_plot(const PlotSpec& spec, const std::vector<PlotSeries>& series);

// "Nice" tick values (1, 2 or 5 times a power of ten) covering [lo, hi], about `count` of them.
std::vector<double> linear_ticks(double lo, double hi, int count);

}  // namespace gq::report
