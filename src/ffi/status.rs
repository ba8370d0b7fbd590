//! Status codes, their names, and the per-thread last error (libgit2's model: a process-global
//! string would give threads each other's messages).

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use crate::error::{Error, ErrorKind};

/// Every fallible function returns one of the NPK_* codes below; results go through
/// out-parameters, written only on success.
pub type npk_status = i32;

pub const NPK_OK: npk_status = 0;
/// A NULL pointer, a bad name, rank or flag, an index out of range, a buffer that cannot hold the data.
pub const NPK_INVALID_ARGUMENT: npk_status = 1;
/// No array (or store) by that name.
pub const NPK_NOT_FOUND: npk_status = 2;
/// The target name is taken (clone).
pub const NPK_ALREADY_EXISTS: npk_status = 3;
/// The array's dtype differs from the one the caller stated.
pub const NPK_DTYPE_MISMATCH: npk_status = 4;
/// The shape differs from what the operation needs, or would change where it may not.
pub const NPK_SHAPE_MISMATCH: npk_status = 5;
/// The operating system refused a file operation; the message has the path and errno.
pub const NPK_IO: npk_status = 6;
/// The store on disk is damaged or hostile. The library neither repairs nor rewrites it; but a
/// writer open that reports this has done its opening steps first: taking the lock (which creates
/// or rewrites `.npk.lock`), completing a commit a crashed writer recorded (a state readers
/// already see), and removing staged and spare files a crashed writer left.
pub const NPK_CORRUPT: npk_status = 7;
/// Another handle or process holds the store's writer lock.
pub const NPK_LOCKED: npk_status = 8;
/// The store was opened read-only (or lives on a read-only filesystem).
pub const NPK_READ_ONLY: npk_status = 9;
/// A batch is open on the store (plain writes), or one is already open (a second begin).
pub const NPK_BUSY: npk_status = 10;
/// Memory could not be allocated.
pub const NPK_OUT_OF_MEMORY: npk_status = 11;
/// A caller buffer is too small; the needed size was written to the out-parameter.
pub const NPK_BUFFER_TOO_SMALL: npk_status = 12;
/// A bug in libnumpack (a caught panic); the message says where.
pub const NPK_INTERNAL: npk_status = 13;
/// A durable store's change is committed and visible, but the fsync after its decision failed, so
/// the system could not confirm it is on stable storage. The change happened: do not retry it (an
/// append retried would add its rows twice); the next durable commit fsyncs the directory again.
pub const NPK_NOT_DURABLE: npk_status = 14;
/// The handle's open mode does not allow the call: a structural change (save, create, append,
/// drop, drop_rows, compact, clone, a cache batch, a writable batch of an array with dropped rows)
/// on a handle opened with NPK_OPEN_SHARED. The message names the call; nothing was written.
pub const NPK_WRONG_MODE: npk_status = 15;

pub(crate) fn code(kind: ErrorKind) -> npk_status {
    match kind {
        ErrorKind::InvalidArgument => NPK_INVALID_ARGUMENT,
        ErrorKind::NotFound => NPK_NOT_FOUND,
        ErrorKind::AlreadyExists => NPK_ALREADY_EXISTS,
        ErrorKind::DtypeMismatch => NPK_DTYPE_MISMATCH,
        ErrorKind::ShapeMismatch => NPK_SHAPE_MISMATCH,
        ErrorKind::Io => NPK_IO,
        ErrorKind::Corrupt => NPK_CORRUPT,
        ErrorKind::Locked => NPK_LOCKED,
        ErrorKind::ReadOnly => NPK_READ_ONLY,
        ErrorKind::Busy => NPK_BUSY,
        ErrorKind::OutOfMemory => NPK_OUT_OF_MEMORY,
        ErrorKind::BufferTooSmall => NPK_BUFFER_TOO_SMALL,
        ErrorKind::Internal => NPK_INTERNAL,
        ErrorKind::NotDurable => NPK_NOT_DURABLE,
        ErrorKind::WrongMode => NPK_WRONG_MODE,
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn fail(err: Error) -> npk_status {
    let msg = CString::new(err.message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = msg);
    code(err.kind)
}

/// The message of this thread's last failed call ("" if none). The pointer stays valid until the
/// next failing call on this thread; copy it if you need it longer.
#[no_mangle]
pub extern "C" fn npk_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|m| m.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// A static name for a status code ("NPK_NOT_FOUND"); "NPK_UNKNOWN" for anything else.
#[no_mangle]
pub extern "C" fn npk_status_str(status: npk_status) -> *const c_char {
    let s: &'static std::ffi::CStr = match status {
        NPK_OK => c"NPK_OK",
        NPK_INVALID_ARGUMENT => c"NPK_INVALID_ARGUMENT",
        NPK_NOT_FOUND => c"NPK_NOT_FOUND",
        NPK_ALREADY_EXISTS => c"NPK_ALREADY_EXISTS",
        NPK_DTYPE_MISMATCH => c"NPK_DTYPE_MISMATCH",
        NPK_SHAPE_MISMATCH => c"NPK_SHAPE_MISMATCH",
        NPK_IO => c"NPK_IO",
        NPK_CORRUPT => c"NPK_CORRUPT",
        NPK_LOCKED => c"NPK_LOCKED",
        NPK_READ_ONLY => c"NPK_READ_ONLY",
        NPK_BUSY => c"NPK_BUSY",
        NPK_OUT_OF_MEMORY => c"NPK_OUT_OF_MEMORY",
        NPK_BUFFER_TOO_SMALL => c"NPK_BUFFER_TOO_SMALL",
        NPK_INTERNAL => c"NPK_INTERNAL",
        NPK_NOT_DURABLE => c"NPK_NOT_DURABLE",
        NPK_WRONG_MODE => c"NPK_WRONG_MODE",
        _ => c"NPK_UNKNOWN",
    };
    s.as_ptr()
}
