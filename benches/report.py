#!/usr/bin/env python3
"""Merges the TSV of bench_c and bench_py into one table (operation x implementation, times in
ms, libnumpack's ratio to each peer and to the floor, targets met or missed), prints it and
writes it as Markdown."""
import argparse
import os
import platform
import subprocess
from collections import OrderedDict

ORDER = ["save_new", "save_overwrite", "load", "view_open", "get_100", "get_1000", "get_10000",
         "replace_100", "range_read_100", "range_write_100", "append_100", "append_1", "rounds_plain",
         "rounds_cache", "rounds_writable",
         "readme_plain", "readme_rows", "readme_cache", "readme_writable", "batch_commit_10",
         "many_fill", "many_save", "many_open_ro", "many_open_rw",
         "save_fortran", "load_fortran"]

TITLE = {
    "save_new": "save, new array",
    "save_overwrite": "save, overwrite",
    "load": "full load into a buffer",
    "view_open": "open read-only view (lazy)",
    "get_100": "get 100 random rows",
    "get_1000": "get 1,000 random rows",
    "get_10000": "get 10,000 random rows",
    "replace_100": "replace 100 random rows",
    "range_read_100": "read 1,000 random 100-row ranges (block)",
    "range_write_100": "write 1,000 random 100-row ranges (block)",
    "append_100": "append 100 rows",
    "append_1": "append 1 row",
    "rounds_plain": "K x (load, x2, save) plain",
    "rounds_cache": "K x (load, x2, save) cache batch",
    "rounds_writable": "K x (load, x2, save) writable batch",
    "readme_plain": "README round (arr[:10]*=2) plain",
    "readme_rows": "README round via get/replace 10 rows",
    "readme_cache": "README round cache batch",
    "readme_writable": "README round writable batch",
    "batch_commit_10": "cache batch: 10 arrays changed, 1 commit",
    "many_fill": "fill a store to n arrays (16 float32), per save",
    "many_save": "save a new 16-float32 array into n arrays",
    "many_open_ro": "open read-only + load one array + close",
    "many_open_rw": "open as writer + load one array + close",
    "save_fortran": "save (overwrite) from a column-major buffer",
    "load_fortran": "full load into a column-major buffer",
}

# Issue #14's rows (bench_many) have their own targets instead of G, some at one size only.
OWN_TARGETS = ("many_",)
TARGETS_AT = {
    ("many_save", "10000arr"): ["N2x"],
    ("many_open_ro", "10000arr"): ["O2x"],
    ("many_open_rw", "10000arr"): ["O2x"],
}

# Which targets of the issue apply to which workload (G applies to all but OWN_TARGETS).
TARGETS = {
    "save_new": ["F1.15"], "save_overwrite": ["F1.15"], "load": ["F1.15"],
    "view_open": ["V20us"],
    "get_100": ["R2x", "Q2x"], "get_1000": ["R2x"], "get_10000": ["R2x"],
    "replace_100": ["R2x"], "append_100": ["R2x", "A2x"], "append_1": ["A2x"],
    "range_read_100": ["B1.15"], "range_write_100": ["B1.15"],
    "rounds_cache": ["C1.2"], "readme_cache": ["C1.2"],
    "rounds_writable": ["W1.2"], "readme_writable": ["W3"],
    "many_save": ["S1.5"],
    "save_fortran": ["L1.3"], "load_fortran": ["L1.3"],
}

TARGET_TEXT = {
    "G": "G: >=2x faster than numpack, or <=1.15x floor where floor > numpack/2",
    "F1.15": "F1.15: <=1.15x floor (save, full load)",
    "V20us": "V20us: view open <=20 us",
    "R2x": "R2x: >=2x faster than numpack and than HDF5 (rows)",
    "B1.15": "B1.15: block I/O of whole-row ranges <=1.15x one pread/pwrite per range",
    "C1.2": "C1.2: cache batch <=1.2x floor (one load + K x arithmetic + one save)",
    "W1.2": "W1.2: writable batch <=1.2x floor (arithmetic on plain memory + one msync)",
    "W3": "W3: the README round, one writable batch per round, <=3x floor (issue #13: mappings "
          "reused, no synchronous msync in a non-durable store)",
    "Q2x": "Q2x: 100 random rows <=2x their raw floor (memcpy from a kept mapping) and <=0.5x "
           "numpack (issue #13)",
    "S1.5": "S1.5: save into n arrays <=1.5x (the same save into 10 arrays + a raw write of the "
            "n-entry catalogue)",
    "N2x": "N2x: save into 10,000 arrays <=2x numpack's per-save time",
    "O2x": "O2x: open of 10,000 arrays (+ one load) <=2x numpack's open and load",
    "A2x": "A2x: append <=2x floor (pwrite at the end + in-place spare catalogue swapped in by "
           "RENAME_EXCHANGE) and <=0.5x numpack",
    "L1.3": "L1.3: column-major buffer <=1.3x floor (libnumpack, the same bytes in C order)",
}


