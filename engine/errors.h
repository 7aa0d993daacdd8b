#pragma once
#include <exception>
#include <stdexcept>
#include <string>

namespace modelgate::engine {

/// A mistake in what the user gave us (file, config, data): exit 3, nothing evaluated.
/// Components below the engine signal the same with std::invalid_argument.
struct InputError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

/// A failure while evaluating (model crashed, produced NaN, I/O failed mid-run): exit 4.
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The process exit codes of `validate` (compare has its own, see engine/cli.cpp).
enum ExitCode : int { kPass = 0, kReview = 1, kBlock = 2, kInvalidInput = 3, kRunFailure = 4 };

/// The most useful single line of an exception's message: LibTorch errors carry TorchScript
/// tracebacks and C++ backtraces; users get the line that names the problem.
std::string one_line(const std::exception& e);

}  // namespace modelgate::engine
