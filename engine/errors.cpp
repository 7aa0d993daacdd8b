#include "engine/errors.h"

#include "engine/text_scan.h"

#include <c10/util/Exception.h>

#include <vector>

namespace modelgate::engine {

std::string one_line(const std::exception& e) {
  // c10::Error::msg() drops the C++ backtrace; TorchScript errors then still carry an
  // interpreter traceback whose last "...Error: " line is the actual complaint.
  std::string msg = e.what();
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) msg = ce->msg();
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= msg.size()) {
    auto end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    auto line = msg.substr(start, end - start);
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
    start = end + 1;
  }
  if (lines.empty()) return "unknown error";
  // The last line shaped "<blanks><Name>Error: <message>".
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    TextCursor c{*it};
    c.blanks();
    const auto name_at = c.i;
    if (c.word() && c.i - name_at > 5 && it->compare(c.i - 5, 5, "Error") == 0 && c.lit(": "))
      return std::string(c.rest());
  }
  const auto& first = lines.front();
  return first.substr(first.find_first_not_of(" \t"));
}

}  // namespace modelgate::engine