DIAG_TEXT = {
    ("save_overwrite", "diag_unlink_rename"):
        "new file + pwrite, unlink old, rename onto the free name (no ext4 replace-by-rename flush)",
    ("load", "diag_fresh_memory"):
        "pread into fresh anonymous mmap (4 KiB page faults) + munmap, as a cache-batch load",
    ("replace_100", "diag_commit"): "100 x pwrite + one catalogue commit (99-byte file renamed over)",
    ("append_100", "diag_commit"): "pwrite at end + one catalogue commit",
    ("readme_rows", "diag_commit"): "K x (pread, x2, pwrite, catalogue commit)",
    ("readme_writable", "diag_commit"): "raw writable round (mmap, K x2, msync, munmap) + one commit",
    ("many_save", "diag_create"): "create one new file in the store's directory (open O_CREAT|O_EXCL, "
                                  "64-byte pwrite, close), as a save of a new array does",
    ("get_100", "diag_lseek"): "lseek (the truncation check) + memcpy of each row from a kept mapping",
    ("get_1000", "diag_lseek"): "lseek (the truncation check) + memcpy of each row from a kept mapping",
    ("get_10000", "diag_lseek"): "lseek (the truncation check) + memcpy of each row from a kept mapping",
}


# What "floor" and "raw" are, per workload (see bench_c.c's header).
FLOOR_DEF = OrderedDict([
    ("save_new", ("new file: open(O_CREAT+O_TRUNC) + pwrite + rename", "same")),
    ("save_overwrite", ("pwrite into the existing, cached file (libnumpack overwrites a spare copy)",
                        "NEW file + pwrite + rename over the old + close the old fd")),
    ("load", ("min(pread, memcpy from a kept mapping) into a pre-faulted buffer", "pread")),
    ("view_open", ("mmap", "same")),
    ("get_N", ("min(pread per row, memcpy from a kept mapping)", "pread per row")),
    ("replace_100", ("min(pwrite per row, memcpy into a kept shared mapping)", "pwrite per row")),
    ("range_read/write_100", ("one pread / pwrite of each 100-row range", "same")),
    ("append_100 / append_1", ("pwrite at the end + spare catalogue written in place and "
                               "swapped in (RENAME_EXCHANGE)", "pwrite at the end")),
    ("rounds/readme plain", ("K x (pread, x2, pwrite in place)", "K x (pread, x2, new-file save)")),
    ("rounds/readme cache", ("pread once, K x2, one pwrite in place", "same with a new-file save")),
    ("rounds/readme writable", ("K x2 on plain memory + one msync(MS_ASYNC)",
                                "mmap, K x2 in the mapping, msync(MS_ASYNC), munmap")),
    ("readme_rows", ("K x (pread 10 rows, x2, pwrite 10 rows)", "same")),
    ("batch_commit_10", ("10 x (pread, x2), then 10 x pwrite in place", "same with new-file saves")),
    ("many_save", ("libnumpack's same save into a store of 10 arrays + the n-entry catalogue's "
                   "bytes written raw in place over a kept spare and swapped in with "
                   "renameat2(RENAME_EXCHANGE)", "none")),
    ("many_open_ro/rw", ("open + pread + close of the catalogue and of one data file", "none")),
    ("save/load_fortran", ("libnumpack's save / load of the same bytes from / into a C-order buffer",
                           "pwrite / pread of the bytes in place")),
])


def fmt_gap(g):
    return f"x{g:.3f}" if g < 1.1 else f"x{g:.2f}"


def fmt_ms(s):
    if s is None:
        return "n/a"
    ms = s * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    if ms >= 0.01:
        return f"{ms:.3f}"
    return f"{ms:.2g}"


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    r = a / b
    return f"{r:.2f}" if r < 100 else f"{r:.0f}"


def load_tsv(paths):
    data = OrderedDict()
    for p in paths:
        with open(p) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 6:
                    continue
                wl, size, impl, med, mn, runs = parts[:6]
                note = parts[6] if len(parts) > 6 else ""
                d = data.setdefault((wl, size), {"impls": {}, "notes": []})
                d["impls"][impl] = (float(med), float(mn), int(runs))
                if note and note not in d["notes"]:
                    d["notes"].append(note)
    return data


def pick(d):
    imp = {k: v[0] for k, v in d["impls"].items()}
    lib = imp.get("libnumpack")
    raw = imp.get("raw", imp.get("floor"))  # save_new: raw and floor are the same operation
    if "floor" in imp:
        floor = imp["floor"]
        if "raw_mmap" in imp:
            floor = min(floor, imp["raw_mmap"])
    else:
        cands = [imp[k] for k in ("raw", "raw_mmap") if k in imp]
        floor = min(cands) if cands else None
    return lib, floor, raw, imp.get("numpack"), imp.get("hdf5"), imp.get("npy")


