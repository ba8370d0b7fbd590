//! Making a new state current: on disk through the commit protocol, then in the handle's
//! memory, so the two never disagree; and modify times that only the in-memory catalogue holds
//! until the next commit or close (for an in-place writer of a shared open: until it merges them
//! into the catalogue on disk at refresh or close).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::commit::Txn;
use super::fsutil;
use super::snapshot::{self, Snapshot};
use super::{Inner, Store, WriteGuard};
use crate::error::Result;
use crate::format::metadata;

impl Store {
    pub(crate) fn txn(&self) -> Txn {
        Txn::new(&self.inner.dir, self.inner.durable).with_swap(self.inner.swap.clone())
    }

    /// Publishes `next` through `txn`: once the commit is decided, disk and memory both hold it;
    /// a failure before that leaves both with the previous state.
    pub(crate) fn commit(&self, _w: &WriteGuard, mut txn: Txn, next: Snapshot) -> Result<()> {
        self.commit_with(_w, &mut txn, next)
    }

    /// As `commit`, keeping `txn` (and its staged files) alive on failure for a retry. Once
    /// decided, `next` is published (it is the committed state), and a record left unapplied is
    /// completed by `finish_pending` before this handle's next write.
    pub(crate) fn commit_with(
        &self,
        _w: &WriteGuard,
        txn: &mut Txn,
        mut next: Snapshot,
    ) -> Result<()> {
        // Attributes go with their array, and a commit that changes them carries the file.
        let Snapshot { arrays, attrs, .. } = &mut next;
        if attrs.arrays.keys().any(|a| !arrays.contains_key(a)) {
            Arc::make_mut(attrs).retain_arrays(|a| arrays.contains_key(a));
        }
        if !Arc::ptr_eq(&next.attrs, &self.snapshot().attrs) {
            crate::attrs::file::stage(txn, &next.attrs)?;
        }
        let result = txn.commit(&next.encode_catalog());
        if txn.is_decided() {
            *self.inner.snap.write() = Arc::new(next);
            self.inner.times_dirty.store(false, Ordering::Release);
            self.inner.spares.adopt_kept(txn);
        }
        if txn.is_unfinished() {
            self.inner.pending.store(true, Ordering::Release);
        }
        result
    }

    /// Records a new modify time in the in-memory catalogue only: an in-place row replacement is
    /// not a commit, and writing the catalogue for it would cost more than the rows. The time
    /// reaches disk with the next commit or at close. The snapshot is changed in place when no
    /// reader holds it (callers drop their own reference first), so an in-place write does not
    /// copy the whole catalogue every time.
    pub(crate) fn touch_in_memory(&self, _w: &WriteGuard, name: &str) {
        let mut snap = self.inner.snap.write();
        if let Some(st) = Arc::make_mut(&mut snap).arrays.get_mut(name) {
            st.meta.modify_time_us = fsutil::now_micros();
        }
        self.inner.times_dirty.store(true, Ordering::Release);
    }
}

/// An in-place writer's (shared open's) way to record its modify times: other in-place writers
/// may have recorded theirs since this handle read the catalogue, so it re-reads the catalogue
/// on disk and raises each array's modify time to this handle's where that is later (the
/// maximum: times only move forward, and an array this handle did not write keeps the time on
/// disk). Under the shared gate, so two merges never lose each other's times; committed by the
/// catalogue's atomic rename, so a reader sees the old catalogue or the new one. Nothing else in
/// the catalogue can have changed: no structural writer runs while an in-place writer is open.
pub(super) fn merge_times(inner: &Inner, ours: &Snapshot) -> Result<()> {
    let _gate = match &inner.lock {
        Some(l) => Some(l.gate()?),
        None => None,
    };
    let disk = snapshot::load(&inner.dir)?;
    let mut catalog = disk.catalog();
    let mut later = false;
    for (name, meta) in catalog.arrays.iter_mut() {
        if let Some(st) = ours.arrays.get(name) {
            if st.meta.modify_time_us > meta.modify_time_us {
                meta.modify_time_us = st.meta.modify_time_us;
                later = true;
            }
        }
    }
    if later {
        Txn::new(&inner.dir, inner.durable).commit(&metadata::encode(&catalog))?;
    }
    Ok(())
}

impl Store {
    /// A shared open's refresh: its own modify times merged into the catalogue on disk, then
    /// the catalogue re-read, so the handle sees the times the other in-place writers recorded.
    pub(super) fn refresh_shared(&self) -> Result<()> {
        let _w = self.inner.write.lock();
        if self.inner.times_dirty.load(Ordering::Acquire) {
            merge_times(&self.inner, &self.snapshot())?;
            self.inner.times_dirty.store(false, Ordering::Release);
        }
        let snap = snapshot::load_with(&self.inner.dir, true)?;
        *self.inner.snap.write() = Arc::new(snap);
        Ok(())
    }
}
