//! Raw C arguments to checked Rust values. Every pointer is checked for NULL here and every
//! failure names the argument, so entry points stay a few lines long.

use std::ffi::{c_char, c_void, CStr};

use crate::error::{Error, Result};
use crate::ffi::types::{npk_dtype, NPK_MAX_DIMS};
use crate::format::DType;
use crate::layout::{Dst, Layout, Src};

/// A C string argument as UTF-8.
pub fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the C contract is a NUL-terminated string that outlives the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| {
        Error::invalid(format!(
            "{what} is not valid UTF-8: {:?}",
            String::from_utf8_lossy(c.to_bytes())
        ))
    })
}

/// A path argument: any bytes but NUL, as the OS allows.
pub fn path_arg<'a>(p: *const c_char, what: &str) -> Result<&'a std::path::Path> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: as in str_arg.
    let c = unsafe { CStr::from_ptr(p) };
    if c.to_bytes().is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    use std::os::unix::ffi::OsStrExt;
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(
        c.to_bytes(),
    )))
}

pub fn dtype_arg(code: npk_dtype) -> Result<DType> {
    u8::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| {
            Error::invalid(format!(
                "unknown dtype code {code} (valid: 0 to {})",
                DType::ALL.len() - 1
            ))
        })
}

/// Writes `value` through an out-parameter that must not be NULL.
pub fn out<T>(p: *mut T, what: &str) -> Result<&'static mut T> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} (out-parameter) is NULL")));
    }
    // SAFETY: non-NULL, and the C contract is a valid, writable, aligned T.
    Ok(unsafe { &mut *p })
}

pub fn slice_arg<'a, T>(p: *const T, len: u64, what: &str) -> Result<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its count is {len}"
        )));
    }
    let len =
        usize::try_from(len).map_err(|_| Error::invalid(format!("{what}: count too large")))?;
    // SAFETY: non-NULL; the C contract is `len` readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Shape and strides of a caller buffer.
pub fn layout_arg(
    ndim: u32,
    shape: *const u64,
    strides: *const i64,
    itemsize: usize,
) -> Result<Layout> {
    if ndim as usize > NPK_MAX_DIMS {
        return Err(Error::invalid(format!(
            "ndim {ndim} exceeds NPK_MAX_DIMS ({NPK_MAX_DIMS})"
        )));
    }
    let shape = slice_arg(shape, ndim as u64, "shape")?;
    let strides = if strides.is_null() {
        None
    } else {
        Some(slice_arg(strides, ndim as u64, "strides")?)
    };
    Layout::new(shape, strides, itemsize)
}

/// The byte range a layout touches around `data`, or an error for NULL with elements.
fn span(data: *const c_void, layout: &Layout, what: &str) -> Result<(isize, usize)> {
    let (lo, hi) = layout.extent()?;
    if hi > lo && data.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but shape {:?} has elements",
            layout.shape
        )));
    }
    Ok((lo as isize, (hi - lo) as usize))
}

/// A typed source buffer: dtype code, rank, shape, data and strides as the C API passes them.
pub fn typed_src<'a>(
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> Result<(DType, Src<'a>)> {
    let dtype = dtype_arg(dtype)?;
    let src = src_arg(
        data,
        layout_arg(ndim, shape, strides, dtype.size())?,
        "data",
    )?;
    Ok((dtype, src))
}

/// A typed destination buffer, as `typed_src`.
pub fn typed_dst<'a>(
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *mut c_void,
    strides: *const i64,
) -> Result<(DType, Dst<'a>)> {
    let dtype = dtype_arg(dtype)?;
    let dst = dst_arg(
        data,
        layout_arg(ndim, shape, strides, dtype.size())?,
        "data",
    )?;
    Ok((dtype, dst))
}

pub fn src_arg<'a>(data: *const c_void, layout: Layout, what: &str) -> Result<Src<'a>> {
    let (lo, len) = span(data, &layout, what)?;
    let bytes: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the C contract is that `data` covers every element its shape and strides
        // reach; `extent` computed exactly that range without overflow.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>().offset(lo), len) }
    };
    Ok(Src {
        data: bytes,
        origin: (-lo) as usize,
        layout,
    })
}

pub fn dst_arg<'a>(data: *mut c_void, layout: Layout, what: &str) -> Result<Dst<'a>> {
    let (lo, len) = span(data, &layout, what)?;
    let bytes: &mut [u8] = if len == 0 {
        &mut []
    } else {
        // SAFETY: as in src_arg, for writable memory the caller owns during the call.
        unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>().offset(lo), len) }
    };
    Ok(Dst {
        data: bytes,
        origin: (-lo) as usize,
        layout,
    })
}