def check(wl, size, lib, floor, npk, h5):
    """[(target, met, gap)] where gap = how far past the allowed value (1.0 = on the line)."""
    out = []
    if lib is None:
        return out
    if npk is not None and not wl.startswith(OWN_TARGETS):
        half = npk / 2
        g1 = lib / half
        if floor is not None and floor > half:
            g = min(g1, lib / (1.15 * floor))
        else:
            g = g1
        out.append(("G", g <= 1.0, g))
    for t in TARGETS.get(wl, []) + TARGETS_AT.get((wl, size), []):
        if t == "S1.5" and floor:
            g = lib / (1.5 * floor)
        elif t in ("N2x", "O2x") and npk:
            g = lib / (2 * npk)
        elif t == "F1.15" and floor:
            g = lib / (1.15 * floor)
        elif t == "V20us":
            g = lib / 20e-6
        elif t == "R2x":
            gs = [lib / (p / 2) for p in (npk, h5) if p]
            if not gs:
                continue
            g = max(gs)
        elif t == "B1.15" and floor:
            g = lib / (1.15 * floor)
        elif t == "A2x" and floor:
            g = max([lib / (2 * floor)] + ([lib / (npk / 2)] if npk else []))
        elif t == "Q2x" and floor:
            g = max([lib / (2 * floor)] + ([lib / (npk / 2)] if npk else []))
        elif t == "W3" and floor:
            g = lib / (3 * floor)
        elif t in ("C1.2", "W1.2") and floor:
            g = lib / (1.2 * floor)
        elif t == "L1.3" and floor:
            g = lib / (1.3 * floor)
        else:
            continue
        out.append((t, g <= 1.0, g))
    return out


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--elapsed", type=float, default=None)
    ap.add_argument("--params", default="")
    ap.add_argument("--bench-dir", default="")
    a = ap.parse_args()
    data = load_tsv(a.tsv)
    sizes = []
    for (_, s) in data:
        if s not in sizes:
            sizes.append(s)

    head = ["operation", "size", "libnumpack", "floor", "lib/floor", "raw", "lib/raw",
            "numpack", "lib/numpack", "HDF5", "lib/HDF5", "npy", "lib/npy", "targets", "status"]
    rows, misses = [], []
    for wl in ORDER:
        for s in sizes:
            d = data.get((wl, s))
            if not d:
                continue
            lib, floor, raw, npk, h5, npy = pick(d)
            res = check(wl, s, lib, floor, npk, h5)
            note = "; ".join(d["notes"])
            rounds = ""
            for n in d["notes"]:
                if n.endswith(" rounds"):
                    rounds = f" [K={n.split()[0]}]"
            status = "met" if all(m for _, m, _ in res) else "MISSED " + ", ".join(
                f"{t} {fmt_gap(g)}" for t, m, g in res if not m)
            failed = [(t, g) for t, m, g in res if not m]
            if failed:
                misses.append((max(g for _, g in failed), wl, s, failed, lib, floor, npk, h5))
            rows.append([TITLE.get(wl, wl) + rounds, s, fmt_ms(lib), fmt_ms(floor),
                         fmt_ratio(lib, floor), fmt_ms(raw), fmt_ratio(lib, raw), fmt_ms(npk),
                         fmt_ratio(lib, npk), fmt_ms(h5), fmt_ratio(lib, h5), fmt_ms(npy),
                         fmt_ratio(lib, npy), " ".join(
                             ([] if wl.startswith(OWN_TARGETS) else ["G"]) + TARGETS.get(wl, [])
                             + TARGETS_AT.get((wl, s), [])), status])

    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]

    def line(r):
        return "| " + " | ".join(str(c).replace("|", "/").ljust(w) for c, w in zip(r, widths)) + " |"

    table = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    table += [line(r) for r in rows]

    misses.sort(key=lambda m: -m[0])
    ranked = []
    for i, (g, wl, s, failed, lib, floor, npk, h5) in enumerate(misses, 1):
        what = ", ".join(f"{t} {fmt_gap(x)}" for t, x in failed)
        ranked.append(f"{i}. {wl} @ {s}: {what} -- libnumpack {fmt_ms(lib)} ms; floor "
                      f"{fmt_ms(floor)}, numpack {fmt_ms(npk)}, HDF5 {fmt_ms(h5)} ms")

    diag = []
    for (wl, s), d in data.items():
        lib = d["impls"].get("libnumpack", (None,))[0]
        for impl, (med, _mn, _runs) in d["impls"].items():
            if impl.startswith("diag_"):
                diag.append((ORDER.index(wl) if wl in ORDER else 99, sizes.index(s), wl, s, impl,
                             med, lib))
    diag.sort()
    diag_lines = []
    if diag:
        diag_lines.append("| workload | size | diagnostic (raw calls) | ms | libnumpack ms | lib/diag |")
        diag_lines.append("|---|---|---|---|---|---|")
        for _, _, wl, s, impl, med, lib in diag:
            diag_lines.append(f"| {wl} | {s} | {DIAG_TEXT.get((wl, impl), impl)} | {fmt_ms(med)} "
                              f"| {fmt_ms(lib)} | {fmt_ratio(lib, med)} |")

    empty_s = None
    for (wl, s), d in data.items():
        if wl == "py_empty_call":
            empty_s = d["impls"]["python"][0]
            break

    out = []
    out.append("# libnumpack benchmark results\n")
    out.append(f"Machine: {machine()}. Bench dir: {a.bench_dir or '?'}. {a.params}")
    if a.elapsed is not None:
        out.append(f"Whole run (build + both sizes + report): {a.elapsed:.0f} s.")
    out.append("")
    out.append("Times are medians in **ms** (at least 5 runs after one warm-up; implementations "
               "take turns within each run). Ratios are **libnumpack / peer**: below 1 means "
               "libnumpack is faster. K = rounds. Float32, 10 columns; 40MB = 1,000,000 rows, "
               "400MB = 10,000,000 rows; the column-major rows also at 4096 x 4096 float64 (128 MiB), "
               "against HDF5 as its Fortran users store them (dimensions reversed, buffer "
               "written as it is). Nnarr = a store of N arrays of 16 float32 (bench_many).")
    if empty_s is not None:
        out.append(f"An empty Python call (`def f(): pass; f()`) costs {empty_s * 1e9:.0f} ns: "
                   "the interpreter overhead under every numpack call is that per call, plus the "
                   "argument handling of numpack's wrapper.")
    out.append("")
    out.extend(table)
    out.append("")
    out.append("Targets: " + "; ".join(TARGET_TEXT.values()) + ". `xN` in status = how far past "
               "the allowed value.")
    out.append("")
    out.append("## Misses, largest gap first\n")
    out.extend(ranked if ranked else ["none"])
    out.append("")
    if diag_lines:
        out.append("## Diagnostics measured in the same run\n")
        out.append("What parts of libnumpack's design cost, with raw calls (not peers, not floors):\n")
        out.extend(diag_lines)
        out.append("")
    out.append("## What each column measures\n")
    out.append(
        "- **libnumpack**: the C ABI (a private copy of target/release/libnumpack.so), one "
        "npk_store open for the whole run, non-durable (no fsync), its own store directory.\n"
        "- **floor**: the same bytes moved with raw POSIX calls the way libnumpack's design "
        "moves them (a new file where the library writes a new file, an overwrite where it "
        "overwrites), plus the same arithmetic on plain, pre-faulted memory. libnumpack's save "
        "of a NEW array writes a new file; since commit 40f3938 its save OVER an existing array "
        "(>= 1 MiB) writes into a spare copy of the array's file (already allocated and cached) "
        "and renames it into place, so its floor is the raw overwrite. The raw new-file write "
        "is in the **raw** column of those rows, so save_overwrite shows both raw floors.\n"
        "- **raw**: the other raw POSIX variant of the same bytes (below).\n"
        "- **numpack**: numpack 0.5.0 through its Python API, one NumPack handle for the run. "
        "Its writable batch flushes with mmap.flush() = msync(MS_SYNC); its metadata is written "
        "only at close/batch end (not crash-safe).\n"
        "- **HDF5**: HDF5 1.10 C library, one file kept open: contiguous dataset for "
        "save/load/rows (rows = union of one-row hyperslabs), H5Dset_extent on a chunked "
        "(4096 x 10) dataset for append, H5Fflush after each write. No batch modes: its batch "
        "rows are the same work batched by hand (one read, K x arithmetic, one write).\n"
        "- **npy**: np.save / np.load; view = np.load(mmap_mode='r'); rows via a memmap opened per "
        "call (r for reads, r+ + flush for writes); cache batch by hand; writable batch = memmap "
        "r+ + flush (msync MS_SYNC). No append (would rewrite the file).\n"
        "- Row indices are the same random distinct rows for every implementation (splitmix64). "
        "Each implementation has its own files; `syncfs` runs before every workload; every run "
        "starts with equally cold CPU caches/TLB (64 MiB touched) and a warm page cache.\n")
    out.append("| workload | floor | raw |")
    out.append("|---|---|---|")
    for wl, (fl, rw) in FLOOR_DEF.items():
        out.append(f"| {wl} | {fl} | {rw} |")
    text = "\n".join(out) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
