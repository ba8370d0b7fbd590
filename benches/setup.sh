# Sourced by run.sh and parallel.sh (with $root set): a fresh run directory $work under $base =
# BENCH_DIR (deleted at exit unless KEEP=1), the library built and copied privately to
# $work/bin, and $rev naming the library commit for the report.
bench_setup() { # work-directory prefix
    base=${BENCH_DIR:-/tmp}
    mkdir -p "$base"
    work=$(mktemp -d "$base/$1.XXXXXX")
    trap 'if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; fi' EXIT

    (cd "$root" && cargo build --release --lib --quiet)
    rev=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(cd "$root" && git status --porcelain --untracked-files=no -- src Cargo.toml 2>/dev/null)" ]; then
        rev="$rev + uncommitted changes in src/"
    fi
    mkdir -p "$work/bin"
    # A private copy: other builds of target/ during the run cannot change the library under test.
    cp "$root/target/release/libnumpack.so" "$work/bin/"
    # The cdylib carries SONAME libnumpack.so.<major> (build.rs): what the binaries ask for at run time.
    local soname
    soname=$(readelf -d "$work/bin/libnumpack.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [ -n "$soname" ]; then ln -sf libnumpack.so "$work/bin/$soname"; fi
}
