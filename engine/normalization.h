#pragma once
#include <vector>

namespace modelgate::engine {

/// Per-channel input normalisation (spec.models[i].normalize), applied inside modelgate's
/// forward wrapper: attacks, noise levels and corruptions stay in [0, 1] pixel space, and the
/// model sees (x - mean) / std.
struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
  bool operator==(const Normalization& o) const { return mean == o.mean && std == o.std; }
};

}  // namespace modelgate::engine
