#include "report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "io/error.h"
#include "report/markup.h"

namespace gq::report {
namespace {

// Colour-blind-friendly enough and distinct on white; series beyond eight reuse them.
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f"};
constexpr int kLeft = 72, kRight = 170, kTop = 40, kBottom = 56;

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

// Tick labels: short, with k / M / G for the byte counts on the x axis.
std::string tick_label(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(b, sizeof b, "%.3gG", v / 1e9);
  else if (a >= 1e6) std::snprintf(b, sizeof b, "%.3gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%.3gk", v / 1e3);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

struct Axis {
  double lo = 0, hi = 1;      // in plot space (log10 of the value on a log axis)
  std::vector<double> ticks;  // values (not logs)
  bool log = false;
  double to_plot(double v) const { return log ? std::log10(v) : v; }
  double frac(double v) const { return (to_plot(v) - lo) / (hi - lo); }
};

Axis make_axis(double mn, double mx, bool log) {
  Axis a;
  a.log = log;
  if (!log) {
    if (mn == mx) mn -= std::max(1.0, std::fabs(mn) * 0.1), mx += std::max(1.0, std::fabs(mx) * 0.1);
    const double pad = (mx - mn) * 0.04;  // points off the frame
    mn -= pad, mx += pad;
    a.ticks = linear_ticks(mn, mx, 5);
    a.lo = a.ticks.front(), a.hi = a.ticks.back();
    return a;
  }
  double lo = std::log10(mn), hi = std::log10(mx);
  const double pad = std::max(0.05, (hi - lo) * 0.08);  // points off the frame; one point gets a visible range
  lo -= pad, hi += pad;
  a.lo = lo, a.hi = hi;
  for (int e = int(std::floor(lo)); e <= int(std::ceil(hi)); ++e)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, e), l = std::log10(v);
      if (l >= lo && l <= hi) a.ticks.push_back(v);
    }
  if (a.ticks.size() > 8) {  // many decades: powers of ten only
    std::vector<double> decades;
    for (double v : a.ticks)
      if (std::fabs(std::log10(v) - std::round(std::log10(v))) < 1e-9) decades.push_back(v);
    a.ticks = decades;
  }
  if (a.ticks.size() < 2) {  // within one 1-2-5 step: evenly spaced ticks in log space
    a.ticks.clear();
    for (int i = 0; i <= 3; ++i) a.ticks.push_back(std::pow(10.0, lo + (hi - lo) * (0.5 + i) / 4.0));
  }
  return a;
}

}  // namespace

std::vector<double> linear_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / std::max(1, count);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * p;
  for (double m : {1.0, 2.0, 5.0})
    if (m * p >= raw) {
      step = m * p;
      break;
    }
  std::vector<double> t;
  const double first = std::floor(lo / step) * step, last = std::ceil(hi / step) * step;
  for (int i = 0; first + i * step <= last + step * 1e-9; ++i) {
    const double v = first + i * step;
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  }
  if (t.size() < 2) t.push_back(t.back() + step);
  return t;
}

