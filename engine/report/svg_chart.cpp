#include "engine/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace modelgate::engine {
namespace {

constexpr double kWidth = 500, kHeight = 330;
constexpr double kLeft = 50, kRight = 16, kTop = 34, kBottom = 46;  // margins; the legend sits below
constexpr double kLegendRow = 16;
// A palette that stays distinguishable for common colour-vision deficiencies (Okabe-Ito).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"};

// Tick positions for [lo, hi]: about five round steps (1, 2 or 5 × 10^k).
std::vector<double> ticks(double lo, double hi) {
  if (hi <= lo) return {lo};
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<ChartSeries>& series, const std::vector<ChartReference>& references) {
  double xmin = 0, xmax = 0;
  bool any = false;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      xmin = any ? std::min(xmin, x) : x;
      xmax = any ? std::max(xmax, x) : x;
      any = true;
    }
  // Start at 0 unless every x is far from it (kernel sizes 3..7 read better from 3).
  if (xmin > 0 && xmin < 0.5 * xmax) xmin = 0;
  if (xmax == xmin) {
    xmin = xmin > 0 ? 0 : xmin - 1;
    xmax = xmax > 0 ? xmax : xmax + 1;
  }
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  const double height = kHeight + 14 + kLegendRow * static_cast<double>(series.size() + references.size());
  auto px = [&](double x) { return kLeft + (x - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double y) { return kTop + (1 - y) * ph; };

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "role=\"img\" aria-label=\"{2}\">\n<title>{2}</title>\n",
      kWidth, height, html_escape(title));
  s += fmt::format("<text x=\"{}\" y=\"20\" class=\"chart-title\">{}</text>\n", kLeft, html_escape(title));
  for (double t : ticks(0, 1)) {
    s += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/>", kLeft, kLeft + pw, py(t));
    s += fmt::format("<text x=\"{}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"end\">{:.0f}%</text>\n", kLeft - 6, py(t) + 4, 100 * t);
  }
  for (double t : ticks(xmin, xmax)) {
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" class=\"grid\"/>", px(t), kTop, kTop + ph);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">{:.4g}</text>\n", px(t), kTop + ph + 16, t);
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n", kLeft, kTop, pw, ph);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"axis\" text-anchor=\"middle\">{}</text>\n", kLeft + pw / 2,
                   kTop + ph + 34, html_escape(x_label));
  // Legend rows below the plot, one per line, so that long series names are never cut off.
  auto legend_y = [&](size_t row) { return kHeight + 10 + kLegendRow * static_cast<double>(row); };
  for (size_t i = 0; i < references.size(); ++i) {
    const auto& r = references[i];
    s += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"reference\"/>", kLeft, kLeft + pw,
                     py(r.y));
    s += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" class=\"reference\"/>"
                     "<text x=\"{3}\" y=\"{4:.1f}\" class=\"legend\">{5} ({6:.2f}%)</text>\n",
                     kLeft, kLeft + 18, legend_y(i) - 4, kLeft + 24, legend_y(i), html_escape(r.label), 100 * r.y);
  }
  s += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" class=\"axis\" text-anchor=\"middle\">{}</text>\n",
                   kTop + ph / 2, html_escape(y_label));
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& ser = series[i];
    const char* colour = kColours[i % (sizeof(kColours) / sizeof(kColours[0]))];
    auto pts = ser.points;
    std::sort(pts.begin(), pts.end());
    if (pts.size() > 1) {
      std::string path;
      for (const auto& [x, y] : pts) path += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
      s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, colour);
    }
    for (const auto& [x, y] : pts)
      s += fmt::format("<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\" data-series=\"{}\" "
                       "data-x=\"{:.6g}\" data-y=\"{:.6g}\"><title>{}: {:.4g} → {:.2f}%</title></circle>\n",
                       px(x), py(y), colour, html_escape(ser.name), x, y, html_escape(ser.name), x, 100 * y);
    const double ly = legend_y(references.size() + i);
    s += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"3\"/>"
                     "<text x=\"{4}\" y=\"{5:.1f}\" class=\"legend\">{6}</text>\n",
                     kLeft, kLeft + 18, ly - 4, colour, kLeft + 24, ly, html_escape(ser.name));
  }
  return s + "</svg>\n";
}

}  // namespace modelgate::engine
