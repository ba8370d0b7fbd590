//! Version functions and macros, checked against Cargo.toml by a unit test.

use std::ffi::c_char;

pub const NPK_VERSION_MAJOR: u32 = 0;
pub const NPK_VERSION_MINOR: u32 = 1;
pub const NPK_VERSION_PATCH: u32 = 0;

/// The library's version as "MAJOR.MINOR.PATCH" (static storage).
#[no_mangle]
pub extern "C" fn npk_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// MAJOR * 10000 + MINOR * 100 + PATCH of the library actually loaded, to compare with the
/// header's NPK_VERSION_* macros at run time.
#[no_mangle]
pub extern "C" fn npk_version_number() -> u32 {
    NPK_VERSION_MAJOR * 10000 + NPK_VERSION_MINOR * 100 + NPK_VERSION_PATCH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_match_cargo_toml() {
        assert_eq!(
            NPK_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            NPK_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            NPK_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: npk_version returns a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(npk_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
