//! `npk_store`: open, close, and every plain operation on a store.

use std::ffi::{c_char, c_void};

use crate::error::{Error, ErrorKind, Result};
use crate::ffi::args::{
    dst_arg, dtype_arg, layout_arg, out, path_arg, slice_arg, src_arg, str_arg, typed_dst,
    typed_src,
};
use crate::ffi::sized::{caller_size, write_prefix, zero_after_size};
use crate::ffi::types::*;
use crate::ffi::{guard, npk_status};
use crate::format::metadata::shape_bytes;
use crate::format::DType;
use crate::layout::Layout;
use crate::store::view::ReadView;
use crate::store::{OpenOptions, Store};

/// An open store. Thread-safe: any number of threads may share one handle and call any function
/// on it concurrently (writes are serialised inside), except `npk_close`, which frees it: it must
/// not run while another call on the handle is in progress, and a closed handle must not be used
/// again, not even closed again (its memory may already belong to a new handle, so the library
/// cannot tell). Created by `npk_open`, destroyed by `npk_close`.
pub struct npk_store {
    pub(crate) store: Store,
}

/// The store behind a handle; invalid argument for NULL, the one misuse that can be detected.
pub(crate) fn store_arg<'a>(p: *const npk_store) -> Result<&'a Store> {
    if p.is_null() {
        return Err(Error::invalid("store handle is NULL"));
    }
    // SAFETY: non-NULL; the C contract is a handle from npk_open that npk_close has not freed.
    Ok(unsafe { &(*p).store })
}

/// Opens (or with NPK_OPEN_CREATE creates) the store in directory `path`. Three modes:
/// - a structural writer (no mode flag), one at a time: every call. It takes the store's lock
///   exclusively (NPK_LOCKED if another handle holds it, or in-place writers do), which creates
///   `.npk.lock` or writes its pid into it, and then completes any commit a crash interrupted;
///   both happen before the store is read, so they have happened even when the open then fails
///   (NPK_CORRUPT, say).
/// - NPK_OPEN_SHARED, in-place writers, any number at once: in-place writes only (structural
///   calls return NPK_WRONG_MODE). They share the lock (NPK_LOCKED while a structural writer
///   holds it); the first one in recovers the store as a structural open would.
/// - NPK_OPEN_READ_ONLY takes no lock and writes nothing.
///
/// NPK_OPEN_NO_LOCKING skips the file locks (the caller guarantees the exclusion). A filesystem
/// that refuses locks gives NPK_IO with a message naming it and the opt-out.
#[no_mangle]
pub extern "C" fn npk_open(
    path: *const c_char,
    flags: u32,
    out_store: *mut *mut npk_store,
) -> npk_status {
    guard(|| {
        let path = path_arg(path, "path")?;
        let slot = out(out_store, "out_store")?;
        let known = NPK_OPEN_CREATE
            | NPK_OPEN_READ_ONLY
            | NPK_OPEN_DURABLE
            | NPK_OPEN_SHARED
            | NPK_OPEN_NO_LOCKING;
        if flags & !known != 0 {
            return Err(Error::invalid(format!(
                "unknown open flags {:#x}",
                flags & !known
            )));
        }
        let store = Store::open(
            path,
            OpenOptions {
                create: flags & NPK_OPEN_CREATE != 0,
                read_only: flags & NPK_OPEN_READ_ONLY != 0,
                durable: flags & NPK_OPEN_DURABLE != 0,
                shared: flags & NPK_OPEN_SHARED != 0,
                locking: flags & NPK_OPEN_NO_LOCKING == 0,
            },
        )?;
        *slot = Box::into_raw(Box::new(npk_store { store }));
        Ok(())
    })
}

