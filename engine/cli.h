#pragma once

namespace modelgate::engine {

/// Parses the command line, runs the subcommand and maps every error to an exit code
/// (see engine/errors.h); never throws.
int run_cli(int argc, char** argv);

}  // namespace modelgate::engine
