//! The SONAME of the cdylib cargo builds, from the crate's major version.
//!
//! The version script cannot be applied here: rustc passes its own anonymous version script
//! first and GNU ld honours only the first, so `make lib` relinks libnumpack.a into the
//! versioned libnumpack.so.X.Y.Z with src/ffi/numpack.map (Makefile, target `lib`). This
//! SONAME only keeps a plain `cargo build` library consistent with that one.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets it for build scripts");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnumpack.so.{major}");
}
