#pragma once
// Severities of findings and the actions they map to: what the verdict and exit code are made of.
#include <optional>
#include <string>

namespace modelgate::engine {

enum class Severity { critical, high, medium, low };
/// What a finding of a given severity does to the verdict. Ordered from mildest to worst.
enum class Action { pass, warn, review, block };

std::string to_string(Severity s);
std::string to_string(Action a);
/// The severity or action a name denotes ("allow" is pass); nullopt for anything else.
std::optional<Severity> severity_from_string(const std::string& s);
std::optional<Action> action_from_string(const std::string& s);

/// The exit code of a verdict: pass/warn 0, review 1, block 2.
int exit_code_for(Action verdict);

}  // namespace modelgate::engine
