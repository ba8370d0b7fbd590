"""One odd array among healthy ones, made by numpack 0.5.0 itself (issue #15 point 3).

* A stale deletion bitmap: numpack drops rows of "x" (10 -> 9), then saves "x" again with 15
  rows and keeps the old bitmap, so numpack itself shows 9 of the 15 rows it just saved.
* Names numpack accepts and libnumpack would not create.

The store must open through the C ABI, every healthy array read as numpack wrote it, the odd
one read where its files are plain names or be NPK_CORRUPT naming it, and our writes must leave
numpack able to read everything it could before.
"""

import subprocess

import numpy as np
import pytest

import numpack
import npk_ctypes as npk
from npk_ctypes import NpkError, Store

NPK_BIN = npk.LIBDIR / "npk"


def reader(path):
    return Store(str(path), npk.NPK_OPEN_READ_ONLY)


def test_a_stale_bitmap_numpack_left_costs_only_its_array(tmp_path):
    path = tmp_path / "store"
    ok = np.arange(6, dtype=np.float64).reshape(3, 2)
    new = np.arange(100, 115, dtype=np.int32)
    with numpack.NumPack(str(path), drop_if_exists=True) as n:
        n.save({"ok": ok, "x": np.arange(10, dtype=np.int32)})
    with numpack.NumPack(str(path)) as n:
        n.drop("x", [0])
    with numpack.NumPack(str(path)) as n:
        n.save({"x": new})
    assert (path / "deleted_x.npkb").exists(), "numpack 0.5.0 kept the bitmap"
    with numpack.NumPack(str(path)) as n:
        seen = n.load("x")
    # numpack reads the new file through the old bitmap: 9 of the 15 rows it saved.
    assert len(seen) == 9 and len(new) == 15, seen

    with reader(path) as s:
        assert np.array_equal(s.load("ok"), ok)
        with pytest.raises(NpkError) as e:
            s.load("x")
        assert e.value.status == npk.NPK_CORRUPT
        assert '"x"' in e.value.message and "stale" in e.value.message, e.value.message
        assert "for 10 rows, the array has 15" in e.value.message, e.value.message

    # A writer's commits beside it keep it as numpack left it.
    with Store(str(path), 0) as s:
        s.save("y", np.ones(4, dtype=np.uint8))
    with numpack.NumPack(str(path)) as n:
        assert len(n.load("x")) == 9
        assert np.array_equal(n.load("ok"), ok)

    out = subprocess.run([str(NPK_BIN), "check", str(path)], capture_output=True, text=True)
    assert out.returncode == 1 and "REPAIRABLE" in out.stdout and "stale" in out.stdout, out.stdout
    out = subprocess.run(
        [str(NPK_BIN), "check", str(path), "--repair"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "REPAIRED" in out.stdout, out.stdout
    assert not (path / "deleted_x.npkb").exists()
    with reader(path) as s:
        assert np.array_equal(s.load("x"), new)
    with numpack.NumPack(str(path)) as n:
        assert np.array_equal(n.load("x"), new), "numpack now reads all the rows it saved"


def test_odd_names_numpack_wrote(tmp_path):
    path = tmp_path / "store"
    arrays = {
        "ok": np.arange(4, dtype=np.int64),
        "back\\slash": np.arange(3, dtype=np.float32),
        "tab\tname": np.arange(2, dtype=np.int16),
        "..": np.arange(5, dtype=np.int32),
    }
    with numpack.NumPack(str(path), drop_if_exists=True) as n:
        n.save(arrays)
    with reader(path) as s:
        assert sorted(s.list()) == sorted(arrays)
        assert np.array_equal(s.load("ok"), arrays["ok"])
        assert np.array_equal(s.load("back\\slash"), arrays["back\\slash"])
        assert np.array_equal(s.load("tab\tname"), arrays["tab\tname"])
        with pytest.raises(NpkError) as e:
            s.load("..")
        assert e.value.status == npk.NPK_CORRUPT and 'array ".."' in e.value.message
    with Store(str(path), 0) as s:
        s.save("new", np.ones(3, dtype=np.uint8))
        s.append("ok", np.array([9], dtype=np.int64))
        with pytest.raises(NpkError) as e:
            s.append("back\\slash", np.array([1], dtype=np.float32))
        assert e.value.status == npk.NPK_INVALID_ARGUMENT
    # numpack still reads every array, the odd ones as it wrote them.
    with numpack.NumPack(str(path)) as n:
        for name, arr in arrays.items():
            want = np.append(arr, 9) if name == "ok" else arr
            assert np.array_equal(n.load(name), want), name
        assert np.array_equal(n.load("new"), np.ones(3, dtype=np.uint8))
