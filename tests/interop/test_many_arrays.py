"""A store of 100,000 arrays written by libnumpack (issue #14) is read whole by numpack 0.5.0.

libnumpack fills it in cache batches of 10,000 (one commit each), then changes it with single
commits into the full store (an overwrite with another dtype, a new array); numpack must list
every array and load each one with its values. numpack keeps a mapping of every array it loaded
for the life of the process, and a process may hold at most vm.max_map_count (65,530) mappings,
so the loads are spread over child processes of 25,000 arrays each. Not timed:
benches/bench_many measures the cost.
"""

import shutil
import subprocess
import sys

import numpy as np

from test_batch_interop import Batch, Store

N = 100_000
PER_BATCH = 10_000
PER_CHILD = 25_000


def content(i):
    return np.array([i, -i, (i * 7919) % (1 << 31), 1 - i], dtype=np.int32)


# Run by each child: numpack opens the store, lists it, loads arrays [first, last) and checks
# them. It leaves with os._exit, before numpack's close could rewrite the catalogue, so every child
# reads the bytes libnumpack wrote.
CHILD = r"""
import os
import sys
import numpy as np
import numpack

path, first, last, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
npk = numpack.NumPack(path)
npk.open()
names = npk.get_member_list()
assert sorted(names) == [f"a{i:06d}" for i in range(n)] + ["zz_new"], len(names)
for i in range(first, last):
    got = npk.load(f"a{i:06d}")
    if i == 50_000:
        want = np.array([5.5, 6.5])
    else:
        want = np.array([i, -i, (i * 7919) % (1 << 31), 1 - i], dtype=np.int32)
    assert got.dtype == want.dtype and np.array_equal(got, want), (i, got, want)
if last == n:
    assert np.array_equal(npk.load("zz_new"), np.arange(6, dtype=np.uint16).reshape(2, 3))
print("checked", last - first, flush=True)
os._exit(0)
"""


def test_numpack_reads_a_store_of_100000_arrays(tmp_path):
    path = tmp_path / "many"
    s = Store(path)
    for first in range(0, N, PER_BATCH):
        with Batch(s) as b:
            for i in range(first, first + PER_BATCH):
                b.save(f"a{i:06d}", content(i))
    s.save("a050000", np.array([5.5, 6.5], dtype=np.float64))
    s.save("zz_new", np.arange(6, dtype=np.uint16).reshape(2, 3))
    s.close()
    catalogue = (path / "metadata.npkm").read_bytes()

    for first in range(0, N, PER_CHILD):
        last = first + PER_CHILD
        r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(first), str(last), str(N)],
                           capture_output=True, text=True)
        assert r.returncode == 0 and f"checked {PER_CHILD}" in r.stdout, (
            f"numpack reading arrays {first}..{last}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        assert (path / "metadata.npkm").read_bytes() == catalogue, "a child rewrote the catalogue"
    # pytest keeps recent tmp_path directories; 100,000 files are not worth keeping.
    shutil.rmtree(path)
