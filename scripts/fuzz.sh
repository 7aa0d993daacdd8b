#!/usr/bin/env bash
# Runs each libFuzzer target for a fixed time over a scratch copy of its seed corpus (the
# committed corpus is never written to). A crash, a sanitiser report, an input over 10 s or
# over 2 GiB of memory fails the run; the input is kept in build-asan/fuzz-findings/<target>/,
# to be minimised and committed under tests/fuzz/regressions/<target>/ with the fix.
#   scripts/fuzz.sh [target ...]     targets: job npz pt_dataset fingerprint scan image (default: all)
#   FUZZ_SECONDS=60                  per target
# Needs the sanitiser build (scripts/sanitize.sh builds it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(job npz pt_dataset fingerprint scan image)
source scripts/sanitizer_env.sh
failed=0
for t in "${targets[@]}"; do
  bin=build-asan/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: $bin not built (run scripts/sanitize.sh)" >&2; exit 2; }
  work=build-asan/fuzz-work/$t findings=build-asan/fuzz-findings/$t
  rm -rf "$work"; mkdir -p "$work" "$findings"
  cp tests/fuzz/corpus/$t/* "$work"/
  [ -d tests/fuzz/regressions/$t ] && cp tests/fuzz/regressions/$t/* "$work"/
  log=build-asan/fuzz-$t.log
  # -fork=1 would survive a crash and go on; one process keeps the figures simple and stops at
  # the first finding, which is what a CI step wants.
  # libFuzzer stops itself at the time limit; the outer timeout is for a run stuck past it
  # (its out-of-memory report walks the whole heap, which can take many minutes). The input a
  # killed run was reading is the one in its scratch folder.
  scratch=build-asan/fuzz-scratch/$t
  rm -rf "$scratch"
  if MODELGATE_FUZZ_SCRATCH="$scratch" timeout --signal=KILL $((seconds + 120)) \
       "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
       -artifact_prefix="$findings/" -print_final_stats=1 "$work" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED; failed=1
    for f in "$scratch"/*; do [ -f "$f" ] && cp "$f" "$findings/last-input-$(basename "$f")"; done
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz $t: $status, ${seconds} s, $execs inputs, coverage $cov edges, corpus $(ls "$work" | wc -l) inputs"
  if [ $status = FAILED ]; then
    grep -E 'ERROR|SUMMARY|unexpected exception|threw|Test unit written' "$log" | head -8 >&2
  fi
done
exit $failed
