#!/usr/bin/env python3
"""The numpack (0.5.0, through its Python API) and NumPy .npy columns of the benchmark, plus the
cost of an empty Python call. Same workloads, data, random rows, harness and TSV output as
bench_c.c (see benches/README.md):

    workload  size  impl  median_s  min_s  runs  note

Each implementation works on its own files: <dir>/np/ (a numpack store: arrays a, b0..b9) and
<dir>/npy/ (a.npy, b0..b9.npy).
"""
import argparse
import gc
import os
import sys
import time

import numpy as np
import numpack
from numpack import NumPack

NCOL = 10
NB = 10
VIEW_REPS = 200


def splitmix_rows(n, rows):
    """n distinct rows in [0, rows), random order: splitmix64 seeded 1000+n, as in bench_c.c."""
    m = (1 << 64) - 1
    s = 1000 + n
    seen, out = set(), []
    while len(out) < n:
        s = (s + 0x9E3779B97F4A7C15) & m
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        z ^= z >> 31
        r = z % rows
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out


class Harness:
    warming = False  # the warm-up runs 2 rounds of a round workload, not K

    @classmethod
    def k(cls, k):
        return 2 if cls.warming and k > 2 else k

    def __init__(self, label, runs, runs_light, budget, only):
        self.label, self.runs, self.runs_light, self.budget = label, runs, runs_light, budget
        self.only = set(only.split(",")) if only else None

    # Every run starts with the CPU caches and TLB equally cold (64 MiB touched, twice the L3),
    # as in bench_c.c; the page cache stays warm.
    scratch = np.zeros(64 << 20, dtype=np.uint8)

    @classmethod
    def run_one(cls, v):
        _impl, pre, op, post = v
        gc.collect()
        cls.scratch[::64] += 1
        if pre:
            pre()
        t0 = time.perf_counter()
        result = op()
        t1 = time.perf_counter()
        if isinstance(result, tuple) and result and result[0] == "self":
            dt = result[1]
        else:
            dt = t1 - t0
        del result  # big results are freed outside the timing
        if post:
            post()
        return dt

    def bench(self, wl, note, variants, light=False):
        if self.only is not None and wl not in self.only:
            return
        runs = self.runs_light if light else self.runs
        os.sync()
        start = time.perf_counter()
        sys.stderr.write(f"[{self.label} {wl} py] ")
        sys.stderr.flush()
        Harness.warming = True
        for v in variants:  # warm-up: page cache, code paths
            self.run_one(v)
        Harness.warming = False
        # the first timed run sizes the rest: BUDGET / its time, clamped to [5, runs]
        ri = [runs] * len(variants)
        times = [[] for _ in variants]
        for r in range(runs):
            for j in range(len(variants)):
                i = (j + r) % len(variants)
                if r < ri[i]:
                    times[i].append(self.run_one(variants[i]))
            if r == 0:
                for i, t in enumerate(times):
                    fit = self.budget / t[0] if t[0] > 0 else runs
                    ri[i] = runs if fit >= runs else 5 if fit <= 5 else int(fit)
        for v, t in zip(variants, times):
            t.sort()
            n = len(t)
            med = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2
            print(f"{wl}\t{self.label}\t{v[0]}\t{med:.9f}\t{t[0]:.9f}\t{n}\t{note}", flush=True)
        sys.stderr.write(f"{time.perf_counter() - start:.1f}s\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--runs-light", type=int, default=21)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--batch-rounds", type=int, default=100)
    ap.add_argument("--plain-rounds", type=int, default=100)
    ap.add_argument("--budget", type=float, default=6.0)
    ap.add_argument("--only", default=None)
    a = ap.parse_args()
    if a.runs < 5 or a.runs_light < 5:
        sys.exit("at least 5 runs")
    assert numpack.__version__ == "0.5.0", numpack.__version__
    np.seterr(over="ignore")  # 100 doublings overflow to inf, in C too: same speed, no warning
    N, KR, KB, KP = a.rows, a.rounds, a.batch_rounds, a.plain_rounds
    K = Harness.k
    BROWS = N // NB
    H = Harness(a.label, a.runs, a.runs_light, a.budget, a.only)

    src = (np.arange(N * NCOL, dtype=np.int64) % 1000003).astype(np.float32) * np.float32(0.001)
    src = src.reshape(N, NCOL)
    rows = np.arange(10000 * NCOL, dtype=np.float32).reshape(10000, NCOL)
    rows100 = rows[:100].copy()
    idx = {n: splitmix_rows(n, N) for n in (100, 1000, 10000)}
    idx_np = {n: np.array(v, dtype=np.int64) for n, v in idx.items()}
    idx10 = list(range(10))
    bnames = [f"b{i}" for i in range(NB)]

    os.makedirs(a.dir, exist_ok=True)
    # ---- numpack: one store handle for the whole run, like the C side's npk_store ----
    npk = NumPack(os.path.join(a.dir, "np"), drop_if_exists=True)
    npk.open()
    npk.save({"a": src})
    npk.save({b: src[i * BROWS:(i + 1) * BROWS].copy() for i, b in enumerate(bnames)})
    # ---- npy files ----
    npyd = os.path.join(a.dir, "npy")
    os.makedirs(npyd, exist_ok=True)
    A = os.path.join(npyd, "a.npy")
    B = [os.path.join(npyd, f"{b}.npy") for b in bnames]
    np.save(A, src)
    for i, p in enumerate(B):
        np.save(p, src[i * BROWS:(i + 1) * BROWS])

    # ---- empty Python call: the interpreter's floor under every numpack call ----
    def empty():
        pass

    def empty_calls():
        n = 100000
        t0 = time.perf_counter()
        for _ in range(n):
            empty()
        return ("self", (time.perf_counter() - t0) / n)

    H.bench("py_empty_call", "mean of 100000 calls of def f(): pass", [("python", None, empty_calls, None)], light=True)

    # ---- save ----
    def np_drop_a():
        if npk.has_array("a"):
            npk.drop("a")

    def unlink_a():
        if os.path.exists(A):
            os.unlink(A)

    H.bench("save_new", "", [
        ("numpack", np_drop_a, lambda: npk.save({"a": src}), None),
        ("npy", unlink_a, lambda: np.save(A, src), None),
    ])
    H.bench("save_overwrite", "", [
        ("numpack", None, lambda: npk.save({"a": src}), None),
        ("npy", None, lambda: np.save(A, src), None),
    ])
    H.bench("load", "", [
        ("numpack", None, lambda: npk.load("a"), None),
        ("npy", None, lambda: np.load(A), None),
    ])

    def view_loop(open_view):
        def op():
            s = 0.0
            for _ in range(VIEW_REPS):
                t0 = time.perf_counter()
                v = open_view()
                s += time.perf_counter() - t0
                del v
            return ("self", s / VIEW_REPS)
        return op

    H.bench("view_open", "mean of 200 opens per run", [
        ("numpack", None, view_loop(lambda: npk.load("a", lazy=True)), None),
        ("npy", None, view_loop(lambda: np.load(A, mmap_mode="r")), None),
    ], light=True)

    # ---- rows ----
    for n in (100, 1000, 10000):
        il, ia = idx[n], idx_np[n]
        H.bench(f"get_{n}", "npy: np.load(mmap_mode='r')[rows]", [
            ("numpack", None, lambda il=il: npk.getitem("a", il), None),
            ("npy", None, lambda ia=ia: np.load(A, mmap_mode="r")[ia], None),
        ], light=True)

    def npy_replace():
        m = np.load(A, mmap_mode="r+")
        m[idx_np[100]] = rows100
        m.flush()
        del m

    H.bench("replace_100", "npy: memmap r+, assign, flush", [
        ("numpack", None, lambda: npk.replace({"a": rows100}, idx[100]), None),
        ("npy", None, npy_replace, None),
    ], light=True)

    # ---- rounds: K x (load -> x2 -> save) on the whole array, or on arr[:10] (README) ----
    def rounds(sl, k_plain, k_batch):
        def np_plain():
            for _ in range(K(k_plain)):
                x = npk.load("a")
                x[sl] *= 2
                npk.save({"a": x})

        def npy_plain():
            for _ in range(K(k_plain)):
                x = np.load(A)
                x[sl] *= 2
                np.save(A, x)

        def np_cache():
            with npk.batch_mode():
                for _ in range(K(k_batch)):
                    x = npk.load("a")
                    x[sl] *= 2
                    npk.save({"a": x})

        def npy_cache():  # no batch mode in NumPy: batching by hand
            x = np.load(A)
            for _ in range(K(k_batch)):
                x[sl] *= 2
            np.save(A, x)

        def np_writable():
            with npk.writable_batch_mode() as wb:
                for _ in range(K(k_batch)):
                    x = wb.load("a")
                    x[sl] *= 2
                    wb.save({"a": x})

        def npy_writable():
            m = np.load(A, mmap_mode="r+")
            for _ in range(K(k_batch)):
                m[sl] *= 2
            m.flush()
            del m

        return np_plain, npy_plain, np_cache, npy_cache, np_writable, npy_writable

    full = slice(None)
    p, q, c, d, w, x = rounds(full, KP, KB)
    H.bench("rounds_plain", f"{KP} rounds", [("numpack", None, p, None), ("npy", None, q, None)])
    H.bench("rounds_cache", f"{KB} rounds", [("numpack", None, c, None), ("npy", None, d, None)])
    H.bench("rounds_writable", f"{KB} rounds", [("numpack", None, w, None), ("npy", None, x, None)])

    first10 = slice(0, 10)
    p, q, c, d, w, x = rounds(first10, KP, KR)
    H.bench("readme_plain", f"{KP} rounds", [("numpack", None, p, None), ("npy", None, q, None)])

    def np_readme_rows():
        for _ in range(K(KR)):
            r = npk.getitem("a", idx10)
            r *= 2
            npk.replace({"a": r}, idx10)

    def npy_readme_rows():
        for _ in range(K(KR)):
            m = np.load(A, mmap_mode="r+")
            m[:10] *= 2
            m.flush()
            del m

    H.bench("readme_rows", f"{KR} rounds", [
        ("numpack", None, np_readme_rows, None), ("npy", None, npy_readme_rows, None)], light=True)
    H.bench("readme_cache", f"{KR} rounds", [("numpack", None, c, None), ("npy", None, d, None)])
    H.bench("readme_writable", f"{KR} rounds", [("numpack", None, w, None), ("npy", None, x, None)],
            light=True)

    # ---- append (npy has no append: it would rewrite the file) ----
    H.bench("append_100", "", [("numpack", None, lambda: npk.append({"a": rows100}), None)],
            light=True)
    rows1 = rows[:1].copy()
    H.bench("append_1", "", [("numpack", None, lambda: npk.append({"a": rows1}), None)],
            light=True)

    # ---- a cache-batch commit of 10 changed arrays ----
    def np_batch10():
        with npk.batch_mode():
            for b in bnames:
                y = npk.load(b)
                y *= 2
                npk.save({b: y})

    def npy_batch10():
        ys = []
        for p_ in B:
            y = np.load(p_)
            y *= 2
            ys.append(y)
        for p_, y in zip(B, ys):
            np.save(p_, y)

    H.bench("batch_commit_10", "", [("numpack", None, np_batch10, None),
                                    ("npy", None, npy_batch10, None)])
    npk.close()


if __name__ == "__main__":
    main()
