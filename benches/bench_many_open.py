#!/usr/bin/env python3
"""Opens of a store of N small arrays, side by side in one process (issue #14 point 2): numpack's
NumPack(path).open() + load of one array + close, against libnumpack's npk_open (read-only, then
as a writer) + npk_load of the same array + npk_close through ctypes, implementations taking
turns, R rounds; prints the medians and the ratios. The store is written by numpack (the same
format), so it costs seconds, not the minutes of N saves.

    python3 benches/bench_many_open.py N LIBNUMPACK_SO DIR [ROUNDS]
e.g. python3 benches/bench_many_open.py 10000 target/release/libnumpack.so /tmp/s10k 21
"""
import ctypes, os, sys, time, shutil, statistics
import numpy as np
from numpack import NumPack
N = int(sys.argv[1]); lib = ctypes.CDLL(sys.argv[2]); d = sys.argv[3]
if not os.path.exists(os.path.join(d, "metadata.npkm")):
    shutil.rmtree(d, ignore_errors=True)
    p = NumPack(d, drop_if_exists=True); p.open()
    for k in range(0, N, 1000):
        p.save({f"a{i}": np.arange(16, dtype=np.float32) + i for i in range(k, min(N, k + 1000))})
    p.close()
lib.npk_open.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p)]
lib.npk_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
lib.npk_close.argtypes = [ctypes.c_void_p]
lib.npk_last_error.restype = ctypes.c_char_p
buf = np.zeros(16, dtype=np.float32)
shape = (ctypes.c_uint64 * 1)(16)
def ours(flags):
    h = ctypes.c_void_p()
    s = lib.npk_open(d.encode(), flags, ctypes.byref(h))
    assert s == 0, lib.npk_last_error()
    s = lib.npk_load(h, b"a7", 10, 1, shape, buf.ctypes.data, None)
    assert s == 0, (s, lib.npk_last_error())
    assert buf[0] == 7, buf
    lib.npk_close(h)
def theirs():
    p = NumPack(d); p.open(); a = p.load("a7"); assert a[0] == 7; p.close()
fns = {"numpack": theirs, "ro": lambda: ours(2), "writer": lambda: ours(0)}
t = {k: [] for k in fns}
for r in range(int(sys.argv[4]) if len(sys.argv) > 4 else 7):
    for k, f in fns.items():
        s = time.perf_counter(); f(); t[k].append(time.perf_counter() - s)
m = {k: statistics.median(v) * 1e3 for k, v in t.items()}
print(f"N={N} " + " ".join(f"{k}={v:.2f}ms" for k, v in m.items()) + f"  ro/np={m['ro']/m['numpack']:.2f} w/np={m['writer']/m['numpack']:.2f}")
