#pragma once
// Inline SVG line charts for the HTML report: no scripts, no external resources.
#include <string>
#include <utility>
#include <vector>

namespace modelgate::engine {

/// One line of a chart: its legend name and its (x, y) points.
struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

/// A horizontal dashed line across a chart, e.g. the clean accuracy the robust ones fall from.
struct ChartReference {
  std::string label;
  double y = 0;
};

/// A line chart with y in [0, 1] (accuracies) and a linear x axis from 0 (or the smallest x,
/// when it is far from 0) to the largest x. Every point is a <circle class="point"> carrying
/// data-series, data-x and data-y attributes, so tests and readers can find the values.
std::string svg_line_chart(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<ChartSeries>& series, const std::vector<ChartReference>& references = {});

/// Text escaped for HTML and SVG content and attribute values.
std::string html_escape(const std::string& text);

}  // namespace modelgate::engine
