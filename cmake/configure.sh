#!/bin/sh
# Writes numpackConfig.cmake and numpackConfigVersion.cmake from their templates (called by
# `make install`):
#   configure.sh OUTDIR CMAKEDIR LIBDIR INCLUDEDIR DATADIR VERSION SONAME STATIC_LIBS
# OUTDIR is where the files go (DESTDIR included); the other paths are the installed ones. The
# config finds the library and headers relative to its own directory, so a moved prefix (or a
# DESTDIR staging tree) still works.
set -eu
out=$1 cmakedir=$2 libdir=$3 includedir=$4 datadir=$5 version=$6 soname=$7 static_libs=$8
here=$(dirname "$0")
rel() { realpath -ms --relative-to="$cmakedir" "$1"; }
# -lfoo -lbar -> -lfoo;-lbar, a CMake list
libs=$(printf '%s' "$static_libs" | tr -s ' ' ';')
major=${version%%.*}
sed -e "s|@REL_LIBDIR@|$(rel "$libdir")|g" -e "s|@REL_INCLUDEDIR@|$(rel "$includedir")|g" \
  -e "s|@REL_DATADIR@|$(rel "$datadir")|g" -e "s|@VERSION@|$version|g" \
  -e "s|@SONAME@|$soname|g" -e "s|@STATIC_LIBS@|$libs|g" \
  "$here/numpackConfig.cmake.in" > "$out/numpackConfig.cmake"
sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" \
  "$here/numpackConfigVersion.cmake.in" > "$out/numpackConfigVersion.cmake"
