//! libnumpack: named N-dimensional arrays on disk in NumPack's format, with NumPack's two batch
//! modes, for C, C++, Fortran and Julia. The safe core (`format`, `layout`, `store`, `batch`)
//! knows nothing of C; `ffi` is the only place with `extern "C"`.

// The one supported platform. The writer lock is a Linux OFD lock, and a spare file is reused only
// once a Linux file lease proves nobody else has it open. Sizes, offsets and counts read from
// disk as u64 are converted with `as usize` throughout, which is lossless only because this check
// guarantees a 64-bit usize.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!(
    "libnumpack supports 64-bit Linux only: it needs OFD locks and file leases, and it converts \
     u64 sizes from disk to usize assuming usize is 64 bits"
);

mod attrs;
pub mod batch;
mod error;
pub mod ffi;
mod format;
pub mod layout;
mod pages;
mod store;
#[cfg(test)]
mod test_util;

pub use attrs::{Kind as AttrKind, Value as AttrValue};
pub use error::{Error, ErrorKind, Result};
pub use format::DType;
pub use store::view::ReadView;
pub use store::{ArrayInfo, OpenOptions, Store};

/// The on-disk codecs and the commit protocol's pieces, for code in this repository that must
/// build or inspect store files no public call produces: the fuzz harness (`fuzz/`), the crash
/// tests (`tests/commit_protocol.rs`, `tests/spares.rs`) and the `npk` inspector. Not an API.
#[doc(hidden)]
pub mod internals {
    pub use crate::attrs::json as attributes;
    pub use crate::format::{metadata, names, record, segments, Bitmap};
    pub use crate::store::commit::{read_record, recover, Txn};
}
