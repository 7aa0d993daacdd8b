#pragma once
// JUnit XML for CI systems (Jenkins, GitLab): one <testsuite> per model, one <testcase> per
// evaluated check, <failure> for findings whose action is review or block.
#include "engine/results.h"

#include <string>

namespace modelgate::engine {

/// The JUnit XML document of a run: per model a testcase for the clean pass, each attack at
/// each ε, each corruption at each level, the fingerprint and each finding not tied to one of
/// those (sanity checks); a review/block finding is a <failure>, a warn finding is noted in
/// <system-out>, and manifests modelgate does not handle are <skipped> testcases.
std::string junit_xml(const JobResult& result);

}  // namespace modelgate::engine
