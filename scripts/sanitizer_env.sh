# Sourced by scripts/sanitize.sh and scripts/fuzz.sh: the runtime options of every instrumented
# process (ctest, the pytest-spawned CLI and its workers, the fuzz targets inherit them).
#   detect_leaks=0        LeakSanitizer reports LibTorch's process-lifetime allocations (operator
#                         registries, thread pools) as leaks, and it cannot stop the world inside
#                         a confined worker (seccomp denies ptrace). Leaks are not what this
#                         build looks for (a leak-checking fuzz run is in bench/results/fuzz.md).
#   allocator_may_return_null=1
#                         malloc returns null when the worker's address-space limit refuses
#                         memory, as it does without ASan (the isolation tests check that limit);
#                         ASan would abort the process instead.
#   print_stacktrace=1    UBSan prints the stack of each report.
# No suppressions are needed (see bench/results/sanitize.md).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export MODELGATE_SANITIZER_BUILD=1
