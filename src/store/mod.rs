//! The safe Rust store: NumPack's directory layout, every structural change committed through
//! `commit::Txn`, reads served from an immutable `Snapshot`. One file per concern:
//! `open` (directory, lock, recovery), `read`, `gate` (who may write now), `ops` (the
//! operations), `stage` (files of the next state), `publish` (making it current), `spares`,
//! `checks` (arguments), `block` (hyperslab geometry), `gather` (rows by index); below them the commit protocol,
//! snapshots, data access and file calls.

pub mod arraymap;
mod attr_ops;
mod block;
mod checks;
pub mod commit;
pub mod data;
pub mod files;
pub mod fsutil;
mod gate;
mod gather;
pub mod lock;
mod open;
mod ops;
mod publish;
mod read;
mod segwrite;
pub mod snapshot;
mod spares;
mod stage;
mod swap;
pub mod view;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::format::DType;
use commit::Txn;
use lock::WriterLock;
use snapshot::Snapshot;
use spares::Spares;
use swap::CatalogueSwap;

pub(crate) use checks::{check_dtype, check_itemsize, check_name, check_read_name, untruncated};
pub(crate) use gate::{BatchOpen, WriteGuard};

#[derive(Copy, Clone, Debug)]
pub struct OpenOptions {
    /// Create the directory and an empty catalogue when missing.
    pub create: bool,
    /// Take no lock, refuse every write.
    pub read_only: bool,
    /// fsync data, metadata and directory before a commit returns.
    pub durable: bool,
    /// An in-place writer, one of any number at once (C: NPK_OPEN_SHARED): in-place writes only
    /// (replace_rows, block writes, writable batches); structural calls return WrongMode. It
    /// excludes, and is excluded by, the structural writer (Locked). Not with create or read_only.
    pub shared: bool,
    /// Take the file locks (default true). False (C: NPK_OPEN_NO_LOCKING, or the environment
    /// variable NPK_USE_FILE_LOCKING=FALSE) takes none: the caller guarantees the exclusion.
    pub locking: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            create: false,
            read_only: false,
            durable: false,
            shared: false,
            locking: true,
        }
    }
}

/// What `info` reports: the logical view, as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayInfo {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub nbytes: u64,
    pub modify_time_us: u64,
    pub physical_rows: u64,
    pub segmented: bool,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) read_only: bool,
    pub(crate) durable: bool,
    /// Opened with `OpenOptions::shared`: in-place writes only.
    pub(crate) shared: bool,
    lock: Option<WriterLock>,
    snap: RwLock<Arc<Snapshot>>,
    /// Serialises this handle's writers; held across a whole commit.
    write: Mutex<()>,
    batch_open: AtomicBool,
    /// A commit was decided but not fully applied: finish it before the next one.
    pending: AtomicBool,
    spares: Spares,
    /// The spare catalogue of a structural writer (see `swap`).
    swap: Arc<CatalogueSwap>,
    /// The in-memory catalogue has modify times (from in-place row replacements) that the one on
    /// disk lacks; the next commit, or close, writes them.
    times_dirty: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if *self.times_dirty.get_mut() {
            // Best effort, like NumPack's own close: the data is already in place; only the
            // modify times are at stake.
            let snap = self.snap.get_mut().clone();
            if self.shared {
                let _ = publish::merge_times(self, &snap);
            } else {
                let _ = Txn::new(&self.dir, self.durable).commit(&snap.encode_catalog());
            }
        }
        // While the lock is still ours: the name is unique, but a spare left to the next
        // writer's sweep is clutter meanwhile.
        self.swap.discard();
        if !self.shared && !self.read_only {
            if let Some(lock) = &self.lock {
                lock.mark_closed();
            }
        }
    }
}

/// A store handle. Cloning shares it; it is `Send + Sync`, so threads may share one handle.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl Store {
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snap.read().clone()
    }
}
