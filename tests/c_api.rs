//! The C API driven from Rust, for what lives in the entry points and the header's contract
//! rather than in the core (the C suites in c_tests/ cover the rest).

mod common;

use std::ffi::{CStr, CString};
use std::path::Path;
use std::ptr;

use common::{fingerprint, TempDir};
use numpack::ffi::batch::*;
use numpack::ffi::status::*;
use numpack::ffi::store::*;
use numpack::ffi::types::*;

fn open(dir: &Path, flags: u32) -> Result<*mut npk_store, npk_status> {
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let mut s = ptr::null_mut();
    match npk_open(path.as_ptr(), flags, &mut s) {
        NPK_OK => Ok(s),
        st => Err(st),
    }
}

fn array_count(s: *mut npk_store) -> u64 {
    let (mut needed, mut count) = (0u64, 0u64);
    assert_eq!(
        npk_list(s, ptr::null_mut(), 0, &mut needed, &mut count),
        NPK_OK
    );
    count
}

fn last_error() -> String {
    // SAFETY: npk_last_error returns a NUL-terminated string valid until the next failing call.
    unsafe { CStr::from_ptr(npk_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// NumPy refuses a shape whose nonzero dimensions overflow, wherever its zero dimension sits;
/// so do the plain save and the cache batch, and nothing reaches the store.
#[test]
fn shapes_refused_whatever_the_order_of_their_dimensions() {
    let dir = TempDir::new("shapes");
    let s = open(&dir, NPK_OPEN_CREATE).unwrap();
    let name = c"x";
    let shapes: [&[u64]; 4] = [
        &[1 << 40, 1 << 30, 0],
        &[0, 1 << 62, 1 << 62],
        &[1 << 62, 0, 1 << 62],
        &[0, 1 << 62],
    ];
    for shape in shapes {
        let (ndim, sp) = (shape.len() as u32, shape.as_ptr());
        let (null, nulls) = (ptr::null(), ptr::null());
        let dtype = NPK_UINT16;
        assert_eq!(
            npk_save(s, name.as_ptr(), dtype, ndim, sp, null, nulls),
            NPK_INVALID_ARGUMENT,
            "npk_save {shape:?}"
        );
        assert!(last_error().contains("overflows the address space"));
        let mut b = ptr::null_mut();
        assert_eq!(npk_batch_begin(s, 0, &mut b), NPK_OK);
        assert_eq!(
            npk_batch_save(b, name.as_ptr(), dtype, ndim, sp, null, nulls),
            NPK_INVALID_ARGUMENT,
            "npk_batch_save {shape:?}"
        );
        assert_eq!(npk_batch_end(b), NPK_OK);
    }
    assert_eq!(array_count(s), 0, "a refused shape must write nothing");
    // An empty shape whose other dimensions fit is an ordinary empty array.
    let fits = [0u64, 1 << 31, 1 << 31];
    assert_eq!(
        npk_save(
            s,
            name.as_ptr(),
            NPK_UINT8,
            3,
            fits.as_ptr(),
            ptr::null(),
            ptr::null()
        ),
        NPK_OK
    );
    assert_eq!(array_count(s), 1);
    assert_eq!(npk_close(s), NPK_OK);
}

/// NPK_CORRUPT's contract: a read-only open writes nothing; a writer open writes only
/// `.npk.lock` (its pid), taken before the store is read.
#[test]
fn a_corrupt_store_is_left_as_found_but_for_the_writers_lock_file() {
    let dir = TempDir::new("corrupt");
    let s = open(&dir, NPK_OPEN_CREATE).unwrap();
    let one = [1u64];
    let v = [7i32];
    assert_eq!(
        npk_save(
            s,
            c"x".as_ptr(),
            NPK_INT32,
            1,
            one.as_ptr(),
            v.as_ptr().cast(),
            ptr::null()
        ),
        NPK_OK
    );
    assert_eq!(npk_close(s), NPK_OK);
    std::fs::write(dir.join("metadata.npkm"), b"not a catalogue").unwrap();
    std::fs::remove_file(dir.join(".npk.lock")).unwrap();

    let before = fingerprint(&dir);
    assert_eq!(open(&dir, NPK_OPEN_READ_ONLY).unwrap_err(), NPK_CORRUPT);
    assert_eq!(fingerprint(&dir), before, "a read-only open writes nothing");
    assert_eq!(open(&dir, 0).unwrap_err(), NPK_CORRUPT);
    let mut after = fingerprint(&dir);
    let lock = after.remove(".npk.lock").expect("the writer took the lock");
    assert_eq!(lock.4.unwrap(), std::process::id().to_string().into_bytes());
    assert_eq!(after, before, "nothing but the lock file changed");
}

/// A writable batch creates no array: saving one the store lacks is NPK_NOT_FOUND, and the
/// batch goes on.
#[test]
fn a_writable_batch_save_of_an_unknown_name_is_not_found() {
    let dir = TempDir::new("wb-unknown");
    let s = open(&dir, NPK_OPEN_CREATE).unwrap();
    let one = [1u64];
    let v = [7i32];
    let mut b = ptr::null_mut();
    assert_eq!(npk_writable_batch_begin(s, &mut b), NPK_OK);
    assert_eq!(
        npk_batch_save(
            b,
            c"nope".as_ptr(),
            NPK_INT32,
            1,
            one.as_ptr(),
            v.as_ptr().cast(),
            ptr::null()
        ),
        NPK_NOT_FOUND
    );
    assert!(last_error().contains("nope"), "{}", last_error());
    assert_eq!(npk_batch_end(b), NPK_OK);
    assert_eq!(array_count(s), 0);
    assert_eq!(npk_close(s), NPK_OK);
}
