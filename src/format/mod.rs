//! NumPack's on-disk format: the catalogue (`metadata.npkm`), the dtype table, array-name rules,
//! the deletion bitmap and 0.7.0's segment manifests, and our own commit record. Pure codecs: nothing here touches the
//! filesystem, so every decoder can be fed hostile bytes in tests.

pub mod bitmap;
pub mod dtype;
pub mod metadata;
pub mod names;
mod reader;
pub mod record;
pub mod segments;

pub use bitmap::Bitmap;
pub use dtype::DType;

/// Every decode failure: a human message with context (which field, offset, expected vs found,
/// array name when known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

impl FormatError {
    pub(crate) fn new(msg: impl Into<String>) -> FormatError {
        FormatError(msg.into())
    }
}

/// The C view struct carries fixed-size shape/stride arrays of this length, so no stored array
/// may have more dimensions.
pub const MAX_DIMS: usize = 32;
