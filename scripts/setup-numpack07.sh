#!/usr/bin/env bash
# Builds numpack 0.7.0 (the current release, the one that writes segmented arrays) from its sdist
# into a venv of its own, for the interop tests that run against it. The main Python keeps
# numpack 0.5.0, which the other interop tests use.
#
# Why from source: pip finds no 0.7.0 wheel that imports on this Python (3.11, glibc 2.36), and the
# sdist does not build as published: its `blas-src` dependency downloads OpenBLAS sources at build
# time. OpenBLAS serves only numpack's vector-search engine, never its storage, so the one patch
# (../shared/format.md §7) drops it: ndarray's `blas` feature, both `blas-src` lines, and the
# `extern crate blas_src;` that links it. Fat LTO and one codegen unit are turned off too: they
# change no storage behaviour and make the build several times longer on 2 cores.
#
# Idempotent: does nothing when the venv already imports numpack 0.7.0. Needs PyPI and crates.io.
# Output: the venv's python at $NUMPACK07_HOME/venv/bin/python (tests look there, or at
# $NUMPACK07_PYTHON when set).
set -euo pipefail
PY=${PYTHON:-python3}
HOME_DIR=${NUMPACK07_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/libnumpack/np07}
VENV=$HOME_DIR/venv
VPY=$VENV/bin/python

if [ -x "$VPY" ] && "$VPY" -c 'import numpack, sys; sys.exit(numpack.__version__ != "0.7.0")' >/dev/null 2>&1; then
  echo "numpack 0.7.0 already built: $VPY"
  exit 0
fi
command -v cargo >/dev/null 2>&1 || { echo "setup-numpack07: cargo is needed" >&2; exit 1; }

mkdir -p "$HOME_DIR"
[ -x "$VPY" ] || "$PY" -m venv "$VENV"
"$VPY" -m pip install --quiet --only-binary=:all: numpy 'maturin>=1.0,<2.0'

SRC=$HOME_DIR/numpack-0.7.0
if [ ! -f "$SRC/Cargo.toml" ]; then
  dl=$HOME_DIR/sdist
  mkdir -p "$dl"
  [ -f "$dl/numpack-0.7.0.tar.gz" ] ||
    "$VPY" -m pip download --quiet --no-deps --no-binary numpack 'numpack==0.7.0' -d "$dl"
  tar -xzf "$dl/numpack-0.7.0.tar.gz" -C "$HOME_DIR"
fi

# The patch, written so that running it twice changes nothing and an sdist that no longer matches
# fails loudly instead of building something else.
"$VPY" - "$SRC" <<'EOF'
import pathlib, re, sys
src = pathlib.Path(sys.argv[1])
cargo = src / "Cargo.toml"
text = cargo.read_text()
text = text.replace('ndarray = { version = "0.16", features = ["blas"] }', 'ndarray = "0.16"')
text = re.sub(r'(?m)^blas-src = .*\n', '', text)
text = text.replace('lto = "fat"', 'lto = false')
text = re.sub(r'(?m)^codegen-units = 1\b', 'codegen-units = 16', text)
cargo.write_text(text)
if 'blas' in re.sub(r'(?m)^\s*#.*$', '', text):
    sys.exit("setup-numpack07: Cargo.toml still mentions blas; the sdist changed")
simd = src / "src/vector_engine/simd_backend.rs"
code = simd.read_text()
code = re.sub(r'(?m)^extern crate blas_src;\n', '', code)
simd.write_text(code)
if re.search(r'(?m)^\s*extern crate blas_src', code):
    sys.exit("setup-numpack07: simd_backend.rs still links blas_src")
EOF

start=$(date +%s)
(cd "$SRC" && PATH="$VENV/bin:$PATH" "$VPY" -m pip install --quiet --no-build-isolation --no-deps .)
echo "numpack 0.7.0 built in $(( $(date +%s) - start )) s"
"$VPY" -c 'import numpack, sys; print("numpack", numpack.__version__, "at", sys.executable); sys.exit(numpack.__version__ != "0.7.0")'