/// Closes a handle and frees it (NULL is fine). Not to be called while another call on the
/// handle runs, nor twice: the handle is gone once this returns. Everything committed is already
/// on disk, but closing may still write: modify times that in-place writes (`npk_write_block`,
/// `npk_replace_rows`, a writable batch) left in the handle's catalogue go to `metadata.npkm` in
/// one last commit (for an NPK_OPEN_SHARED handle: merged with the catalogue on disk, as
/// npk_refresh does; best effort: a failure is not reported and loses only those times), and the handle's spare files
/// are deleted. That, and releasing the writer lock, happens when the store is last used: here,
/// or, if a batch begun on the store is still open, when that batch ends or aborts.
#[no_mangle]
pub extern "C" fn npk_close(store: *mut npk_store) -> npk_status {
    guard(|| {
        if !store.is_null() {
            // SAFETY: the C contract is a handle from npk_open, not yet closed and not in use by
            // another call; the caller gives up ownership here.
            drop(unsafe { Box::from_raw(store) });
        }
        Ok(())
    })
}

/// Creates or replaces array `name` with `ndim`/`shape` elements of `dtype` read from `data`.
/// `strides` (bytes, one per dimension) may be NULL for C-contiguous data; any strides work,
/// including Fortran order and negative ones. The data is copied before the call returns.
#[no_mangle]
pub extern "C" fn npk_save(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let (dtype, src) = typed_src(dtype, ndim, shape, data, strides)?;
        s.save(name, dtype, &src)
    })
}

/// Creates array `name` of `dtype` and shape `shape` (`ndim` entries; NULL for 0-d) without its
/// data, as HDF5's H5Dcreate does, to be filled by `npk_write_block` or `npk_replace_rows`. The
/// data file is only sized (sparse where the filesystem allows: no disk space is used until
/// written), and every element reads as zero until written; or, with `fill` non-NULL, as `*fill`
/// (one element of `dtype`; a non-zero fill is written out, which costs a full write). One atomic
/// commit, like `npk_save`: after a crash the array exists whole or not at all. The shape rules
/// are `npk_save`'s. NPK_ALREADY_EXISTS if the name is taken: drop the array first.
#[no_mangle]
pub extern "C" fn npk_create(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    fill: *const c_void,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let dtype = dtype_arg(dtype)?;
        let layout = layout_arg(ndim, shape, std::ptr::null(), dtype.size())?;
        let fill = (!fill.is_null()).then(|| {
            // SAFETY: non-NULL; the C contract is one element of `dtype`.
            unsafe { std::slice::from_raw_parts(fill.cast::<u8>(), dtype.size()) }
        });
        s.create(name, dtype, layout.shape(), fill)
    })
}

/// A block call's caller buffer: C-order bytes of shape `count` (NULL strides: no layout needs
/// building, which keeps small block calls at the cost of their pread), or any layout.
enum BlockBuf {
    C(usize),
    Laid(Layout),
}

/// The dtype, offset, count and buffer of a block call. A count no buffer can have (its size
/// overflows) is explained against the array first, naming the dimension at fault.
fn block_args<'a>(
    s: &Store,
    name: &str,
    dtype: npk_dtype,
    ndim: u32,
    offset: *const u64,
    count: *const u64,
    strides: *const i64,
) -> Result<(DType, &'a [u64], &'a [u64], BlockBuf)> {
    let dtype = dtype_arg(dtype)?;
    if ndim as usize > NPK_MAX_DIMS {
        return Err(Error::invalid(format!(
            "ndim {ndim} exceeds NPK_MAX_DIMS ({NPK_MAX_DIMS})"
        )));
    }
    let offset = slice_arg(offset, ndim as u64, "offset")?;
    let count = slice_arg(count, ndim as u64, "count")?;
    if strides.is_null() {
        if let Some(len) = shape_bytes(count, dtype.size() as u64) {
            return Ok((dtype, offset, count, BlockBuf::C(len as usize)));
        }
    }
    let strides = if strides.is_null() {
        None
    } else {
        Some(slice_arg(strides, ndim as u64, "strides")?)
    };
    match Layout::new(count, strides, dtype.size()) {
        Ok(layout) => Ok((dtype, offset, count, BlockBuf::Laid(layout))),
        Err(e) => {
            s.check_block(name, offset, count)?;
            Err(e)
        }
    }
}

/// `data` as the `len` bytes of a C-order block buffer; NULL is fine when there are none.
fn c_block_data<T>(data: *mut T, len: usize, count: &[u64]) -> Result<*mut u8> {
    if len > 0 && data.is_null() {
        return Err(Error::invalid(format!(
            "data is NULL but count {count:?} has elements"
        )));
    }
    Ok(data.cast())
}

