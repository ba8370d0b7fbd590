//! Attributes through the C ABI. Owners: `array` names an array, NULL means the store itself.
//! One generic setter and getter typed by `npk_attr_type` (so Fortran, C++ and Julia wrap one
//! entry point each), a query for type and length so a caller can size its buffer, a list in
//! `npk_list`'s two-call form, a delete, and the cache batch's setter and delete.

use std::ffi::{c_char, c_void};

use crate::attrs::{Kind, Value};
use crate::batch::Batch;
use crate::error::{Error, ErrorKind, Result};
use crate::ffi::args::{out, slice_arg, str_arg};
use crate::ffi::batch::{batch_arg, npk_batch};
use crate::ffi::guard;
use crate::ffi::status::npk_status;
use crate::ffi::store::{npk_store, store_arg};

/// The type of an attribute's value.
pub type npk_attr_type = i32;
/// One int64_t.
pub const NPK_ATTR_INT64: npk_attr_type = 1;
/// One double.
pub const NPK_ATTR_FLOAT64: npk_attr_type = 2;
/// UTF-8 text (may be empty); its length is in bytes, without a terminating NUL.
pub const NPK_ATTR_STRING: npk_attr_type = 3;
/// A vector of int64_t (may be empty).
pub const NPK_ATTR_INT64_VECTOR: npk_attr_type = 4;
/// A vector of double (may be empty).
pub const NPK_ATTR_FLOAT64_VECTOR: npk_attr_type = 5;

/// Longest attribute key, in bytes of UTF-8 (no NUL).
pub const NPK_ATTR_MAX_KEY: u64 = 255;
/// Largest attribute value in bytes: a string's, or 8 per vector element.
pub const NPK_ATTR_MAX_VALUE: u64 = 65536;
/// Most attributes on the store or on one array.
pub const NPK_ATTR_MAX_COUNT: u64 = 1024;

const _: () = {
    assert!(NPK_ATTR_INT64 == Kind::Int64 as i32);
    assert!(NPK_ATTR_FLOAT64 == Kind::Float64 as i32);
    assert!(NPK_ATTR_STRING == Kind::Str as i32);
    assert!(NPK_ATTR_INT64_VECTOR == Kind::Int64s as i32);
    assert!(NPK_ATTR_FLOAT64_VECTOR == Kind::Float64s as i32);
    assert!(NPK_ATTR_MAX_KEY as usize == crate::attrs::MAX_KEY_BYTES);
    assert!(NPK_ATTR_MAX_VALUE as usize == crate::attrs::MAX_VALUE_BYTES);
    assert!(NPK_ATTR_MAX_COUNT as usize == crate::attrs::MAX_ATTRS_PER_OWNER);
};

fn owner_arg<'a>(array: *const c_char) -> Result<Option<&'a str>> {
    if array.is_null() {
        Ok(None)
    } else {
        str_arg(array, "array").map(Some)
    }
}

/// The value `len` elements (bytes for a string) at `data` of type `t` describe.
fn value_arg(t: npk_attr_type, data: *const c_void, len: u64) -> Result<Value> {
    let scalar = |what: &str| -> Result<()> {
        if len != 1 {
            return Err(Error::invalid(format!(
                "a {what} scalar has len 1, got {len} (use the _VECTOR type for vectors)"
            )));
        }
        Ok(())
    };
    // A length past the limit is refused before the caller's memory is read.
    let bytes = if t == NPK_ATTR_STRING {
        len
    } else {
        len.saturating_mul(8)
    };
    if bytes > NPK_ATTR_MAX_VALUE {
        return Err(Error::invalid(format!(
            "attribute value of {bytes} bytes; the most allowed is {NPK_ATTR_MAX_VALUE} (a string's bytes, or 8 per vector element)"
        )));
    }
    Ok(match t {
        NPK_ATTR_INT64 => {
            scalar("int64")?;
            Value::Int64(slice_arg(data.cast::<i64>(), 1, "data")?[0])
        }
        NPK_ATTR_FLOAT64 => {
            scalar("float64")?;
            Value::Float64(slice_arg(data.cast::<f64>(), 1, "data")?[0])
        }
        NPK_ATTR_INT64_VECTOR => {
            Value::Int64s(slice_arg(data.cast::<i64>(), len, "data")?.to_vec())
        }
        NPK_ATTR_FLOAT64_VECTOR => {
            Value::Float64s(slice_arg(data.cast::<f64>(), len, "data")?.to_vec())
        }
        NPK_ATTR_STRING => {
            let b = slice_arg(data.cast::<u8>(), len, "data")?;
            Value::Str(
                std::str::from_utf8(b)
                    .map_err(|e| Error::invalid(format!("string attribute is not UTF-8: {e}")))?
                    .to_string(),
            )
        }
        t => return Err(Error::invalid(format!("unknown npk_attr_type {t}"))),
    })
}

