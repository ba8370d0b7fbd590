//! Plain C types shared by the entry points: dtype codes, open flags, the view and info structs.

use std::ffi::c_void;

use crate::format::{DType, MAX_DIMS};

/// NumPack's dtype codes, identical to the `dtype` byte of `metadata.npkm`.
pub type npk_dtype = i32;
pub const NPK_BOOL: npk_dtype = 0;
pub const NPK_UINT8: npk_dtype = 1;
pub const NPK_UINT16: npk_dtype = 2;
pub const NPK_UINT32: npk_dtype = 3;
pub const NPK_UINT64: npk_dtype = 4;
pub const NPK_INT8: npk_dtype = 5;
pub const NPK_INT16: npk_dtype = 6;
pub const NPK_INT32: npk_dtype = 7;
pub const NPK_INT64: npk_dtype = 8;
pub const NPK_FLOAT16: npk_dtype = 9;
pub const NPK_FLOAT32: npk_dtype = 10;
pub const NPK_FLOAT64: npk_dtype = 11;
/// Two float32, real then imaginary (C99 `float complex`).
pub const NPK_COMPLEX64: npk_dtype = 12;
/// Two float64, real then imaginary (C99 `double complex`).
pub const NPK_COMPLEX128: npk_dtype = 13;

/// The largest rank an array may have (NumPy's classic limit).
pub const NPK_MAX_DIMS: usize = 32;

// The C constants are literals so that cbindgen writes them into the header; the build fails if
// they ever drift from the core's values.
const _: () = {
    assert!(NPK_MAX_DIMS == MAX_DIMS);
    let pairs = [
        (NPK_BOOL, DType::Bool),
        (NPK_UINT8, DType::U8),
        (NPK_UINT16, DType::U16),
        (NPK_UINT32, DType::U32),
        (NPK_UINT64, DType::U64),
        (NPK_INT8, DType::I8),
        (NPK_INT16, DType::I16),
        (NPK_INT32, DType::I32),
        (NPK_INT64, DType::I64),
        (NPK_FLOAT16, DType::F16),
        (NPK_FLOAT32, DType::F32),
        (NPK_FLOAT64, DType::F64),
        (NPK_COMPLEX64, DType::Complex64),
        (NPK_COMPLEX128, DType::Complex128),
    ];
    // Every dtype of the core has its C constant.
    assert!(pairs.len() == DType::ALL.len());
    let mut i = 0;
    while i < pairs.len() {
        assert!(pairs[i].0 == pairs[i].1 as npk_dtype);
        i += 1;
    }
};

/// `npk_open` flags, OR-ed together.
/// Create the directory and an empty store if missing.
pub const NPK_OPEN_CREATE: u32 = 1;
/// Take no lock; every write returns NPK_READ_ONLY. Any number of readers may coexist with one writer.
pub const NPK_OPEN_READ_ONLY: u32 = 2;
/// fsync data, metadata and directory before each commit returns (survives power loss). An fsync
/// failing after the commit was decided returns NPK_NOT_DURABLE: the change is made, not confirmed
/// durable.
pub const NPK_OPEN_DURABLE: u32 = 4;
/// An in-place writer, one of any number at once (processes or handles): npk_write_block,
/// npk_replace_rows and writable batches on existing arrays; every structural call (save,
/// create, append, drop, drop_rows, compact, clone, a cache batch) returns NPK_WRONG_MODE. It
/// excludes, and is excluded by, the structural writer (a plain writable open): NPK_LOCKED, the
/// message saying which kind holds the store. Readers are unaffected. Not with
/// NPK_OPEN_READ_ONLY or NPK_OPEN_CREATE (NPK_INVALID_ARGUMENT): create the store and its arrays
/// with a structural open, close it, then open shared. The first in-place writer to open a store
/// recovers it (completes a crashed writer's commit) exactly as a structural open does. Modify
/// times of the arrays a handle wrote reach `metadata.npkm` at its npk_refresh or npk_close, each
/// raised to the later of its own and the one on disk. README: "Open modes and what each
/// guarantees".
pub const NPK_OPEN_SHARED: u32 = 8;
/// Take no file lock at all (also: environment NPK_USE_FILE_LOCKING=FALSE, 0, NO or OFF), for
/// filesystems without working locks. The caller then guarantees what the locks would: never two
/// structural writers, never a structural writer beside in-place writers. A lock call the
/// filesystem refuses (ENOLCK, EOPNOTSUPP, ENOSYS, EINVAL) returns NPK_IO naming this flag.
pub const NPK_OPEN_NO_LOCKING: u32 = 16;