/// `data` as the `len` writable bytes of a C-order buffer of shape `dims` (named `what` in the
/// error for NULL with elements).
fn c_buf<'a>(data: *mut c_void, len: usize, what: &str, dims: &[u64]) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if data.is_null() {
        return Err(Error::invalid(format!(
            "data is NULL but {what} {dims:?} has elements"
        )));
    }
    // SAFETY: non-NULL; the C contract is a buffer holding every element of `dims` in C order,
    // which is `len` bytes (computed without overflow, at most isize::MAX).
    Ok(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) })
}

/// Reads a block (hyperslab) of array `name` into `data`: `count[d]` elements from `offset[d]` on,
/// in each of the array's `ndim` dimensions (`ndim` must be the array's rank; for a 0-d array it
/// is 0 and `offset`/`count` may be NULL). Row numbers (dimension 0) are logical, as in
/// `npk_get_rows`: dropped rows are skipped. `data` has shape `count`; `strides` may be NULL (C
/// order) or describe any layout, as for `npk_load`. A count with a zero anywhere reads nothing
/// (`data` may then be NULL), but the offsets are still checked. A block past the array's shape,
/// or whose offset + count overflows, is NPK_INVALID_ARGUMENT with a message naming the dimension;
/// a wrong `ndim` names both ranks. A block of whole rows into a C-order buffer is one copy from
/// the store's mapping of the data file (up to 64 KiB) or one pread of those bytes (larger) when
/// no dropped row falls inside it. Segmented (numpack 0.7.0) arrays are read too.
#[no_mangle]
pub extern "C" fn npk_read_block(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    offset: *const u64,
    count: *const u64,
    data: *mut c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        match block_args(s, name, dtype, ndim, offset, count, strides)? {
            (dtype, offset, count, BlockBuf::C(len)) => s.read_block_c(
                name,
                dtype,
                offset,
                count,
                c_buf(data, len, "count", count)?,
            ),
            (dtype, offset, _, BlockBuf::Laid(layout)) => {
                s.read_block(name, dtype, offset, &mut dst_arg(data, layout, "data")?)
            }
        }
    })
}

/// Writes a block (hyperslab) of array `name` from `data`, in place; the block is given as for
/// `npk_read_block` (offset, count and logical rows; `data` of shape `count`, any strides). Every
/// argument is checked before the first byte is written, so a refused call changes nothing.
/// Like `npk_replace_rows`, this is an in-place write, not a commit: a crash (or an I/O error part
/// way, such as a full disk while filling a sparse array made by `npk_create`) may leave part of
/// the block written, and the catalogue stays consistent. The array's modify time goes into the
/// handle's catalogue at once and reaches `metadata.npkm` with the next commit or `npk_close`; a
/// count with a zero anywhere writes nothing and leaves the time alone. On a durable store the
/// written data is synced to disk before the call returns. A block of whole rows from a C-order buffer is one
/// pwrite of those bytes when no dropped row falls inside it. Segmented (numpack 0.7.0) arrays
/// are written in place in their segment files.
#[no_mangle]
pub extern "C" fn npk_write_block(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    offset: *const u64,
    count: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        match block_args(s, name, dtype, ndim, offset, count, strides)? {
            (dtype, offset, count, BlockBuf::C(len)) => {
                let p = c_block_data(data.cast_mut(), len, count)?;
                let bytes: &[u8] = if len == 0 {
                    &[]
                } else {
                    // SAFETY: as in npk_read_block, for a buffer the call only reads.
                    unsafe { std::slice::from_raw_parts(p, len) }
                };
                s.write_block_c(name, dtype, offset, count, bytes)
            }
            (dtype, offset, _, BlockBuf::Laid(layout)) => {
                s.write_block(name, dtype, offset, &src_arg(data, layout, "data")?)
            }
        }
    })
}

