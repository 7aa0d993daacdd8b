#pragma once
// Internal to engine/isolation: the seccomp part of confine().
#include "engine/isolation/policy.h"

#include <string>

namespace modelgate::engine::isolation::detail {

/// Loads the system-call deny list for `policy` on every thread (SECCOMP_FILTER_FLAG_TSYNC) and
/// returns the Applied::seccomp sentence. Throws std::runtime_error when libseccomp or the
/// kernel refuses the filter.
std::string apply_seccomp(const Policy& policy);

}  // namespace modelgate::engine::isolation::detail
