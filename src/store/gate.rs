//! Who may write now: the handle's open mode (a shared open writes in place only), the handle's
//! write mutex, the batch flag that turns plain writes away while a batch is open, and
//! completing a decided commit before the next one starts.
//!
//! Every write is one of two classes, and takes its guard through the matching call:
//! - in place (`in_place_writer`): bytes of existing arrays' data files change, the catalogue
//!   does not (replace_rows, block writes, writable batches of arrays without dropped rows).
//!   Allowed on a shared open.
//! - structural (`structural_writer`): anything that commits a new catalogue or new files
//!   (save, create, append, drops, compact, clone, cache batches). Refused on a shared open with
//!   WrongMode, before anything is read or written.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::MutexGuard;

use super::commit;
use super::{Inner, Store};
use crate::error::{Error, ErrorKind, Result};

/// Proof that the caller holds the store's write mutex.
pub(crate) struct WriteGuard<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl Store {
    /// The guard for a structural change named `call` ("save", "append", ...): refused on a
    /// read-only handle and on a shared open.
    pub(crate) fn structural_writer(&self, call: &str) -> Result<WriteGuard<'_>> {
        self.refuse_read_only()?;
        self.refuse_shared(call)?;
        self.writer()
    }

    /// The guard for an in-place write: refused only on a read-only handle.
    pub(crate) fn in_place_writer(&self) -> Result<WriteGuard<'_>> {
        self.refuse_read_only()?;
        self.writer()
    }

    fn refuse_read_only(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!("store {} is open read-only", self.inner.dir.display()),
            ));
        }
        Ok(())
    }

    /// WrongMode for a structural `call` on a shared open.
    pub(crate) fn refuse_shared(&self, call: &str) -> Result<()> {
        if self.inner.shared {
            return Err(Error::new(
                ErrorKind::WrongMode,
                format!(
                    "{call} is a structural change, and store {} is open with NPK_OPEN_SHARED (in-place writes only: write_block, replace_rows, writable batches); open it without NPK_OPEN_SHARED once the in-place writers have closed",
                    self.inner.dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// Takes the write mutex after checking that plain writes are allowed now (the caller has
    /// checked the mode).
    fn writer(&self) -> Result<WriteGuard<'_>> {
        let guard = self.inner.write.lock();
        self.finish_pending()?;
        if self.inner.batch_open.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "a batch is open on store {}; end or abort it before writing outside it",
                    self.inner.dir.display()
                ),
            ));
        }
        Ok(WriteGuard { _guard: guard })
    }

    /// The write mutex for a batch, which is allowed to write while it is open.
    pub(crate) fn batch_writer(&self) -> Result<WriteGuard<'_>> {
        let guard = self.inner.write.lock();
        self.finish_pending()?;
        Ok(WriteGuard { _guard: guard })
    }

    /// Completes a commit that was decided but failed while being applied, so the next commit
    /// never replaces its record. Called with the write mutex held.
    pub(super) fn finish_pending(&self) -> Result<()> {
        if self.inner.pending.load(Ordering::Acquire) {
            commit::finish_pending(&self.inner.dir)?;
            self.inner.pending.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Marks a batch open until the returned flag drops; fails with busy when one already is.
    pub(crate) fn begin_batch(&self) -> Result<BatchOpen> {
        if self.inner.read_only {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "store {} is open read-only; a batch needs a writer",
                    self.inner.dir.display()
                ),
            ));
        }
        let _g = self.inner.write.lock();
        if self.inner.batch_open.swap(true, Ordering::AcqRel) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "a batch is already open on store {}",
                    self.inner.dir.display()
                ),
            ));
        }
        Ok(BatchOpen {
            inner: self.inner.clone(),
        })
    }
}

/// A store's batch flag, held by the open batch: plain writes on the store return busy until it
/// drops, whichever way the batch goes (end, abort, or dropped unended).
pub(crate) struct BatchOpen {
    inner: Arc<Inner>,
}

impl Drop for BatchOpen {
    fn drop(&mut self) {
        self.inner.batch_open.store(false, Ordering::Release);
    }
}
