#include "engine/errors.h"

#include <c10/util/Exception.h>

#include <regex>
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
  static const std::regex kErrorLine("^\\s*(\\w+Error): (.*)$");
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::smatch m;
    if (std::regex_match(*it, m, kErrorLine)) return m[2];
  }
  const auto& first = lines.front();
  return first.substr(first.find_first_not_of(" \t"));
}

}  // namespace modelgate::engine