std::string svg_line_plot(const PlotSpec& spec, const std::vector<PlotSeries>& series) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const PlotSeries& s : series)
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y))
        throw FormatError("plot '" + spec.title + "': series '" + s.name + "' has a non-finite point");
      if (spec.log_x && x <= 0)
        throw FormatError("plot '" + spec.title + "': series '" + s.name + "' has x <= 0 on a log axis");
      xmin = std::min(xmin, x), xmax = std::max(xmax, x), ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  if (!std::isfinite(xmin)) xmin = spec.log_x ? 1 : 0, xmax = spec.log_x ? 10 : 1, ymin = 0, ymax = 1;  // no data: bare axes
  const Axis ax = make_axis(xmin, xmax, spec.log_x), ay = make_axis(ymin, ymax, false);
  const double pw = spec.width - kLeft - kRight, ph = spec.height - kTop - kBottom;
  auto px = [&](double x) { return kLeft + ax.frac(x) * pw; };
  auto py = [&](double y) { return kTop + (1.0 - ay.frac(y)) * ph; };

  std::string o = "<svg class=\"plot\" width=\"" + std::to_string(spec.width) + "\" height=\"" + std::to_string(spec.height) +
                  "\" viewBox=\"0 0 " + std::to_string(spec.width) + " " + std::to_string(spec.height) +
                  "\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<title>" + escape_markup(spec.title) + "</title>\n";
  o += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(spec.width) + "\" height=\"" + std::to_string(spec.height) +
       "\" fill=\"#ffffff\"/>\n";
  o += "<text class=\"plot-title\" x=\"" + num(kLeft + pw / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
       escape_markup(spec.title) + "</text>\n";
  // Grid and ticks.
  o += "<g class=\"x-ticks\">\n";
  for (double t : ax.ticks) {
    const double x = px(t);
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(kTop) + "\" x2=\"" + num(x) + "\" y2=\"" + num(kTop + ph) +
         "\" stroke=\"#e0e0e0\"/><text x=\"" + num(x) + "\" y=\"" + num(kTop + ph + 18) + "\" text-anchor=\"middle\">" +
         escape_markup(tick_label(t)) + "</text>\n";
  }
  o += "</g>\n<g class=\"y-ticks\">\n";
  for (double t : ay.ticks) {
    const double y = py(t);
    o += "<line x1=\"" + num(kLeft) + "\" y1=\"" + num(y) + "\" x2=\"" + num(kLeft + pw) + "\" y2=\"" + num(y) +
         "\" stroke=\"#e0e0e0\"/><text x=\"" + num(kLeft - 6) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         escape_markup(tick_label(t)) + "</text>\n";
  }
  o += "</g>\n";
  o += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"none\" stroke=\"#333333\"/>\n";
  o += "<text class=\"x-label\" x=\"" + num(kLeft + pw / 2) + "\" y=\"" + num(spec.height - 12) + "\" text-anchor=\"middle\">" +
       escape_markup(spec.x_label + (spec.log_x ? " (log scale)" : "")) + "</text>\n";
  o += "<text class=\"y-label\" x=\"16\" y=\"" + num(kTop + ph / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       num(kTop + ph / 2) + ")\">" + escape_markup(spec.y_label) + "</text>\n";
  // Series, then the legend beside the frame.
  for (size_t i = 0; i < series.size(); ++i) {
    const PlotSeries& s = series[i];
    const std::string color = kColors[i % (sizeof kColors / sizeof *kColors)];
    o += "<g class=\"series\" data-series=\"" + escape_markup(s.name) + "\">\n";
    if (s.points.size() >= 2) {
      o += "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\" points=\"";
      for (size_t k = 0; k < s.points.size(); ++k)
        o += (k ? " " : "") + num(px(s.points[k].first)) + "," + num(py(s.points[k].second));
      o += "\"/>\n";
    }
    for (const auto& [x, y] : s.points)
      o += "<circle cx=\"" + num(px(x)) + "\" cy=\"" + num(py(y)) + "\" r=\"4\" fill=\"" + color + "\"/>\n";
    o += "</g>\n";
  }
  o += "<g class=\"legend\">\n";
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = kTop + 12 + 20.0 * double(i), x = kLeft + pw + 14;
    const std::string color = kColors[i % (sizeof kColors / sizeof *kColors)];
    o += "<line x1=\"" + num(x) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x + 22) + "\" y2=\"" + num(y) + "\" stroke=\"" + color +
         "\" stroke-width=\"2\"/><text x=\"" + num(x + 28) + "\" y=\"" + num(y + 4) + "\">" + escape_markup(series[i].name) +
         "</text>\n";
  }
  o += "</g>\n</svg>\n";
  return o;
}

}  // namespace gq::report