/// Reads array `name` into `data`. `dtype`, `ndim` and `shape` state what the caller expects
/// and must match the array's logical shape (NPK_DTYPE_MISMATCH / NPK_SHAPE_MISMATCH
/// otherwise); `strides` may be NULL (C order) or describe any layout, e.g. Fortran order.
#[no_mangle]
pub extern "C" fn npk_load(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *mut c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let (dtype, mut dst) = typed_dst(dtype, ndim, shape, data, strides)?;
        s.load(name, dtype, &mut dst)
    })
}

/// Appends rows: `shape` is (rows, rest of the array's shape). NPK_NOT_FOUND if the array does
/// not exist yet: save it first.
/// A numpack 0.7.0 segmented array stays segmented: the rows fill its last segment up to
/// numpack's target size (`NUMPACK_SEGMENT_TARGET_BYTES`, 256 MiB by default), then go to new
/// segment files, as numpack 0.7.0 appends; the manifest and catalogue commit atomically.
#[no_mangle]
pub extern "C" fn npk_append(
    store: *mut npk_store,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let (dtype, src) = typed_src(dtype, ndim, shape, data, strides)?;
        s.append(name, dtype, &src)
    })
}

/// Overwrites the rows at `indices` (logical; negative counts from the end) with `data` of
/// shape (count, rest of the array's shape), in place. `count` 0 is fine and writes nothing.
#[no_mangle]
pub extern "C" fn npk_replace_rows(
    store: *mut npk_store,
    name: *const c_char,
    indices: *const i64,
    count: u64,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let idx = slice_arg(indices, count, "indices")?;
        let (dtype, src) = typed_src(dtype, ndim, shape, data, strides)?;
        s.replace_rows(name, idx, dtype, &src)
    })
}

/// Reads the rows at `indices` (logical; negative from the end) into `data` of shape
/// (count, rest of the array's shape). `count` 0 is fine and reads nothing (`indices` and `data`
/// may then be NULL).
#[no_mangle]
pub extern "C" fn npk_get_rows(
    store: *mut npk_store,
    name: *const c_char,
    indices: *const i64,
    count: u64,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *mut c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let idx = slice_arg(indices, count, "indices")?;
        if strides.is_null() && ndim as usize <= NPK_MAX_DIMS {
            // A C-order buffer needs no layout: its size is the shape's.
            let dt = dtype_arg(dtype)?;
            let sh = slice_arg(shape, ndim as u64, "shape")?;
            if let Some(len) = shape_bytes(sh, dt.size() as u64) {
                let out = c_buf(data, len as usize, "shape", sh)?;
                return s.get_rows_c(name, idx, dt, sh, out);
            }
        }
        let (dtype, mut dst) = typed_dst(dtype, ndim, shape, data, strides)?;
        s.get_rows(name, idx, dtype, &mut dst)
    })
}

/// Removes arrays (files and catalogue entries), all of them or, if one is missing, none.
/// `count` must be at least 1: an empty list is NPK_INVALID_ARGUMENT, as it is usually a bug.
#[no_mangle]
pub extern "C" fn npk_drop(
    store: *mut npk_store,
    names: *const *const c_char,
    count: u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let ptrs = slice_arg(names, count, "names")?;
        let names = ptrs
            .iter()
            .enumerate()
            .map(|(i, &p)| str_arg(p, &format!("names[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        s.drop_arrays(&names)
    })
}

/// Marks rows deleted (logical indices, negative from the end). The array's logical shape
/// shrinks at once; the bytes stay in the file until `npk_compact`. `count` must be at least 1,
/// as for `npk_drop`: an empty list is NPK_INVALID_ARGUMENT and writes nothing.
#[no_mangle]
pub extern "C" fn npk_drop_rows(
    store: *mut npk_store,
    name: *const c_char,
    indices: *const i64,
    count: u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let idx = slice_arg(indices, count, "indices")?;
        s.drop_rows(name, idx)
    })
}

/// Rewrites an array without its deleted rows (NumPack's `update`); `name` NULL does every
/// array that has deleted rows or is segmented, in one commit. With nothing to compact it
/// returns NPK_OK and writes nothing.
#[no_mangle]
pub extern "C" fn npk_compact(store: *mut npk_store, name: *const c_char) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = if name.is_null() {
            None
        } else {
            Some(str_arg(name, "name")?)
        };
        s.compact(name)
    })
}

