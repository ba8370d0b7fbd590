# The C test suites' summary arithmetic, sourced by their Makefiles' `run` targets:
#   tally_dir=build; . ../tally.sh; tally_step NAME COMMAND...; ...; tally_finish SUITE
# Every test program prints "<name>: N passed, M failed" (check.h's check_end, check.hpp's
# chk::finish); the suite adds them up. A program without that line counts as one failure and a
# non-zero exit fails the suite, so every program runs even after an earlier one failed.
tally_passed=0
tally_failed=0
tally_status=0

# Runs COMMAND, shows its stdout (kept in $tally_dir/NAME.out) and counts its summary line.
tally_step() {
    tally_name=$1
    shift
    "$@" > "$tally_dir/$tally_name.out"
    tally_rc=$?
    cat "$tally_dir/$tally_name.out"
    tally_line=$(grep -E "^$tally_name: [0-9]+ passed, [0-9]+ failed$" "$tally_dir/$tally_name.out" | tail -n 1)
    if [ -z "$tally_line" ]; then
        echo "$tally_name: no summary line (exit code $tally_rc)"
        tally_failed=$((tally_failed + 1))
        tally_status=1
    else
        tally_add_ "$(echo "$tally_line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/')" \
            "$(echo "$tally_line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/')"
    fi
    if [ "$tally_rc" -ne 0 ]; then
        echo "$tally_name: exit code $tally_rc"
        tally_status=1
    fi
}

tally_add_() {
    tally_passed=$((tally_passed + $1))
    tally_failed=$((tally_failed + $2))
}

# A check the Makefile makes itself (NAME PASSED FAILED): prints its summary line and counts it.
tally_add() {
    echo "$1: $2 passed, $3 failed"
    tally_add_ "$2" "$3"
}

# The suite's total line; returns non-zero when anything failed.
tally_finish() {
    echo "$1: $tally_passed passed, $tally_failed failed"
    [ "$tally_failed" -eq 0 ] && [ "$tally_status" -eq 0 ]
}
