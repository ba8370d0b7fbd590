#!/usr/bin/env python3
"""numpack 0.5.0's column of bench_many.c (issue #14, stores with many arrays), same workloads,
data and TSV output:

    many_fill      filling a store from 0 to n arrays of 16 float32, per save (one pass)
    many_save      a save of a new small array into the store of n arrays, per save (K saves
                   per run, dropped again after each run, untimed)
    many_open_ro / many_open_rw   NumPack(path).open(), load one array, close (numpack has no
                   read-only mode: both rows measure the same calls)

numpack writes its catalogue only at close, so its saves do not pay the catalogue's bytes.
"""
import argparse
import gc
import os
import sys
import time

import numpy as np
from numpack import NumPack

NEL = 16


def median(t):
    t = sorted(t)
    n = len(t)
    return t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2


def emit(wl, n, t, note):
    print(f"{wl}\t{n}arr\tnumpack\t{median(t):.9f}\t{min(t):.9f}\t{len(t)}\t{note}", flush=True)


def size_n(base, n, runs, saves):
    data = np.arange(NEL, dtype=np.float32) * 0.5
    path = os.path.join(base, f"n{n}")
    npk = NumPack(path, drop_if_exists=True)
    npk.open()
    t0 = time.perf_counter()
    for i in range(n):
        npk.save({f"a{i:06d}": data})
    emit("many_fill", n, [(time.perf_counter() - t0) / n], "one pass")
    # the catalogue on disk before the open rows: numpack writes it at close
    names = [f"new{i:06d}" for i in range(saves)]
    times = []
    gc.collect()
    for r in range(runs + 1):
        t0 = time.perf_counter()
        for name in names:
            npk.save({name: data})
        dt = (time.perf_counter() - t0) / saves
        npk.drop(names)
        if r > 0:  # the first run warms up
            times.append(dt)
    emit("many_save", n, times, f"{saves} saves per run")
    npk.close()
    for wl in ("many_open_ro", "many_open_rw"):
        times = []
        for r in range(runs + 1):
            t0 = time.perf_counter()
            h = NumPack(path)
            h.open()
            x = h.load("a000000")
            h.close()
            dt = time.perf_counter() - t0
            if x[3] != data[3]:
                sys.exit("numpack loaded the wrong data")
            if r > 0:
                times.append(dt)
        emit(wl, n, times, "open, load one array, close")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--size", type=int, action="append", required=True)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    for n in a.size:
        sys.stderr.write(f"[bench_many.py {n} arrays] ")
        sys.stderr.flush()
        t0 = time.perf_counter()
        size_n(a.dir, n, a.runs, a.saves)
        sys.stderr.write(f"{time.perf_counter() - t0:.1f}s\n")


if __name__ == "__main__":
    main()