/// Sets attribute `key` of `array` (NULL: of the store) to the value of type `type` at `data`:
/// `len` elements for numbers (1 for the scalar types), `len` bytes of UTF-8 for a string (no
/// NUL needed; `data` may be NULL when `len` is 0). Replaces any value of that key, whatever its
/// type. One atomic commit, like a save. NPK_INVALID_ARGUMENT for a key past
/// NPK_ATTR_MAX_KEY bytes, a value past NPK_ATTR_MAX_VALUE bytes, a new key on an owner that
/// has NPK_ATTR_MAX_COUNT, or text that is not UTF-8; NPK_NOT_FOUND for a missing array;
/// NPK_CORRUPT if the store's attributes.json is damaged (it is never overwritten then).
#[no_mangle]
pub extern "C" fn npk_attr_set(
    store: *mut npk_store,
    array: *const c_char,
    key: *const c_char,
    r#type: npk_attr_type,
    data: *const c_void,
    len: u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let value = value_arg(r#type, data, len)?;
        s.attr_set(owner_arg(array)?, str_arg(key, "key")?, value)
    })
}

/// Deletes attribute `key` of `array` (NULL: of the store); NPK_NOT_FOUND if it has none.
#[no_mangle]
pub extern "C" fn npk_attr_delete(
    store: *mut npk_store,
    array: *const c_char,
    key: *const c_char,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        s.attr_delete(owner_arg(array)?, str_arg(key, "key")?)
    })
}

/// Sets `*out_type` and `*out_len` (elements, 1 for a scalar; bytes for a string, without NUL)
/// of attribute `key`; NPK_NOT_FOUND when it does not exist.
#[no_mangle]
pub extern "C" fn npk_attr_query(
    store: *mut npk_store,
    array: *const c_char,
    key: *const c_char,
    out_type: *mut npk_attr_type,
    out_len: *mut u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let (t, l) = (out(out_type, "out_type")?, out(out_len, "out_len")?);
        let v = s.attr_get(owner_arg(array)?, str_arg(key, "key")?)?;
        *t = v.kind() as npk_attr_type;
        *l = v.len() as u64;
        Ok(())
    })
}

/// Copies attribute `key` into `buf` and sets `*out_len` as `npk_attr_query` does. `type`
/// says what the caller reads: NPK_ATTR_INT64 or NPK_ATTR_INT64_VECTOR read an int64 scalar or
/// vector into `int64_t buf[buf_len]`, the FLOAT64 types likewise into `double`, NPK_ATTR_STRING
/// the text plus a NUL into `char buf[buf_len]` (so `buf_len` must be at least len + 1). Another
/// type than the attribute's is NPK_DTYPE_MISMATCH (no conversions). With `buf` NULL only
/// `*out_len` is set; a `buf_len` too small is NPK_BUFFER_TOO_SMALL, with `*out_len` set.
#[no_mangle]
pub extern "C" fn npk_attr_get(
    store: *mut npk_store,
    array: *const c_char,
    key: *const c_char,
    r#type: npk_attr_type,
    buf: *mut c_void,
    buf_len: u64,
    out_len: *mut u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let slot = out(out_len, "out_len")?;
        let key = str_arg(key, "key")?;
        let v = s.attr_get(owner_arg(array)?, key)?;
        copy_out(key, &v, r#type, buf, buf_len, slot)
    })
}