/// An array's memory as the library hands it out: a read-only view (`npk_view_open`) or a batch
/// view (`npk_batch_load`). Set `struct_size` before the call (`npk_view v = NPK_VIEW_INIT;`).
/// `shape` and `strides` are valid for the first `ndim` entries;
/// strides are in bytes (NumPy's convention) and describe C order. `data` is NULL for an array
/// with zero elements. Lifetime: a read-only view lives until `npk_view_release`; a batch view
/// until `npk_batch_end`/`npk_batch_abort`, or, in a cache batch, until that array is saved again
/// from another buffer with another shape or dtype. Using `data` after that is undefined behaviour.
///
/// Growing this struct (and npk_array_info): fields are only ever appended, never reordered,
/// resized or removed. The caller sets `struct_size` to its `sizeof` before every call that fills
/// the struct; the library writes only the first `struct_size` bytes (never past them), so a
/// program compiled against an older header keeps working with a newer library. A size below
/// the first layout's (0 above all: not set) is NPK_INVALID_ARGUMENT, the struct untouched. A
/// program compiled against a newer header running on an older library gets `struct_size`
/// lowered to the size that library wrote: the fields past it were not written (they keep what
/// the caller put there); test `v.struct_size >= offsetof(npk_view, field) + sizeof v.field`
/// before reading a field added after the first layout. The library trusts `struct_size`: an
/// uninitialised one is undefined behaviour (declare with NPK_VIEW_INIT / NPK_ARRAY_INFO_INIT).
#[repr(C)]
pub struct npk_view {
    /// `sizeof(npk_view)`, set by the caller before the call (NPK_VIEW_INIT does); on return,
    /// the number of bytes the library wrote.
    pub struct_size: u32,
    pub dtype: npk_dtype,
    pub data: *mut c_void,
    pub ndim: u32,
    /// 1 when writes through `data` are allowed (batch views), 0 for read-only views.
    pub writable: i32,
    pub shape: [u64; NPK_MAX_DIMS],
    pub strides: [i64; NPK_MAX_DIMS],
    pub itemsize: u64,
    pub nbytes: u64,
    /// Private to the library: what `npk_view_release` frees. Do not touch.
    pub owner: *mut c_void,
}

/// What `npk_info` reports, in the logical view (dropped rows are not counted). Set
/// `struct_size` before the call (`npk_array_info info = NPK_ARRAY_INFO_INIT;`); the rule for
/// adding fields is npk_view's.
#[repr(C)]
pub struct npk_array_info {
    /// `sizeof(npk_array_info)`, set by the caller before the call (NPK_ARRAY_INFO_INIT does);
    /// on return, the number of bytes the library wrote.
    pub struct_size: u32,
    pub dtype: npk_dtype,
    pub ndim: u32,
    /// 1 for a segmented array written by numpack 0.7.0 (read and written in its segments).
    pub segmented: i32,
    pub shape: [u64; NPK_MAX_DIMS],
    /// Logical size in bytes: product of shape times the item size.
    pub nbytes: u64,
    /// Last modification, microseconds since the Unix epoch.
    pub modify_time_us: u64,
    /// Rows in the data file, dropped ones included (equals shape[0] after `npk_compact`).
    pub physical_rows: u64,
}
