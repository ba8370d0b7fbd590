//! Opening a store: the directory checks, the writer's lock (structural: exclusive; in-place
//! writers: shared) and recovery (a commit a dead writer decided is checked, then rolled forward;
//! staged leftovers swept; interrupted appends trimmed), and the first snapshot.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::commit::{self, Txn};
use super::fsutil;
use super::lock::{self, WriterLock};
use super::snapshot::{self, DataFiles, Snapshot};
use super::spares::Spares;
use super::{Inner, OpenOptions, Store};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::{self, METADATA_FILE};

impl Store {
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Store> {
        let dir = path.as_ref().to_path_buf();
        if opts.read_only && opts.create {
            return Err(Error::invalid(
                "a store cannot be opened both read-only and create",
            ));
        }
        if opts.shared && (opts.read_only || opts.create) {
            return Err(Error::invalid(format!(
                "NPK_OPEN_SHARED (an in-place writer) cannot be combined with {}: the store and its arrays must exist, created by a structural open first",
                if opts.read_only {
                    "NPK_OPEN_READ_ONLY"
                } else {
                    "NPK_OPEN_CREATE"
                }
            )));
        }
        let locking = opts.locking && lock::env_allows_locking();
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() || (m.file_type().is_symlink() && dir.is_dir()) => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "{} is not a directory",
                    dir.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create => {
                std::fs::create_dir_all(&dir).ctx(format_args!(
                    "cannot create store directory {}",
                    dir.display()
                ))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("store directory {} does not exist", dir.display()),
                ))
            }
            Err(e) => return Err(Error::io(format!("cannot stat {}", dir.display()), &e)),
        }
        // Not a store and not asked to create one: say so before leaving a lock file behind.
        if !opts.create && !snapshot::has_catalogue(&dir)? {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{} is not a NumPack store: {METADATA_FILE} is missing",
                    dir.display()
                ),
            ));
        }
        let lock = if opts.read_only {
            None
        } else if opts.shared {
            // Recovery needs the store to itself; the lock decides whether this opener has it.
            // Without locking nothing can tell, so nothing is recovered: the structural open
            // that created the arrays left the store whole.
            Some(if locking {
                WriterLock::shared(&dir, || {
                    recover(&dir)?;
                    if !lock::closed_cleanly(&dir) {
                        trim_interrupted_appends(&snapshot::load_with(&dir, true)?)?;
                    }
                    Ok(())
                })?
            } else {
                WriterLock::none(&dir)
            })
        } else {
            let lock = if locking {
                WriterLock::exclusive(&dir)?
            } else {
                WriterLock::none(&dir)
            };
            recover(&dir)?;
            if opts.create && fsutil::regular_file_meta(&dir.join(METADATA_FILE))?.is_none() {
                let mut txn = Txn::new(&dir, opts.durable);
                txn.commit(&metadata::encode(&Default::default()))?;
            }
            Some(lock)
        };
        let snap = snapshot::load_with(&dir, !opts.read_only)?;
        if let Some(lock) = lock.as_ref().filter(|_| !opts.shared) {
            // A writer that closed left no interrupted append: then a large store's files need
            // no stat (a small one's are checked at open all the same, as a reader's are).
            if !lock.was_closed() || snap.arrays.keys().len() <= snapshot::SMALL_STORE {
                trim_interrupted_appends(&snap)?;
            }
        }
        Ok(Store {
            inner: Arc::new(Inner {
                dir,
                read_only: opts.read_only,
                durable: opts.durable,
                shared: opts.shared,
                lock,
                snap: RwLock::new(Arc::new(snap)),
                write: Mutex::new(()),
                batch_open: AtomicBool::new(false),
                pending: AtomicBool::new(false),
                spares: Spares::default(),
                swap: Default::default(),
                times_dirty: AtomicBool::new(false),
            }),
        })
    }
}

