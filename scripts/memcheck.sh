#!/usr/bin/env bash
# The C, C++ and Fortran test programs under valgrind memcheck: every invalid read or write, use
# of uninitialised memory, bad free, fd/mmap misuse and every definite or indirect leak counts as
# an error. Forked children run under valgrind too (they are checked at their own exit), and so
# do the programs the tests exec (the `npk` inspector, via --trace-children). Prints one summary
# line and exits non-zero on any error, leak, failed check or abnormal exit.
#
#   bash scripts/memcheck.sh                      # every program below
#   bash scripts/memcheck.sh threads batch_cache  # just these
#
# Needs valgrind (Debian: apt-get install valgrind) and what `make test` needs. It uses the
# ordinary release build (target/release, `cargo build --release`, the same flags as `make lib`)
# and the suites' own Makefiles, so it checks exactly the binaries `make test` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LIBDIR=$ROOT/target/release
export LIBDIR

if ! command -v valgrind >/dev/null 2>&1; then
  echo "memcheck: valgrind is not installed (apt-get install valgrind)" >&2
  exit 2
fi

# suite:program[:log name:arguments]; the Fortran programs run in the order
# c_tests/fortran/Makefile does (its Python steps are not C and are left out).
FSTORE=$ROOT/c_tests/fortran/build/memcheck_store.npk
ALL="c_tests:store_basic c_tests:blocks c_tests:errors c_tests:corrupt c_tests:crash_recovery c_tests:threads
c_tests:threads_mixed c_tests:store_basic_static c_tests:header_c99 c_tests:header_cxx
c_tests/batch:batch_cache c_tests/batch:batch_writable c_tests/batch:batch_kill
c_tests/cpp:test_store c_tests/cpp:test_raii c_tests/cpp:test_batch c_tests/cpp:test_blocks
c_tests/fortran:test_fortran:fortran_write:write,$FSTORE c_tests/fortran:c_reader:c_reader_1:$FSTORE,1
c_tests/fortran:test_fortran:fortran_update:update,$FSTORE c_tests/fortran:c_reader:c_reader_2:$FSTORE,2"

echo "memcheck: building target/release and the test programs"
cargo build --quiet --release
for suite in c_tests c_tests/batch c_tests/cpp c_tests/fortran; do
  make --no-print-directory -s -C "$suite" all >/dev/null
done

LOGDIR=$ROOT/target/memcheck
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
rm -rf "$FSTORE"

VG=(valgrind --tool=memcheck --error-exitcode=99 --trace-children=yes
    --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=none
    --track-origins=yes --track-fds=no --num-callers=30)

start=$(date +%s)
programs=0; processes=0; errors=0; leaked=0; passed=0; failed=0; bad=0
for entry in $ALL; do
  IFS=: read -r suite p name args <<< "$entry"
  name=${name:-$p}
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$p"; then continue; fi
  programs=$((programs + 1))
  IFS=, read -r -a argv <<< "${args:-}"
  set +e
  (cd "$suite" && "${VG[@]}" --log-file="$LOGDIR/$name.%p.log" "build/$p" "${argv[@]}") \
    > "$LOGDIR/$name.out" 2> "$LOGDIR/$name.err"
  rc=$?
  set -e
  # One log per process (forked children and exec'd programs included). Memory errors count in
  # every process. Leaks count in every process that ran to its normal end as a program: the
  # test itself and whatever it exec'd (npk). Not in a forked child that did not exec: it ends
  # by _exit() or a signal in the middle of a test, on purpose, and its "leaks" are the parent's
  # buffers (which the parent frees). That is why leaks are not valgrind errors here
  # (--errors-for-leak-kinds=none): they would change such a child's exit code.
  n=0; lost=0; procs=0
  for log in "$LOGDIR/$name".*.log; do
    procs=$((procs + 1))
    e=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tr -d , | tail -n 1)
    n=$((n + ${e:-0}))
    ppid=$(sed -n 's/.*Parent PID: \([0-9]*\).*/\1/p' "$log" | head -n 1)
    cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -n 1)
    parent=$LOGDIR/$name.$ppid.log
    if [ -f "$parent" ] && [ "$(sed -n 's/^==[0-9]*== Command: //p' "$parent" | head -n 1)" = "$cmd" ]; then
      continue
    fi
    for kind in definitely indirectly; do
      b=$(sed -n "s/.*$kind lost: \([0-9,]*\) bytes.*/\1/p" "$log" | tr -d , | tail -n 1)
      lost=$((lost + ${b:-0}))
    done
  done
  processes=$((processes + procs)); errors=$((errors + n)); leaked=$((leaked + lost))
  line=$(grep -E "^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$" "$LOGDIR/$name.out" | tail -n 1 || true)
  m=0
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    m=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
  fi
  failed=$((failed + m))
  if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ] || [ "$lost" -ne 0 ] || [ -z "$line" ] || [ "$m" -ne 0 ]; then
    bad=$((bad + 1))
    echo "$name: exit code $rc, ${line:-no summary line}, $procs processes, $n errors, $lost bytes leaked (logs: $LOGDIR/$name.*)"
  else
    echo "$name: ${line#*: }, $procs processes, 0 errors, 0 leaks"
  fi
done
secs=$(( $(date +%s) - start ))

echo "memcheck: $programs programs ($processes processes), $passed checks passed, $failed failed, $errors errors, $leaked bytes leaked, ${secs}s"
[ "$errors" -eq 0 ] && [ "$leaked" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
