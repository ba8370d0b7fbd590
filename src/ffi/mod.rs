//! The C ABI. Every entry point is a few lines: check pointers, call the core, map the result.
//! `guard` catches panics so none crosses the boundary; `args` turns raw pointers into checked
//! Rust values; `status` owns the codes and this thread's last error message.

#![allow(non_camel_case_types)]
// C callers have no `unsafe`: every entry point takes raw pointers, checks them for NULL in
// `args`, and relies on the contract written in the header for the rest.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod args;
pub mod attrs;
pub mod batch;
pub(crate) mod sized;
pub mod status;
pub mod store;
pub mod types;
pub mod version;

use crate::error::{Error, ErrorKind, Result};
pub use status::npk_status;

/// Runs an entry point's body: Ok → NPK_OK; an error or a caught panic → its code, with the
/// message kept for `npk_last_error`.
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> npk_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => status::NPK_OK,
        Ok(Err(e)) => status::fail(e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            status::fail(Error::new(
                ErrorKind::Internal,
                format!("internal error in libnumpack (please report): {what}"),
            ))
        }
    }
}
