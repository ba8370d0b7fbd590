"""Probe (issue #15 point 2): one-row appends to numpack 0.7.0 segmented arrays of 640 B, 1 GiB
and 16 GiB (full 256 MiB segments made sparse, plus a last segment of 10 rows, laid out byte for
byte as 0.7.0 writes them), and to a single-file array for reference, taking turns in one run.
An append writes the row into the last segment and commits a new manifest with the catalogue
(one commit record), so its cost should not grow with the array.

    LIBDIR=target/release python3 benches/bench_segmented.py [ROUNDS] [DIR]
"""
import os, sys, time, json, struct, statistics
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "interop"))
os.environ.setdefault("LIBDIR", os.path.join(here, "..", "target", "release"))
import numpy as np
import npk_ctypes as npk
from npk_ctypes import Store

SEG = 256 * 1024 * 1024
ROW = 64  # 8 float64
def make(path, nsegs):
    """A numpack 0.7.0 segmented (n, 8) float64 array of nsegs full 256 MiB segments (sparse)
    plus a last segment of 10 rows, byte for byte as 0.7.0 lays it out."""
    os.makedirs(f"{path}/data_x_segments", exist_ok=True)
    segs = []
    rows_per = SEG // ROW
    for i in range(nsegs):
        f = f"data_x_segments/seg_{i:06d}.npkd"
        with open(f"{path}/{f}", "wb") as fh:
            fh.truncate(SEG)
        segs.append({"file": f, "rows": rows_per, "bytes": SEG})
    f = f"data_x_segments/seg_{nsegs:06d}.npkd"
    with open(f"{path}/{f}", "wb") as fh:
        fh.write(b"\0" * 10 * ROW)
    segs.append({"file": f, "rows": 10, "bytes": 10 * ROW})
    with open(f"{path}/data_x.npkseg", "w") as fh:
        json.dump({"version": 1, "segments": segs}, fh, indent=2)
    rows = nsegs * rows_per + 10
    name = b"x"; df = b"data_x.npkseg"
    rec = struct.pack("<I", 1) + name + struct.pack("<I", 2) + struct.pack("<QQ", rows, 8)
    rec += struct.pack("<I", len(df)) + df + struct.pack("<QQ", 0, rows * ROW)
    rec += bytes([11, 0]) + struct.pack("<IQQ", 0, 0, 0) + b"\0"
    hdr = struct.pack("<IIQI", 0x424B504E, 1, rows * ROW, 1)
    with open(f"{path}/metadata.npkm", "wb") as fh:
        fh.write(hdr + rec)
    return rows

base = sys.argv[2] if len(sys.argv) > 2 else "/tmp/npk-bench-segmented"
sizes = [0, 4, 64]  # full segments: 640 B, 1 GiB, 16 GiB arrays
stores = {}
for n in sizes:
    p = f"{base}/s{n}"
    os.system(f"rm -rf {p}")
    os.makedirs(p)
    make(p, n)
    stores[n] = Store(p, flags=0)
os.system(f"rm -rf {base}/single")
stores["single"] = Store(f"{base}/single")
stores["single"].save("x", np.zeros((16384, 8)))
sizes.append("single")
one = np.ones((1, 8))
times = {n: [] for n in sizes}
for rnd in range(int(sys.argv[1]) if len(sys.argv) > 1 else 300):
    for n in sizes:
        t = time.perf_counter()
        stores[n].append("x", one)
        times[n].append(time.perf_counter() - t)
ref = statistics.median(times[0])
for n in sizes:
    what = ("single file of 1 MiB" if n == "single"
            else f"{n:2d} full segments + 1 ({n * 256 / 1024:5.2f} GiB)")
    med = statistics.median(times[n])
    print(f"{what}: append 1 row median {med * 1e6:6.0f} us = {med / ref:.2f}x the 640 B segmented array")
for n in sizes:
    stores[n].close()
os.system(f"rm -rf {base}")
