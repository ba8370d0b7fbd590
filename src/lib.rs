//! libnumpack: named N-dimensional arrays on disk in NumPack's format, with NumPack's two batch
//! modes, for C, C++, Fortran and Julia. The safe core (`format`, `layout`, `store`, `batch`)
//! knows nothing of C; `ffi` is the only place with `extern "C"`.

pub mod batch;
pub mod error;
pub mod ffi;
pub mod format;
pub mod layout;
pub mod pages;
pub mod store;

pub use error::{Error, ErrorKind, Result};
pub use format::DType;
pub use store::{ArrayInfo, OpenOptions, Store};