/// Copies array `src` (its live rows) to the new name `dst` (NPK_ALREADY_EXISTS if taken).
#[no_mangle]
pub extern "C" fn npk_clone(
    store: *mut npk_store,
    src: *const c_char,
    dst: *const c_char,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        s.clone_array(str_arg(src, "src")?, str_arg(dst, "dst")?)
    })
}

/// Sets `*out_exists` to 1 if array `name` exists, else 0.
#[no_mangle]
pub extern "C" fn npk_has(
    store: *mut npk_store,
    name: *const c_char,
    out_exists: *mut i32,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        crate::store::check_read_name(name, || s.has(name))?;
        *out(out_exists, "out_exists")? = s.has(name) as i32;
        Ok(())
    })
}

/// Writes the array names, sorted, each followed by NUL, into `buf` (`buf_len` bytes) and sets
/// `*out_needed` to the bytes needed and `*out_count` to the number of names. With `buf` NULL it
/// only reports sizes; if `buf_len` is too small it returns NPK_BUFFER_TOO_SMALL, still setting
/// both out-parameters.
#[no_mangle]
pub extern "C" fn npk_list(
    store: *mut npk_store,
    buf: *mut c_char,
    buf_len: u64,
    out_needed: *mut u64,
    out_count: *mut u64,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let needed_slot = out(out_needed, "out_needed")?;
        let count_slot = out(out_count, "out_count")?;
        write_names(&s.list(), buf, buf_len, needed_slot, count_slot, "npk_list")
    })
}

/// Fills `*out_info` with the array's dtype, logical shape, size and modify time. Set
/// `out_info->struct_size` first (NPK_ARRAY_INFO_INIT): the library writes that many bytes at most.
#[no_mangle]
pub extern "C" fn npk_info(
    store: *mut npk_store,
    name: *const c_char,
    out_info: *mut npk_array_info,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let size = caller_size(out_info, "out_info")?;
        let info = s.info(name)?;
        let mut shape = [0u64; NPK_MAX_DIMS];
        shape[..info.shape.len()].copy_from_slice(&info.shape);
        let value = npk_array_info {
            struct_size: 0,
            dtype: info.dtype.code() as npk_dtype,
            ndim: info.shape.len() as u32,
            segmented: info.segmented as i32,
            shape,
            nbytes: info.nbytes,
            modify_time_us: info.modify_time_us,
            physical_rows: info.physical_rows,
        };
        write_prefix(out_info, size, &value);
        Ok(())
    })
}

/// Re-reads the store so a read-only handle sees other processes' commits (a structural writer
/// always sees its own; for it this does nothing). An in-place writer (NPK_OPEN_SHARED) first
/// records the modify times of the arrays it wrote in `metadata.npkm` (each raised to the later of
/// its own and the one on disk, one atomic rename), then re-reads the catalogue, so it also sees
/// the times the other in-place writers recorded.
#[no_mangle]
pub extern "C" fn npk_refresh(store: *mut npk_store) -> npk_status {
    guard(|| store_arg(store)?.refresh())
}

/// The item size in bytes of a dtype code, 0 for an unknown code.
#[no_mangle]
pub extern "C" fn npk_dtype_size(dtype: npk_dtype) -> u64 {
    dtype_arg(dtype).map(|d| d.size() as u64).unwrap_or(0)
}

pub(crate) fn fill_view(
    v: &mut npk_view,
    data: *mut c_void,
    dtype: crate::format::DType,
    shape: &[u64],
    writable: bool,
) {
    let item = dtype.size();
    v.data = data;
    v.dtype = dtype.code() as npk_dtype;
    v.ndim = shape.len() as u32;
    v.shape = [0; NPK_MAX_DIMS];
    v.strides = [0; NPK_MAX_DIMS];
    v.shape[..shape.len()].copy_from_slice(shape);
    // c_strides without its allocation: batch loads fill a view per call.
    let mut acc = item as i64;
    for i in (0..shape.len()).rev() {
        v.strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1) as i64);
    }
    v.itemsize = item as u64;
    v.nbytes = shape.iter().product::<u64>() * item as u64;
    v.writable = writable as i32;
}

