#pragma once
// A cursor over text for the few fixed shapes modelgate recognises in untrusted input (record
// names, TorchScript code lines, NPY headers, error messages). libstdc++'s std::regex recurses
// once per character matched and overflows the stack on a long input (fuzz_npz found it), so
// text that a model or data file controls is matched with this instead.

#include <cctype>
#include <string_view>

namespace modelgate::engine {

inline bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

struct TextCursor {
  std::string_view s;
  size_t i = 0;

  bool end() const { return i == s.size(); }
  std::string_view rest() const { return s.substr(i); }
  // Consumes `t` if the text continues with it.
  bool lit(std::string_view t) {
    if (s.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  }
  // Consumes one or more characters of the class (regex \w+, \d+, [\w.]+); false, consuming
  // nothing, when there is none.
  template <class Pred>
  bool run(Pred in_class) {
    size_t j = i;
    while (j < s.size() && in_class(s[j])) ++j;
    if (j == i) return false;
    i = j;
    return true;
  }
  bool word() { return run(is_word_char); }
  bool digits() {
    return run([](char c) { return c >= '0' && c <= '9'; });
  }
  void blanks() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
};

// The whole text is one or more digits.
inline bool all_digits(std::string_view s) {
  TextCursor c{s};
  return c.digits() && c.end();
}

}  // namespace modelgate::engine
