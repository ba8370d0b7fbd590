//! Spare files. When a large array is replaced, the commit keeps its old data file under a
//! `.npk-spare-*` name (`Op::RenameKeepingOld`) and the array's next save overwrites it:
//! overwriting cached pages is several times faster than filling a new file. A spare is never
//! part of a committed state; the handle deletes its spares at close, and a writer open sweeps
//! any that a crash left behind. The store asks only three things of this module: where to
//! write an array's next version, to adopt what a commit kept, and to forget a dropped array.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use parking_lot::Mutex;

use crate::error::Result;
use crate::format::names::{bitmap_file_name, data_file_name};
use crate::store::commit::Txn;
use crate::store::fsutil;
use crate::store::snapshot::{DataFiles, Snapshot};
use crate::store::swap;

/// Arrays at least this large keep a spare: below it a new file costs about the same.
const SPARE_MIN_BYTES: u64 = 1 << 20;

/// A handle's spares: array name -> the file its last save replaced.
#[derive(Default)]
pub(crate) struct Spares {
    files: Mutex<HashMap<String, PathBuf>>,
}

impl Spares {
    /// The file a new version of `name` is written into: its spare when nobody else has that
    /// open, else a new staged file. When the current version is large, the commit keeps it as
    /// the next spare.
    pub(crate) fn staging_file(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        name: &str,
    ) -> Result<(File, PathBuf)> {
        let target = data_file_name(name);
        if !current.arrays.contains_key(name) {
            // A new array: written under its own name, committed without a record (see
            // `Txn::place_new`). A spare of a name no state has is stale: drop it.
            self.forget(name);
            return txn.place_new(&target, &[bitmap_file_name(name)]);
        }
        let keep = current.arrays.get(name).is_some_and(|st| {
            matches!(st.data, DataFiles::Single { .. }) && st.meta.size_bytes >= SPARE_MIN_BYTES
        });
        if keep {
            txn.keep_old(&target);
        }
        let spare = self.files.lock().remove(name);
        if let Some(spare) = spare {
            match fsutil::open_rw(&spare) {
                Ok(file) if is_exclusive(&file) => {
                    txn.adopt(&target, &spare)?;
                    return Ok((file, spare));
                }
                _ => {
                    let _ = fsutil::remove_if_exists(&spare);
                }
            }
        }
        txn.stage(&target)
    }

    /// After `txn` is decided: the old files it kept (those its record moved aside already)
    /// become the spares of their arrays.
    pub(crate) fn adopt_kept(&self, txn: &Txn) {
        let mut files = self.files.lock();
        for (target, keep) in txn.kept() {
            let name = target
                .strip_prefix("data_")
                .and_then(|t| t.strip_suffix(".npkd"));
            if let (Some(name), true) = (name, keep.exists()) {
                if let Some(old) = files.insert(name.to_string(), keep) {
                    let _ = fsutil::remove_if_exists(&old);
                }
            }
        }
    }

    /// Forgets (and deletes) the spare of a dropped array.
    pub(crate) fn forget(&self, name: &str) {
        if let Some(spare) = self.files.lock().remove(name) {
            let _ = fsutil::remove_if_exists(&spare);
        }
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        for spare in self.files.get_mut().values() {
            let _ = fsutil::remove_if_exists(spare);
        }
    }
}

/// True when no other open file (in any process, mappings included) refers to `file`'s inode:
/// the kernel grants a write lease only then. We drop the lease at once; this is only used on
/// spares, which have no name a reader looks up, but an open that looked the name up before the
/// file became a spare could land in between, so breaking it signals SIGURG, not SIGIO.
fn is_exclusive(file: &File) -> bool {
    swap::quiet_lease_breaks(file);
    swap::lease_probe(file).is_ok()
}
