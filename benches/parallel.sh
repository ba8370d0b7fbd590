#!/usr/bin/env bash
# Issue #11's parallel benchmark: N = 1, 2, 4 processes writing and reading back a 1 GiB float64
# array by row slabs (libnumpack NPK_OPEN_SHARED writers vs raw pwrite/pread vs parallel HDF5,
# independent and collective, vs one .npy per rank), and one process reading 1,000 random ranges
# of 100 rows (libnumpack vs raw pread vs serial HDF5 hyperslabs vs numpack). Installs nothing;
# prints a Markdown table, also written to benches/results-parallel.md (raw medians in
# benches/results-parallel.tsv).
#
#   benches/parallel.sh           full run: 1 GiB, 5 slab runs, 51 row-range runs (~3 minutes
#                                 on the 2-core dev VM)
#   benches/parallel.sh --quick   64 MiB, 3 and 21 runs: for iterating -> results-parallel-quick.md
#
# Environment: BENCH_DIR (default /tmp) gets a fresh run directory, deleted at the end unless
# KEEP=1; NPROCS (default "1 2 4"); RUNS overrides the number of timed slab runs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
*)
    echo "usage: $0 [--quick]" >&2
    exit 2
    ;;
esac

# ---- prerequisites ----------------------------------------------------------------------------
missing=()
command -v mpicc >/dev/null && command -v mpirun >/dev/null || missing+=(openmpi-bin libopenmpi-dev)
[ -f /usr/include/hdf5/openmpi/hdf5.h ] || missing+=(libhdf5-openmpi-dev)
[ -f /usr/include/hdf5/serial/hdf5.h ] || missing+=(libhdf5-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import numpy, numpack' 2>/dev/null; then
    echo "numpack is not importable by $PYTHON: run scripts/setup-python.sh first" >&2
    exit 1
fi
if ! grep -q npk_write_block "$root/include/numpack.h" || ! grep -q NPK_OPEN_SHARED "$root/include/numpack.h"; then
    echo "include/numpack.h lacks npk_write_block or NPK_OPEN_SHARED (issue #11)" >&2
    exit 1
fi

if [ "$quick" = 1 ]; then
    rows=524288 runs=${RUNS:-3} rruns=21 out="$here/results-parallel-quick.md"
else
    rows=8388608 runs=${RUNS:-5} rruns=51 out="$here/results-parallel.md"
fi
gib=$(echo "scale=4; $rows * 16 * 8 / 1073741824" | bc)
nprocs=${NPROCS:-1 2 4}

# ---- run directory and build ------------------------------------------------------------------
. "$here/setup.sh"
bench_setup npk-pbench
mpicc -std=c11 -O2 -Wall -Wextra -I"$root/include" -I/usr/include/hdf5/openmpi \
    "$here/bench_parallel.c" -L"$work/bin" -lnumpack -lhdf5_openmpi -Wl,-rpath,"$work/bin" \
    -o "$work/bin/bench_parallel"
${CC:-cc} -std=c11 -O2 -Wall -Wextra -I"$root/include" -I/usr/include/hdf5/serial \
    "$here/bench_rows.c" -L"$work/bin" -lnumpack -lhdf5_serial -Wl,-rpath,"$work/bin" \
    -o "$work/bin/bench_rows"

# ---- run --------------------------------------------------------------------------------------
tsv="$work/results.tsv"
: >"$tsv"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
for n in $nprocs; do
    echo "== slabs, N=$n" >&2
    mkdir "$work/np$n"
    # --bind-to none: the kernel places every process the same way for every implementation
    # (Open MPI binds up to 2 ranks to cores by default, none beyond).
    mpirun -np "$n" --allow-run-as-root --oversubscribe --bind-to none \
        "$work/bin/bench_parallel" --dir "$work/np$n" --rows "$rows" --runs "$runs" >>"$tsv"
    rm -rf "$work/np$n"
done
echo "== row ranges" >&2
mkdir "$work/rows"
"$work/bin/bench_rows" --dir "$work/rows" --rows "$rows" --runs "$rruns" >>"$tsv"
"$PYTHON" -W ignore "$here/bench_rows.py" --dir "$work/rows" --rows "$rows" \
    --runs "$rruns" >>"$tsv"
rm -rf "$work/rows"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - start))

cp "$tsv" "${out%.md}.tsv"
"$PYTHON" "$here/parallel_report.py" "$tsv" --out "$out" --gib "$gib" --params \
    "Bench dir: $base ($(df -T "$base" | awk 'NR==2 {print $2}')). Library: $rev. $(mpirun --version | head -1). Slabs: $runs timed runs after one warm-up; row ranges: $rruns runs (a run is 1,000 ranges). Load average (1/5/15 min) before: $load0, after: $load1; run took ${elapsed} s."
echo "written: $out, ${out%.md}.tsv" >&2
