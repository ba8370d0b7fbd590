//! Caller-allocated structs that may grow (`npk_view`, `npk_array_info`). Each starts with
//! `struct_size`, the caller's `sizeof`; the library writes only that many bytes, so a program
//! compiled against an older, shorter layout keeps working when fields are appended later.

use std::mem::{align_of, size_of};

use crate::error::{Error, Result};
use crate::ffi::types::{npk_array_info, npk_view};

/// A `#[repr(C)]` struct whose first field is `struct_size: u32`.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, start with a `u32` size field, be valid when all-zero, and
/// have `V1_SIZE <= size_of::<Self>()`.
pub(crate) unsafe trait Extensible: Sized {
    /// The C name, for messages.
    const NAME: &'static str;
    /// The header's init macro, for messages.
    const INIT: &'static str;
    /// `sizeof` of the first published layout: the smallest size the library serves, forever.
    const V1_SIZE: usize;
}

/// Rounds the end of a struct's last field up to its alignment, as `sizeof` does.
const fn padded(end: usize, align: usize) -> usize {
    end.div_ceil(align) * align
}

// SAFETY: repr(C), leading u32 struct_size, plain data (zero is valid); V1_SIZE asserted below.
unsafe impl Extensible for npk_view {
    const NAME: &'static str = "npk_view";
    const INIT: &'static str = "NPK_VIEW_INIT";
    // Frozen: the end of `owner`, the last field of the first layout. Fields appended later do
    // not move it.
    const V1_SIZE: usize = padded(
        std::mem::offset_of!(npk_view, owner) + size_of::<*mut std::ffi::c_void>(),
        align_of::<npk_view>(),
    );
}

// SAFETY: as for npk_view.
unsafe impl Extensible for npk_array_info {
    const NAME: &'static str = "npk_array_info";
    const INIT: &'static str = "NPK_ARRAY_INFO_INIT";
    // Frozen: the end of `physical_rows`, the last field of the first layout.
    const V1_SIZE: usize = padded(
        std::mem::offset_of!(npk_array_info, physical_rows) + size_of::<u64>(),
        align_of::<npk_array_info>(),
    );
}

// While no field has been appended the first layout is the whole struct. Appending a field
// makes these fail: then delete them (V1_SIZE stays what it was).
const _: () = assert!(<npk_view as Extensible>::V1_SIZE == size_of::<npk_view>());
const _: () = assert!(<npk_array_info as Extensible>::V1_SIZE == size_of::<npk_array_info>());

/// The caller's `struct_size` of `*p`: NPK_INVALID_ARGUMENT for NULL or a size below the first
/// layout's (0 above all: the caller forgot to set it).
pub(crate) fn caller_size<T: Extensible>(p: *const T, what: &str) -> Result<usize> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} (out-parameter) is NULL")));
    }
    // SAFETY: non-NULL; the C contract is an aligned struct of at least V1_SIZE bytes, and every
    // layout starts with the u32 struct_size.
    let n = unsafe { p.cast::<u32>().read() } as usize;
    if n < T::V1_SIZE {
        return Err(Error::invalid(format!(
            "{what}->struct_size is {n}: set it to sizeof({name}) before the call \
             ({name} x = {init};); the smallest size served is {v1}",
            name = T::NAME,
            init = T::INIT,
            v1 = T::V1_SIZE,
        )));
    }
    Ok(n)
}

/// Copies the first min(`caller`, sizeof) bytes of `value` to `dst` and stores that count in
/// `dst`'s struct_size: a caller built against a newer, longer layout learns which of its fields
/// this library wrote; the bytes past the count are not touched.
///
/// `caller` must come from `caller_size(dst)`.
pub(crate) fn write_prefix<T: Extensible>(dst: *mut T, caller: usize, value: &T) {
    let n = caller.min(size_of::<T>());
    // SAFETY: dst is non-NULL and holds `caller` >= n writable bytes (checked by caller_size and
    // the C contract); an untyped byte copy of a T, padding included, is fine; the size field is
    // an aligned u32 at offset 0.
    unsafe {
        std::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), dst.cast::<u8>(), n);
        dst.cast::<u32>().write(n as u32);
    }
}

