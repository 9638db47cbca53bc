// The comparison report read back structurally: the SVG's points are the data's (count, order,
// direction), the page reaches nothing outside itself, text is escaped, the Markdown table has every
// column in every row, results.json round-trips.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <map>
#include <regex>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/text_file.h"
#include "report/html.h"
#include "report/markdown.h"
#include "report/markup.h"
#include "report/results.h"
#include "report/svg_plot.h"

namespace gq::report {
namespace {

namespace fs = std::filesystem;

struct Point {
  double x, y;
};

// The <g class="series"> groups of an SVG, by name: their circles' centres and polyline's points.
struct ParsedSeries {
  std::vector<Point> circles, polyline;
};

std::map<std::string, ParsedSeries> parse_series(const std::string& svg) {
  std::map<std::string, ParsedSeries> out;
  const std::regex group(R"re(<g class="series" data-series="([^"]*)">([\s\S]*?)</g>)re");
  const std::regex circle(R"re(<circle cx="([-0-9.]+)" cy="([-0-9.]+)")re");
  const std::regex poly(R"re(<polyline[^>]* points="([^"]*)")re");
  for (std::sregex_iterator g(svg.begin(), svg.end(), group), end; g != end; ++g) {
    ParsedSeries& s = out[(*g)[1]];
    const std::string body = (*g)[2];
    for (std::sregex_iterator c(body.begin(), body.end(), circle); c != end; ++c)
      s.circles.push_back({std::stod((*c)[1]), std::stod((*c)[2])});
    std::smatch m;
    if (std::regex_search(body, m, poly)) {
      const std::string pts = m[1];
      const std::regex pair(R"(([-0-9.]+),([-0-9.]+))");
      for (std::sregex_iterator p(pts.begin(), pts.end(), pair); p != end; ++p)
        s.polyline.push_back({std::stod((*p)[1]), std::stod((*p)[2])});
    }
  }
  return out;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

ResultRow row(std::string recipe, std::string method, int64_t bytes, double ppl) {
  ResultRow r;
  r.recipe = std::move(recipe), r.method = std::move(method), r.bytes = bytes, r.perplexity = ppl;
  r.bits_per_param = double(bytes) * 8 / 1e6;
  if (r.method != "float") r.delta_ppl = ppl - 10.0, r.mean_kl = 0.01 * ppl, r.top1 = 0.9;
  return r;
}

Results sample() {
  Results r;
  r.model = "examples/models/tiny-e2b", r.data_train = "train.txt", r.data_eval = "valid.txt", r.parameters = 1000000;
  r.rows = {row("", "float", 2000000, 10.0),   row("q4_0", "rtn", 560000, 14.0),  row("q4_0", "gptq", 560000, 12.5),
            row("q4_0", "qat", 560000, 11.0),  row("mobile", "rtn", 400000, 20.0), row("mobile", "gptq", 400000, 18.0),
            row("mobile", "qat", 400000, 12.0)};
  r.rows[3].exports = {{"gguf", "q4_0/qat/model.gguf", true, true, "validated on the reference engine: max |Δlogit| 1e-05"},
                       {"native", "q4_0/qat/model.gqn", false, false, "FAILED: model.gqn: does not match"}};
  r.rows[6].exports = {{"compressed-tensors", "mobile/qat/compressed-tensors", true, false, "written; not run here"}};
  r.curves = {{"q4_0", "qat", {{1, 3.5}, {2, 3.1}, {3, 2.9}}}, {"mobile", "qat", {{1, 4.0}, {2, 3.6}}}};
  fill_rtn_gap_recovered(r);
  return r;
}

TEST(RtnGap, FormulaAndRowsOfEachRecipe) {
  EXPECT_DOUBLE_EQ(*rtn_gap_recovered(14.0, 11.0, 10.0), 75.0);
  EXPECT_DOUBLE_EQ(*rtn_gap_recovered(14.0, 15.0, 10.0), -25.0);  // worse than RTN: negative, not clamped
  EXPECT_FALSE(rtn_gap_recovered(10.0, 10.0, 10.0));
  const Results r = sample();
  EXPECT_FALSE(r.rows[0].rtn_gap_recovered);  // float
  EXPECT_DOUBLE_EQ(*r.rows[1].rtn_gap_recovered, 0.0);
  EXPECT_DOUBLE_EQ(*r.rows[3].rtn_gap_recovered, 75.0);
  EXPECT_DOUBLE_EQ(*r.rows[6].rtn_gap_recovered, 80.0);  // against mobile's own RTN row
}

TEST(SvgPlot, OneCirclePerPointInDataOrderAndDirection) {
  const std::vector<PlotSeries> s = {{"rtn", {{1e3, 5.0}, {1e4, 4.0}, {1e5, 3.0}}}, {"qat", {{2e3, 4.5}, {3e4, 3.9}}}};
  const std::string svg = svg_line_plot({"t", "bytes", "ppl", true}, s);
  const auto parsed = parse_series(svg);
  ASSERT_EQ(parsed.size(), 2u);
  for (const PlotSeries& want : s) {
    const ParsedSeries& got = parsed.at(want.name);
    ASSERT_EQ(got.circles.size(), want.points.size()) << want.name;
    ASSERT_EQ(got.polyline.size(), want.points.size()) << want.name;
    for (size_t i = 0; i < got.circles.size(); ++i) {
      EXPECT_NEAR(got.circles[i].x, got.polyline[i].x, 0.01);
      EXPECT_NEAR(got.circles[i].y, got.polyline[i].y, 0.01);
      if (i == 0) continue;
      EXPECT_GT(got.circles[i].x, got.circles[i - 1].x);  // larger x further right
      EXPECT_GT(got.circles[i].y, got.circles[i - 1].y);  // smaller ppl lower on the page (SVG y grows down)
    }
  }
  // Log scale: equal ratios are equal distances (1e3 -> 1e4 -> 1e5).
  const ParsedSeries& rtn = parsed.at("rtn");
  EXPECT_NEAR(rtn.circles[1].x - rtn.circles[0].x, rtn.circles[2].x - rtn.circles[1].x, 0.02);
  // Linear y: equal steps are equal distances (5 -> 4 -> 3).
  EXPECT_NEAR(rtn.circles[1].y - rtn.circles[0].y, rtn.circles[2].y - rtn.circles[1].y, 0.02);
  // Inside the frame; axes labelled; legend names every series.
  for (const auto& [name, p] : parsed)
    for (const Point& c : p.circles) EXPECT_TRUE(c.x > 0 && c.x < 640 && c.y > 0 && c.y < 400) << name;
  EXPECT_NE(svg.find("bytes (log scale)"), std::string::npos);
  EXPECT_NE(svg.find(">ppl</text>"), std::string::npos);
  EXPECT_GE(count(svg, "<g class=\"x-ticks\">"), 1u);
  EXPECT_GE(count(svg, "stroke=\"#e0e0e0\""), 4u);  // grid lines at the ticks
  const size_t legend = svg.find("<g class=\"legend\">");
  ASSERT_NE(legend, std::string::npos);
  EXPECT_NE(svg.find(">rtn</text>", legend), std::string::npos);
  EXPECT_NE(svg.find(">qat</text>", legend), std::string::npos);
}

TEST(SvgPlot, SinglePointNoPolylineAndBadValuesRefused) {
  const auto parsed = parse_series(svg_line_plot({"t", "x", "y", true}, {{"float", {{5e5, 9.0}}}}));
  ASSERT_EQ(parsed.at("float").circles.size(), 1u);
  EXPECT_TRUE(parsed.at("float").polyline.empty());
  EXPECT_THROW(svg_line_plot({"t", "x", "y", true}, {{"a", {{0.0, 1.0}}}}), FormatError);
  EXPECT_THROW(svg_line_plot({"t", "x", "y", false}, {{"a", {{1.0, std::nan("")}}}}), FormatError);
}

TEST(SvgPlot, LinearTicksCoverTheRangeEvenly) {
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{{0.0, 1.0}, {2.87, 3.61}, {11.2, 11.3}, {-5.0, 120.0}}) {
    const std::vector<double> t = linear_ticks(lo, hi, 5);
    ASSERT_GE(t.size(), 2u);
    EXPECT_LE(t.front(), lo);
    EXPECT_GE(t.back(), hi);
    EXPECT_LE(t.size(), 12u);
    for (size_t i = 2; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], t[1] - t[0], 1e-9 * std::fabs(t[1] - t[0]) + 1e-12);
  }
}

TEST(Html, SelfContainedWithBothPlotsAndEveryRow) {
  const Results r = sample();
  const std::string html = render_html(r);
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 2u);
  EXPECT_EQ(count(html, "<tr>"), r.rows.size() + 1);
  // The perplexity plot: one series per method, one circle per row of that method.
  const size_t a = html.find("<figure id=\"perplexity-vs-bytes\">"), b = html.find("<figure id=\"training-loss\">");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  const auto ppl = parse_series(html.substr(a, b - a));
  ASSERT_EQ(ppl.size(), 4u);
  EXPECT_EQ(ppl.at("float").circles.size(), 1u);
  for (const char* m : {"rtn", "gptq", "qat"}) EXPECT_EQ(ppl.at(m).circles.size(), 2u) << m;
  // mobile (400 kB) left of q4_0 (560 kB) and, for RTN, higher (ppl 20 > 14).
  EXPECT_LT(ppl.at("rtn").circles[0].x, ppl.at("rtn").circles[1].x);
  EXPECT_LT(ppl.at("rtn").circles[0].y, ppl.at("rtn").circles[1].y);
  const auto train = parse_series(html.substr(b));
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train.at("q4_0/qat").circles.size(), 3u);
  EXPECT_EQ(train.at("mobile/qat").polyline.size(), 2u);
}

TEST(Html, NoTrainingCurvesSaysSo) {
  Results r = sample();
  r.curves.clear();
  const std::string html = render_html(r);
  EXPECT_EQ(count(html, "<svg"), 1u);
  EXPECT_NE(html.find("no training curves"), std::string::npos);
}

TEST(Html, TextIsEscapedEverywhere) {
  Results r = sample();
  r.model = "m<script>alert(1)</script>&\"'";
  r.rows[1].recipe = "<b>r</b>";
  r.rows[2].method = "a\"b<";
  r.curves[0].recipe = "<i>";
  const std::string html = render_html(r);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_EQ(html.find("a\"b<"), std::string::npos);
  EXPECT_NE(html.find("m&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"), std::string::npos);
  EXPECT_NE(html.find("data-series=\"a&quot;b&lt;\""), std::string::npos);
  EXPECT_EQ(escape_markup("<&>\"'x"), "&lt;&amp;&gt;&quot;&#39;x");
}

// The cells of each table line of the Markdown, split on unescaped pipes.
std::vector<std::vector<std::string>> md_table(const std::string& md) {
  std::vector<std::vector<std::string>> rows;
  size_t start = md.find("| recipe | method |");
  for (size_t end; start != std::string::npos && start < md.size() && md[start] == '|'; start = end + 1) {
    end = md.find('\n', start);
    const std::string line = md.substr(start, end - start);
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') cell += '|', ++i;
      else if (line[i] == '|') cells.push_back(cell.substr(1, cell.size() - 2)), cell.clear();
      else cell += line[i];
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(Markdown, EveryColumnInEveryRowWithTheFigures) {
  Results r = sample();
  r.rows[2].recipe = "a|b";
  const std::vector<std::vector<std::string>> t = md_table(render_markdown(r));
  ASSERT_EQ(t.size(), r.rows.size() + 2);  // header, rule, rows
  EXPECT_EQ(t[0], result_columns());
  for (const auto& cells : t) EXPECT_EQ(cells.size(), result_columns().size());
  EXPECT_EQ(t[2], (std::vector<std::string>{"-", "float", "2000000", "16.000", "10.0000", "-", "-", "-", "-", "-"}));
  EXPECT_EQ(t[5], (std::vector<std::string>{"q4_0", "qat", "560000", "4.480", "11.0000", "+1.0000", "75.0", "0.11000",
                                            "90.00%", "gguf (validated), native (FAILED)"}));
  EXPECT_EQ(t[8].back(), "compressed-tensors (not validated)");
  EXPECT_EQ(t[4][0], "a|b");
}

TEST(ResultsJson, RoundTripsAndNamesBadKeys) {
  const Results r = sample();
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(to_json(results_from_json(j, "results.json")), j);
  nlohmann::json bad = j;
  bad["rows"][2].erase("perplexity");
  try {
    results_from_json(bad, "DIR/results.json");
    FAIL() << "accepted a row without perplexity";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("DIR/results.json: row 2: missing key 'perplexity'"), std::string::npos) << e.what();
  }
  bad = j;
  bad["training_curves"][0]["loss"][1] = "x";
  EXPECT_THROW(results_from_json(bad, "f"), FormatError);
}

TEST(WriteReport, ThreeFilesNoTemporaries) {
  const fs::path dir = fs::temp_directory_path() / ("gq_report_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  write_report(sample(), dir.string());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"report.html", "report.md", "results.json"}));
  EXPECT_EQ(read_text_file((dir / "report.md").string()), render_markdown(sample()));
  EXPECT_EQ(results_from_json(nlohmann::json::parse(read_text_file((dir / "results.json").string())), "r").rows.size(), 7u);
  // A value the plot refuses leaves the previous report as it was.
  Results bad = sample();
  bad.rows[1].perplexity = std::nan("");
  EXPECT_THROW(write_report(bad, dir.string()), FormatError);
  EXPECT_EQ(read_text_file((dir / "report.html").string()), render_html(sample()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gq::report
