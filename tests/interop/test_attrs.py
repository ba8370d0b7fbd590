"""Attributes set through the C ABI (ctypes) are read by Python in one line without libnumpack,
with int64, float64, strings, vectors and empty vectors telling apart as Python sees them; and
numpack 0.5.0, which knows nothing of attributes.json, still opens, lists and loads the store,
and writes to it without disturbing the file."""

import json
import math

import numpack
import numpy as np

from npk_ctypes import Store


def test_python_reads_attributes_set_from_c_and_numpack_ignores_them(tmp_path):
    path = tmp_path / "ckpt"
    u = np.arange(12.0).reshape(4, 3)
    with Store(path) as s:
        s.save("u", u)
        s.attr_set(None, "step", 100)
        s.attr_set(None, "whole", 1.0)
        s.attr_set(None, "time", 1e-7)
        s.attr_set(None, "big", 1e300)
        s.attr_set(None, "nan", float("nan"))
        s.attr_set(None, "inf", float("-inf"))
        s.attr_set(None, "code", "solver v2 \u00e9\u20ac \"quoted\"\n")
        s.attr_set(None, "ints", np.array([1, -(2**63), 2**63 - 1], np.int64))
        s.attr_set(None, "floats", np.array([0.5, 2.0]))
        s.attr_set(None, "no_ints", np.array([], np.int64))
        s.attr_set(None, "no_floats", np.array([], np.float64))
        s.attr_set("u", "units", "K")

    attrs = json.load(open(path / "attributes.json"))
    st = attrs["store"]
    assert st["step"] == 100 and type(st["step"]) is int
    assert st["whole"] == 1.0 and type(st["whole"]) is float
    assert st["time"] == 1e-7 and st["big"] == 1e300
    assert math.isnan(st["nan"]) and st["inf"] == float("-inf")
    assert st["code"] == "solver v2 \u00e9\u20ac \"quoted\"\n"
    assert st["ints"] == [1, -(2**63), 2**63 - 1] and all(type(x) is int for x in st["ints"])
    assert st["floats"] == [0.5, 2.0] and all(type(x) is float for x in st["floats"])
    assert st["no_ints"] == {"int64": []} and st["no_floats"] == {"float64": []}
    assert attrs["arrays"] == {"u": {"units": "K"}}
    assert attrs["format"] == "libnumpack-attributes" and attrs["version"] == 1

    before = (path / "attributes.json").read_bytes()
    with numpack.NumPack(str(path)) as n:
        assert n.get_member_list() == ["u"]
        assert np.array_equal(n.load("u"), u)
        n.save({"v": np.ones(3)})
    assert (path / "attributes.json").read_bytes() == before
    with Store(path) as s:
        assert s.list() == ["u", "v"]


def test_numpack_07_ignores_attributes_both_ways(tmp_path):
    """numpack 0.7.0 (built by scripts/setup-numpack07.sh, run in a child) opens a store with
    attributes, loads and saves into it and leaves attributes.json as it was; and attributes set
    by libnumpack on a segmented array numpack 0.7.0 wrote do not disturb it."""
    from test_numpack07 import np07

    path = tmp_path / "ckpt"
    u = np.arange(12.0).reshape(4, 3)
    with Store(path) as s:
        s.save("u", u)
        s.attr_set(None, "step", 7)
        s.attr_set("u", "units", "K")
    before = (path / "attributes.json").read_bytes()
    out = np07(
        """
        with NumPack(store) as n:
            out["names"] = np.array(sorted(n.get_member_list()))
            out["u"] = n.load("u")
            n.save({"v": np.ones(3)})
        """,
        path,
    )
    assert list(out["names"]) == ["u"] and np.array_equal(out["u"], u)
    assert (path / "attributes.json").read_bytes() == before
    assert json.load(open(path / "attributes.json"))["arrays"] == {"u": {"units": "K"}}

    # numpack 0.7.0 writes a segmented array; libnumpack annotates it; 0.7.0 still reads it.
    seg = tmp_path / "seg"
    big = np.arange(400.0).reshape(100, 4)
    np07("with NumPack(store, drop_if_exists=True) as n:\n    n.save({'big': inp['big']})\n",
         seg, arrays_in={"big": big})
    assert (seg / "data_big.npkseg").exists()
    with Store(seg) as s:
        s.attr_set("big", "source", "numpack 0.7.0")
    out = np07("with NumPack(store) as n:\n    out['big'] = n.load('big')\n", seg)
    assert np.array_equal(out["big"], big)
    assert json.load(open(seg / "attributes.json"))["arrays"]["big"] == {"source": "numpack 0.7.0"}
