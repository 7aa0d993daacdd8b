#include "engine/scan/code_check.h"

#include "engine/text_scan.h"

#include <fmt/format.h>

#include <array>

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

// ^\w+\.\w+ = (\(\w+\)\[\d+\]|\w+)$ : one attribute set from a state tuple's item or a name.
bool sets_attribute(std::string_view line) {
  TextCursor c{line};
  if (!(c.word() && c.lit(".") && c.word() && c.lit(" = "))) return false;
  TextCursor item = c;
  if (item.lit("(") && item.word() && item.lit(")[") && item.digits() && item.lit("]") && item.end()) return true;
  return c.word() && c.end();
}

// ^\w+ = \w+\.\w+$ : one attribute read into a name.
bool gets_attribute(std::string_view line) {
  TextCursor c{line};
  return c.word() && c.lit(" = ") && c.word() && c.lit(".") && c.word() && c.end();
}

// ^return (\w+|\((\w+, )*\w+,?\))$ : a name or a tuple of names is returned.
bool returns_names(std::string_view line) {
  TextCursor c{line};
  if (!c.lit("return ")) return false;
  if (!c.lit("(")) return c.word() && c.end();
  if (!c.word()) return false;
  while (c.lit(", "))
    if (!c.word()) return false;
  c.lit(",");
  return c.lit(")") && c.end();
}

bool trivial_body(const std::string& method, const std::vector<std::string>& body) {
  int returns = 0;
  for (const auto& line : body) {
    if (method == "__setstate__") {
      if (line == "return None") ++returns;
      else if (!sets_attribute(line)) return false;
    } else {
      if (returns_names(line)) ++returns;
      else if (!gets_attribute(line)) return false;
    }
  }
  return returns <= 1;
}

// The first call in the line of a function that reads or writes files
// (\b(torch\.(save|load|from_file)|ops\.aten\.(save|from_file)|torch\.jit\.load)\s*\(), or "".
std::string_view file_call(std::string_view text) {
  static constexpr std::array<std::string_view, 6> kNames = {"torch.save",         "torch.load",
                                                             "torch.from_file",    "ops.aten.save",
                                                             "ops.aten.from_file", "torch.jit.load"};
  for (size_t at = 0; at < text.size(); ++at) {
    if (at > 0 && is_word_char(text[at - 1])) continue;
    for (const auto name : kNames) {
      TextCursor c{text, at};
      if (!c.lit(name)) continue;
      c.blanks();
      if (c.lit("(")) return name;
    }
  }
  return {};
}

// The method a line defines when it is __setstate__ or __getstate__, or "".
std::string state_method(std::string_view text) {
  for (const char* method : {"__setstate__", "__getstate__"}) {
    TextCursor c{text};
    if (c.lit("def ") && c.lit(method) && c.lit("(")) return method;
  }
  return {};
}

}  // namespace

std::vector<ScanFinding> check_code(std::string_view source, const std::string& record) {
  std::vector<ScanFinding> out;
  const auto lines = split_lines(source);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string text(trimmed(lines[i]));
    if (const auto call = file_call(text); !call.empty())
      out.push_back({"code/file-access", Severity::critical, fmt::format("{}:{}", record, i + 1),
                     fmt::format("calls {}: a model must not read or write files", call)});
    const auto method = state_method(text);
    if (method.empty()) continue;
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
