"""libnumpack's batch API (npk_batch_*) writes stores that the Python `numpack` package reads.

libnumpack is driven through ctypes: arrays are written through both batch kinds (cache batches
with shape changes, writable batches changing values in place), then the store is opened with
numpack.NumPack, which must read exactly the expected values. The library is found in $LIBDIR
(exported by the top-level Makefile), defaulting to <repo>/target/release.
"""

import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

numpack = pytest.importorskip("numpack")

REPO = Path(__file__).resolve().parents[2]
LIBPATH = Path(os.environ.get("LIBDIR") or REPO / "target" / "release") / "libnumpack.so"

NPK_OPEN_CREATE = 1
NPK_OK = 0
NPK_NOT_FOUND = 2
NPK_DTYPE_MISMATCH = 4
NPK_SHAPE_MISMATCH = 5
NPK_BUSY = 10

# NumPack's dtype codes 0..13.
DTYPES = [np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.uint32, np.uint64, np.int8,
                                np.int16, np.int32, np.int64, np.float16, np.float32, np.float64,
                                np.complex64, np.complex128)]
CODE_OF = {dt: code for code, dt in enumerate(DTYPES)}


# The struct's layout, and NPK_VIEW_INIT, come from the one ctypes mirror of numpack.h.
from npk_ctypes import npk_view, sized  # noqa: E402


_st = ctypes.c_int32
_vp = ctypes.c_void_p
_u64p = ctypes.POINTER(ctypes.c_uint64)
_i64p = ctypes.POINTER(ctypes.c_int64)

lib = ctypes.CDLL(str(LIBPATH))
for _name, _res, _args in [
    ("npk_last_error", ctypes.c_char_p, []),
    ("npk_status_str", ctypes.c_char_p, [_st]),
    ("npk_open", _st, [ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(_vp)]),
    ("npk_close", _st, [_vp]),
    ("npk_save", _st, [_vp, ctypes.c_char_p, ctypes.c_int32, ctypes.c_uint32, _u64p, _vp, _i64p]),
    ("npk_batch_begin", _st, [_vp, ctypes.c_uint64, ctypes.POINTER(_vp)]),
    ("npk_writable_batch_begin", _st, [_vp, ctypes.POINTER(_vp)]),
    ("npk_batch_load", _st, [_vp, ctypes.c_char_p, ctypes.POINTER(npk_view)]),
    ("npk_batch_save", _st,
     [_vp, ctypes.c_char_p, ctypes.c_int32, ctypes.c_uint32, _u64p, _vp, _i64p]),
    ("npk_batch_end", _st, [_vp]),
    ("npk_batch_abort", _st, [_vp]),
]:
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


def check(status, what):
    if status != NPK_OK:
        raise AssertionError(f"{what}: {lib.npk_status_str(status).decode()}: "
                             f"{lib.npk_last_error().decode('utf-8', 'replace')}")


def _buf(arr):
    """(dtype code, ndim, shape*, data, strides*) for a numpy array as it lies in memory."""
    n = max(arr.ndim, 1)
    shape = (ctypes.c_uint64 * n)(*arr.shape)
    strides = (ctypes.c_int64 * n)(*arr.strides)
    return CODE_OF[arr.dtype], arr.ndim, shape, (arr.ctypes.data if arr.size else None), strides


class Store:
    def __init__(self, path, flags=NPK_OPEN_CREATE):
        self.h = _vp()
        check(lib.npk_open(str(path).encode(), flags, ctypes.byref(self.h)), "npk_open")

    def save(self, name, arr):
        code, ndim, shape, data, strides = _buf(arr)
        check(lib.npk_save(self.h, name.encode(), code, ndim, shape, data, strides), "npk_save")

    def close(self):
        if self.h:
            check(lib.npk_close(self.h), "npk_close")
            self.h = None


