#pragma once
#include <functional>
#include <string>

namespace modelgate::engine {

/// Receives progress lines (one per finished evaluation, periodic ones on long evaluations).
using Progress = std::function<void(const std::string&)>;

}  // namespace modelgate::engine