/// Finishes a commit a dead writer decided, after checking that the record leads to a whole
/// store: a record with a valid checksum may still name a catalogue that does not match its
/// files (another program wrote it, or a bug did). Refused with nothing changed, rather than
/// applied until a missing file is noticed.
fn recover(dir: &Path) -> Result<()> {
    if let Some(record) = commit::read_record(dir)? {
        check_record_result(dir, &record)?;
    }
    commit::recover(dir).map(drop)
}

/// The state `record` leads to must load (the reader's rolled-forward view: every file the
/// resulting catalogue names exists and fits it), and no removal of the record may hit one of
/// those files (applying it would take them away again).
fn check_record_result(dir: &Path, record: &commit::Record) -> Result<()> {
    let refuse = |why: String| {
        Error::corrupt(format!(
            "{}: the commit record leads to an inconsistent store ({why}); nothing was applied",
            dir.join(commit::COMMIT_FILE).display()
        ))
    };
    let snap = snapshot::load(dir)
        .and_then(|s| s.open_all().map(|()| s))
        .map_err(|e| match e.kind {
            ErrorKind::Corrupt | ErrorKind::NotFound => refuse(e.message),
            _ => e,
        })?;
    let mut named: Vec<&str> = Vec::new();
    for st in snap.arrays.values() {
        match &st.data {
            DataFiles::Single { .. } => named.push(&st.meta.data_file),
            DataFiles::Segmented { segments, .. } => {
                named.push(&st.meta.data_file);
                named.extend(segments.iter().map(|s| s.segment.file.as_str()));
            }
        }
    }
    for op in &record.ops {
        let hit = match op {
            commit::Op::Remove { path } => named.iter().find(|n| **n == path),
            commit::Op::RemoveDir { path } => named
                .iter()
                .find(|n| n.split_once('/').is_some_and(|(folder, _)| folder == path)),
            commit::Op::Rename { to, .. } | commit::Op::RenameKeepingOld { to, .. } => {
                if to == commit::COMMIT_FILE || to == lock::LOCK_FILE {
                    return Err(refuse(format!("it renames a file over {to}")));
                }
                None
            }
        };
        if let Some(n) = hit {
            return Err(refuse(format!("it removes {n}, which its catalogue names")));
        }
    }
    Ok(())
}

/// A writer that crashed mid-append leaves bytes past an array's end (for a segmented array,
/// past its last segment's end): cut them off, so the file size matches the shape (the
/// manifest) again for NumPack too, which appends at the file's end and maps whole segment
/// files. One stat per single-file array, without opening it; a missing or short file is left
/// for the array's first use to report (one array's damage does not stop the open). Runs after recovery,
/// under the writer's lock, so every file is at its final name.
fn trim_interrupted_appends(snap: &Snapshot) -> Result<()> {
    let trim = |file: &std::fs::File, path: &std::path::Path, size: u64| -> Result<()> {
        let len = file
            .metadata()
            .ctx(format_args!("cannot stat {}", path.display()))?
            .len();
        if len > size {
            file.set_len(size)
                .ctx(format_args!("cannot trim {}", path.display()))?;
        }
        Ok(())
    };
    // A damaged array's files are not touched (its name may not even name one safely).
    for st in snap.arrays.values().filter(|st| st.damage.is_none()) {
        match &st.data {
            DataFiles::Segmented { segments } => {
                if let Some(last) = segments.last() {
                    trim(&last.file, &last.path, last.segment.bytes)?;
                }
            }
            DataFiles::Single { path, .. } => {
                // A missing or short file is that array's damage, reported when it is used
                // (`DataFile::get`); the store opens for the others.
                let meta = match fsutil::regular_file_meta(path) {
                    Ok(Some(meta)) => meta,
                    Ok(None) => continue,
                    Err(e) if e.kind == ErrorKind::Corrupt => continue,
                    Err(e) => return Err(e),
                };
                let need = st.meta.size_bytes;
                if meta.len() > need {
                    let file = fsutil::open_rw(path)
                        .ctx(format_args!("cannot open {}", path.display()))?;
                    file.set_len(need)
                        .ctx(format_args!("cannot trim {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}
