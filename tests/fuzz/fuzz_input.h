#pragma once
// Shared by the libFuzzer targets: the input as a file (the readers under test take paths, as
// the CLI gives them) and the rule for what a reader may throw.
//
// A reader given hostile bytes may refuse them with std::invalid_argument (InputError: exit 3,
// a one-line message). Anything else that escapes, any sanitiser report, a crash, a timeout or
// memory past -rss_limit_mb is a finding: the target aborts and libFuzzer keeps the input.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace modelgate::fuzz {

/// A private folder for this process, removed at exit; $MODELGATE_FUZZ_SCRATCH when set
/// (scripts/fuzz.sh), kept, so that the input a killed run was reading can be found there.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = []() -> std::filesystem::path {
    if (const char* given = std::getenv("MODELGATE_FUZZ_SCRATCH")) {
      std::filesystem::create_directories(given);
      return given;
    }
    std::string templ = (std::filesystem::temp_directory_path() / "modelgate-fuzz-XXXXXX").string();
    if (!mkdtemp(templ.data())) std::abort();
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return std::filesystem::path(templ);
  }();
  return dir;
}

/// Writes the input to scratch_dir()/name and returns the path.
inline std::filesystem::path write_input(const uint8_t* data, size_t size, const std::string& name) {
  const auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();
  return path;
}

/// Runs `read`; a std::invalid_argument is the reader refusing the input, anything else aborts.
template <class F>
void expect_refusal_or_success(F&& read) {
  try {
    read();
  } catch (const std::invalid_argument&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate fuzz: unexpected exception (not an input error): %s\n", e.what());
    std::abort();
  }
}

}  // namespace modelgate::fuzz
