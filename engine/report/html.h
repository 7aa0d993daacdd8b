#pragma once
// The HTML report: one self-contained page (inline CSS and SVG, no scripts, no network).
#include "engine/results.h"

#include <string>

namespace modelgate::engine {

/// The page of a run: verdict and findings first, then per model its clean accuracy, robust
/// accuracy against ε per attack and accuracy against level per corruption (SVG line charts,
/// one point per evaluation, with the figures in tables beside them), the fingerprint summary,
/// and at the end the environment, kernels, manifests, warnings and timings.
std::string html_report(const JobResult& result);

}  // namespace modelgate::engine
