#pragma once
// Hard limits on counts that come from a job file, so that one mistyped or hostile value cannot
// start a run that never ends. Each is checked when the job is read: exit 3, naming the file,
// the field and the limit. Work within them is then estimated against the time a job has
// (engine/work_estimate.h).
#include "fingerprint/record.h"

#include <cstddef>
#include <cstdint>

namespace modelgate::engine::limits {

inline constexpr int64_t kSteps = 10000;          ///< iterations of one PGD or APGD attack
inline constexpr int64_t kRestarts = 100;         ///< restarts of one PGD or APGD attack
inline constexpr std::size_t kSweepValues = 100;  ///< ε values of one attack, levels of one noise test
inline constexpr int64_t kProbes = fingerprint::kMaxProbes;  ///< fingerprint probes

}  // namespace modelgate::engine::limits
