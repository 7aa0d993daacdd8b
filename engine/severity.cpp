#include "engine/severity.h"

#include "engine/errors.h"

namespace modelgate::engine {

std::string to_string(Severity s) {
  switch (s) {
    case Severity::critical: return "critical";
    case Severity::high: return "high";
    case Severity::medium: return "medium";
    case Severity::low: return "low";
  }
  return "?";
}

std::string to_string(Action a) {
  switch (a) {
    case Action::pass: return "pass";
    case Action::warn: return "warn";
    case Action::review: return "review";
    case Action::block: return "block";
  }
  return "?";
}

std::optional<Severity> severity_from_string(const std::string& s) {
  if (s == "critical") return Severity::critical;
  if (s == "high") return Severity::high;
  if (s == "medium") return Severity::medium;
  if (s == "low") return Severity::low;
  return std::nullopt;
}

std::optional<Action> action_from_string(const std::string& s) {
  if (s == "block") return Action::block;
  if (s == "review") return Action::review;
  if (s == "warn") return Action::warn;
  if (s == "pass" || s == "allow") return Action::pass;
  return std::nullopt;
}

int exit_code_for(Action verdict) {
  return verdict == Action::block ? kBlock : verdict == Action::review ? kReview : kPass;
}

}  // namespace modelgate::engine
