#!/usr/bin/env python3
"""Turns the TSV of bench_parallel and bench_rows(.py) into the Markdown tables of
benches/results-parallel.md: times in ms, libnumpack's ratio to each peer (below 1 = libnumpack
faster), and the issue #11 targets met or missed."""
import argparse
import os
import platform

SLAB_IMPLS = ["libnumpack", "raw", "hdf5_indep", "hdf5_coll", "npy"]


def load(path):
    d = {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 6:
                d[(p[0], int(p[1]), p[2])] = (float(p[3]), float(p[4]), int(p[5]))
    return d


def ms(s):
    if s is None:
        return "n/a"
    v = s * 1e3
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def ratio(a, b):
    return "n/a" if a is None or not b else f"{a / b:.2f}"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def table(head, rows):
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(c).ljust(x) for c, x in zip(r, w)) + " |"
    return [line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(r) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--out", required=True)
    ap.add_argument("--params", default="")
    ap.add_argument("--gib", type=float, required=True, help="size of the slab array in GiB")
    a = ap.parse_args()
    d = load(a.tsv)
    med = lambda k: d[k][0] if k in d else None
    mins = lambda k: d[k][1] if k in d else None

    rows, misses = [], []
    nprocs = sorted({n for (ph, n, _) in d if ph.startswith("slab_")})
    cores = os.cpu_count() or 1
    for ph in ("slab_write", "slab_read"):
        for n in nprocs:
            t = {i: med((ph, n, i)) for i in SLAB_IMPLS}
            lib = t["libnumpack"]
            if lib is None:
                continue
            fails = []
            if t["raw"] and lib > 1.15 * t["raw"]:
                fails.append(f"lib/raw {lib / t['raw']:.2f} > 1.15")
            for h in ("hdf5_indep", "hdf5_coll"):
                if t[h] and lib > t[h]:
                    fails.append(f"slower than {h}")
            status = "met" if not fails else "MISSED: " + ", ".join(fails)
            if fails:
                misses.append(f"{ph} N={n}: " + ", ".join(fails))
            what = ("write" if ph == "slab_write" else "read") + f", N={n}"
            if n > cores:
                what += " (oversubscribed)"
            lo = {i: mins((ph, n, i)) for i in ("libnumpack", "raw")}
            rows.append([what, ms(lib), f"{a.gib / lib:.2f}", ms(t["raw"]), ratio(lib, t["raw"]),
                         ratio(lo["libnumpack"], lo["raw"]),
                         ms(t["hdf5_indep"]), ratio(lib, t["hdf5_indep"]),
                         ms(t["hdf5_coll"]), ratio(lib, t["hdf5_coll"]),
                         ms(t["npy"]), ratio(lib, t["npy"]), status])
    slab = table(["slabs", "libnumpack ms", "GiB/s", "raw ms", "lib/raw", "lib/raw of mins",
                  "HDF5 indep ms",
                  "lib/indep", "HDF5 coll ms", "lib/coll", "npy ms", "lib/npy", "targets"], rows)

    rr = []
    for (ph, _n, _i) in d:
        if ph.startswith("rows_") and ph not in rr:
            rr.append(ph)
    rrows = []
    for ph in rr:
        t = {i: med((ph, 1, i)) for i in ("libnumpack", "raw", "raw_mmap", "hdf5",
                                         "numpack_getitem", "numpack_lazy")}
        lib = t["libnumpack"]
        nps = [x for x in (t["numpack_getitem"], t["numpack_lazy"]) if x]
        npk = min(nps) if nps else None
        fails = [f"only {p / lib:.2f}x faster than {name}"
                 for name, p in (("numpack", npk), ("HDF5", t["hdf5"])) if p and lib > p / 2]
        if fails:
            misses.append(f"{ph}: " + ", ".join(fails))
        rrows.append([f"1,000 ranges of {ph[5:]} rows", ms(lib), ms(t["raw"]), ratio(lib, t["raw"]),
                      ms(t["raw_mmap"]), ratio(lib, t["raw_mmap"]),
                      ms(t["hdf5"]), ratio(lib, t["hdf5"]), ms(t["numpack_getitem"]),
                      ratio(lib, t["numpack_getitem"]), ms(t["numpack_lazy"]),
                      ratio(lib, t["numpack_lazy"]),
                      "met" if not fails else "MISSED: " + ", ".join(fails)])
    ranges = table(["row ranges (1 process)", "libnumpack ms", "raw pread ms", "lib/pread",
                    "raw mmap ms", "lib/mmap", "HDF5 ms",
                    "lib/HDF5", "numpack getitem ms", "lib/getitem", "numpack lazy ms",
                    "lib/lazy", "targets"], rrows)

    out = ["# libnumpack parallel benchmark results", "",
           f"Machine: {machine()}. {a.params}", "",
           "Times are medians in **ms**; ratios are **libnumpack / peer** (below 1 = libnumpack "
           "faster). Slabs: N processes each write (then read) their contiguous slab of rows "
           f"of one {a.gib:g} GiB float64 array (16 columns), timed from the first process "
           "leaving a common start barrier to the last one finishing; writes go to the page "
           "cache (no fsync, syncfs before every phase outside the timing), reads hit a warm "
           "page cache. GiB/s = the whole array over libnumpack's time. 'lib/raw of mins' compares the "
           "fastest runs, which the machine's load disturbs least."
           + (f" N > {cores} runs more processes than cores: oversubscribed." if
              any(n > cores for n in nprocs) else ""), ""]
    out += slab + [""]
    out += ["Targets (issue #11): slab writes and reads <= 1.15x raw and at least as fast as "
            "parallel HDF5 (both modes); row-range reads >= 2x faster than numpack (the faster "
            "of its two ways) and than HDF5.", ""]
    out += ranges + [""]
    out += ["## Misses", ""] + ([f"- {m}" for m in misses] or ["none"]) + [""]
    text = "\n".join(out)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
