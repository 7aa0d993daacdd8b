#pragma once
// Findings: which outcomes a gate acts on. Threshold checks (minAccuracy) and AutoAttack's
// sanity checks, each with the action the job maps its severity to.
#include "engine/config.h"
#include "engine/preflight.h"
#include "engine/results.h"

#include <vector>

namespace modelgate::engine {

/// Share of samples with all-zero input gradients above which a sanity finding is raised.
/// AutoAttack warns on any; a few saturated samples are normal for confident models, a tenth is not.
inline constexpr double kZeroGradientLimit = 0.05;

/// The findings of one evaluated model, in report order: the probability-output sanity check,
/// then per attack its threshold and zero-gradient checks, then per corruption its threshold.
std::vector<Finding> derive_findings(const JobConfig& job, const ModelResult& result, const ModelChecks& checks);

}  // namespace modelgate::engine
