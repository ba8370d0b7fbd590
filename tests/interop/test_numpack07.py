"""Interop tests against numpack 0.7.0, the current release (the other interop tests use 0.5.0).

0.7.0 is built from its sdist by scripts/setup-numpack07.sh into a venv of its own; its python
is $NUMPACK07_PYTHON or ~/.cache/libnumpack/np07/venv/bin/python. Its release build aborts the
process on some inputs of its own (panic = "abort"), so every numpack 0.7.0 call runs in a child
process: a script given on the command line, arrays passed both ways as .npy files.

0.7.0 stores an array larger than NUMPACK_SEGMENT_TARGET_BYTES (256 MiB by default) as segments
(format.md §5). The children set it to a few hundred bytes, and so does this process for
libnumpack (which reads the same variable to split its appends exactly as 0.7.0 does), so
segmented arrays stay small.
"""

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

import npk_ctypes as npk
from npk_ctypes import Store

SEGMENT_BYTES = 256
os.environ["NUMPACK_SEGMENT_TARGET_BYTES"] = str(SEGMENT_BYTES)

NP07 = Path(
    os.environ.get("NUMPACK07_PYTHON")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "libnumpack/np07/venv/bin/python"
)


def np07(script, store, arrays_in=None, workdir=None, segment_bytes=SEGMENT_BYTES):
    """Runs `script` with numpack 0.7.0 in a child; `store` is the store path, `inp` a dict of
    arrays given to it, `out` a dict whose arrays come back. Returns the dict `out`."""
    if not NP07.exists():
        pytest.fail(f"numpack 0.7.0 is not built: run scripts/setup-numpack07.sh ({NP07} missing)")
    work = Path(workdir or store).parent / (Path(store).name + ".xfer")
    work.mkdir(exist_ok=True)
    for k, v in (arrays_in or {}).items():
        np.save(work / f"in_{k}.npy", v)
    prelude = textwrap.dedent(
        """
        import sys, pathlib, numpy as np, numpack
        assert numpack.__version__ == "0.7.0", numpack.__version__
        from numpack import NumPack
        store, work = sys.argv[1], pathlib.Path(sys.argv[2])
        inp = {p.stem[3:]: np.load(p) for p in work.glob("in_*.npy")}
        out = {}
        """
    )
    epilogue = "\nfor k, v in out.items():\n    np.save(work / f'out_{k}.npy', v)\n"
    env = dict(os.environ, NUMPACK_SEGMENT_TARGET_BYTES=str(segment_bytes))
    r = subprocess.run(
        [str(NP07), "-c", prelude + textwrap.dedent(script) + epilogue, str(store), str(work)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, f"numpack 0.7.0 child failed ({r.returncode}):\n{r.stderr}"
    out = {p.stem[4:]: np.load(p) for p in work.glob("out_*.npy")}
    for p in work.iterdir():
        p.unlink()
    return out


def manifest_rows(store, name):
    import json

    text = (Path(store) / f"data_{name}.npkseg").read_text()
    return [s["rows"] for s in json.loads(text)["segments"]]


def rows(n, start=0, width=5, dtype=np.float64):
    return (np.arange(start * width, (start + n) * width, dtype=dtype)).reshape(n, width)


def test_a_store_libnumpack_writes_opens_in_numpack_07(tmp_path):
    store = tmp_path / "s"
    a = rows(7)
    b = np.arange(11, dtype=np.int32)
    with Store(str(store)) as s:
        s.save("a", a)
        s.save("b", b)
        s.append("b", np.array([99, 98], dtype=np.int32))
        s.drop_rows("a", [2])
    out = np07(
        """
        with NumPack(store) as p:
            out["a"] = p.load("a")
            out["b"] = p.load("b")
        """,
        store,
    )
    np.testing.assert_array_equal(out["a"], np.delete(a, 2, axis=0))
    np.testing.assert_array_equal(out["b"], np.concatenate([b, [99, 98]]).astype(np.int32))


def test_a_segmented_array_numpack_07_writes_opens_in_libnumpack(tmp_path):
    store = tmp_path / "s"
    big = rows(30)  # 30 rows of 40 bytes over 256-byte segments: 6 rows a segment
    small = np.arange(4, dtype=np.uint16)
    np07(
        """
        with NumPack(store, drop_if_exists=True) as p:
            p.save({"big": inp["big"], "small": inp["small"]})
        """,
        store,
        {"big": big, "small": small},
    )
    assert manifest_rows(store, "big") == [6, 6, 6, 6, 6]
    with Store(str(store), flags=0) as s:
        np.testing.assert_array_equal(s.load("big"), big)
        np.testing.assert_array_equal(s.load("small"), small)
        np.testing.assert_array_equal(s.get_rows("big", [5, 6, -1]), big[[5, 6, -1]])


def test_segmented_arrays_written_by_libnumpack_read_back_in_numpack_07(tmp_path):
    store = tmp_path / "s"
    big = rows(14)  # segments of 6 rows: 6, 6, 2
    np07(
        """
        with NumPack(store, drop_if_exists=True) as p:
            p.save({"big": inp["big"]})
        """,
        store,
        {"big": big},
    )
    assert manifest_rows(store, "big") == [6, 6, 2]
    expect = big.copy()
    with Store(str(store), flags=0) as s:
        # Append: 4 rows fill the last segment, 9 more make segments of 6 and 3.
        more = rows(13, start=100)
        s.append("big", more)
        expect = np.concatenate([expect, more])
        # In place, straddling segments: rows and a block.
        s.replace_rows("big", [5, 6, 20], -rows(3))
        expect[[5, 6, 20]] = -rows(3)
        blk = np.full((4, 2), 7.5)
        s.write_block("big", [10, 1], blk)
        expect[10:14, 1:3] = blk
        # Dropped rows, then another append.
        s.drop_rows("big", [0, 13])
        expect = np.delete(expect, [0, 13], axis=0)
        s.append("big", rows(1, start=500))
        expect = np.concatenate([expect, rows(1, start=500)])
        np.testing.assert_array_equal(s.load("big"), expect)
    assert manifest_rows(store, "big") == [6, 6, 6, 6, 4]
    out = np07(
        """
        with NumPack(store) as p:
            out["big"] = p.load("big")
            out["shape"] = np.array(p.get_shape("big"))
        """,
        store,
    )
    np.testing.assert_array_equal(out["big"], expect)
    assert tuple(out["shape"]) == expect.shape


def test_numpack_07_appends_after_libnumpack_appended_to_its_segments(tmp_path):
    store = tmp_path / "s"
    big = rows(8)
    np07(
        """
        with NumPack(store, drop_if_exists=True) as p:
            p.save({"big": inp["big"]})
        """,
        store,
        {"big": big},
    )
    with Store(str(store), flags=0) as s:
        s.append("big", rows(3, start=8))
    out = np07(
        """
        with NumPack(store) as p:
            p.append({"big": inp["more"]})
        with NumPack(store) as p:
            out["big"] = p.load("big")
        """,
        store,
        {"more": rows(5, start=11)},
    )
    np.testing.assert_array_equal(out["big"], rows(16))
    assert manifest_rows(store, "big") == [6, 6, 4]
    with Store(str(store), flags=0) as s:
        np.testing.assert_array_equal(s.load("big"), rows(16))


def test_batches_on_numpack_07_segments_read_back_in_numpack_07(tmp_path, monkeypatch):
    from test_batch_interop import Batch, Store as BatchStore

    # The segment size for both libraries here (a cache batch's save splits as 0.7.0 would).
    monkeypatch.setenv("NUMPACK_SEGMENT_TARGET_BYTES", "4096")

    store = tmp_path / "s"
    big = rows(200, width=8)  # rows of 64 bytes, segments of 4096: 64 rows, one page each
    odd = rows(200)  # rows of 40 bytes: segments of 102 rows, 4080 bytes, not whole pages
    np07(
        """
        with NumPack(store, drop_if_exists=True) as p:
            p.save({"big": inp["big"], "odd": inp["odd"]})
        """,
        store,
        {"big": big, "odd": odd},
        segment_bytes=4096,
    )
    assert manifest_rows(store, "big") == [64, 64, 64, 8]
    assert manifest_rows(store, "odd") == [102, 98]
    s = BatchStore(store, flags=0)
    with Batch(s, writable=True) as b:
        v = b.load("big")  # one pointer across four segment files
        v[60:70] *= -1
        v[-1] = 42.0
        o = b.load("odd")  # consolidated into one file first
        o[3] = 7.0
    big[60:70] *= -1
    big[-1] = 42.0
    with Batch(s, memory_limit_mb=64) as b:
        o = b.load("odd")
        o[4] = 8.0
        b.save("odd", o)
        g = b.load("big")  # rewritten at end as 0.7.0's save would: the same segments
        g[100] = 3.5
        b.save("big", g)
    s.close()
    big[100] = 3.5
    odd[3] = 7.0
    odd[4] = 8.0
    assert manifest_rows(store, "big") == [64, 64, 64, 8], "both batches kept the segments"
    assert not (store / "data_big.npkd").exists()
    out = np07(
        """
        with NumPack(store) as p:
            out["big"] = p.load("big")
            out["odd"] = p.load("odd")
        """,
        store,
    )
    np.testing.assert_array_equal(out["big"], big)
    np.testing.assert_array_equal(out["odd"], odd)
