#!/usr/bin/env bash
# ThreadSanitizer run of the C tests: libnumpack built with -Zsanitizer=thread, the C test
# programs with gcc -fsanitize=thread, linked together with the TSan runtime that ships with the
# Rust toolchain. Prints one summary line and exits non-zero on any TSan report, any failed check
# or any abnormal exit.
#
#   bash scripts/tsan.sh              # every program in TSAN_PROGRAMS below
#   bash scripts/tsan.sh threads_mixed  # just these (names from c_tests/ or c_tests/batch/)
#
# Needs only what `make test` needs (stable Rust, gcc). How it works, and why:
# - Stable rustc accepts -Zsanitizer=thread with RUSTC_BOOTSTRAP=1. The standard library stays
#   uninstrumented (no -Zbuild-std: that needs the rust-src component), hence
#   -Cunsafe-allow-abi-mismatch=sanitizer. Generic std code (Arc, Vec, BTreeMap, ...) is
#   monomorphised into libnumpack and is instrumented with it; parking_lot, memmap2 and libc are
#   compiled with the flag too. The build goes to target/tsan, never target/release.
# - The runtime: LLVM's (librustc-*_rt.tsan.a from the toolchain), linked whole into each test
#   executable, the way rustc links it into Rust executables. gcc 12's libtsan.so.2 cannot be
#   used: it lacks __tsan_memcpy/__tsan_memmove/__tsan_memset, which rustc's LLVM emits. The
#   script checks that no libtsan.so is loaded.
# - Arc's last drop uses a fence TSan does not model; scripts/tsan-arc-acquire.c supplies the
#   acquire edge std's own TSan build would (see that file). No suppressions are used.
# - The library is linked statically (libnumpack.a) so that the shim's --wrap reaches it.
# That it catches races in the library: with Store::snapshot() changed to read the snapshot
# pointer without its RwLock (`unsafe { (*self.inner.snap.data_ptr()).clone() }`), threads alone
# gives 276 reports, the first "data race ... Store::commit_with (src/store/mod.rs) ... previous
# read ... Store::snapshot". Without the Arc shim the unmodified library gives 64 reports in threads,
# every one a free inside Arc::drop_slow (the false positive the shim removes).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# The C test programs run under TSan: the threaded ones first, then the rest of the suites for
# the single-threaded paths (fork and kill tests included). Not batch_writable: its
# large_array_scaled_without_anonymous_memory asserts that RssAnon does not grow while an 80 MB
# mapping is scaled, and TSan's shadow memory for that mapping is anonymous memory (a tool
# artefact; it runs under scripts/memcheck.sh).
TSAN_PROGRAMS=${*:-threads threads_mixed errors store_basic corrupt crash_recovery batch_cache batch_kill}

CARGO=${CARGO:-cargo}
CC=${CC_TSAN:-gcc}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
OUT=$ROOT/target/tsan
LIBDIR=$OUT/$TRIPLE/release
BUILD=$OUT/c_tests
mkdir -p "$BUILD"

echo "tsan: building libnumpack with -Zsanitizer=thread into $LIBDIR"
RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
  CARGO_TARGET_DIR=$OUT "$CARGO" build --quiet --release --lib --bins --target "$TRIPLE"

RT=$(ls "$(rustc --print sysroot)/lib/rustlib/$TRIPLE/lib/"librustc-*_rt.tsan.a 2>/dev/null | head -n 1)
if [ -z "$RT" ]; then
  echo "tsan: no librustc-*_rt.tsan.a in the Rust toolchain" >&2
  exit 2
fi

CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic -D_GNU_SOURCE -I$ROOT/include -O1 -g -fsanitize=thread"
"$CC" -O1 -g -c scripts/tsan-arc-acquire.c -o "$BUILD/tsan-arc-acquire.o"
LINK=(-rdynamic -Wl,--wrap=__tsan_atomic64_fetch_sub "$BUILD/tsan-arc-acquire.o"
      -Wl,--whole-archive "$RT" -Wl,--no-whole-archive
      "$LIBDIR/libnumpack.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)

programs=0; reports=0; failed=0; passed=0; bad=0
for p in $TSAN_PROGRAMS; do
  if [ -f "c_tests/$p.c" ]; then
    src=c_tests/$p.c
  elif [ -f "c_tests/batch/$p.c" ]; then
    src=c_tests/batch/$p.c
  else
    echo "tsan: no program $p" >&2; exit 2
  fi
  bin=$BUILD/$p
  # -fsanitize=thread at compile time only: the runtime comes from $RT, not gcc's libtsan.
  "$CC" $CFLAGS -DNPK_BIN="\"$LIBDIR/npk\"" -c "$src" -o "$bin.o"
  "$CC" -o "$bin" "$bin.o" "${LINK[@]}"
  if ldd "$bin" | grep -q 'libtsan'; then
    echo "tsan: $bin loads gcc's libtsan, not the toolchain's runtime" >&2; exit 2
  fi
  programs=$((programs + 1))
  log=$BUILD/$p.tsan
  rm -f "$log".*
  # halt_on_error=0: keep going, count every report. log_path: one file per process (the tests
  # fork), so children's reports are counted too. handle_sigbus=0: a test that expects a child
  # to die of SIGBUS gets the real signal, not TSan's "DEADLYSIGNAL" exit.
  set +e
  TSAN_OPTIONS="halt_on_error=0 exitcode=66 log_path=$log second_deadlock_stack=1 handle_sigbus=0" \
    "$bin" > "$BUILD/$p.out" 2> "$BUILD/$p.err"
  rc=$?
  set -e
  n=$(cat "$log".* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer' || true)
  reports=$((reports + n))
  line=$(grep -E "^$p: [0-9]+ passed, [0-9]+ failed$" "$BUILD/$p.out" | tail -n 1 || true)
  if [ -z "$line" ]; then
    echo "$p: no summary line (exit code $rc)"; bad=$((bad + 1))
  else
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')))
  fi
  if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
    bad=$((bad + 1))
    echo "$p: exit code $rc, $n TSan reports (logs: $log.*, stderr: $BUILD/$p.err)"
    cat "$log".* 2>/dev/null | grep -E '^(WARNING|SUMMARY): ThreadSanitizer' | sort | uniq -c | head -n 20 || true
  else
    echo "$p: ${line#*: }, 0 TSan reports"
  fi
  grep -h '^threads_mixed: [0-9]* threads' "$BUILD/$p.err" || true
done

echo "tsan: $programs programs, $passed checks passed, $failed failed, $reports TSan reports"
[ "$reports" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
