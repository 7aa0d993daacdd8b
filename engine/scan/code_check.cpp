#include "engine/scan/code_check.h"

#include <fmt/format.h>

#include <regex>

namespace modelgate::engine::scan {
namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= s.size()) {
    const auto nl = s.find('\n', start);
    const auto end = nl == std::string_view::npos ? s.size() : nl;
    lines.push_back(s.substr(start, end - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

size_t indent_of(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i;
}

std::string_view trimmed(std::string_view line) {
  const auto b = indent_of(line);
  auto e = line.size();
  while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\r' || line[e - 1] == '\t')) --e;
  return line.substr(b, e - b);
}

bool trivial_body(const std::string& method, const std::vector<std::string>& body) {
  static const std::regex set_attr(R"(^\w+\.\w+ = (\(\w+\)\[\d+\]|\w+)$)");
  static const std::regex get_attr(R"(^\w+ = \w+\.\w+$)");
  static const std::regex ret_tuple(R"(^return (\w+|\((\w+, )*\w+,?\))$)");
  int returns = 0;
  for (const auto& line : body) {
    if (method == "__setstate__") {
      if (line == "return None") ++returns;
      else if (!std::regex_match(line, set_attr)) return false;
    } else {
      if (std::regex_match(line, ret_tuple)) ++returns;
      else if (!std::regex_match(line, get_attr)) return false;
    }
  }
  return returns <= 1;
}

}  // namespace

std::vector<ScanFinding> check_code(std::string_view source, const std::string& record) {
  std::vector<ScanFinding> out;
  const auto lines = split_lines(source);
  static const std::regex def(R"(^def (__setstate__|__getstate__)\()");
  static const std::regex file_call(R"(\b(torch\.(save|load|from_file)|ops\.aten\.(save|from_file)|torch\.jit\.load)\s*\()");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string text(trimmed(lines[i]));
    std::smatch m;
    if (std::regex_search(text, m, file_call))
      out.push_back({"code/file-access", Severity::critical, fmt::format("{}:{}", record, i + 1),
                     fmt::format("calls {}: a model must not read or write files", m[1].str())});
    if (!std::regex_search(text, m, def)) continue;
    const auto method = m[1].str();
    const auto def_indent = indent_of(lines[i]);
    // The signature may span lines; it ends at the first line ending with ':'.
    size_t j = i;
    while (j < lines.size() && (trimmed(lines[j]).empty() || trimmed(lines[j]).back() != ':')) ++j;
    std::vector<std::string> body;
    for (++j; j < lines.size(); ++j) {
      const auto t = trimmed(lines[j]);
      if (t.empty()) continue;
      if (indent_of(lines[j]) <= def_indent) break;
      body.emplace_back(t);
    }
    if (!trivial_body(method, body))
      out.push_back({"code/setstate", Severity::critical, fmt::format("{}:{}", record, i + 1),
                     fmt::format("{} does more than save or restore attributes, and it runs inside torch::jit::load "
                                 "before anything can check it",
                                 method)});
  }
  return out;
}

}  // namespace modelgate::engine::scan
