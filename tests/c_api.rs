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
    after.remove(".npk.lock").expect("the writer took the lock");
    let lock = std::fs::read(dir.join(".npk.lock")).unwrap();
    assert_eq!(lock, std::process::id().to_string().into_bytes());
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

/// A caller's struct of `size` bytes at the start of a buffer of guard bytes (u64 for alignment).
fn guarded(size: usize) -> Vec<u64> {
    let mut buf = vec![u64::from_ne_bytes([0xA5; 8]); (size + 64).div_ceil(8)];
    // SAFETY: the buffer holds at least 4 bytes, aligned for u32.
    unsafe { buf.as_mut_ptr().cast::<u32>().write(size as u32) };
    buf
}

fn guard_intact(buf: &[u64], from: usize) -> bool {
    // SAFETY: reading the buffer's own bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), buf.len() * 8) };
    bytes[from..].iter().all(|&b| b == 0xA5)
}

fn struct_size(buf: &[u64]) -> usize {
    // SAFETY: the buffer starts with the u32 struct_size.
    unsafe { buf.as_ptr().cast::<u32>().read() as usize }
}

#[test]
fn structs_are_written_up_to_the_callers_struct_size_and_never_past_it() {
    let dir = TempDir::new("c_api_struct_size");
    let s = open(dir.path(), NPK_OPEN_CREATE).unwrap();
    let name = CString::new("a").unwrap();
    let shape = [2u64, 5];
    let v: Vec<f64> = (0..10).map(f64::from).collect();
    assert_eq!(
        npk_save(
            s,
            name.as_ptr(),
            NPK_FLOAT64,
            2,
            shape.as_ptr(),
            v.as_ptr().cast(),
            ptr::null()
        ),
        NPK_OK
    );
    let (view_size, info_size) = (
        std::mem::size_of::<npk_view>(),
        std::mem::size_of::<npk_array_info>(),
    );

    // The caller's own size (the first layout, today the header's): filled, nothing past it.
    let mut buf = guarded(info_size);
    assert_eq!(npk_info(s, name.as_ptr(), buf.as_mut_ptr().cast()), NPK_OK);
    // SAFETY: the library filled info_size bytes: a whole npk_array_info.
    let info = unsafe { &*buf.as_ptr().cast::<npk_array_info>() };
    assert_eq!(
        (info.struct_size as usize, info.dtype, info.ndim),
        (info_size, NPK_FLOAT64, 2)
    );
    assert_eq!((info.shape[0], info.shape[1], info.nbytes), (2, 5, 80));
    assert!(
        guard_intact(&buf, info_size),
        "npk_info wrote past the struct"
    );

    let mut buf = guarded(view_size);
    assert_eq!(
        npk_view_open(s, name.as_ptr(), buf.as_mut_ptr().cast()),
        NPK_OK
    );
    {
        // SAFETY: a whole npk_view was filled.
        let view = unsafe { &*buf.as_ptr().cast::<npk_view>() };
        assert_eq!(
            (view.struct_size as usize, view.ndim, view.nbytes),
            (view_size, 2, 80)
        );
        assert!(!view.owner.is_null());
    }
    assert!(
        guard_intact(&buf, view_size),
        "npk_view_open wrote past the struct"
    );
    assert_eq!(npk_view_release(buf.as_mut_ptr().cast()), NPK_OK);
    assert_eq!(struct_size(&buf), view_size, "release keeps struct_size");
    assert!(guard_intact(&buf, view_size));

    // A caller built against a newer, longer header: served the fields this library has, told
    // so by struct_size, its newer fields untouched.
    let mut buf = guarded(info_size + 16);
    assert_eq!(npk_info(s, name.as_ptr(), buf.as_mut_ptr().cast()), NPK_OK);
    assert_eq!(struct_size(&buf), info_size);
    assert!(guard_intact(&buf, info_size));

    // Sizes below the first layout: refused, nothing written.
    for bad in [0, 1, info_size - 1] {
        let mut buf = guarded(bad);
        assert_eq!(
            npk_info(s, name.as_ptr(), buf.as_mut_ptr().cast()),
            NPK_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains(&format!("struct_size is {bad}")),
            "{}",
            last_error()
        );
        assert!(guard_intact(&buf, 4));
    }
    let mut buf = guarded(0);
    let mut b = ptr::null_mut();
    assert_eq!(npk_batch_begin(s, 0, &mut b), NPK_OK);
    assert_eq!(
        npk_batch_load(b, name.as_ptr(), buf.as_mut_ptr().cast()),
        NPK_INVALID_ARGUMENT
    );
    assert!(last_error().contains("NPK_VIEW_INIT"), "{}", last_error());
    assert!(guard_intact(&buf, 4));
    assert_eq!(npk_batch_abort(b), NPK_OK);
    assert_eq!(npk_close(s), NPK_OK);
}