/// A read-only view of the array's committed content: a shared mapping of its data file when it
/// has no deleted rows (no copy; "lazy load"; for a numpack 0.7.0 segmented array, its segment
/// files mapped side by side when every segment but the last is whole pages), otherwise a
/// private copy of its live rows. The
/// view is a snapshot: later commits replace files and do not change it, but in-place writes
/// (`npk_replace_rows`, writable batches) to the same file are visible through a mapping.
/// Release it with `npk_view_release`; the store may be closed before. A mapping cannot report
/// errors: if another program truncates the file, reading the lost pages raises SIGBUS. Set
/// `out_view->struct_size` first (NPK_VIEW_INIT).
#[no_mangle]
pub extern "C" fn npk_view_open(
    store: *mut npk_store,
    name: *const c_char,
    out_view: *mut npk_view,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let name = str_arg(name, "name")?;
        let size = caller_size(out_view, "out_view")?;
        let view = Box::new(s.view(name)?);
        let data = view.as_ptr() as *mut c_void;
        let (dtype, shape) = (view.dtype, view.shape.clone());
        // SAFETY: `npk_view` is plain data; all-zero is valid, fields are set just below.
        let mut v: npk_view = unsafe { std::mem::zeroed() };
        fill_view(&mut v, data, dtype, &shape, false);
        v.owner = Box::into_raw(view).cast();
        write_prefix(out_view, size, &v);
        Ok(())
    })
}

/// Releases a read-only view and zeroes the struct but for `struct_size`, so it can be filled
/// again. NULL, or a view whose struct_size is 0 (never filled: the library fills only a set
/// size), or one already released: nothing happens. A batch view: only the struct is zeroed; the
/// batch still owns (and keeps valid) its memory. A struct_size between 0 and the first layout's
/// is NPK_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn npk_view_release(view: *mut npk_view) -> npk_status {
    guard(|| {
        if view.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL and aligned (caller contract); struct_size is in every layout.
        if unsafe { view.cast::<u32>().read() } == 0 {
            return Ok(());
        }
        let size = caller_size(view, "view")?;
        // SAFETY: `size` >= the first layout, which holds `writable` and `owner`; the caller
        // contract is a view filled by this library. Raw reads: the caller's struct may be
        // shorter than this library's.
        let (writable, owner) = unsafe {
            (
                std::ptr::addr_of!((*view).writable).read(),
                std::ptr::addr_of!((*view).owner).read(),
            )
        };
        if writable == 0 && !owner.is_null() {
            // SAFETY: `owner` of a read-only view is the Box<ReadView> made in npk_view_open,
            // released once because the struct is zeroed right after.
            drop(unsafe { Box::from_raw(owner.cast::<ReadView>()) });
        }
        zero_after_size(view, size);
        Ok(())
    })
}

/// `npk_list`'s two-call form for any list of names: sizes always, the names (each followed by
/// NUL) when `buf` is not NULL and `buf_len` holds them.
pub(crate) fn write_names(
    names: &[String],
    buf: *mut c_char,
    buf_len: u64,
    needed_slot: &mut u64,
    count_slot: &mut u64,
    call: &str,
) -> Result<()> {
    let needed: u64 = names.iter().map(|n| n.len() as u64 + 1).sum();
    *needed_slot = needed;
    *count_slot = names.len() as u64;
    if buf.is_null() {
        return Ok(());
    }
    if buf_len < needed {
        return Err(Error::new(
            ErrorKind::BufferTooSmall,
            format!("{call} needs {needed} bytes, buf_len is {buf_len}"),
        ));
    }
    let mut pos = 0usize;
    for n in names {
        // SAFETY: buf has buf_len >= needed writable bytes (caller contract, size checked).
        unsafe {
            std::ptr::copy_nonoverlapping(n.as_ptr(), buf.cast::<u8>().add(pos), n.len());
            *buf.add(pos + n.len()) = 0;
        }
        pos += n.len() + 1;
    }
    Ok(())
}
