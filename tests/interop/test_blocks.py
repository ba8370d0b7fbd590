"""Interop of sized arrays and block I/O with the Python `numpack` package (0.5.0).

A store whose arrays were made by npk_create and filled by npk_write_block (slabs of rows as MPI
ranks write them, interior boxes, Fortran-order sources) is a plain NumPack store: numpack opens
it and reads exactly the values written, zeros (or the fill value) where nothing was. And the
other way: npk_read_block of a numpack-written array, dropped rows included, gives numpack's
own slices.
"""

import numpy as np
import numpack
import pytest

import npk_ctypes as npk
from npk_ctypes import DTYPES, Store

assert numpack.__version__ == "0.5.0", numpack.__version__


def rand_array(rng, dt, shape):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    n = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(rng.bytes(n * dt.itemsize), dtype=dt).reshape(shape).copy()


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and (
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def box(offset, count):
    return tuple(slice(o, o + c) for o, c in zip(offset, count))


def test_numpack_reads_created_and_block_written_arrays(tmp_path):
    path = tmp_path / "s"
    rng = np.random.default_rng(11)
    want = {}
    with Store(path) as s:
        # A 2-D field written by four "ranks" in uneven slabs of rows, one rank's slab from a
        # Fortran-order array; the rows of a fifth slab never written stay zero.
        s.create("u", np.float64, (1001, 37))
        u = np.zeros((1001, 37))
        for first, rows in [(0, 251), (251, 250), (501, 250), (751, 200)]:
            slab = rng.standard_normal((rows, 37))
            if first == 251:
                slab = np.asfortranarray(slab)
            s.write_block("u", (first, 0), slab)
            u[first : first + rows] = slab
        want["u"] = u
        # A 3-D field with a fill value and an interior box written.
        s.create("rho", np.float32, (50, 6, 5), fill=-1.5)
        rho = np.full((50, 6, 5), -1.5, dtype=np.float32)
        b = rand_array(rng, np.float32, (20, 3, 2))
        s.write_block("rho", (10, 2, 1), b)
        rho[10:30, 2:5, 1:3] = b
        want["rho"] = rho
        # Every dtype: created with a fill, a box written from a reversed (negative-stride) array.
        for dt in DTYPES:
            fill = rand_array(rng, dt, ())
            a = np.full((7, 5), fill, dtype=dt)
            s.create(f"d_{dt.name}", dt, (7, 5), fill=fill)
            b = rand_array(rng, dt, (4, 3))[::-1]
            s.write_block(f"d_{dt.name}", (2, 1), b)
            a[2:6, 1:4] = b
            want[f"d_{dt.name}"] = a
        # Never written: numpack reads the sparse file as zeros.
        s.create("empty", np.int16, (300, 4))
        want["empty"] = np.zeros((300, 4), dtype=np.int16)
    with numpack.NumPack(str(path)) as n:
        assert sorted(n.get_member_list()) == sorted(want)
        for name, a in want.items():
            got = n.load(name)
            assert same_bytes(got, a), name
            assert n.get_shape(name) == a.shape


def test_block_reads_of_numpack_arrays_match_its_slices(tmp_path):
    path = tmp_path / "s"
    rng = np.random.default_rng(12)
    a = rand_array(rng, np.int32, (130, 4, 3))
    with numpack.NumPack(str(path), drop_if_exists=True) as n:
        n.save({"a": a})
        n.drop("a", [0, 5, 63, 64, 100])
        live = n.load("a")
    assert live.shape == (125, 4, 3)
    with Store(path) as s:
        blocks = [((0, 0, 0), (125, 4, 3)), ((3, 1, 1), (70, 2, 2)), ((60, 0, 2), (8, 4, 1))]
        for offset, count in blocks:
            assert same_bytes(s.read_block("a", offset, count), live[box(offset, count)])
            f = s.read_block("a", offset, count, order="F")
            assert same_bytes(np.ascontiguousarray(f), live[box(offset, count)])
        # Writing a block across the dropped rows: numpack sees it in the same logical rows.
        b = rand_array(rng, np.int32, (10, 4, 3))
        s.write_block("a", (58, 0, 0), b)
        live[58:68] = b
    with numpack.NumPack(str(path)) as n:
        assert same_bytes(n.load("a"), live)


def test_errors_name_the_dimension_through_ctypes(tmp_path):
    with Store(tmp_path / "s") as s:
        s.create("x", np.uint8, (4, 3))
        with pytest.raises(npk.NpkError) as e:
            s.write_block("x", (2, 1), np.zeros((3, 2), dtype=np.uint8))
        assert e.value.status == npk.NPK_INVALID_ARGUMENT
        assert "dimension 0: offset 2 + count 3 exceeds 4" in e.value.message
