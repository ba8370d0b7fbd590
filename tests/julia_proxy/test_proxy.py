"""The Julia binding's behaviour, replayed through the ctypes proxy (jlproxy.py), whose ctypes
signatures come from the ccalls in julia/src/NumPack.jl. Results are checked with numpack 0.5.0.

A Julia `Array` is a Fortran-ordered numpy array here (`A[i, j]` is `a[i-1, j-1]`); NumPy must
read back the same values at the same (0-based) indices.
"""

import ctypes

import numpack
import numpy as np
import pytest

import jlparse
import jlproxy
from jlproxy import COLON, ELTYPES, JULIA_NAMES, JRange, NumPackError, julia_array

assert numpack.__version__ == "0.5.0", numpack.__version__


def rand_array(rng, dt, shape):
    dt = np.dtype(dt)
    if dt == np.bool_:
        a = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif dt.kind == "c":
        a = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    elif dt.kind == "f":
        a = rng.standard_normal(shape).astype(dt)
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    return julia_array(a)


def read_with_numpack(path, names=None):
    with numpack.NumPack(str(path)) as n:
        names = names or n.get_member_list()
        return {name: np.array(n.load(name)) for name in names}


def same(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"), (got, want)


# ------------------------------------------------------------------------------------------
# versions, codes
# ------------------------------------------------------------------------------------------
def test_versions_and_codes(api, header):
    d = header.defines
    assert api.version() == f"{d['NPK_VERSION_MAJOR']}.{d['NPK_VERSION_MINOR']}." \
        f"{d['NPK_VERSION_PATCH']}"
    assert api.version_number() == d["NPK_VERSION_MAJOR"] * 10000 + \
        d["NPK_VERSION_MINOR"] * 100 + d["NPK_VERSION_PATCH"]
    for code, dt in enumerate(ELTYPES):
        assert api.dtype_size(code) == dt.itemsize, JULIA_NAMES[code]
    assert api.dtype_size(14) == 0
    statuses = {v: k for k, v in d.items() if k.startswith("NPK_") and k in (
        "NPK_OK", "NPK_INVALID_ARGUMENT", "NPK_NOT_FOUND", "NPK_ALREADY_EXISTS",
        "NPK_DTYPE_MISMATCH", "NPK_SHAPE_MISMATCH", "NPK_IO", "NPK_CORRUPT", "NPK_LOCKED",
        "NPK_READ_ONLY", "NPK_BUSY", "NPK_OUT_OF_MEMORY", "NPK_BUFFER_TOO_SMALL",
        "NPK_INTERNAL", "NPK_NOT_DURABLE", "NPK_WRONG_MODE")}
    for code, name in statuses.items():
        assert api.status_str(code) == name
    assert api.status_str(99) == "NPK_UNKNOWN"


# ------------------------------------------------------------------------------------------
# whole arrays, column-major
# ------------------------------------------------------------------------------------------
SHAPES = [(7,), (4, 3), (3, 2, 5), (2, 3, 1, 2), (0,), (0, 3)]


@pytest.mark.parametrize("code", range(14), ids=JULIA_NAMES)
def test_save_column_major_numpy_reads_same_indices(api, tmp_path, code):
    rng = np.random.default_rng(code)
    dt = ELTYPES[code]
    arrays = {f"a{k}": rand_array(rng, dt, shape) for k, shape in enumerate(SHAPES)}
    zero_d = julia_array(rand_array(rng, dt, (1,))[0])  # Array{T,0}
    with api.Store(tmp_path / "s", create=True) as s:
        for name, a in arrays.items():
            assert a.flags.f_contiguous
            s.save_b(name, a)
        s.save_b("z", zero_d)
        for name, a in arrays.items():
            back = s.load(name)  # a new column-major Array
            assert back.flags.f_contiguous
            same(back, a)
            assert s.info(name)["shape"] == a.shape and s.info(name)["eltype"] == dt
        z = s.load("z")
        same(z, zero_d)
        assert z.ndim == 0
    got = read_with_numpack(tmp_path / "s", list(arrays))  # numpack 0.5.0 aborts on 0-d loads
    for name, a in arrays.items():
        same(got[name], np.ascontiguousarray(a))  # numpy arr[i-1, j-1] == Julia A[i, j]


def test_numpack_store_loads_column_major(api, tmp_path):
    rng = np.random.default_rng(7)
    want = {
        "f": rng.standard_normal((5, 4)),
        "i": np.arange(24, dtype=np.int16).reshape(2, 3, 4),
        "c": (rng.standard_normal(6) + 1j).astype(np.complex64),
        "b": rng.integers(0, 2, (3, 3)).astype(bool),
    }
    with numpack.NumPack(str(tmp_path / "np"), drop_if_exists=True) as n:
        n.save(want)
    with api.Store(tmp_path / "np", readonly=True) as s:
        assert s.keys() == sorted(want)
        for name, a in want.items():
            back = s.load(name)
            assert back.flags.f_contiguous
            same(back, a)
            same(s.get_rows(name, [2, 1]), a[[1, 0]])


def test_strided_and_permuted_inputs(api, tmp_path):
    base = julia_array(np.arange(60, dtype=np.float32).reshape(6, 10))
    sub = base[::2, ::-3]  # a strided SubArray with a negative step
    perm = np.ascontiguousarray(np.arange(12, dtype=np.int64).reshape(3, 4))  # PermutedDimsArray
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("sub", sub)
        s.save_b("perm", perm)
        same(s.load("sub"), np.array(sub))
        out = julia_array(np.zeros((3, 4), dtype=np.int64)).T.copy().T  # another layout for load!
        s.load_b("perm", out)
        same(out, perm)
    got = read_with_numpack(tmp_path / "s")
    same(got["sub"], np.array(sub))
    same(got["perm"], perm)


def test_row_operations_and_catalogue(api, tmp_path):
    a = julia_array(np.arange(30, dtype=np.float64).reshape(10, 3))
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", a)
        extra = julia_array([[100.0, 101.0, 102.0], [103.0, 104.0, 105.0]])
        s.append_b("a", extra)
        want = np.vstack([a, extra])
        same(s.load("a"), want)
        rows = julia_array([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
        s.replace_rows_b("a", [1, 12], rows)  # 1-based: the first and the last row
        want[[0, 11]] = rows
        same(s.get_rows("a", [12, 1, 5]), want[[11, 0, 4]])
        s.drop_rows_b("a", [2, 3])
        want = np.delete(want, [1, 2], axis=0)
        inf = s.info("a")
        assert inf["shape"] == (10, 3) and inf["physical_rows"] == 12 and not inf["segmented"]
        assert inf["nbytes"] == 10 * 3 * 8 and inf["modify_time_us"] > 0
        s.withview("a", lambda v: same(v, want))  # a private copy of the live rows
        s.compact_b("a")
        assert s.info("a")["physical_rows"] == 10
        s.clone_b("a", "b")
        s.save_b("c", julia_array([1, 2, 3], dtype=np.uint8))
        s.drop_rows_b("c", [1])
        s.compact_b()  # every array: Cstring(C_NULL)
        same(s.load("c"), np.array([2, 3], dtype=np.uint8))
        assert s.haskey("b") and not s.haskey("nope")
        assert s.keys() == ["a", "b", "c"] == s.list()
        with pytest.raises(NumPackError) as e:
            s.drop_b(["b", "missing"])  # all or none
        assert e.value.status == 2 and s.haskey("b")
        s.drop_b("c")
        s.drop_b(["b"])
        assert s.keys() == ["a"]
        same(s.load("a"), want)
        with pytest.raises(ValueError, match="1-based"):
            s.get_rows("a", [0])
    same(read_with_numpack(tmp_path / "s")["a"], want)


def test_list_of_many_names(api, tmp_path):
    names = sorted(f"array_{i:03d}_{'x' * (i % 7)}" for i in range(60))
    with api.Store(tmp_path / "s", create=True) as s:
        assert s.keys() == []
        for n in names:
            s.save_b(n, julia_array([1.0]))
        assert s.keys() == names


def test_withview_is_a_readonly_zero_copy_view(api, lib, tmp_path):
    a = julia_array(np.arange(24, dtype=np.int32).reshape(2, 3, 4))
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", a)
        seen = {}

        def look(v):
            same(v, a)
            seen["parent_f"] = v.T.flags.f_contiguous  # parent: reversed dims, column-major
            seen["parent_shape"] = v.T.shape
            return float(v.sum())

        assert s.withview("a", look) == float(a.sum())
        assert seen == {"parent_f": True, "parent_shape": (4, 3, 2)}
        raw = jlproxy.sized(lib.struct("NpkView"))
        assert lib.npk_view_open(s.handle, b"a", ctypes.byref(raw)) == 0
        assert raw.writable == 0 and raw.ndim == 3 and raw.itemsize == 4
        assert lib.npk_view_release(ctypes.byref(raw)) == 0
        assert raw.data is None and raw.ndim == 0  # released views are zeroed


# ------------------------------------------------------------------------------------------
# batches
# ------------------------------------------------------------------------------------------
def test_cache_batch_commits_on_success(api, lib, tmp_path):
    w = julia_array(np.arange(12, dtype=np.float64).reshape(4, 3))
    n = julia_array(np.arange(5, dtype=np.int32))
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("w", w)
        s.save_b("n", n)
        ptrs = []

        def work(b):
            for _ in range(3):
                v = b.load("w")  # PermutedDimsArray over the cached buffer
                assert v.shape == (4, 3) and not v.flags.owndata
                ptrs.append(v.ctypes.data)
                v *= 2
                b.save_b("w", v)  # its own pointer, C strides: marked changed, no copy
            longer = julia_array(np.arange(8, dtype=np.int32))
            b.save_b("n", longer)  # cache batches may change shapes
            same(b.load("n"), longer)
            b.save_b("new", julia_array([[1 + 2j, 3 - 4j]], dtype=np.complex128))
            return "done"

        assert api.batch(work, s) == "done"
        assert len(set(ptrs)) == 1, "the same view must come back without touching the disk"
        same(s.load("w"), w * 8)
    got = read_with_numpack(tmp_path / "s")
    same(got["w"], np.ascontiguousarray(w * 8))
    same(got["n"], np.arange(8, dtype=np.int32))
    same(got["new"], np.array([[1 + 2j, 3 - 4j]]))


def test_cache_batch_aborts_on_exception(api, tmp_path):
    w = julia_array(np.ones((3, 2)))
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("w", w)
        holder = {}

        def boom(b):
            holder["b"] = b
            v = b.load("w")
            v[:] = 7
            b.save_b("w", v)
            b.save_b("other", julia_array([1.0]))
            raise RuntimeError("user error")

        with pytest.raises(RuntimeError, match="user error"):
            api.batch(boom, s)
        assert holder["b"].handle is None  # aborted and freed
        same(s.load("w"), w)
        assert not s.haskey("other")
        s.save_b("after", julia_array([2.0]))  # not NPK_BUSY: the batch is over
    got = read_with_numpack(tmp_path / "s")
    same(got["w"], np.ascontiguousarray(w))
    assert "other" not in got


def test_cache_batch_with_memory_limit(api, tmp_path):
    big = {f"m{k}": julia_array(np.full((400, 400), float(k))) for k in range(4)}  # 1.28 MB each
    with api.Store(tmp_path / "s", create=True) as s:
        for name, a in big.items():
            s.save_b(name, a)

        def work(b):
            for name in big:
                v = b.load(name)
                v += 1
                b.save_b(name, v)

        api.batch(work, s, memory_limit_mb=1)
        for name, a in big.items():
            same(s.load(name), a + 1)
    got = read_with_numpack(tmp_path / "s")
    for name, a in big.items():
        same(got[name], np.ascontiguousarray(a + 1))


def test_writable_batch_writes_in_place(api, tmp_path):
    a = julia_array(np.arange(20, dtype=np.float32).reshape(5, 4))
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", a)
        s.save_b("d", julia_array(np.arange(6, dtype=np.int64)))
        s.drop_rows_b("d", [2])  # compacted when first loaded in a writable batch

        def work(b):
            v = b.load("a")
            v[0, :] = -1  # Julia v[1, :] .= -1
            v *= 10
            b.save_b("a", v)  # own pointer: no-op
            with pytest.raises(NumPackError) as e:
                b.save_b("a", julia_array(np.zeros((4, 4), dtype=np.float32)))
            assert e.value.status == 5 and e.value.name == "NPK_SHAPE_MISMATCH"
            with pytest.raises(NumPackError) as e:
                b.save_b("a", julia_array(np.zeros((5, 4), dtype=np.float64)))
            assert e.value.status == 4 and e.value.name == "NPK_DTYPE_MISMATCH"
            same(b.load("d"), np.array([0, 2, 3, 4, 5], dtype=np.int64))
            b.save_b("d", julia_array(np.array([9, 8, 7, 6, 5], dtype=np.int64)))  # copied in

        api.writable_batch(work, s)
        want = np.array(a)
        want[0, :] = -1
        want *= 10
        same(s.load("a"), want)

        def fail(b):
            b.load("a")[:] = 0  # in place: stays even though the batch aborts
            raise KeyError("x")

        with pytest.raises(KeyError):
            api.writable_batch(fail, s)
        same(s.load("a"), np.zeros_like(want))
    got = read_with_numpack(tmp_path / "s")
    same(got["a"], np.zeros((5, 4), dtype=np.float32))
    same(got["d"], np.array([9, 8, 7, 6, 5], dtype=np.int64))


def test_manual_batch_begin_commit_abort(api, tmp_path):
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("x", julia_array([1, 2, 3], dtype=np.int8))
        b = s.batch_begin()
        b.save_b("x", julia_array([4, 5], dtype=np.int8))
        b.commit_b()
        with pytest.raises(ValueError, match="already ended"):
            b.load("x")
        b.abort_b()  # no-op after the end
        same(s.load("x"), np.array([4, 5], dtype=np.int8))
        b = s.writable_batch_begin()
        b.load("x")[:] = 0
        b.abort_b()
        same(s.load("x"), np.array([0, 0], dtype=np.int8))


class _FileSizeLimit:
    """Makes file writes past `limit` bytes fail with EFBIG (SIGXFSZ ignored) while active."""

    def __init__(self, limit):
        import resource
        import signal

        self.resource, self.signal, self.limit = resource, signal, limit

    def __enter__(self):
        self.old_sig = self.signal.signal(self.signal.SIGXFSZ, self.signal.SIG_IGN)
        self.old = self.resource.getrlimit(self.resource.RLIMIT_FSIZE)
        self.resource.setrlimit(self.resource.RLIMIT_FSIZE, (self.limit, self.old[1]))

    def __exit__(self, *exc):
        self.resource.setrlimit(self.resource.RLIMIT_FSIZE, self.old)
        self.signal.signal(self.signal.SIGXFSZ, self.old_sig)


def test_failed_batch_end_aborts_in_the_do_block(api, tmp_path):
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", julia_array(np.zeros(10)))
        holder = {}

        def work(b):
            holder["b"] = b
            b.save_b("a", julia_array(np.ones(100_000)))  # 800 kB to stage at the end
            limit.__enter__()

        limit = _FileSizeLimit(100_000)
        try:
            e = err(lambda: api.batch(work, s), 6, "NPK_IO", "File too large")
        finally:
            limit.__exit__()
        assert holder["b"].handle is None  # aborted after the failed end
        same(s.load("a"), julia_array(np.zeros(10)))  # nothing committed
        s.save_b("b", julia_array([1.0]))  # and the batch is over (no NPK_BUSY)
        assert e.message


def test_failed_commit_keeps_the_batch_for_a_retry(api, tmp_path):
    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", julia_array(np.zeros(10)))
        b = s.batch_begin()
        b.save_b("a", julia_array(np.ones(100_000)))
        with _FileSizeLimit(100_000):
            err(b.commit_b, 6, "NPK_IO")
        assert b.handle is not None
        same(s.load("a"), julia_array(np.zeros(10)))
        b.commit_b()  # the retry commits
        assert b.handle is None
        same(s.load("a"), julia_array(np.ones(100_000)))
    same(read_with_numpack(tmp_path / "s")["a"], np.ones(100_000))


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------
def err(fn, status, name, *needles):
    with pytest.raises(NumPackError) as e:
        fn()
    assert (e.value.status, e.value.name) == (status, name), e.value
    for n in needles:
        assert n in e.value.message, (n, e.value.message)
    assert str(e.value).startswith(f"NumPackError: {name} ({status}): ")
    return e.value


def test_errors_carry_status_name_and_message(api, tmp_path):
    path = tmp_path / "s"
    err(lambda: api.Store(path), 2, "NPK_NOT_FOUND")  # no create=true
    s = api.Store(path, create=True)
    s.save_b("a", julia_array(np.zeros((3, 2))))
    err(lambda: s.load("missing"), 2, "NPK_NOT_FOUND", "missing")
    err(lambda: s.load_b("a", julia_array(np.zeros((3, 2), dtype=np.float32))), 4,
        "NPK_DTYPE_MISMATCH")
    err(lambda: s.load_b("a", julia_array(np.zeros((2, 3)))), 5, "NPK_SHAPE_MISMATCH")
    err(lambda: s.clone_b("a", "a"), 3, "NPK_ALREADY_EXISTS")
    err(lambda: s.save_b("a/b", julia_array([1.0])), 1, "NPK_INVALID_ARGUMENT")
    err(lambda: s.get_rows("a", [4]), 1, "NPK_INVALID_ARGUMENT")
    err(lambda: s.append_b("nope", julia_array([[1.0, 2.0]])), 2, "NPK_NOT_FOUND")
    err(lambda: api.Store(path), 8, "NPK_LOCKED")  # a second writer
    ro = api.Store(path, readonly=True)
    err(lambda: ro.save_b("b", julia_array([1.0])), 9, "NPK_READ_ONLY")
    err(lambda: ro.batch_begin(), 9, "NPK_READ_ONLY")
    b = s.batch_begin()
    err(lambda: s.save_b("b", julia_array([1.0])), 10, "NPK_BUSY")
    err(lambda: s.writable_batch_begin(), 10, "NPK_BUSY")
    err(lambda: b.load("missing"), 2, "NPK_NOT_FOUND", "missing")
    b.abort_b()
    with pytest.raises(TypeError):
        s.save_b("s", np.array(["text"]))  # not a NumPack element type: no library call
    ro.close()
    s.close()
    s.close()  # closing twice is a no-op
    with pytest.raises(ValueError, match="closed"):
        s.load("a")


def test_refresh_shows_other_commits(api, tmp_path):
    with api.Store(tmp_path / "s", create=True, durable=True) as w:
        w.save_b("a", julia_array([1.0, 2.0]))
        with api.Store(tmp_path / "s", readonly=True) as r:
            w.save_b("b", julia_array([3.0]))
            assert r.keys() == ["a"]
            r.refresh_b()
            assert r.keys() == ["a", "b"]
            same(r.load("b"), np.array([3.0]))


def test_library_writes_within_the_julia_structs(api, lib, tmp_path):
    """npk_info / npk_view_open / npk_batch_load write only sizeof(Julia struct) bytes, the
    struct_size `_sized` sets; without it (zero) the call is refused and nothing is written."""

    def guarded(st, struct_size):
        size = ctypes.sizeof(st)
        buf = (ctypes.c_uint8 * (2 * size))(*([0xA5] * (2 * size)))
        ctypes.c_uint32.from_buffer(buf).value = struct_size
        return size, buf, ctypes.cast(buf, ctypes.POINTER(st))

    with api.Store(tmp_path / "s", create=True) as s:
        s.save_b("a", julia_array(np.zeros((2, 3, 4), dtype=np.uint16)))
        for fn, jname in (("npk_info", "NpkArrayInfo"), ("npk_view_open", "NpkView")):
            st = lib.struct(jname)
            size, buf, ptr = guarded(st, 0)
            assert getattr(lib, fn)(s.handle, b"a", ptr) == 1  # NPK_INVALID_ARGUMENT
            assert "struct_size is 0" in api.last_error()
            assert bytes(buf[4:]) == b"\xa5" * (2 * size - 4), f"{fn} wrote into a refused struct"
            size, buf, ptr = guarded(st, ctypes.sizeof(st))
            assert getattr(lib, fn)(s.handle, b"a", ptr) == 0
            assert bytes(buf[size:]) == b"\xa5" * size, f"{fn} wrote past {jname}"
            v = ptr.contents
            assert v.struct_size == size
            assert (v.dtype, v.ndim, list(v.shape[:3])) == (2, 3, [2, 3, 4])
            if jname == "NpkView":
                assert list(v.strides[:3]) == [24, 8, 2] and v.nbytes == 48
                assert lib.npk_view_release(ptr) == 0
                assert v.struct_size == size and not v.owner and v.ndim == 0
        b = s.batch_begin()
        size, buf, ptr = guarded(lib.struct("NpkView"), ctypes.sizeof(lib.struct("NpkView")))
        assert lib.npk_batch_load(b.handle, b"a", ptr) == 0
        assert bytes(buf[size:]) == b"\xa5" * size
        b.abort_b()


# ------------------------------------------------------------------------------------------
# sized arrays and blocks: create!, s[name][5:8, :], s[name][5:8, :] = B
# ------------------------------------------------------------------------------------------
def test_create_and_block_slabs(api, tmp_path):
    model = (100 * np.arange(12)[:, None] + np.arange(5)).astype(np.float64)
    with api.Store(tmp_path / "s", create=True) as s:
        u = s.create_b("u", np.float64, 12, 5)       # create!(s, "u", Float64, 12, 5)
        assert u.size() == (12, 5)
        same(s.load("u"), np.zeros((12, 5)))
        for r in range(4):                           # four "ranks", slabs of 3 rows
            rows = JRange(3 * r + 1, 3 * r + 3)
            u.setindex_b(julia_array(model[3 * r:3 * r + 3]), rows, COLON)
        same(s.load("u"), model)
        h = s.getindex("u")                          # s["u"]: a handle, no data read
        a = h.getindex(JRange(5, 8), COLON)          # s["u"][5:8, :] == arr[4:8, :]
        same(a, model[4:8])
        assert a.flags.f_contiguous                  # a Julia Array
        same(h.getindex(5, COLON), model[4])         # an integer drops its dimension
        same(h.getindex(JRange(2, 4), 3), model[1:4, 2])
        assert h.getindex(5, 2) == model[4, 1]       # all integers: the element
        same(h.getindex(JRange(3, 2), COLON), np.zeros((0, 5)))  # an empty range reads nothing
        same(np.asarray(h.Array()), model)
        # writes: a vector into a row, a 1×n matrix into a row, a box, one element
        h.setindex_b(julia_array([-1.0, -2.0, -3.0]), 2, JRange(2, 4))
        h.setindex_b(julia_array(np.full((1, 5), 7.0)), 7, COLON)
        h.setindex_b(julia_array(-model[9:11, 3:5]), JRange(10, 11), JRange(4, 5))
        h.setindex_b(0.5, 12, 1)
        h.setindex_b(julia_array(np.array([1, 2, 3], dtype=np.int32)), 1, JRange(1, 3))  # converted
    model[1, 1:4] = [-1, -2, -3]
    model[6] = 7
    model[9:11, 3:5] *= -1
    model[11, 0] = 0.5
    model[0, 0:3] = [1, 2, 3]
    same(read_with_numpack(tmp_path / "s")["u"], model)


def test_block_every_dtype_and_rank(api, tmp_path):
    rng = np.random.default_rng(11)
    want = {}
    with api.Store(tmp_path / "s", create=True) as s:
        for dt, jname in zip(ELTYPES, JULIA_NAMES):
            fill = np.array(1, dtype=dt)[()]
            h = s.create_b(jname, dt, 4, 3, 2, fill=fill)
            same(h.getindex(COLON, COLON, COLON), julia_array(np.full((4, 3, 2), fill, dtype=dt)))
            box = rand_array(rng, dt, (2, 3, 1))
            h.setindex_b(box, JRange(2, 3), COLON, 2)      # B of size (2, 3, 1): the full count
            same(h.getindex(JRange(2, 3), COLON, 2), box[:, :, 0])
            w = np.full((4, 3, 2), fill, dtype=dt)
            w[1:3, :, 1] = box[:, :, 0]
            want[jname] = w
    got = read_with_numpack(tmp_path / "s")
    for name, w in want.items():
        same(got[name], w)


def test_block_dropped_rows_and_0d(api, tmp_path):
    with api.Store(tmp_path / "s", create=True) as s:
        base = np.arange(12.0).reshape(6, 2)
        s.save_b("d", julia_array(base))
        s.drop_rows_b("d", [2, 4])                      # logical rows are now 1, 3, 5, 6
        h = s.getindex("d")
        assert h.size() == (4, 2)
        same(h.getindex(JRange(2, 4), COLON), base[[2, 4, 5]])
        h.setindex_b(julia_array([-1.0, -2.0]), JRange(2, 3), 2)
        same(s.get_rows("d", [2, 3]), np.array([[4.0, -1.0], [8.0, -2.0]]))
        x = s.create_b("x", np.float64, fill=2.5)       # a 0-dimensional array
        assert x.size() == () and x.getindex() == 2.5   # x[]
        x.setindex_b(4.0)                               # x[] = 4.0
        assert s.getindex("x").getindex() == 4.0
        same(np.asarray(s.load("x")), np.array(4.0))


def test_block_errors(api, tmp_path):
    path = tmp_path / "s"
    with api.Store(path, create=True) as s:
        h = s.create_b("u", np.float64, 12, 5)
        h.setindex_b(julia_array(np.ones((12, 5))), COLON, COLON)
        with pytest.raises(NumPackError) as e:
            s.create_b("u", np.float64, 3)
        assert e.value.name == "NPK_ALREADY_EXISTS" and "u" in e.value.message
        with pytest.raises(NumPackError) as e:
            s.getindex("missing")
        assert e.value.name == "NPK_NOT_FOUND"
        with pytest.raises(IndexError, match="BoundsError"):
            h.getindex(JRange(10, 13), COLON)         # Julia checks the handle's size first
        with pytest.raises(IndexError, match="BoundsError"):
            h.setindex_b(julia_array(np.zeros((1, 5))), 0, COLON)
        with pytest.raises(ValueError, match="DimensionMismatch"):
            h.setindex_b(julia_array(np.zeros((2, 4))), JRange(1, 2), COLON)
        with pytest.raises(ValueError, match="single value to possibly many"):
            h.setindex_b(1.0, JRange(1, 2), COLON)
        with pytest.raises(TypeError):
            h.getindex(JRange(1, 2))                  # 1 index for a 2-dimensional array
        with pytest.raises(ValueError, match="negative size"):
            s.create_b("v", np.float64, 3, -1)
        # a stale handle: the library checks the array's current shape, names the dimension
        s.drop_rows_b("u", [1, 2, 3])
        with pytest.raises(NumPackError) as e:
            h.getindex(JRange(8, 12), COLON)
        assert e.value.name == "NPK_INVALID_ARGUMENT"
        assert "dimension 0: offset 7 + count 5 exceeds 9" in e.value.message
        with pytest.raises(NumPackError) as e:
            h.setindex_b(julia_array(np.zeros((1, 5))), 12, COLON)
        assert e.value.name == "NPK_INVALID_ARGUMENT" and "dimension 0" in e.value.message
        same(s.load("u"), np.ones((9, 5)))           # the refused write changed nothing
    with api.Store(path, readonly=True) as r:
        h = r.getindex("u")
        same(h.getindex(JRange(1, 2), COLON), np.ones((2, 5)))
        with pytest.raises(NumPackError) as e:
            h.setindex_b(julia_array(np.zeros((1, 5))), 1, COLON)
        assert e.value.name == "NPK_READ_ONLY"
        with pytest.raises(NumPackError) as e:
            r.create_b("v", np.float64, 3)
        assert e.value.name == "NPK_READ_ONLY"


def test_shared_in_place_writers(api, tmp_path):
    """`Store(path; shared=true)`: in-place writers, many at once; `locking=false`: no lock."""
    path = tmp_path / "s"
    model = (10 * np.arange(1, 7)[:, None] + np.arange(1, 4)).astype(np.int64)
    with api.Store(path, create=True) as rank0:
        rank0.create_b("u", np.int64, 6, 3)
        rank0.save_b("v", julia_array(np.zeros(3)))
    r0 = api.Store(path, shared=True)
    r1 = api.Store(path, shared=True)
    try:
        r0.getindex("u").setindex_b(julia_array(model[0:3]), JRange(1, 3), COLON)
        r1.getindex("u").setindex_b(julia_array(model[3:6]), JRange(4, 6), COLON)
        same(r1.getindex("u").getindex(COLON, COLON), model)
        r1.replace_rows_b("v", [2], julia_array([5.0]))
        for call, name in ((lambda: r0.create_b("w", np.float64, 2), "create"),
                           (lambda: r0.save_b("w", julia_array([1.0])), "save"),
                           (lambda: r1.append_b("v", julia_array([1.0])), "append"),
                           (lambda: r1.drop_b("v"), "drop"),
                           (lambda: r0.batch_begin(), "batch")):
            with pytest.raises(NumPackError) as e:
                call()
            assert e.value.name == "NPK_WRONG_MODE", name
        with pytest.raises(NumPackError) as e:
            api.Store(path)                           # the structural writer waits
        assert e.value.name == "NPK_LOCKED"
        with pytest.raises(NumPackError) as e:
            api.Store(path, shared=True, readonly=True)
        assert e.value.name == "NPK_INVALID_ARGUMENT"
    finally:
        r0.close()
        r1.close()
    got = read_with_numpack(path)
    same(got["u"], model)
    same(got["v"], np.array([0.0, 5.0, 0.0]))
    assert "w" not in got
    # locking=false really takes no lock: a second writer opens beside the first
    with api.Store(path) as w:
        with pytest.raises(NumPackError) as e:
            api.Store(path)
        assert e.value.name == "NPK_LOCKED"
        api.Store(path, locking=False).close()
        assert w.keys() == ["u", "v"]


# ------------------------------------------------------------------------------------------
# every function the Julia module calls is exercised
# ------------------------------------------------------------------------------------------
def test_tour_calls_every_ccalled_function(module, tmp_path):
    lib = jlproxy.RecordingLib(module)
    api = jlproxy.API(lib)
    api.version(), api.version_number(), api.dtype_size(11)
    with api.Store(tmp_path / "t", create=True) as s:
        s.save_b("a", julia_array(np.arange(6.0).reshape(3, 2)))
        s.load("a")
        s.append_b("a", julia_array([[6.0, 7.0]]))
        s.replace_rows_b("a", [1], julia_array([[0.5, 0.5]]))
        s.get_rows("a", [1, 2])
        s.drop_rows_b("a", [4])
        s.compact_b("a")
        s.clone_b("a", "b")
        s.haskey("a"), s.keys(), s.info("a"), s.refresh_b()
        s.withview("a", lambda v: v.copy())
        s.drop_b(["b"])
        h = s.create_b("c", np.float64, 2, 2, fill=1.0)
        h.setindex_b(julia_array([[2.0, 3.0]]), 1, COLON)
        s.getindex("c").getindex(JRange(1, 2), 1)
        api.batch(lambda b: b.save_b("a", b.load("a")), s)
        at = api.attrs(s, "a")
        at["k"] = 1
        at["k"], at.keys()
        del at["k"]

        def batch_attrs(b):
            api.attrs(b)["k"] = 2.0
            del api.attrs(b)["k"]

        api.batch(batch_attrs, s)
        api.writable_batch(lambda b: b.load("a"), s)
        b = s.batch_begin()
        b.abort_b()
        with pytest.raises(NumPackError):
            s.load("missing")  # npk_last_error, npk_status_str
    want = {c.func for c in module.ccalls}
    assert lib.called == want, f"not exercised: {sorted(want - lib.called)}"


def test_attributes_dictionary_access_and_batch(api, tmp_path):
    import json

    path = tmp_path / "attrs"
    with api.Store(path, create=True) as s:
        s.save_b("u", julia_array(np.arange(6.0).reshape(2, 3)))
        a = api.attrs(s)
        a["step"] = 100
        a["time"] = 2.5
        a["units"] = "m/s²"
        a["v"] = np.array([1.0, 2.0])
        a["iv"] = np.array([], np.int64)
        api.attrs(s, "u")["units"] = "K"
        assert a["step"] == 100 and isinstance(a["step"], int)
        assert a["time"] == 2.5 and isinstance(a["time"], float)
        assert a["units"] == "m/s²"
        assert list(a["v"]) == [1.0, 2.0] and a["v"].dtype == np.float64
        assert a["iv"].dtype == np.int64 and len(a["iv"]) == 0
        assert a.keys() == ["iv", "step", "time", "units", "v"]
        assert "step" in a and a.get("nope", 7) == 7
        del a["iv"]
        with pytest.raises(NumPackError) as e:
            a["iv"]
        assert e.value.status == 2  # NPK_NOT_FOUND

        def body(b):
            b.save_b("w", julia_array(np.ones(3)))
            api.attrs(b)["step"] = 101
            api.attrs(b, "w")["note"] = "from a batch"
            # Not visible before the end.
            assert a["step"] == 100

        api.batch(body, s)
        assert a["step"] == 101
        assert api.attrs(s, "w")["note"] == "from a batch"
    # Python reads them without libnumpack, and numpack 0.5.0 still opens the store.
    doc = json.load(open(path / "attributes.json"))
    assert doc["store"]["step"] == 101 and doc["store"]["time"] == 2.5
    assert doc["arrays"]["u"] == {"units": "K"}
    with numpack.NumPack(str(path)) as n:
        assert sorted(n.get_member_list()) == ["u", "w"]
        assert np.array_equal(n.load("u"), np.arange(6.0).reshape(2, 3))
