#!/usr/bin/env bash
# Checks an installed (or built) libnumpack the way a packager's tools see it:
#   check_abi.sh LIBDIR HEADER VERSION
# - the real file is libnumpack.so.VERSION with SONAME libnumpack.so.MAJOR;
# - libnumpack.so.MAJOR -> libnumpack.so.VERSION and libnumpack.so -> libnumpack.so.MAJOR;
# - the defined dynamic symbols are exactly the functions HEADER declares, each at NUMPACK_0
#   (a Rust or std symbol leaking out, or a header function missing, fails).
set -euo pipefail
libdir=$1 header=$2 version=$3
major=${version%%.*}
real=libnumpack.so.$version soname=libnumpack.so.$major
fail=0
bad() { echo "check_abi: $*" >&2; fail=1; }

[ -f "$libdir/$real" ] && [ ! -L "$libdir/$real" ] || bad "$libdir/$real is not a regular file"
[ "$(readlink "$libdir/$soname" || true)" = "$real" ] || bad "$soname does not link to $real"
[ "$(readlink "$libdir/libnumpack.so" || true)" = "$soname" ] || bad "libnumpack.so does not link to $soname"
got=$(readelf -d "$libdir/$real" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$got" = "$soname" ] || bad "SONAME is '$got', expected $soname"

# Functions the header declares, comments removed by the preprocessor.
declared=$(cc -E -P -x c "$header" | grep -oE '\bnpk_[A-Za-z0-9_]+[[:space:]]*\(' \
  | tr -d '( \t' | sort -u)
# objdump -T: ... section size version name; defined = section is not *UND*.
exported=$(objdump -T "$libdir/$real" | awk '$NF != "" && $0 !~ /\*UND\*/ && $(NF-1) ~ /NUMPACK_0|Base|^\(/ { print $(NF-1), $NF }')
exported_names=$(printf '%s\n' "$exported" | awk '$2 != "NUMPACK_0" { print $2 }' | sort -u)
unversioned=$(printf '%s\n' "$exported" | awk '$1 != "NUMPACK_0" && $2 != "NUMPACK_0" { print $2 }')
[ -z "$unversioned" ] || bad "exported without version NUMPACK_0: $unversioned"
if [ "$declared" != "$exported_names" ]; then
  bad "exported symbols differ from the header's functions (< header, > library):"
  diff <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_names") >&2 || true
fi
n=$(printf '%s\n' "$declared" | grep -c .)
[ "$n" -gt 20 ] || bad "only $n functions found in $header"
[ "$fail" -eq 0 ] && echo "check_abi: $real, SONAME $soname, links, $n symbols at NUMPACK_0 = header"
exit "$fail"
