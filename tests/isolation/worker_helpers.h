#pragma once
// Running one request through isolation_test_worker and collecting what came back.
#include "engine/isolation/worker.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace modelgate::engine::isolation::testing {

/// What one worker run produced.
struct Outcome {
  nlohmann::json applied;  ///< the worker's {"applied": ...} value (null: not confined)
  nlohmann::json result;   ///< the action's reply (null when none came)
  Event end;               ///< how the worker ended (or timed_out)
};

/// The test worker's argv.
inline std::vector<std::string> worker_argv() { return {ISOLATION_TEST_WORKER}; }

/// Sends {"policy", "action", "arg", "pool"}; waits for the applied reply, the result, and the end.
inline Outcome run_worker(const nlohmann::json& policy, const std::string& action,
                          const nlohmann::json& arg = nullptr, bool pool = false, double timeout = 30) {
  Worker worker = Worker::spawn(worker_argv());
  worker.send({{"policy", policy}, {"action", action}, {"arg", arg}, {"pool", pool}});
  Outcome out{nullptr, nullptr, {Event::Kind::timed_out, nullptr}};
  Event e = worker.next(timeout);
  if (e.kind == Event::Kind::message) {
    EXPECT_FALSE(e.message.contains("confine_error")) << e.message.dump();
    out.applied = e.message.value("applied", nlohmann::json());
    e = worker.next(timeout);
  }
  if (e.kind == Event::Kind::message) {
    out.result = e.message;
    e = worker.next(timeout);
  }
  out.end = e;
  return out;
}

/// A fresh folder under the system temp folder, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "isolation-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  /// Creates `name` with `content`; returns its path.
  std::string file(const std::string& name, const std::string& content = "data") const {
    const auto p = path_ / name;
    FILE* f = std::fopen(p.c_str(), "w");
    std::fputs(content.c_str(), f);
    std::fclose(f);
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace modelgate::engine::isolation::testing
