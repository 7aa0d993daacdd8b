#include "engine/cli.h"

int main(int argc, char** argv) { return modelgate::engine::run_cli(argc, argv); }
