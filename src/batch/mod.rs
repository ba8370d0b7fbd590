//! NumPack's two batch modes. A cache batch keeps arrays in memory and commits every changed
//! one together at the end; a writable batch maps data files shared and writable so changes go
//! straight to the page cache. Both hold the store's batch flag, so plain writes on the store
//! return busy while they are open, and both end in `end` (commit) or `abort`.

pub mod cache;
pub(crate) mod segmap;
pub mod writable;

use crate::error::{Error, Result};
use crate::format::DType;
use crate::layout::Src;
use crate::store::Store;

pub use cache::CacheBatch;
pub use writable::WritableBatch;

/// An array's memory inside a batch. `ptr` is null for an array with no elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchView {
    pub ptr: *mut u8,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub writable: bool,
}

/// Either batch, behind one handle.
// One per batch handle, allocated once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Batch {
    Cache(CacheBatch),
    Writable(WritableBatch),
}

impl Batch {
    pub fn load(&mut self, name: &str) -> Result<BatchView> {
        match self {
            Batch::Cache(b) => b.load(name),
            Batch::Writable(b) => b.load(name),
        }
    }

    pub fn save(&mut self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        match self {
            Batch::Cache(b) => b.save(name, dtype, src),
            Batch::Writable(b) => b.save(name, dtype, src),
        }
    }

    /// Commits (cache) or flushes (writable). On failure the batch stays open and usable. On
    /// success the batch lets go of the store, as `npk_batch_end` frees it: once the caller's
    /// handles are dropped the store closes although the ended batch lives on; its loads and
    /// saves then fail, and `end` again does nothing.
    pub fn end(&mut self) -> Result<()> {
        match self {
            Batch::Cache(b) => b.end(),
            Batch::Writable(b) => b.end(),
        }
    }

    /// Discards the batch. A writable batch cannot take back what was written through its views.
    pub fn abort(self) {
        match self {
            Batch::Cache(b) => b.abort(),
            Batch::Writable(b) => b.abort(),
        }
    }
}

/// The store of a batch that has not ended.
fn open_store(store: &Option<Store>) -> Result<&Store> {
    store
        .as_ref()
        .ok_or_else(|| Error::invalid("the batch has ended"))
}

/// Address of element 0 of a source buffer, to recognise a batch's own view being saved back.
pub(crate) fn src_ptr(src: &Src) -> *const u8 {
    src.data.as_ptr().wrapping_add(src.origin)
}