/// Zeroes every byte of `*dst` after struct_size, up to `caller` bytes (`caller_size(dst)`), so
/// the struct can be passed again without being re-initialised.
pub(crate) fn zero_after_size<T: Extensible>(dst: *mut T, caller: usize) {
    // SAFETY: as in write_prefix: `caller` bytes of dst are writable; bytes 4.. are after the
    // u32 size.
    unsafe { std::ptr::write_bytes(dst.cast::<u8>().add(4), 0, caller - 4) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A later layout: the first one with a field appended, as a future library would have it.
    #[repr(C)]
    struct InfoV2 {
        v1: npk_array_info,
        extra: u64,
    }

    // SAFETY: repr(C), starts with npk_array_info (so with its u32 size), plain data.
    unsafe impl Extensible for InfoV2 {
        const NAME: &'static str = "InfoV2";
        const INIT: &'static str = "INFO_V2_INIT";
        const V1_SIZE: usize = <npk_array_info as Extensible>::V1_SIZE;
    }

    const GUARD: u8 = 0xA5;

    fn filled_v2() -> InfoV2 {
        // SAFETY: plain data, zero is valid.
        let mut v: InfoV2 = unsafe { std::mem::zeroed() };
        v.v1.dtype = 11;
        v.v1.ndim = 2;
        v.v1.shape[0] = 3;
        v.v1.shape[1] = 4;
        v.v1.nbytes = 96;
        v.v1.physical_rows = 3;
        v.extra = 0x1122_3344_5566_7788;
        v
    }

    #[test]
    fn an_older_caller_gets_exactly_its_fields_and_nothing_past_them() {
        // The caller's memory: a v1 struct followed by guard bytes a v2 library must not touch.
        let v1 = InfoV2::V1_SIZE;
        let mut buf = vec![GUARD; size_of::<InfoV2>() + 64];
        let dst = buf.as_mut_ptr().cast::<InfoV2>();
        assert_eq!(dst as usize % align_of::<InfoV2>(), 0);
        // SAFETY: buf is large enough and aligned (checked above).
        unsafe { dst.cast::<u32>().write(v1 as u32) };
        let n = caller_size(dst.cast_const(), "out_info").unwrap();
        assert_eq!(n, v1);
        write_prefix(dst, n, &filled_v2());
        // SAFETY: v1 bytes were written, and they form a whole npk_array_info.
        let got = unsafe { &*dst.cast::<npk_array_info>() };
        assert_eq!(got.struct_size as usize, v1);
        assert_eq!(
            (got.dtype, got.ndim, got.shape[0], got.shape[1]),
            (11, 2, 3, 4)
        );
        assert_eq!((got.nbytes, got.physical_rows), (96, 3));
        assert!(
            buf[v1..].iter().all(|&b| b == GUARD),
            "wrote past the caller's struct"
        );
    }

    #[test]
    fn a_newer_caller_learns_which_fields_were_written() {
        // A caller built against a v2 header, served by a library that knows only v1.
        let mut buf = vec![GUARD; size_of::<InfoV2>()];
        let dst = buf.as_mut_ptr().cast::<npk_array_info>();
        // SAFETY: buf is large enough and aligned for the u32 at offset 0.
        unsafe { dst.cast::<u32>().write(size_of::<InfoV2>() as u32) };
        let n = caller_size(dst.cast_const(), "out_info").unwrap();
        assert_eq!(n, size_of::<InfoV2>());
        write_prefix(dst, n, &filled_v2().v1);
        // SAFETY: the first v1 bytes were written.
        let got = unsafe { &*dst };
        assert_eq!(got.struct_size as usize, size_of::<npk_array_info>());
        assert_eq!(got.shape[1], 4);
        assert!(buf[size_of::<npk_array_info>()..]
            .iter()
            .all(|&b| b == GUARD));
    }

    #[test]
    fn sizes_below_the_first_layout_are_refused_with_the_fix_in_the_message() {
        for bad in [0u32, 1, 4, (npk_array_info::V1_SIZE - 1) as u32] {
            let mut buf = vec![0u64; size_of::<npk_array_info>() / 8 + 1];
            let p = buf.as_mut_ptr().cast::<npk_array_info>();
            // SAFETY: buf is large enough and aligned.
            unsafe { p.cast::<u32>().write(bad) };
            let e = caller_size(p.cast_const(), "out_info").unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument);
            assert!(
                e.message.contains(&format!("struct_size is {bad}")),
                "{}",
                e.message
            );
            assert!(e.message.contains("NPK_ARRAY_INFO_INIT"), "{}", e.message);
        }
        assert!(caller_size(std::ptr::null::<npk_view>(), "out_view").is_err());
    }
}
