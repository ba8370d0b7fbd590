"""Fixtures for the Julia binding checks (julia/src/NumPack.jl via a ctypes proxy; see jlproxy.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jlparse  # noqa: E402
import jlproxy  # noqa: E402


@pytest.fixture(scope="session")
def module():
    return jlparse.parse_julia_module()


@pytest.fixture(scope="session")
def header():
    return jlparse.parse_header()


@pytest.fixture(scope="session")
def lib(module):
    path = jlproxy.library_path()
    if not path.exists():
        pytest.fail(f"{path} not found: run `cargo build --release --lib` (or set $LIBDIR)")
    return jlproxy.RecordingLib(module, path)


@pytest.fixture(scope="session")
def api(lib):
    return jlproxy.API(lib)