fn copy_out(
    key: &str,
    v: &Value,
    t: npk_attr_type,
    buf: *mut c_void,
    buf_len: u64,
    slot: &mut u64,
) -> Result<()> {
    let want = match t {
        NPK_ATTR_INT64 | NPK_ATTR_INT64_VECTOR => "int64",
        NPK_ATTR_FLOAT64 | NPK_ATTR_FLOAT64_VECTOR => "float64",
        NPK_ATTR_STRING => "string",
        t => return Err(Error::invalid(format!("unknown npk_attr_type {t}"))),
    };
    let (bytes, elem, is): (&[u8], u64, &str) = match v {
        Value::Int64(n) => (bytemuck_i64(std::slice::from_ref(n)), 8, "int64"),
        Value::Int64s(n) => (bytemuck_i64(n), 8, "int64"),
        Value::Float64(x) => (bytemuck_f64(std::slice::from_ref(x)), 8, "float64"),
        Value::Float64s(x) => (bytemuck_f64(x), 8, "float64"),
        Value::Str(s) => (s.as_bytes(), 1, "string"),
    };
    if want != is {
        return Err(Error::new(
            ErrorKind::DtypeMismatch,
            format!("attribute {key:?} is of type {is}, read as {want}"),
        ));
    }
    let len = bytes.len() as u64 / elem;
    *slot = len;
    if buf.is_null() {
        return Ok(());
    }
    let need = if is == "string" { len + 1 } else { len };
    if buf_len < need {
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!("attribute {key:?} needs buf_len {need}, got {buf_len}"),
        ));
    }
    // SAFETY: buf holds buf_len >= need elements of `elem` bytes (caller contract, checked).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        if is == "string" {
            *buf.cast::<u8>().add(bytes.len()) = 0;
        }
    }
    Ok(())
}

fn bytemuck_i64(v: &[i64]) -> &[u8] {
    // SAFETY: i64 has no padding and every byte pattern is a valid u8; the length is exact.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn bytemuck_f64(v: &[f64]) -> &[u8] {
    // SAFETY: as in bytemuck_i64.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Writes the attribute keys of `array` (NULL: of the store), sorted, each followed by NUL, into
/// `buf` as `npk_list` does its names (`buf` NULL: sizes only; NPK_BUFFER_TOO_SMALL with both
/// sizes set when `buf_len` is short).
#[no_mangle]
pub extern "C" fn npk_attr_list(
    store: *mut npk_store,
    array: *const c_char,
    buf: *mut c_char,
    buf_len: u64,
    out_needed: *mut u64,
    out_count: *mut u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let needed_slot = out(out_needed, "out_needed")?;
        let count_slot = out(out_count, "out_count")?;
        let keys = s.attr_keys(owner_arg(array)?)?;
        crate::ffi::store::write_names(
            &keys,
            buf,
            buf_len,
            needed_slot,
            count_slot,
            "npk_attr_list",
        )
    })
}

/// As `npk_attr_set`, inside a cache batch: visible with the batch's arrays at
/// `npk_batch_end`, in the same commit, and discarded by `npk_batch_abort`. `array` may name an
/// array saved in this batch. A writable batch commits nothing: NPK_WRONG_MODE.
#[no_mangle]
pub extern "C" fn npk_batch_attr_set(
    batch: *mut npk_batch,
    array: *const c_char,
    key: *const c_char,
    r#type: npk_attr_type,
    data: *const c_void,
    len: u64,
) -> npk_status {
    guard(|| {
        let b = batch_arg(batch)?;
        let value = value_arg(r#type, data, len)?;
        let (array, key) = (owner_arg(array)?, str_arg(key, "key")?);
        match &mut *b.lock() {
            Batch::Cache(c) => c.attr_set(array, key, value),
            Batch::Writable(_) => Err(writable()),
        }
    })
}

/// As `npk_attr_delete`, inside a cache batch (committed at `npk_batch_end`).
#[no_mangle]
pub extern "C" fn npk_batch_attr_delete(
    batch: *mut npk_batch,
    array: *const c_char,
    key: *const c_char,
) -> npk_status {
    guard(|| {
        let b = batch_arg(batch)?;
        let (array, key) = (owner_arg(array)?, str_arg(key, "key")?);
        match &mut *b.lock() {
            Batch::Cache(c) => c.attr_delete(array, key),
            Batch::Writable(_) => Err(writable()),
        }
    })
}

fn writable() -> Error {
    Error::new(
        ErrorKind::WrongMode,
        "a writable batch commits nothing, so it cannot carry attributes; use a cache batch, or set them on the store after npk_batch_end",
    )
}
