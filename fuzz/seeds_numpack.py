#!/usr/bin/env python3
"""Writes seed inputs made by the Python numpack 0.5.0 package into fuzz/corpus/.

    python3 fuzz/seeds_numpack.py

Each store numpack writes becomes: its metadata.npkm (metadata target), its deletion bitmaps
prefixed with the row count (bitmap target) and the whole directory packed in the store_dir
archive format (see parse_archive in fuzz/harness.rs: selector byte, u16 LE length, bytes; the
selector's low 5 bits index NAMES or are 31 for a name carried in the content)."""

import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np
import numpack

# Must match NAMES in fuzz/harness.rs (only the entries used here).
NAMES = {"metadata.npkm": 0, "data_a.npkd": 1, "deleted_a.npkb": 2, "data_b.npkd": 6,
         "deleted_b.npkb": 7}

CORPUS = Path(__file__).resolve().parent / "corpus"


def archive(files):
    out = bytearray()
    for name, content in files:
        idx = NAMES.get(name)
        if idx is None:
            raw = name.encode()
            content = bytes([len(raw)]) + raw + content
            idx = 31
        out += bytes([idx]) + struct.pack("<H", len(content)) + content
    return bytes(out)


def pack_dir(path):
    files = []
    for f in sorted(os.listdir(path)):
        p = Path(path) / f
        if p.is_file():
            files.append((f, p.read_bytes()))
    return files


def write(target, name, data):
    (CORPUS / target).mkdir(parents=True, exist_ok=True)
    (CORPUS / target / name).write_bytes(data)


def main():
    rng = np.random.default_rng(6)
    stores = {
        # name -> list of (op, args)
        "py_two_arrays": [("save", {"a": rng.integers(0, 100, (5, 3)).astype(np.int32),
                                    "b": rng.random(4)})],
        "py_drops": [("save", {"a": np.arange(130, dtype=np.int16).reshape(65, 2)}),
                     ("drop", ("a", [0, 5, 63, 64]))],
        "py_drop_append": [("save", {"a": np.arange(10, dtype=np.uint8)}),
                           ("drop", ("a", [9])), ("append", {"a": np.arange(3, dtype=np.uint8)})],
        "py_zero_d_bool": [("save", {"a": np.array(3.5), "b": np.array([True, False, True])})],
        "py_empty_c128": [("save", {"a": np.zeros((0, 2), dtype=np.complex128),
                                    "b": np.ones((2, 1, 2), dtype=np.complex64)})],
        "py_long_name": [("save", {"x_long-name.v2": np.arange(6, dtype=np.float16).reshape(3, 2)})],
    }
    for store_name, ops in stores.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "s"
            with numpack.NumPack(str(path), drop_if_exists=True) as n:
                for op, args in ops:
                    if op == "save":
                        n.save(args)
                    elif op == "drop":
                        n.drop(args[0], args[1])
                    elif op == "append":
                        n.append(args)
            files = pack_dir(path)
            write("store_dir", store_name, archive(files))
            shapes = {k: v for k, v in n_shapes(path).items()}
            for fname, content in files:
                if fname == "metadata.npkm":
                    write("metadata", store_name, content)
                elif fname.startswith("deleted_") and fname.endswith(".npkb"):
                    array = fname[len("deleted_"):-len(".npkb")]
                    rows = shapes[array]
                    write("bitmap", f"{store_name}_{array}", struct.pack("<Q", rows) + content)


def n_shapes(path):
    """Physical first dimension of every array, as numpack records it."""
    with numpack.NumPack(str(path)) as n:
        meta = n.get_metadata()
    arrays = meta.get("arrays", meta)
    out = {}
    for name, m in arrays.items():
        shape = m["shape"] if isinstance(m, dict) else m
        out[name] = int(shape[0]) if len(shape) else 1
    return out


if __name__ == "__main__":
    sys.exit(main())
