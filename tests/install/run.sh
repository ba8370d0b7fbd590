#!/usr/bin/env bash
# The install as a packager and a user meet it (issue #12), from `make lib`'s artifacts:
#  - `make install` refuses to build: without artifacts it fails and says to run make lib;
#  - `make install DESTDIR=stage PREFIX=/opt/numpack` puts every file under stage/opt/numpack;
#    SONAME, links and exported symbols are checked there (check_abi.sh);
#  - pkg-config consumers (with PKG_CONFIG_SYSROOT_DIR, as distribution builds use a DESTDIR
#    tree): shared (NEEDED libnumpack.so.0) and fully static (`cc -static`, pkg-config --static);
#  - a CMake project (cmake_consumer/): C and C++, shared and static, via find_package;
#  - a patch release installed in place: the library rebuilt from a copy of this tree with the
#    patch version bumped, installed over the first one, the old real file deleted; the
#    programs linked before keep running, now on the new file;
#  - make install-strip strips; make uninstall leaves no file or link behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
pfx=/opt/numpack
inst=$stage$pfx
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAILED: $*"; fail=$((fail + 1)); fi; }

# install never builds.
mkdir "$work/empty"
check sh -c "! make -s install BUILT='$work/empty' DESTDIR='$work/x' 2>'$work/nobuild.err'"
check grep -q "run make lib first" "$work/nobuild.err"
check test ! -e "$work/x"

make -s install DESTDIR="$stage" PREFIX="$pfx" >/dev/null
check test -z "$(find "$stage" -mindepth 1 -maxdepth 1 ! -name opt)"
for f in lib/libnumpack.a include/numpack.h include/numpack.hpp bin/npk lib/pkgconfig/numpack.pc \
  lib/cmake/numpack/numpackConfig.cmake lib/cmake/numpack/numpackConfigVersion.cmake \
  share/numpack/fortran/numpack.f90 share/julia/NumPack/Project.toml share/julia/NumPack/src/NumPack.jl; do
  check test -f "$inst/$f"
done
check test ! -e "$inst/lib/pkgconfig/numpack-static.pc"
check bash tests/install/check_abi.sh "$inst/lib" include/numpack.h "$version"

# pkg-config, the way a distribution builds against a staged tree.
export PKG_CONFIG_PATH=$inst/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage
check test "$(pkg-config --modversion numpack)" = "$version"
check sh -c "! grep -q rpath '$inst/lib/pkgconfig/numpack.pc'"
check sh -c "pkg-config --static --libs numpack | grep -q -- -lpthread"
cc -std=c99 -Wall -Werror examples/quickstart.c $(pkg-config --cflags --libs numpack) -o "$work/pc_shared"
check sh -c "readelf -d '$work/pc_shared' | grep -q 'NEEDED.*\[libnumpack.so.$major\]'"
check sh -c "LD_LIBRARY_PATH='$inst/lib' '$work/pc_shared' '$work/pc_shared.npk' >/dev/null"
# Fully static: glibc's libc.a, libnumpack.a and the Libs.private; gcc adds -lgcc_eh itself.
# (glibc warns that getpwnam and friends would need the shared libc at run time; unused here.)
cc -static -std=c99 -Wall -Werror examples/quickstart.c $(pkg-config --static --cflags --libs numpack) \
  -o "$work/pc_static" 2>"$work/static.log" || { cat "$work/static.log"; false; }
check sh -c "readelf -d '$work/pc_static' 2>&1 | grep -q 'no dynamic section'"
check sh -c "'$work/pc_static' '$work/pc_static.npk' >/dev/null"
check sh -c "'$inst/bin/npk' check '$work/pc_static.npk' | grep -q healthy"
check sh -c "'$inst/bin/npk' --version | grep -qx 'npk $version'"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# CMake: find_package through the staged prefix (the config finds its files relative to itself).
cmake -S tests/install/cmake_consumer -B "$work/cmake" -DCMAKE_PREFIX_PATH="$inst" \
  -DNUMPACK_EXAMPLES="$repo/examples" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 \
  && cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; false; }
for p in quickstart_c quickstart_cpp; do
  check sh -c "readelf -d '$work/cmake/$p' | grep -q 'NEEDED.*\[libnumpack.so.$major\]'"
  check sh -c "'$work/cmake/$p' '$work/$p.npk' >/dev/null"
  check sh -c "! readelf -d '$work/cmake/${p}_static' | grep -q libnumpack"
  check sh -c "'$work/cmake/${p}_static' '$work/${p}_static.npk' >/dev/null"
done
# The version file: any 0.x from 0.1 on satisfies a request for 0.1; 1.0 and 0.2 do not.
cat >"$work/ver.cmake" <<CM
set(CMAKE_SIZEOF_VOID_P 8)
include("$inst/lib/cmake/numpack/numpackConfigVersion.cmake")
message("\${PACKAGE_VERSION_COMPATIBLE}")
CM
compat() { cmake -DPACKAGE_FIND_VERSION="$1" -DPACKAGE_FIND_VERSION_MAJOR="${1%%.*}" -P "$work/ver.cmake" 2>&1; }
check test "$(compat "$major.0")" = TRUE
check test "$(compat "$version")" = TRUE
check test "$(compat "$((major + 1)).0")" = FALSE
minor=$(echo "$version" | cut -d. -f2)
check test "$(compat "$major.$((minor + 1))")" = FALSE

# A patch release rebuilt and installed in place.
next=${version%.*}.$((${version##*.} + 1))
mkdir "$work/tree"
git ls-files -z --cached --others --exclude-standard | grep -zv '^target/' \
  | xargs -0 cp --parents -t "$work/tree"
sed -i "0,/^version = \"$version\"/s//version = \"$next\"/" "$work/tree/Cargo.toml"
make -s -C "$work/tree" lib >"$work/next.log" 2>&1 || { tail -20 "$work/next.log"; false; }
make -s -C "$work/tree" install DESTDIR="$stage" PREFIX="$pfx" >/dev/null
rm "$inst/lib/libnumpack.so.$version"
check bash tests/install/check_abi.sh "$inst/lib" include/numpack.h "$next"
check sh -c "LD_LIBRARY_PATH='$inst/lib' '$work/pc_shared' '$work/next_pc.npk' >/dev/null"
check sh -c "'$work/cmake/quickstart_cpp' '$work/next_cmake.npk' >/dev/null"
# ... and it is the new library that runs them.
check sh -c "LD_LIBRARY_PATH='$inst/lib' ldd '$work/pc_shared' | grep -q 'libnumpack.so.$major => $inst/lib/libnumpack.so.$major'"
check test "$(readlink -f "$inst/lib/libnumpack.so.$major")" = "$inst/lib/libnumpack.so.$next"

# Strip on request.
make -s install-strip DESTDIR="$work/stripped" PREFIX="$pfx" >/dev/null
check sh -c "! readelf -S '$work/stripped$pfx/lib/libnumpack.so.$version' | grep -q debug_info"
check sh -c "! readelf -S '$work/stripped$pfx/bin/npk' | grep -q debug_info"
check sh -c "readelf -S '$inst/bin/npk' | grep -q debug_info"

# Uninstall (the patch release's tree, which is what is installed now): nothing left.
make -s -C "$work/tree" uninstall DESTDIR="$stage" PREFIX="$pfx" >/dev/null
left=$(find "$stage" ! -type d)
check test -z "$left"
[ -z "$left" ] || echo "left after uninstall: $left"
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