class Batch:
    """npk_batch_begin / npk_writable_batch_begin ... npk_batch_end, as a context manager that
    ends on success and aborts on an exception."""

    def __init__(self, store, writable=False, memory_limit_mb=0):
        self.h = _vp()
        if writable:
            check(lib.npk_writable_batch_begin(store.h, ctypes.byref(self.h)), "writable begin")
        else:
            check(lib.npk_batch_begin(store.h, memory_limit_mb, ctypes.byref(self.h)), "begin")

    def load(self, name):
        """The batch's view as a numpy array sharing its memory (no copy)."""
        v = sized(npk_view)
        check(lib.npk_batch_load(self.h, name.encode(), ctypes.byref(v)), f"load {name}")
        dt = DTYPES[v.dtype]
        shape = tuple(v.shape[: v.ndim])
        strides = tuple(v.strides[: v.ndim])
        if not v.data:
            assert v.nbytes == 0
            return np.empty(shape, dtype=dt)
        raw = (ctypes.c_uint8 * v.nbytes).from_address(v.data)
        base = np.frombuffer(raw, dtype=dt)
        return np.lib.stride_tricks.as_strided(base, shape=shape, strides=strides)

    def save_status(self, name, arr):
        code, ndim, shape, data, strides = _buf(arr)
        return lib.npk_batch_save(self.h, name.encode(), code, ndim, shape, data, strides)

    def save(self, name, arr):
        check(self.save_status(name, arr), f"save {name}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            check(lib.npk_batch_end(self.h), "npk_batch_end")
        else:
            lib.npk_batch_abort(self.h)
        return False


def read_with_numpack(path):
    with numpack.NumPack(str(path)) as npk:
        return {name: np.array(npk.load(name)) for name in npk.get_member_list()}


def assert_same(got, want):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(got, want), (got, want)


def test_cache_batches_with_shape_changes(tmp_path):
    path = tmp_path / "store"
    a = np.arange(400, dtype=np.float64).reshape(100, 4)
    b = np.arange(50, dtype=np.int32)
    c = (np.arange(15) + 1j * np.arange(15)).astype(np.complex64).reshape(5, 3)
    s = Store(path)
    s.save("a", a)
    s.save("b", b)
    s.save("c", c)

    # Batch 1: x2 in place through the view (saved with its own pointer); b grows.
    with Batch(s) as bt:
        va = bt.load("a")
        va *= 2
        bt.save("a", va)
        b_long = np.concatenate([bt.load("b"), np.arange(100, 130, dtype=np.int32)])
        bt.save("b", b_long)
        assert bt.load("b").shape == (80,)

    # Batch 2, under a memory limit: x2 again, 10 rows appended, a new 3-D array, c x1j.
    new_rows = np.full((10, 4), -1.5)
    d = np.arange(120, dtype=np.uint8).reshape(4, 5, 6)
    with Batch(s, memory_limit_mb=1) as bt:
        va = bt.load("a")
        va *= 2
        bt.save("a", np.concatenate([va, new_rows]))
        bt.save("d", d)
        vc = bt.load("c")
        vc *= 1j
        bt.save("c", vc)
        vc_unsaved = bt.load("b")
        vc_unsaved[:] = 0  # changed, never saved: not written
    s.close()

    got = read_with_numpack(path)
    assert sorted(got) == ["a", "b", "c", "d"]
    assert_same(got["a"], np.concatenate([a * 4, new_rows]))
    assert_same(got["b"], np.concatenate([b, np.arange(100, 130, dtype=np.int32)]))
    assert_same(got["c"], c * np.complex64(1j))
    assert_same(got["d"], d)


def test_writable_batch_in_place(tmp_path):
    path = tmp_path / "store"
    w = np.arange(8000, dtype=np.float32).reshape(1000, 8)
    v = np.arange(100, dtype=np.int64).reshape(10, 10)
    flags = np.zeros((7, 3), dtype=np.bool_)
    s = Store(path)
    s.save("w", w)
    s.save("v", v)
    s.save("flags", flags)

    replacement = np.asfortranarray(-np.arange(100, dtype=np.int64).reshape(10, 10))
    with Batch(s, writable=True) as bt:
        vw = bt.load("w")
        for i in range(0, len(vw), 100):  # arr[i:i+100] *= scale, in chunks
            vw[i : i + 100] *= 0.5
        vw[100:200] *= -1
        bt.save("v", replacement)  # another buffer, same dtype and shape: copied in
        assert bt.save_status("v", np.zeros((11, 10), dtype=np.int64)) == NPK_SHAPE_MISMATCH
        assert bt.save_status("v", np.zeros((10, 10), dtype=np.int32)) == NPK_DTYPE_MISMATCH
        vf = bt.load("flags")
        vf[::2, 1] = True
    s.close()

    want_w = w * np.float32(0.5)
    want_w[100:200] *= -1
    want_f = flags.copy()
    want_f[::2, 1] = True
    got = read_with_numpack(path)
    assert_same(got["w"], want_w)
    assert_same(got["v"], np.ascontiguousarray(replacement))
    assert_same(got["flags"], want_f)


def test_writable_batch_compacts_rows_numpack_dropped(tmp_path):
    path = tmp_path / "store"
    x = np.arange(60, dtype=np.float64).reshape(20, 3)
    with numpack.NumPack(str(path), drop_if_exists=True) as npk:
        npk.save({"x": x})
        npk.drop("x", [1, 5, 19])
    live = np.delete(x, [1, 5, 19], axis=0)

    s = Store(path)
    with Batch(s, writable=True) as bt:
        vx = bt.load("x")
        assert vx.shape == (17, 3)
        assert np.array_equal(vx, live)
        vx += 1000
    s.close()

    got = read_with_numpack(path)
    assert_same(got["x"], live + 1000)


def test_cache_batch_matches_numpack_batch_mode(tmp_path):
    """The same work through NumPack's batch_mode and through ours gives identical arrays."""
    base = np.linspace(-3, 3, 240).reshape(40, 6)
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    for p in (theirs, ours):
        with numpack.NumPack(str(p), drop_if_exists=True) as npk:
            npk.save({"x": base, "y": np.arange(12, dtype=np.int16)})

    with numpack.NumPack(str(theirs)) as npk:
        with npk.batch_mode():
            for _ in range(10):
                arr = npk.load("x")
                arr = arr * 2 + 1
                npk.save({"x": arr})
            y = npk.load("y")
            npk.save({"y": np.concatenate([y, y])})
    with numpack.NumPack(str(theirs)) as npk:
        with npk.writable_batch_mode() as wb:
            arr = wb.load("x")
            arr[0, 0] = -1

    s = Store(ours, flags=0)
    with Batch(s) as bt:
        for _ in range(10):
            arr = bt.load("x")
            arr[:] = arr * 2 + 1
            bt.save("x", arr)
        y = bt.load("y")
        bt.save("y", np.concatenate([y, y]))
    with Batch(s, writable=True) as bt:
        arr = bt.load("x")
        arr[0, 0] = -1
    s.close()

    a, b = read_with_numpack(theirs), read_with_numpack(ours)
    assert sorted(a) == sorted(b) == ["x", "y"]
    for name in a:
        assert_same(b[name], a[name])
