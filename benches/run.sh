#!/usr/bin/env bash
# Builds libnumpack and the C benchmark, runs every workload at 40 MB and 400 MB against raw POSIX,
# numpack (Python), HDF5 and .npy, and stores of 10 to 10,000 small arrays (bench_many, issue
# #14), and prints one table (also written to benches/results.md).
#
#   benches/run.sh            full run (~10 minutes on the 2-core dev VM)
#   benches/run.sh --quick    40 MB only, 5 runs, 10 plain rounds: for iterating (~1 minute);
#                             writes benches/results-quick.md
#   benches/run.sh --parallel [--quick]   issue #11's parallel slab and row-range benchmark
#                             (benches/parallel.sh; needs Open MPI and parallel HDF5)
#
# Environment: BENCH_DIR (default /tmp) gets a fresh run directory, deleted at the end unless
# KEEP=1; ONLY=w1,w2 restricts the workloads (names as in the table's TSV, e.g. load,get_100).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0
case "${1:-}" in
--quick) quick=1 ;;
--parallel)
    shift
    exec "$here/parallel.sh" "$@"
    ;;
"") ;;
*)
    echo "usage: $0 [--quick] | --parallel [--quick]" >&2
    exit 2
    ;;
esac
start=$(date +%s.%N)

# ---- prerequisites ----------------------------------------------------------------------------
if [ ! -f /usr/include/hdf5/serial/hdf5.h ]; then
    echo "HDF5 headers missing: apt-get install -y libhdf5-dev" >&2
    exit 1
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import numpy, numpack' 2>/dev/null; then
    echo "numpack is not importable by $PYTHON: run scripts/setup-python.sh first" >&2
    exit 1
fi

# ---- run directory and build ------------------------------------------------------------------
. "$here/setup.sh"
bench_setup npk-bench
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/include" -I/usr/include/hdf5/serial \
    "$here/bench_c.c" -L"$work/bin" -lnumpack -lhdf5_serial -Wl,-rpath,"$work/bin" \
    -o "$work/bin/bench_c"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/include" -I/usr/include/hdf5/serial \
    "$here/bench_many.c" -L"$work/bin" -lnumpack -lhdf5_serial -Wl,-rpath,"$work/bin" \
    -o "$work/bin/bench_many"

# ---- run --------------------------------------------------------------------------------------
tsv="$work/results.tsv"
: >"$tsv"
only=()
if [ -n "${ONLY:-}" ]; then only=(--only "$ONLY"); fi

run_size() { # label rows runs runs_light rounds batch_rounds plain_rounds [--square]
    local label=$1 rows=$2 runs=$3 light=$4 kr=$5 kb=$6 kp=$7
    local args=(--rows "$rows" --label "$label" --runs "$runs" --runs-light "$light"
        --rounds "$kr" --batch-rounds "$kb" --plain-rounds "$kp" "${only[@]}")
    local cargs=("${args[@]}" "${@:8}")
    mkdir -p "$work/$label"
    echo "== $label: C (libnumpack, raw, HDF5)" >&2
    "$work/bin/bench_c" --dir "$work/$label/c" "${cargs[@]}" >>"$tsv"
    rm -rf "$work/$label/c"
    echo "== $label: Python (numpack, npy)" >&2
    "$PYTHON" -W ignore "$here/bench_py.py" --dir "$work/$label/py" "${args[@]}" >>"$tsv"
    rm -rf "$work/$label/py"
}

run_many() { # runs: issue #14's stores of 10, 1,000 and 10,000 small arrays (bench_many)
    if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *,many_* ]]; then return; fi
    local args=(--runs "$1" --saves 20 --size 10 --size 1000 --size 10000)
    echo "== many arrays: C (libnumpack, HDF5, floor)" >&2
    "$work/bin/bench_many" --dir "$work/many/c" "${args[@]}" >>"$tsv"
    rm -rf "$work/many/c"
    echo "== many arrays: Python (numpack)" >&2
    "$PYTHON" -W ignore "$here/bench_many.py" --dir "$work/many/py" "${args[@]}" >>"$tsv"
    rm -rf "$work/many/py"
}

if [ "$quick" = 1 ]; then
    run_many 5
    run_size 40MB 1000000 5 11 100 100 10 --square
    params="Quick mode: 40MB only; 5 runs (11 for sub-ms workloads); plain rounds K=10, others K=100."
    out="$here/results-quick.md"
else
    run_many 9
    run_size 40MB 1000000 5 15 100 100 100 --square
    run_size 400MB 10000000 5 11 100 20 5
    params="Runs: 5 (15 at 40MB / 11 at 400MB for sub-ms workloads). Rounds K=100, except at 400MB (10-minute budget): plain full load/save rounds K=5, whole-array batch rounds K=20."
    out="$here/results.md"
fi

cp "$tsv" "${out%.md}.tsv"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
"$PYTHON" "$here/report.py" "$tsv" --out "$out" --elapsed "$elapsed" \
    --params "$params Library: $rev." --bench-dir "$base ($(df -T "$base" | awk 'NR==2 {print $2}'))"
echo "written: $out, ${out%.md}.tsv" >&2
