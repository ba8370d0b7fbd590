#!/usr/bin/env bash
# Installs the reference Python package the interop tests run against: numpack 0.5.0 from its
# wheel (a plain `pip install numpack` tries to build 0.7.0 from source and fails offline), plus
# numpy. The wheel's bundled OpenBLAS needs glibc 2.38; Debian 12 has 2.36, so it is swapped for
# Debian's build. numpack uses OpenBLAS only for vector search, never for storage.
set -euo pipefail
PY=${PYTHON:-python3}

if ! "$PY" -c 'import numpack, numpy, pytest, tree_sitter_julia' >/dev/null 2>&1; then
  # tree-sitter-julia: the Julia binding's syntax check (no Julia runtime can be installed here).
  "$PY" -m pip install --quiet --only-binary=:all: numpy 'numpack==0.5.0' pytest tree-sitter tree-sitter-julia
  if [ ! -e /usr/lib/x86_64-linux-gnu/libopenblas.so.0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null
    else
      echo "setup-python: need libopenblas0-pthread (run as root or install it)" >&2
      exit 1
    fi
  fi
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for lib in "$site"/numpack.libs/libopenblas*.so*; do
    [ -e "$lib" ] && cp /usr/lib/x86_64-linux-gnu/libopenblas.so.0 "$lib"
  done
fi
"$PY" -c 'import numpack, numpy; print("numpack", numpack.__version__, "numpy", numpy.__version__)'
