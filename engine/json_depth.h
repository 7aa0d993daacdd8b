#pragma once
// JSON from untrusted input (a model's modelgate.json, fingerprints, reports, the worker's
// messages) is checked for nesting depth before it is parsed: code that walks a document
// recursively (copies, dumps) overflows the stack on one nested 100 000 levels deep.
#include <cstddef>
#include <string_view>

namespace modelgate::engine {

/// The most deeply nested arrays and objects any modelgate input legitimately has, with room.
inline constexpr std::size_t kMaxJsonDepth = 256;

/// True when `text` nests arrays/objects deeper than `max_depth` (brackets inside strings do
/// not count). One pass, no recursion; it does not validate the rest of the syntax.
inline bool json_too_deep(std::string_view text, std::size_t max_depth = kMaxJsonDepth) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace modelgate::engine
