//! The C API driven from Rust, for behaviour that lives in the entry points themselves.

use std::ffi::CString;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ffi::batch::*;
use crate::ffi::status::*;
use crate::ffi::store::*;
use crate::ffi::types::*;

static DIRS: AtomicUsize = AtomicUsize::new(0);

fn tmp(name: &str) -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("npk-ffi-unit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn open(dir: &std::path::Path) -> *mut npk_store {
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    let mut s = ptr::null_mut();
    assert_eq!(npk_open(path.as_ptr(), NPK_OPEN_CREATE, &mut s), NPK_OK);
    s
}

fn names(s: *mut npk_store) -> u64 {
    let (mut needed, mut count) = (0u64, 0u64);
    assert_eq!(
        npk_list(s, ptr::null_mut(), 0, &mut needed, &mut count),
        NPK_OK
    );
    count
}

fn last_error() -> String {
    // SAFETY: npk_last_error returns a NUL-terminated string valid until the next failing call.
    unsafe { std::ffi::CStr::from_ptr(npk_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// NumPy refuses a shape whose nonzero dimensions overflow, wherever its zero dimension sits;
/// so do the plain save and both batches, and nothing reaches the store.
#[test]
fn shapes_refused_whatever_the_order_of_their_dimensions() {
    let dir = tmp("shapes");
    let s = open(&dir);
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
    assert_eq!(names(s), 0, "a refused shape must write nothing");
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
    assert_eq!(names(s), 1);
    assert_eq!(npk_close(s), NPK_OK);
    std::fs::remove_dir_all(&dir).unwrap();
}
