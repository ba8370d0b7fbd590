#!/usr/bin/env bash
# Installs into a temporary prefix and builds the quick start with pkg-config against it, shared
# and static, as a user's build would; then runs both and the installed npk.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAILED: $*"; fail=$((fail + 1)); fi; }

make -s install PREFIX="$prefix" >/dev/null
# SONAME, the links and the exported symbols, as installed.
check bash tests/install/check_abi.sh "$prefix/lib" include/numpack.h "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
for f in lib/libnumpack.so lib/libnumpack.a include/numpack.h bin/npk lib/pkgconfig/numpack.pc lib/pkgconfig/numpack-static.pc; do
  check test -e "$prefix/$f"
done
check test "$(pkg-config --modversion numpack)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"

# Shared: the documented one-liner, no LD_LIBRARY_PATH needed.
cc -std=c99 -Wall -Werror examples/quickstart.c $(pkg-config --cflags --libs numpack) -o "$work/shared"
check sh -c "ldd '$work/shared' | grep -q '$prefix/lib/libnumpack.so'"
check "$work/shared" "$work/shared.npk"

# Static: no libnumpack.so at run time.
cc -std=c99 -Wall -Werror examples/quickstart.c $(pkg-config --cflags --libs numpack-static) -o "$work/static"
check sh -c "! ldd '$work/static' | grep -q libnumpack"
check "$work/static" "$work/static.npk"

check sh -c "'$prefix/bin/npk' check '$work/static.npk' | grep -q healthy"
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
