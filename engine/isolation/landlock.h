#pragma once
// Internal to engine/isolation: the Landlock part of confine().
#include "engine/isolation/policy.h"

#include <filesystem>
#include <string>
#include <vector>

namespace modelgate::engine::isolation::detail {

/// What apply_landlock() put in place.
struct LandlockOutcome {
  std::string statement;       ///< the Applied::landlock sentence
  int unconfined_threads = 0;  ///< threads that could not be reached (see confine.h)
};

/// Builds a ruleset with every right ABI `abi` knows (up to ABI 7, the newest this code knows), the rules for `policy` and for the system
/// files a loaded runtime reads, and restricts every thread of the process to it. Needs
/// PR_SET_NO_NEW_PRIVS on the calling thread. Throws std::runtime_error naming the step or path.
LandlockOutcome apply_landlock(const Policy& policy, int abi);

/// The folders holding a file mapped executable in this process now (/proc/self/maps): the
/// executable's folder and those of its shared libraries (a venv's torch/lib among them).
std::vector<std::filesystem::path> mapped_code_folders();

/// Makes every thread of the process except the caller call landlock_restrict_self(ruleset_fd)
/// from a signal handler, one at a time, until no unreached thread is left. Returns how many
/// threads block the signal and so stay unconfined. Throws std::runtime_error when a thread fails
/// to restrict itself or does not answer within 2 s.
int restrict_other_threads(int ruleset_fd);

}  // namespace modelgate::engine::isolation::detail
