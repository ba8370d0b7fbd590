//! One error type for the whole core. The FFI layer maps `ErrorKind` to `npk_status` one to one,
//! so every kind here is a code a C caller can switch on.

use std::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    DtypeMismatch,
    ShapeMismatch,
    Io,
    Corrupt,
    Locked,
    ReadOnly,
    Busy,
    OutOfMemory,
    BufferTooSmall,
    Internal,
    NotDurable,
    /// The handle's open mode does not allow the call (a structural change on a shared open).
    WrongMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// An I/O failure, with the path or step it concerns and the errno, so a user can tell a full
    /// disk from a permission problem without a debugger.
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Error {
        let kind = match err.raw_os_error() {
            Some(libc::ENOMEM) => ErrorKind::OutOfMemory,
            Some(libc::EROFS) => ErrorKind::ReadOnly,
            _ => ErrorKind::Io,
        };
        let errno = err
            .raw_os_error()
            .map(|n| format!(" (errno {n})"))
            .unwrap_or_default();
        Error::new(kind, format!("{context}: {err}{errno}"))
    }

    pub fn corrupt(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, message)
    }

    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub fn not_found(name: &str) -> Error {
        Error::new(ErrorKind::NotFound, format!("array {name:?} not found"))
    }
}

/// Adds the path or step to an `io::Error` at the point where it is known.
pub trait IoContext<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(context, &e))
    }
}
