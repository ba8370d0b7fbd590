#!/usr/bin/env bash
# The minimum Rust the README states (rust-version in Cargo.toml) builds the library and `npk`.
# Only those: the tests' cbindgen dev-dependency pulls serde_spanned 1.1.3 (edition 2024, Rust
# 1.85) through Cargo.lock, so the test suite needs 1.85 (README, "Requirements").
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "msrv.sh: no rust-version in Cargo.toml" >&2; exit 1; }
rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1 ||
  rustup toolchain install "$msrv" --profile minimal
# Its own target directory: a 1.82 build must not invalidate the everyday one.
cargo +"$msrv" check --lib --bins --locked --target-dir target/msrv
echo "msrv.sh: library and npk build with Rust $msrv"
