#include "engine/errors.h"
#include "engine/report/files.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;
using namespace modelgate::engine;

namespace {
std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST(Report, WritesAtomicallyAndLeavesNoTemporaries) {
  const auto dir = fs::temp_directory_path() / ("modelgate-report-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto path = dir / "nested" / "r.json";
  write_atomically(path, "{\"a\": 1}\n");
  EXPECT_EQ(read(path), "{\"a\": 1}\n");
  write_atomically(path, "{\"a\": 2}\n");
  EXPECT_EQ(read(path), "{\"a\": 2}\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "nested"), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Report, FailedWriteKeepsTheEarlierReport) {
  const auto dir = fs::temp_directory_path() / ("modelgate-report-ro-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto path = dir / "r.json";
  write_atomically(path, "old\n");
  // A path whose parent is a regular file cannot be written: the error names it.
  EXPECT_THROW(write_atomically(path / "x.json", "new\n"), RunError);
  EXPECT_EQ(read(path), "old\n");
  fs::remove_all(dir);
}

TEST(Report, TimestampedNamesNeverCollide) {
  const auto dir = fs::temp_directory_path() / ("modelgate-report-ts-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto a = timestamped_report_path(dir, "nightly job");
  EXPECT_TRUE(std::regex_match(a.filename().string(), std::regex(R"(nightly_job-\d{8}T\d{6}Z\.json)")));
  write_atomically(a, "1");
  const auto b = timestamped_report_path(dir, "nightly job");
  EXPECT_NE(a, b);
  fs::remove_all(dir);
}

TEST(Report, UtcTimestampsAreIso8601) {
  EXPECT_TRUE(std::regex_match(utc_now_iso(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST(Errors, OneLineKeepsTheComplaintOfATorchScriptTraceback) {
  const std::runtime_error traceback(
      "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript, serialized code (most recent call last):\n"
      "  File \"code/__torch__.py\", line 12, in forward\n"
      "RuntimeError: Given groups=1, weight of size [16, 1, 3, 3], expected input to have 1 channels\n");
  EXPECT_EQ(one_line(traceback), "Given groups=1, weight of size [16, 1, 3, 3], expected input to have 1 channels");
  EXPECT_EQ(one_line(std::runtime_error("  plain message\nsecond")), "plain message");
}
