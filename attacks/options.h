#pragma once
// The vocabulary of attack options, free of ATen so that configs and reports can name attacks
// without compiling tensor headers.
#include <string>

namespace modelgate::attacks {

enum class Norm { linf, l2 };
/// none: raise the loss of the true label. label: lower the loss of one fixed class.
/// least_likely: of the clean prediction's least likely class. random: of a seeded random
/// class other than the true one.
enum class Target { none, label, least_likely, random };
enum class ApgdLoss { ce, dlr };

std::string to_string(Norm n);
std::string to_string(Target t);
std::string to_string(ApgdLoss l);

/// APGD's first step size for a sample: 2ε, as AutoAttack sets it (then halved at checkpoints).
inline double apgd_first_step(double epsilon) { return 2.0 * epsilon; }

}  // namespace modelgate::attacks
