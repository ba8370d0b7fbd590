"""julia/example.jl (the README snippet): only high-level calls, and the same steps replayed
through the ctypes proxy give what the example asserts. Julia itself is not run in CI."""

import re

import numpack
import numpy as np

import jlparse
from jlproxy import julia_array

# Base functions the example may call besides the module's own.
BASE_ALLOWED = {"push!", "joinpath", "mktempdir", "reshape", "collect", "fill", "println",
                "Int32", "Float64", "size", "length", "sum", "zeros", "ones"}


def test_example_calls_only_the_high_level_api(module):
    src = jlparse.JULIA_EXAMPLE.read_text()
    code = jlparse.strip_julia(src)
    for banned in ("ccall", "cglobal", "npk_", "Npk", "unsafe_", "Ptr{", "Cstring"):
        assert banned not in code, f"example.jl uses {banned!r}: it must stay on the high-level API"
    # julia/ holds Project.toml: the example loads the package, not a file
    assert re.search(r"^push!\(LOAD_PATH, @__DIR__\); using NumPack\b", src, re.M)
    assert jlparse.JULIA_EXAMPLE.parent == jlparse.JULIA_PACKAGE
    defined = {f.split(".")[-1] for f in module.functions} | module.exports
    calls = jlparse.called_names(code)
    unknown = set()
    for name in calls:
        if name.startswith("NumPack."):
            assert name.split(".", 1)[1] in module.functions, name
        elif name not in defined and name not in BASE_ALLOWED:
            unknown.add(name)
    assert not unknown, f"example.jl calls functions NumPack.jl does not define: {unknown}"
    used = calls & module.exports
    assert {"save!", "load", "batch", "writable_batch", "replace_rows!"} <= used, used


def test_example_says_julia_is_not_run_in_ci():
    src = jlparse.JULIA_EXAMPLE.read_text()
    assert re.search(r"^#.*Julia itself is NOT run in CI", src, re.M)


def test_readme_snippet_is_the_example():
    readme = jlparse.JULIA_README.read_text()
    blocks = re.findall(r"```julia\n(.*?)```", readme, re.S)
    assert blocks, "julia/README.md has no ```julia block"
    assert blocks[0] == jlparse.JULIA_EXAMPLE.read_text()
    assert len(blocks[0].splitlines()) <= 25


def test_example_replayed_through_the_proxy(api, tmp_path):
    path = tmp_path / "sim.npk"
    s = api.Store(path, create=True)
    try:
        field = julia_array(np.arange(1.0, 13.0).reshape(3, 4).T)  # reshape(collect(1.0:12.0), 4, 3)
        assert field[1, 0] == 2.0 and field[0, 1] == 5.0  # column-major fill, as Julia's reshape
        s.save_b("field", field)
        s.append_b("field", julia_array([[13.0, 14.0, 15.0]]))
        s.replace_rows_b("field", [1], julia_array(np.full((1, 3), -1.0)))
        assert list(s.load("field")[4, :]) == [13.0, 14.0, 15.0]  # load(s, "field")[5, :]

        def scale(b):
            a = b.load("field")
            a *= 2

        api.writable_batch(scale, s)
        api.batch(lambda b: b.save_b("steps", julia_array(np.arange(1, 11, dtype=np.int32))), s)
        assert s.load("field")[0, 0] == -2.0 and s.keys() == ["field", "steps"]
        assert s.info("field")["shape"] == (5, 3)
    finally:
        s.close()
    want = np.vstack([np.arange(1.0, 13.0).reshape(3, 4).T, [[13.0, 14.0, 15.0]]]) * 2
    want[0, :] = -2.0
    with numpack.NumPack(str(path)) as n:
        got = np.array(n.load("field"))
        steps = np.array(n.load("steps"))
    assert got.dtype == np.float64 and got.shape == (5, 3)
    assert np.array_equal(got, want)
    assert np.array_equal(steps, np.arange(1, 11, dtype=np.int32)) and steps.dtype == np.int32
