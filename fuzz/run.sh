#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another on one core, from a
# working copy of the seed corpus (fuzz/work/<target>/, git-ignored), so fuzzing never grows the
# committed corpus. Prints per target: runs, exec/s, coverage, features, and any crash.
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(store_dir metadata bitmap manifest attributes one_array)
export RUSTC_BOOTSTRAP=1 # cargo-fuzz needs nightly flags; the stable toolchain accepts them so
# A failed allocation must reach the library as an error (try_reserve), as it would without ASan.
export ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do cargo fuzz build -O "$t"; done
mkdir -p logs
status=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "artifacts/$t"
  cp -n corpus/"$t"/* "work/$t/" 2>/dev/null || true
  cp -n regressions/"$t"/* "work/$t/" 2>/dev/null || true
  log="logs/$t.log"
  echo "== $t: ${secs}s"
  set +e
  cargo fuzz run -O "$t" "work/$t" -- -max_total_time="$secs" \
    -max_len=65536 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  eps=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
  crash=$(grep -E 'Test unit written to|SUMMARY|panicked at' "$log" | head -3 || true)
  if [ $rc -ne 0 ] || [ -n "$crash" ]; then status=1; fi
  line="$t: ${secs}s, runs=${runs:-?}, exec/s=${eps:-?}, last: ${last:-?}, rc=$rc${crash:+, CRASH: $crash}"
  echo "$line"
  summary+=("$line")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
