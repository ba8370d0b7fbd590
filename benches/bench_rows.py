#!/usr/bin/env python3
"""numpack's column of the row-range benchmark (see bench_rows.c): one process reads the same
random ranges of LEN rows (starts from <dir>/starts.u64, written by bench_rows) from a float64
array of ROWS x 16 in a numpack 0.5.0 store, two ways numpack offers: `getitem(name, slice)` and
slicing a lazy array (`load(name, lazy=True)[a:b]`, the array opened once per pass). Same data,
warm-up, rotation, check and TSV output as bench_rows.c:

    rows_<len>  1  numpack_getitem|numpack_lazy  median_s  min_s  runs
"""
import argparse
import os
import time

import numpy as np
import numpack
from numpack import NumPack

NCOL = 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--len", type=int, default=100)
    ap.add_argument("--runs", type=int, default=11)
    a = ap.parse_args()
    assert numpack.__version__ == "0.5.0", numpack.__version__
    starts = [int(s) for s in np.fromfile(os.path.join(a.dir, "starts.u64"), dtype="<u8")]
    expect = sum(s * NCOL for s in starts)

    npk = NumPack(os.path.join(a.dir, "np"))
    npk.open()
    npk.save({"a": np.arange(a.rows * NCOL, dtype=np.float64).reshape(a.rows, NCOL)})
    os.sync()  # the store's dirty data goes to disk now, not during the timed passes

    n = a.len

    def getitem():
        s = 0.0
        for b in starts:
            s += npk.getitem("a", slice(b, b + n))[0, 0]
        return s

    def lazy():
        s = 0.0
        lz = npk.load("a", lazy=True)
        for b in starts:
            s += lz[b:b + n][0, 0]
        return s

    impls = [("numpack_getitem", getitem), ("numpack_lazy", lazy)]
    times = {name: [] for name, _ in impls}
    for run in range(-1, a.runs):  # run -1: the warm-up, not recorded
        for k in range(len(impls)):
            name, fn = impls[(k + max(run, 0)) % len(impls)]
            t0 = time.perf_counter()
            s = fn()
            dt = time.perf_counter() - t0
            if s != expect:
                raise SystemExit(f"{name}: ranges read wrong data (sum {s}, expected {expect})")
            if run >= 0:
                times[name].append(dt)
    npk.close()
    for name, _ in impls:
        v = sorted(times[name])
        print(f"rows_{n}\t1\t{name}\t{float(np.median(v)):.6f}\t{v[0]:.6f}\t{len(v)}")


if __name__ == "__main__":
    main()
