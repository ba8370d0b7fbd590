//! The commit protocol. Every structural change is staged in new files next to the store, then
//! decided by one atomic rename: of `metadata.npkm` alone when that is the only file that
//! changes, otherwise of a commit record (`.npk.commit`) that lists the renames and removals to
//! apply. A record on disk means "decided": recovery rolls it forward, idempotently. Without a
//! record, staged files are garbage and are swept. So after a crash at any instant a reopen
//! shows every file of a commit new, or every one old.
//!
//! Order of a commit: write staged files → (durable: fsync them) → write record to a temp name →
//! (durable: fsync) → rename to `.npk.commit` → (durable: fsync dir) → apply renames, metadata
//! last → apply removals → (durable: fsync dir) → unlink the record. The record's byte format
//! is `format::record`; this module writes, applies and resolves it.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::METADATA_FILE;
use crate::format::record::plain_staged;
pub use crate::format::record::{Op, Record, COMMIT_FILE, SPARE_PREFIX, STAGE_PREFIX};
use crate::store::fsutil;
use crate::store::swap::{CatalogueSwap, Prepared, Swapped};

const COMMIT_TMP: &str = ".npk.commit.tmp";

pub fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(COMMIT_FILE);
    match fsutil::read_small(&path)? {
        None => Ok(None),
        Some(bytes) => Record::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::corrupt(format!("{}: {e}", path.display()))),
    }
}

/// Applies a decided record. Idempotent: a rename whose staged file is gone was already done.
/// Removals are best effort: once the catalogue is renamed the commit is complete, and a file
/// that cannot be removed (a foreign file in a segment folder, say) is only clutter.
fn apply(dir: &Path, record: &Record) -> Result<()> {
    for op in &record.ops {
        match op {
            Op::Rename { from, to } => {
                let src = dir.join(from);
                if fsutil::regular_file_meta(&src)?.is_some() {
                    fsutil::check_subdir(dir, to)?;
                    std::fs::rename(&src, dir.join(to))
                        .ctx(format_args!("cannot rename {} to {to}", src.display()))?;
                }
            }
            Op::RenameKeepingOld { from, to, keep } => {
                let src = dir.join(from);
                if fsutil::regular_file_meta(&src)?.is_some() {
                    let (old, spare) = (dir.join(to), dir.join(keep));
                    // Move the old file aside first rather than renaming over it: ext4 starts
                    // writeback of a file renamed over another (auto_da_alloc), and the next
                    // save would wait for those pages. Readers see the record and read the
                    // staged file meanwhile. Best effort: without a spare, the next save just
                    // writes a new file.
                    if fsutil::regular_file_meta(&spare)?.is_none()
                        && fsutil::regular_file_meta(&old)?.is_some()
                    {
                        let _ = std::fs::rename(&old, &spare);
                    }
                    std::fs::rename(&src, &old)
                        .ctx(format_args!("cannot rename {} to {to}", src.display()))?;
                }
            }
            Op::Remove { path } => {
                if fsutil::check_subdir(dir, path).is_ok() {
                    let _ = fsutil::remove_if_exists(&dir.join(path));
                }
            }
            Op::RemoveDir { path } => {
                if fsutil::check_subdir(dir, &format!("{path}/x")).is_ok() {
                    let _ = std::fs::remove_dir(dir.join(path));
                }
            }
        }
    }
    Ok(())
}

/// A durable commit's directory fsync once the commit is decided. Its failure is the one error a
/// decided commit reports: the new state is in place and visible, but the system could not
/// confirm that it is on stable storage (after a failed fsync no retry can promise that either).
fn fsync_after_decision(dir: &Path) -> Result<()> {
    fsutil::fsync_dir(dir).map_err(|e| {
        Error::new(
            ErrorKind::NotDurable,
            format!("{e}; the change is committed and visible, but not confirmed durable"),
        )
    })
}

/// Completes a decided commit whose record is still on disk (a crash, or a failure after the
/// decision), without touching staged files of transactions still being prepared.
pub fn finish_pending(dir: &Path) -> Result<bool> {
    match read_record(dir)? {
        Some(record) => {
            apply(dir, &record)?;
            fsutil::fsync_dir(dir)?;
            fsutil::remove_if_exists(&dir.join(COMMIT_FILE)).ctx(format_args!(
                "cannot remove {}",
                dir.join(COMMIT_FILE).display()
            ))?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Run by a writer at open, holding the lock: finish a decided commit, sweep staged garbage.
/// Returns true when a commit was rolled forward.
pub fn recover(dir: &Path) -> Result<bool> {
    let rolled = finish_pending(dir)?;
    let entries = std::fs::read_dir(dir).ctx(format_args!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGE_PREFIX) || name.starts_with(SPARE_PREFIX) || name == COMMIT_TMP {
            // Best effort: garbage we cannot remove (a directory planted under such a name)
            // must not lock every writer out of the store.
            let _ = fsutil::remove_if_exists(&entry.path());
        }
    }
    Ok(rolled)
}

/// Where a reader finds each file of the current state: straight at its name, or, while a
/// decided record from a dead writer is still on disk, at the staged file the record will move
/// there (so a read-only open of a crashed store still shows a whole state).
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    record: Option<Record>,
}

impl Resolver {
    pub fn direct() -> Resolver {
        Resolver { record: None }
    }

    pub fn rolled_forward(record: Record) -> Resolver {
        Resolver {
            record: Some(record),
        }
    }

    /// Where to look for `name`, in order: its staged file while the record still lists one,
    /// then its final path. A live writer may rename the staged file between our look and our
    /// open; once it is gone, the rename is done and the final path holds the same file.
    pub fn candidates(&self, dir: &Path, name: &str) -> Option<Vec<PathBuf>> {
        let mut paths = Vec::new();
        if let Some(record) = &self.record {
            for op in &record.ops {
                match op {
                    Op::Rename { from, to } | Op::RenameKeepingOld { from, to, .. }
                        if to == name =>
                    {
                        paths.push(dir.join(from))
                    }
                    Op::Remove { path } if path == name && paths.is_empty() => return None,
                    _ => {}
                }
            }
        }
        paths.push(dir.join(name));
        Some(paths)
    }

    pub fn txid(&self) -> Option<&str> {
        self.record.as_ref().map(|r| r.txid.as_str())
    }
}

static TX_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A commit being prepared. Dropping it without `commit` removes what it staged, so a failed
/// call leaves the store as it was.
pub struct Txn {
    dir: PathBuf,
    /// Made on first use: a catalogue-only commit by exchange names nothing after it.
    txid: std::sync::OnceLock<Box<str>>,
    /// TX_COUNTER's value for this transaction.
    n: u64,
    durable: bool,
    staged: Vec<(String, String)>,
    /// Every target in `staged` or `placed`: a batch stages one file per array, and a scan of
    /// the lists per stage made a batch of k arrays cost O(k²) (100,000 arrays: minutes).
    targets: HashSet<String>,
    removals: Vec<Op>,
    /// `removals` again, for the same reason.
    scheduled: HashSet<Op>,
    /// target -> spare name for the file the commit replaces (see RenameKeepingOld).
    keeps: HashMap<String, String>,
    seq: u64,
    done: bool,
    unfinished: bool,
    /// The writer's spare catalogue (see `store::swap`).
    swap: Option<Arc<CatalogueSwap>>,
    /// The catalogue this commit wrote into the spare, for its record to rename in.
    prepared: Option<Box<Prepared>>,
    /// The record was applied (its renames and removals done).
    applied: bool,
    /// Files created under their final names (`place_new`): removed if the commit fails.
    placed: Vec<String>,
    /// Files of the old state no new state names, removed once the commit is decided.
    after: HashSet<String>,
}

impl Txn {
    pub fn new(dir: &Path, durable: bool) -> Txn {
        let n = TX_COUNTER.fetch_add(1, Ordering::Relaxed);
        Txn {
            dir: dir.to_path_buf(),
            txid: std::sync::OnceLock::new(),
            n,
            durable,
            staged: Vec::new(),
            targets: HashSet::new(),
            removals: Vec::new(),
            scheduled: HashSet::new(),
            keeps: HashMap::new(),
            seq: 0,
            done: false,
            unfinished: false,
            swap: None,
            prepared: None,
            applied: false,
            placed: Vec::new(),
            after: HashSet::new(),
        }
    }

    /// Commits that change only the catalogue go through `swap` (see `store::swap`) when the
    /// filesystem allows, instead of a new catalogue renamed over the old one.
    pub(crate) fn with_swap(mut self, swap: Arc<CatalogueSwap>) -> Txn {
        self.swap = Some(swap);
        self
    }

    /// Creates the staged file that will replace `target` at commit; a file staged earlier for
    /// the same target in this transaction is discarded.
    pub fn stage(&mut self, target: &str) -> Result<(File, PathBuf)> {
        self.unstage(target);
        self.seq += 1;
        let name = format!("{STAGE_PREFIX}{}-{}", self.id(), self.seq);
        let path = self.dir.join(&name);
        let file = fsutil::create_new(&path).ctx(format_args!(
            "cannot create staging file {}",
            path.display()
        ))?;
        self.staged.push((name, target.to_string()));
        self.targets.insert(target.to_string());
        Ok((file, path))
    }

    /// Creates the file `target` under its own name, for a commit that makes `target` named by
    /// the catalogue for the first time (a new array's data file): such a commit needs no record,
    /// only the catalogue's own atomic step. Why that is safe:
    /// - No committed state names `target` (the caller checked that the current catalogue does
    ///   not; a decided record of this handle was finished before its write began, and a writer
    ///   open rolled forward any other one), so no reader of any state looks the name up until
    ///   the new catalogue is in place, and a reader of an older state that named it (before a
    ///   drop) finds the catalogue changed and reports the file stale (`Source::still_current`).
    /// - What sits at `target` now belongs to no state (a crash's orphan): it is unlinked, never
    ///   truncated, since an old snapshot may still map it, and the new file is created with
    ///   O_EXCL. The same goes for every name in `clear` (a leftover deletion bitmap would apply
    ///   to the new array the moment the catalogue names it): unlinked before the commit, and
    ///   not restored by a failure, as no state had them.
    /// - A failure before the decision (or dropping the transaction) unlinks the file; a crash
    ///   leaves it an orphan no state references, which `npk check` notes and the name's next
    ///   save replaces.
    pub fn place_new(&mut self, target: &str, clear: &[String]) -> Result<(File, PathBuf)> {
        self.unstage(target);
        for name in clear {
            let path = self.dir.join(name);
            fsutil::remove_if_exists(&path).ctx(format_args!(
                "cannot remove the leftover {}",
                path.display()
            ))?;
        }
        let path = self.dir.join(target);
        fsutil::remove_if_exists(&path).ctx(format_args!(
            "cannot remove the leftover {}",
            path.display()
        ))?;
        let file =
            fsutil::create_new(&path).ctx(format_args!("cannot create {}", path.display()))?;
        self.placed.push(target.to_string());
        self.targets.insert(target.to_string());
        Ok((file, path))
    }

    /// Removes `target` once the commit is decided instead of in its record: for a file that the
    /// new catalogue no longer names and whose presence changes no state (a dropped array's data
    /// file; not a bitmap, which a later array of the same name made some other way could
    /// inherit). A crash in between leaves an orphan, as `place_new` may.
    pub fn remove_after(&mut self, target: &str) {
        self.after.insert(target.to_string());
    }

    /// Uses an existing file in the store directory, already named with the staging prefix (a
    /// spare), as the staged file for `target`.
    pub fn adopt(&mut self, target: &str, path: &Path) -> Result<()> {
        self.unstage(target);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| plain_staged(n) && path.parent() == Some(self.dir.as_path()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{} is not a staging file of this store",
                    path.display()
                ))
            })?;
        self.staged.push((name, target.to_string()));
        self.targets.insert(target.to_string());
        Ok(())
    }

    /// Asks the commit to keep the file that `target` names now as a spare; returns its path
    /// (which exists after a successful commit if `target` existed).
    pub fn keep_old(&mut self, target: &str) -> PathBuf {
        self.seq += 1;
        let name = format!("{SPARE_PREFIX}{}-{}", self.id(), self.seq);
        self.keeps.insert(target.to_string(), name.clone());
        self.dir.join(name)
    }

    /// (target, spare path) for every file this commit keeps.
    pub fn kept(&self) -> Vec<(String, PathBuf)> {
        self.keeps
            .iter()
            .map(|(t, k)| (t.clone(), self.dir.join(k)))
            .collect()
    }

    /// Forgets and deletes what was staged for `target`, if anything.
    pub fn unstage(&mut self, target: &str) {
        if !self.targets.remove(target) {
            return;
        }
        if let Some(i) = self.placed.iter().position(|t| t == target) {
            let _ = fsutil::remove_if_exists(&self.dir.join(target));
            self.placed.swap_remove(i);
        }
        self.staged.retain(|(staged, to)| {
            if to == target {
                let _ = fsutil::remove_if_exists(&self.dir.join(staged));
            }
            to != target
        });
    }

    /// The staged file for `target`, if one is staged.
    pub fn staged_path(&self, target: &str) -> Option<PathBuf> {
        self.staged
            .iter()
            .find(|(_, to)| to == target)
            .map(|(staged, _)| self.dir.join(staged))
    }

    /// Schedules `target` for removal (once, however often a retried step asks).
    pub fn remove(&mut self, target: &str) {
        self.schedule(Op::Remove {
            path: target.to_string(),
        });
    }

    pub fn remove_dir(&mut self, target: &str) {
        self.schedule(Op::RemoveDir {
            path: target.to_string(),
        });
    }

    fn schedule(&mut self, removal: Op) {
        if self.scheduled.insert(removal.clone()) {
            self.removals.push(removal);
        }
    }

    /// Stages `metadata` as the new catalogue and makes every staged change visible at once.
    /// If it fails before the decision, the store is unchanged and the other staged files are
    /// kept, so the caller may retry (a batch end) or drop the transaction to discard them.
    /// Once decided it returns Ok even if applying the record failed (`is_unfinished` then
    /// says the record awaits `finish_pending`); the one error after the decision is a durable
    /// store's failed fsync (`is_decided` tells it apart).
    pub fn commit(&mut self, metadata: &[u8]) -> Result<()> {
        let result = self.try_commit(metadata);
        if self.done {
            // Best effort: left behind, such a file is an orphan no state references.
            for target in std::mem::take(&mut self.after) {
                let _ = fsutil::remove_if_exists(&self.dir.join(target));
            }
        }
        if result.is_err() && !self.done {
            self.unstage(METADATA_FILE);
        }
        if let (Some(p), Some(swap)) = (self.prepared.take(), &self.swap) {
            // Not decided: the spare holds bytes never published, harmless.
            if self.done {
                swap.renamed(&self.dir, *p, self.applied);
            }
        }
        result
    }

    fn try_commit(&mut self, metadata: &[u8]) -> Result<()> {
        if self.durable {
            // Placed files must be on disk before a catalogue naming them can be; their names
            // reach disk with the directory fsync after the decision, ordered before the
            // catalogue's exchange or rename as a record's staged files are before the record.
            for target in &self.placed {
                let path = self.dir.join(target);
                let f =
                    fsutil::open_read(&path).ctx(format_args!("cannot open {}", path.display()))?;
                fsutil::sync_all(&f).ctx(format_args!("cannot fsync {}", path.display()))?;
            }
        }
        if let (true, true, Some(swap)) =
            (self.staged.is_empty(), self.removals.is_empty(), &self.swap)
        {
            if swap.commit(&self.dir, metadata, self.durable)? == Swapped::Yes {
                self.done = true;
                if self.durable {
                    fsync_after_decision(&self.dir)?;
                }
                return Ok(());
            }
        }
        // With a record, the catalogue goes into the spare as well (renamed in by the record).
        if let (false, Some(swap)) = (
            self.staged.is_empty() && self.removals.is_empty(),
            &self.swap,
        ) {
            self.prepared = swap
                .prepare(&self.dir, metadata, self.durable)?
                .map(Box::new);
        }
        let meta_path = match self.prepared {
            Some(_) => None,
            None => {
                let (meta_file, meta_path) = self.stage(METADATA_FILE)?;
                fsutil::write_all_at(&meta_file, metadata, 0)
                    .ctx(format_args!("cannot write {}", meta_path.display()))?;
                Some(meta_path)
            }
        };
        if self.durable {
            for (staged, _) in &self.staged {
                let path = self.dir.join(staged);
                let f =
                    fsutil::open_read(&path).ctx(format_args!("cannot open {}", path.display()))?;
                fsutil::sync_all(&f).ctx(format_args!("cannot fsync {}", path.display()))?;
            }
        }
        let only_catalogue =
            self.prepared.is_none() && self.staged.len() == 1 && self.removals.is_empty();
        let mut asides = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        for (from, to) in self.staged.clone() {
            ops.push(match self.keeps.get(&to) {
                Some(keep) => Op::RenameKeepingOld {
                    from,
                    to,
                    keep: keep.clone(),
                },
                // Alone, the catalogue's rename over the old one is the atomic step.
                None if only_catalogue || to.contains('/') => Op::Rename { from, to },
                // With a record, the file being replaced is first moved aside and removed
                // after: a rename onto a free name starts no writeback (ext4's auto_da_alloc
                // does for a rename over a file). Readers resolve the record meanwhile.
                None => {
                    self.seq += 1;
                    let keep = format!("{SPARE_PREFIX}{}-{}", self.id(), self.seq);
                    asides.push(Op::Remove { path: keep.clone() });
                    Op::RenameKeepingOld { from, to, keep }
                }
            });
        }
        if let Some(p) = &self.prepared {
            // Last of the renames, as a staged catalogue is.
            ops.push(Op::RenameKeepingOld {
                from: p.from.clone(),
                to: METADATA_FILE.to_string(),
                keep: p.keep.clone(),
            });
        }
        // A file replaced by a rename in this commit must not then be removed.
        let renamed_onto: HashSet<&str> = self.staged.iter().map(|(_, to)| to.as_str()).collect();
        ops.extend(
            self.removals
                .iter()
                .filter(|r| match r {
                    Op::Remove { path } => !renamed_onto.contains(path.as_str()),
                    _ => true,
                })
                .cloned(),
        );
        ops.extend(asides);

        if let (true, Some(meta_path)) = (only_catalogue, &meta_path) {
            // Only the catalogue changes: its own rename is the atomic step.
            let meta = self.dir.join(METADATA_FILE);
            std::fs::rename(meta_path, &meta).ctx(format_args!(
                "cannot rename {} to {}",
                meta_path.display(),
                meta.display()
            ))?;
            self.done = true;
            if self.durable {
                fsync_after_decision(&self.dir)?;
            }
            return Ok(());
        }

        let record = Record {
            txid: self.id().to_string(),
            ops,
        };
        let tmp = self.dir.join(COMMIT_TMP);
        let bytes = record.encode();
        let write_tmp = || -> Result<()> {
            let f =
                std::fs::File::create(&tmp).ctx(format_args!("cannot create {}", tmp.display()))?;
            fsutil::write_all_at(&f, &bytes, 0)
                .ctx(format_args!("cannot write {}", tmp.display()))?;
            if self.durable {
                fsutil::sync_all(&f).ctx(format_args!("cannot fsync {}", tmp.display()))?;
            }
            Ok(())
        };
        if let Err(e) = write_tmp() {
            let _ = fsutil::remove_if_exists(&tmp);
            return Err(e);
        }
        let record_path = self.dir.join(COMMIT_FILE);
        if let Err(e) = std::fs::rename(&tmp, &record_path) {
            let _ = fsutil::remove_if_exists(&tmp);
            return Err(Error::io(
                format!("cannot rename {} into place", tmp.display()),
                &e,
            ));
        }
        // Decided: from here on the staged files belong to the record, never to the rollback,
        // and the commit has happened whatever fails next.
        self.done = true;
        self.unfinished = true;
        if self.durable {
            fsync_after_decision(&self.dir)?;
        }
        // A failure to apply is not the caller's: readers already roll the record forward, and
        // the next write on this handle (or the next writer open) completes it.
        if apply(&self.dir, &record).is_err() {
            return Ok(());
        }
        self.applied = true;
        if self.durable {
            fsync_after_decision(&self.dir)?;
        }
        if fsutil::remove_if_exists(&record_path).is_ok() {
            self.unfinished = false;
        }
        Ok(())
    }

    /// Unique among transactions: process, time, and a counter of this process.
    fn id(&self) -> &str {
        self.txid.get_or_init(|| {
            format!(
                "{:x}-{:x}-{}",
                std::process::id(),
                fsutil::now_micros(),
                self.n
            )
            .into_boxed_str()
        })
    }

    /// True once the commit is decided: from then on it happens, even if `commit` reported an
    /// error (only a durable store's fsync can fail after the decision).
    pub fn is_decided(&self) -> bool {
        self.done
    }

    /// True when the commit is decided but its record is still on disk, to be completed by
    /// `finish_pending` before the next commit.
    pub fn is_unfinished(&self) -> bool {
        self.unfinished
    }

    #[cfg(test)]
    pub fn txid(&self) -> &str {
        self.id()
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if !self.done {
            for (staged, _) in &self.staged {
                let _ = fsutil::remove_if_exists(&self.dir.join(staged));
            }
            for target in &self.placed {
                let _ = fsutil::remove_if_exists(&self.dir.join(target));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path holding `name` in the state `r` resolves, or None when its commit removes it.
    fn resolve(r: &Resolver, dir: &Path, name: &str) -> Option<PathBuf> {
        let candidates = r.candidates(dir, name)?;
        candidates
            .iter()
            .find(|p| p.exists())
            .or(candidates.last())
            .cloned()
    }
    use crate::test_util::{names, record_t, tmp};

    /// The staged side of a rename is only checked for its prefix, so a record can name any
    /// file on the machine through `.npk-stage-x/../..`; and the one allowed sub-folder may be
    /// a symbolic link. Recovery then moves or deletes files outside the store.
    #[test]
    fn a_hostile_record_cannot_reach_outside_the_store() {
        let mut accepted = Vec::new();
        for from in [
            format!("{STAGE_PREFIX}x/../../victim"),
            format!("{STAGE_PREFIX}x/y"),
            format!("{STAGE_PREFIX}x/../{STAGE_PREFIX}y"),
        ] {
            let op = Op::Rename {
                from,
                to: "data_a.npkd".into(),
            };
            let record = Record {
                txid: "t".into(),
                ops: vec![op.clone()],
            };
            if Record::decode(&record.encode()).is_ok() {
                accepted.push(op);
            }
        }

        let root = tmp("hostile");
        let store = root.join("store");
        let outside = root.join("outside");
        std::fs::create_dir_all(store.join(format!("{STAGE_PREFIX}x"))).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), b"precious").unwrap();
        std::fs::write(outside.join("victim2"), b"precious").unwrap();
        std::os::unix::fs::symlink(&outside, store.join("data_s_segments")).unwrap();
        let record = Record {
            txid: "t".into(),
            ops: vec![
                Op::Rename {
                    from: format!("{STAGE_PREFIX}x/../../outside/victim"),
                    to: "data_a.npkd".into(),
                },
                Op::Remove {
                    path: "data_s_segments/victim2".into(),
                },
            ],
        };
        std::fs::write(store.join(COMMIT_FILE), record.encode()).unwrap();
        let _ = recover(&store);
        let left = names(&outside);
        let in_store = names(&store);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            (left, accepted),
            (vec!["victim".to_string(), "victim2".to_string()], vec![]),
            "recovery touched files outside the store (store now holds {in_store:?}), \
             or decode accepted hostile renames"
        );
    }

    #[test]
    fn staged_names_carry_the_txid_and_txids_are_unique() {
        let dir = tmp("txid");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let mut txn = Txn::new(&dir, false);
            assert!(seen.insert(txn.txid().to_string()));
            let (_, p) = txn.stage("data_a.npkd").unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with(&format!("{STAGE_PREFIX}{}-", txn.txid())),
                "{name}"
            );
            assert_eq!(p.parent(), Some(dir.as_path()));
        }
        assert_eq!(
            names(&dir),
            Vec::<String>::new(),
            "dropped txns leave nothing"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dropped_txn_removes_what_it_staged_and_unstage_removes_at_once() {
        let dir = tmp("drop");
        std::fs::write(dir.join("data_a.npkd"), b"old").unwrap();
        let mut txn = Txn::new(&dir, false);
        let (f, a) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"new", 0).unwrap();
        let (_, b) = txn.stage("data_b.npkd").unwrap();
        let (_, b2) = txn.stage("data_b.npkd").unwrap();
        assert!(!b.exists() && b2.exists());
        txn.unstage("data_a.npkd");
        assert!(!a.exists());
        assert_eq!(txn.staged_path("data_a.npkd"), None);
        txn.remove("data_a.npkd");
        drop(txn);
        assert_eq!(names(&dir), vec!["data_a.npkd"]);
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"old");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_commit_renames_then_removes_and_leaves_no_protocol_files() {
        for durable in [false, true] {
            let dir = tmp("apply");
            for f in [
                "data_a.npkd",
                "data_c.npkd",
                "deleted_a.npkb",
                METADATA_FILE,
            ] {
                std::fs::write(dir.join(f), b"old").unwrap();
            }
            std::fs::create_dir(dir.join("data_s_segments")).unwrap();
            std::fs::write(dir.join("data_s_segments/seg_000000.npkd"), b"s").unwrap();
            let mut txn = Txn::new(&dir, durable);
            let (f, _) = txn.stage("data_a.npkd").unwrap();
            fsutil::write_all_at(&f, b"new a", 0).unwrap();
            let (f, _) = txn.stage("data_n.npkd").unwrap();
            fsutil::write_all_at(&f, b"new n", 0).unwrap();
            txn.remove("data_a.npkd"); // replaced above: must survive as the new file
            txn.remove("data_c.npkd");
            txn.remove("deleted_a.npkb");
            txn.remove("data_never_existed.npkd");
            txn.remove("data_s_segments/seg_000000.npkd");
            txn.remove_dir("data_s_segments");
            txn.remove_dir("no_such_dir");
            txn.commit(b"new meta").unwrap();
            assert_eq!(
                names(&dir),
                vec!["data_a.npkd", "data_n.npkd", METADATA_FILE],
                "durable={durable}"
            );
            assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"new a");
            assert_eq!(std::fs::read(dir.join("data_n.npkd")).unwrap(), b"new n");
            assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"new meta");
            drop(txn);
            assert_eq!(
                names(&dir).len(),
                3,
                "a committed txn's drop removes nothing"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_catalogue_only_commit_needs_no_record() {
        let dir = tmp("meta-only");
        std::fs::write(dir.join(METADATA_FILE), b"old").unwrap();
        // The record's temp name is unusable: a commit that needs a record must fail, one that
        // only replaces the catalogue must not care.
        std::fs::create_dir(dir.join(COMMIT_TMP)).unwrap();
        let mut txn = Txn::new(&dir, false);
        txn.commit(b"new").unwrap();
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"new");
        assert_eq!(names(&dir), vec![COMMIT_TMP, METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_commit_failing_before_the_decision_can_be_retried_or_dropped() {
        for retry in [true, false] {
            let dir = tmp("retry");
            std::fs::write(dir.join(METADATA_FILE), b"old").unwrap();
            std::fs::write(dir.join("data_a.npkd"), b"old a").unwrap();
            std::fs::create_dir(dir.join(COMMIT_TMP)).unwrap();
            std::fs::write(dir.join(COMMIT_TMP).join("x"), b"").unwrap();
            let mut txn = Txn::new(&dir, false);
            let (f, staged) = txn.stage("data_a.npkd").unwrap();
            fsutil::write_all_at(&f, b"new a", 0).unwrap();
            txn.commit(b"new").unwrap_err();
            assert!(!txn.is_decided());
            // Nothing decided: no record, the old files, the staged data kept, no staged
            // catalogue.
            assert!(!dir.join(COMMIT_FILE).exists());
            assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"old");
            assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"old a");
            assert_eq!(txn.staged_path("data_a.npkd"), Some(staged.clone()));
            assert_eq!(txn.staged_path(METADATA_FILE), None);
            let staged_names: Vec<String> = names(&dir)
                .into_iter()
                .filter(|n| n.starts_with(STAGE_PREFIX))
                .collect();
            assert_eq!(staged_names.len(), 1, "{staged_names:?}");
            std::fs::remove_dir_all(dir.join(COMMIT_TMP)).unwrap();
            if retry {
                txn.commit(b"new").unwrap();
                assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"new");
                assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"new a");
            } else {
                drop(txn);
                assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"old a");
            }
            assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_failure_after_the_decision_keeps_the_staged_files_for_recovery() {
        let dir = tmp("post-decision");
        std::fs::write(dir.join(METADATA_FILE), b"old").unwrap();
        std::fs::create_dir(dir.join("data_a.npkd")).unwrap();
        std::fs::write(dir.join("data_a.npkd").join("x"), b"").unwrap();
        let mut txn = Txn::new(&dir, false);
        let (f, staged) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"new a", 0).unwrap();
        // Decided: the commit happened, so it reports success and leaves its record for
        // `finish_pending` (or recovery) to complete.
        txn.commit(b"new").unwrap();
        assert!(txn.is_decided() && txn.is_unfinished());
        drop(txn);
        assert!(
            staged.exists(),
            "a decided commit's staged file was removed"
        );
        let record = read_record(&dir).unwrap().unwrap();
        let renames = record
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Rename { .. } | Op::RenameKeepingOld { .. }));
        assert_eq!(renames.count(), 2, "{:?}", record.ops);
        std::fs::remove_dir_all(dir.join("data_a.npkd")).unwrap();
        assert!(recover(&dir).unwrap());
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"new a");
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"new");
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// On a durable store a failed directory fsync after the decision is the one error a
    /// decided commit returns: the change is in place (the record is on disk, readers roll it
    /// forward), but not confirmed durable, and the record waits for `finish_pending`.
    #[test]
    fn a_durable_commit_whose_fsync_fails_after_the_decision_reports_it() {
        let dir = tmp("durable-fsync");
        std::fs::write(dir.join(METADATA_FILE), b"old").unwrap();
        let mut txn = Txn::new(&dir, true);
        let (f, _) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"new a", 0).unwrap();
        fsutil::fail_points::FSYNC_DIR_FAILS.set(true);
        let err = txn.commit(b"new").unwrap_err();
        fsutil::fail_points::FSYNC_DIR_FAILS.set(false);
        assert_eq!(err.kind, ErrorKind::NotDurable);
        assert!(err.message.contains("not confirmed durable"), "{err}");
        assert!(txn.is_decided() && txn.is_unfinished());
        drop(txn);
        assert!(read_record(&dir).unwrap().is_some());
        assert!(finish_pending(&dir).unwrap());
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"new a");
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"new");
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn ino(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).unwrap().ino()
    }

    /// The spare catalogue files in `dir`.
    fn cat_spares(dir: &Path) -> Vec<String> {
        names(dir)
            .into_iter()
            .filter(|n| n.starts_with(crate::format::record::CATALOGUE_SPARE_PREFIX))
            .collect()
    }

    fn swap_commit(dir: &Path, swap: &Arc<CatalogueSwap>, durable: bool, bytes: &[u8]) -> Txn {
        let mut txn = Txn::new(dir, durable).with_swap(swap.clone());
        txn.commit(bytes).unwrap();
        assert!(txn.is_decided() && !txn.is_unfinished());
        txn
    }

    /// Catalogues of many pages that change anywhere (the header, one page in the middle, a
    /// grown or cut tail, everything) come out byte for byte over spares that only get their
    /// changed pages written, commit after commit.
    #[test]
    fn multi_page_catalogues_come_out_whole_when_only_changed_pages_are_written() {
        let dir = tmp("swap-pages");
        std::fs::write(dir.join(METADATA_FILE), b"start").unwrap();
        let swap = Arc::new(CatalogueSwap::default());
        let mut bytes: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..60 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % bytes.len() as u64) as usize;
            match round % 5 {
                0 => bytes[0..8].copy_from_slice(&seed.to_le_bytes()),
                1 => bytes[at] = bytes[at].wrapping_add(1),
                2 => bytes.extend_from_slice(&seed.to_le_bytes()[..(seed % 8) as usize]),
                3 => bytes.truncate(bytes.len() - (seed % 5000) as usize),
                _ => bytes.iter_mut().for_each(|b| *b = b.wrapping_mul(3)),
            }
            swap_commit(&dir, &swap, round % 7 == 0, &bytes);
            assert_eq!(
                std::fs::read(dir.join(METADATA_FILE)).unwrap(),
                bytes,
                "round {round}"
            );
        }
    }

    /// A catalogue-only commit overwrites the spare in place and exchanges it with the
    /// catalogue: the two files take turns (the old catalogue's inode comes back two commits
    /// later), no staged file or record is made, and a shorter catalogue is cut to its length.
    #[test]
    fn a_catalogue_only_commit_exchanges_the_spare_and_the_old_catalogue_becomes_it() {
        let dir = tmp("swap");
        std::fs::write(dir.join(METADATA_FILE), b"catalogue one").unwrap();
        let first = ino(&dir.join(METADATA_FILE));
        let swap = Arc::new(CatalogueSwap::default());
        swap_commit(&dir, &swap, false, b"catalogue two, longer");
        let spare = cat_spares(&dir);
        assert_eq!(spare.len(), 1, "{:?}", names(&dir));
        assert_eq!(names(&dir), vec![spare[0].clone(), METADATA_FILE.into()]);
        assert_eq!(
            std::fs::read(dir.join(&spare[0])).unwrap(),
            b"catalogue one"
        );
        assert_eq!(ino(&dir.join(&spare[0])), first);
        let second = ino(&dir.join(METADATA_FILE));

        swap_commit(&dir, &swap, false, b"three");
        assert_eq!(
            ino(&dir.join(METADATA_FILE)),
            first,
            "not exchanged in place"
        );
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
        assert_eq!(cat_spares(&dir), spare, "the spare keeps its name");
        assert_eq!(ino(&dir.join(&spare[0])), second);
        swap_commit(&dir, &swap, false, b"four, longer than three");
        assert_eq!(ino(&dir.join(METADATA_FILE)), second);
        assert_eq!(
            std::fs::read(dir.join(METADATA_FILE)).unwrap(),
            b"four, longer than three"
        );
        swap.discard();
        assert_eq!(names(&dir), vec![METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A spare that someone holds open (a reader that opened the catalogue just before it was
    /// swapped out) is never written: the commit uses a fresh file, and the holder keeps
    /// reading the bytes it opened.
    #[test]
    fn a_spare_a_reader_holds_is_left_alone_and_a_fresh_one_is_used() {
        let dir = tmp("swap-held");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        let swap = Arc::new(CatalogueSwap::default());
        swap_commit(&dir, &swap, false, b"two");
        let spare = cat_spares(&dir);
        let held = std::fs::File::open(dir.join(&spare[0])).unwrap();
        let held_ino = ino(&dir.join(&spare[0]));
        swap_commit(&dir, &swap, false, b"three");
        let mut back = String::new();
        std::io::Read::read_to_string(&mut &held, &mut back).unwrap();
        assert_eq!(back, "one", "a held spare was overwritten");
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
        assert_ne!(ino(&dir.join(METADATA_FILE)), held_ino);
        let now = cat_spares(&dir);
        assert_eq!(now.len(), 1, "{:?}", names(&dir));
        assert_ne!(now, spare, "the held spare's name was not given up");
        assert_eq!(std::fs::read(dir.join(&now[0])).unwrap(), b"two");
        drop(held);
        // Nobody holds the spare now: exchanged in place again.
        let spare_ino = ino(&dir.join(&now[0]));
        swap_commit(&dir, &swap, false, b"four");
        assert_eq!(ino(&dir.join(METADATA_FILE)), spare_ino);
        swap.discard();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Without RENAME_EXCHANGE or leases (EINVAL, ENOSYS, EOPNOTSUPP) commits take the rename
    /// path, from then on, and leave no spare; another failure of either falls back for that
    /// commit only.
    #[test]
    fn without_exchange_or_leases_commits_take_the_rename_path() {
        use crate::store::swap::fail_points::{EXCHANGE_FAILS_WITH, LEASE_FAILS_WITH};
        for (point, errno) in [
            (&EXCHANGE_FAILS_WITH, libc::EINVAL),
            (&EXCHANGE_FAILS_WITH, libc::ENOSYS),
            (&EXCHANGE_FAILS_WITH, libc::EOPNOTSUPP),
            (&LEASE_FAILS_WITH, libc::EINVAL),
            (&EXCHANGE_FAILS_WITH, libc::EIO),
            (&LEASE_FAILS_WITH, libc::EAGAIN),
        ] {
            let dir = tmp("swap-off");
            std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
            let swap = Arc::new(CatalogueSwap::default());
            swap_commit(&dir, &swap, false, b"two");
            point.set(Some(errno));
            let spare = cat_spares(&dir);
            let spare_ino = ino_or_0(&dir, &spare);
            swap_commit(&dir, &swap, false, b"three");
            point.set(None);
            assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
            let turned_off = errno != libc::EIO && errno != libc::EAGAIN;
            if errno == libc::EAGAIN {
                // Refused lease: a fresh spare, exchanged in.
                assert_ne!(cat_spares(&dir), spare);
            } else if errno == libc::EIO {
                // This commit renamed a new catalogue in; the spare stays for the next one.
                assert_eq!(cat_spares(&dir), spare);
                assert_eq!(ino_or_0(&dir, &spare), spare_ino);
                assert_ne!(ino(&dir.join(METADATA_FILE)), spare_ino);
            } else {
                assert_eq!(cat_spares(&dir), Vec::<String>::new());
            }
            swap_commit(&dir, &swap, false, b"four");
            assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"four");
            assert_eq!(
                cat_spares(&dir).is_empty(),
                turned_off,
                "errno {errno}: {:?}",
                names(&dir)
            );
            swap.discard();
            assert_eq!(names(&dir), vec![METADATA_FILE]);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    fn ino_or_0(dir: &Path, names: &[String]) -> u64 {
        names.first().map(|n| ino(&dir.join(n))).unwrap_or(0)
    }

    /// A durable catalogue-only commit makes two fsyncs: the spare before the exchange (so the
    /// exchange cannot reach the disk before the bytes it publishes) and the directory after it
    /// (so the commit is on disk when it returns). A failed first one leaves the store as it
    /// was; a failed second one is the decided commit's NotDurable.
    #[test]
    fn a_durable_swap_fsyncs_the_spare_before_and_the_directory_after() {
        use crate::store::fsutil::fail_points::{FSYNCS, FSYNC_DIR_FAILS, FSYNC_FILE_FAILS};
        let dir = tmp("swap-durable");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        let swap = Arc::new(CatalogueSwap::default());
        FSYNCS.set(0);
        swap_commit(&dir, &swap, true, b"two");
        assert_eq!(FSYNCS.get(), 2);

        FSYNC_FILE_FAILS.set(true);
        let mut txn = Txn::new(&dir, true).with_swap(swap.clone());
        let err = txn.commit(b"three").unwrap_err();
        FSYNC_FILE_FAILS.set(false);
        assert_eq!(err.kind, ErrorKind::Io, "{err}");
        assert!(!txn.is_decided());
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"two");
        drop(txn);

        FSYNC_DIR_FAILS.set(true);
        let mut txn = Txn::new(&dir, true).with_swap(swap.clone());
        let err = txn.commit(b"four").unwrap_err();
        FSYNC_DIR_FAILS.set(false);
        assert_eq!(err.kind, ErrorKind::NotDurable, "{err}");
        assert!(txn.is_decided() && !txn.is_unfinished());
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"four");

        FSYNCS.set(0);
        swap_commit(&dir, &swap, true, b"five");
        assert_eq!(FSYNCS.get(), 2);
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"five");
        swap.discard();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A durable append through a store handle makes exactly the three fsyncs the README
    /// names: the data file, the spare catalogue before the exchange, the directory after it.
    #[test]
    fn a_durable_append_makes_three_fsyncs() {
        use crate::format::DType;
        use crate::layout::Src;
        use crate::store::fsutil::fail_points::FSYNCS;
        use crate::store::{OpenOptions, Store};
        let dir = tmp("durable-append");
        let s = Store::open(
            &dir,
            OpenOptions {
                create: true,
                durable: true,
                ..Default::default()
            },
        )
        .unwrap();
        let row = [7u8; 8];
        let src = Src::contiguous(&row, &[1, 2], 4).unwrap();
        s.save("x", DType::I32, &src).unwrap();
        for appends in 1..4 {
            FSYNCS.set(0);
            s.append("x", DType::I32, &src).unwrap();
            assert_eq!(FSYNCS.get(), 3, "append {appends}");
        }
        assert_eq!(s.info("x").unwrap().shape, vec![4, 2]);
        assert_eq!(cat_spares(&dir).len(), 1, "{:?}", names(&dir));
        drop(s);
        assert_eq!(
            cat_spares(&dir),
            Vec::<String>::new(),
            "closed with a spare left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A new array's save writes its data file under its own name and commits the catalogue
    /// alone: durable, it makes the append's three fsyncs (the data file, the spare catalogue,
    /// the directory), and a plain drop two; a failing fsync of the new file before the
    /// decision removes it and leaves the store as it was.
    #[test]
    fn a_durable_new_array_save_makes_three_fsyncs_and_a_failed_one_leaves_no_file() {
        use crate::format::DType;
        use crate::layout::Src;
        use crate::store::fsutil::fail_points::{FSYNCS, FSYNC_FILE_FAILS};
        use crate::store::{OpenOptions, Store};
        let dir = tmp("durable-new");
        let s = Store::open(
            &dir,
            OpenOptions {
                create: true,
                durable: true,
                ..Default::default()
            },
        )
        .unwrap();
        let row = [7u8; 8];
        let src = Src::contiguous(&row, &[1, 2], 4).unwrap();
        s.save("x", DType::I32, &src).unwrap();
        for name in ["y", "z"] {
            FSYNCS.set(0);
            s.save(name, DType::I32, &src).unwrap();
            assert_eq!(FSYNCS.get(), 3, "save of {name}");
        }
        FSYNCS.set(0);
        s.drop_arrays(&["z"]).unwrap();
        assert_eq!(FSYNCS.get(), 2, "drop");
        assert!(!dir.join("data_z.npkd").exists());
        let before = names(&dir);
        FSYNC_FILE_FAILS.set(true);
        let err = s.save("n", DType::I32, &src).unwrap_err();
        FSYNC_FILE_FAILS.set(false);
        assert_eq!(err.kind, ErrorKind::Io, "{err}");
        assert_eq!(names(&dir), before, "the failed save left a file");
        assert_eq!(s.list(), vec!["x", "y"]);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A transaction dropped undecided removes the files it placed under their own names; a
    /// leftover at such a name is replaced by a new file, never written into.
    #[test]
    fn placed_files_go_with_an_undecided_txn() {
        let dir = tmp("placed");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        std::fs::write(dir.join("data_a.npkd"), b"orphan").unwrap();
        std::fs::write(dir.join("deleted_a.npkb"), b"bits").unwrap();
        let old = std::fs::File::open(dir.join("data_a.npkd")).unwrap();
        let mut txn = Txn::new(&dir, false);
        let (f, _) = txn
            .place_new("data_a.npkd", &["deleted_a.npkb".to_string()])
            .unwrap();
        fsutil::write_all_at(&f, b"new", 0).unwrap();
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        let mut was = Vec::new();
        std::io::Read::read_to_end(&mut &old, &mut was).unwrap();
        assert_eq!(was, b"orphan");
        drop(txn);
        assert_eq!(names(&dir), vec![METADATA_FILE]);
        let mut txn = Txn::new(&dir, false);
        let (f, _) = txn.place_new("data_a.npkd", &[]).unwrap();
        fsutil::write_all_at(&f, b"new", 0).unwrap();
        txn.commit(b"two").unwrap();
        drop(txn);
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"new");
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A commit with a record (other files change) writes its catalogue into the spare too,
    /// and the record renames it in after moving the old catalogue aside, which becomes the
    /// spare: no catalogue file is created or freed, and no rename lands on an existing file.
    /// The swap carries on after it.
    #[test]
    fn record_commits_rename_the_spare_in_and_keep_the_old_catalogue_as_the_next() {
        let dir = tmp("swap-record");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        std::fs::write(dir.join("data_a.npkd"), b"old a").unwrap();
        let swap = Arc::new(CatalogueSwap::default());
        swap_commit(&dir, &swap, false, b"two");
        let spare = cat_spares(&dir);
        let (spare_ino, cat_ino) = (ino(&dir.join(&spare[0])), ino(&dir.join(METADATA_FILE)));
        let mut txn = Txn::new(&dir, false).with_swap(swap.clone());
        let (f, _) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"a", 0).unwrap();
        txn.commit(b"three").unwrap();
        assert!(txn.is_decided() && !txn.is_unfinished());
        drop(txn);
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
        assert_eq!(ino(&dir.join(METADATA_FILE)), spare_ino);
        let now = cat_spares(&dir);
        assert_eq!(now.len(), 1, "{:?}", names(&dir));
        assert_eq!(
            ino(&dir.join(&now[0])),
            cat_ino,
            "the old catalogue is the spare"
        );
        assert_eq!(std::fs::read(dir.join(&now[0])).unwrap(), b"two");
        assert_eq!(
            names(&dir),
            vec![now[0].clone(), "data_a.npkd".into(), METADATA_FILE.into()],
            "the old data file moved aside was removed"
        );
        swap_commit(&dir, &swap, false, b"four");
        assert_eq!(ino(&dir.join(METADATA_FILE)), cat_ino);
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"four");
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"a");
        // A writer's open sweeps a spare its crashed predecessor left.
        std::mem::forget(swap);
        assert!(!recover(&dir).unwrap());
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A crash after the decision of a commit whose catalogue is in the spare: the record names
    /// the spare, recovery renames it in before it sweeps spare files, and readers meanwhile
    /// read the spare the record names.
    #[test]
    fn a_decided_record_naming_the_spare_is_rolled_forward_before_spares_are_swept() {
        let dir = tmp("swap-record-crash");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        std::fs::create_dir(dir.join("data_a.npkd")).unwrap(); // blocks the first rename
        let swap = Arc::new(CatalogueSwap::default());
        swap_commit(&dir, &swap, false, b"two");
        let mut txn = Txn::new(&dir, false).with_swap(swap.clone());
        let (f, _) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"a", 0).unwrap();
        txn.commit(b"three").unwrap();
        assert!(txn.is_decided() && txn.is_unfinished());
        drop(txn);
        std::mem::forget(swap); // the writer dies
        let record = read_record(&dir).unwrap().unwrap();
        assert_eq!(
            resolve(&Resolver::rolled_forward(record), &dir, METADATA_FILE)
                .map(|p| std::fs::read(p).unwrap()),
            Some(b"three".to_vec())
        );
        std::fs::remove_dir(dir.join("data_a.npkd")).unwrap();
        assert!(recover(&dir).unwrap());
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
        assert_eq!(std::fs::read(dir.join("data_a.npkd")).unwrap(), b"a");
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A record commit whose spare a reader holds writes a fresh one and leaves the held file
    /// as it was.
    #[test]
    fn a_record_commit_leaves_a_held_spare_alone() {
        let dir = tmp("swap-record-held");
        std::fs::write(dir.join(METADATA_FILE), b"one").unwrap();
        let swap = Arc::new(CatalogueSwap::default());
        swap_commit(&dir, &swap, false, b"two");
        let spare = cat_spares(&dir);
        let held = std::fs::File::open(dir.join(&spare[0])).unwrap();
        let mut txn = Txn::new(&dir, false).with_swap(swap.clone());
        let (f, _) = txn.stage("data_a.npkd").unwrap();
        fsutil::write_all_at(&f, b"a", 0).unwrap();
        txn.commit(b"three").unwrap();
        let mut back = String::new();
        std::io::Read::read_to_string(&mut &held, &mut back).unwrap();
        assert_eq!(back, "one", "a held spare was overwritten");
        assert_eq!(std::fs::read(dir.join(METADATA_FILE)).unwrap(), b"three");
        assert_eq!(cat_spares(&dir).len(), 1, "{:?}", names(&dir));
        swap.discard();
        assert_eq!(names(&dir), vec!["data_a.npkd", METADATA_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recovery_without_a_record_sweeps_only_protocol_files() {
        let dir = tmp("sweep");
        let keep = [
            METADATA_FILE,
            "data_a.npkd",
            ".npk-stage",
            ".npk-stagex",
            "x.npk-stage-1",
            ".npk.commit.tmp2",
            ".npk.lock",
        ];
        for f in keep {
            std::fs::write(dir.join(f), b"k").unwrap();
        }
        for f in [
            format!("{STAGE_PREFIX}1-2-3-1"),
            STAGE_PREFIX.to_string(),
            COMMIT_TMP.to_string(),
        ] {
            std::fs::write(dir.join(f), b"garbage").unwrap();
        }
        assert!(!recover(&dir).unwrap());
        let mut want: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(names(&dir), want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recovery_rolls_a_record_forward_from_any_point_idempotently() {
        let record = |dir: &Path| -> Record {
            for (f, c) in [
                (METADATA_FILE, "old meta"),
                ("data_a.npkd", "old a"),
                ("data_c.npkd", "old c"),
                (".npk-stage-t-1", "new a"),
                (".npk-stage-t-2", "new b"),
                (".npk-stage-t-3", "new meta"),
            ] {
                std::fs::write(dir.join(f), c).unwrap();
            }
            record_t()
        };
        for applied in 0..=4 {
            let dir = tmp("roll");
            let rec = record(&dir);
            apply(
                &dir,
                &Record {
                    txid: rec.txid.clone(),
                    ops: rec.ops[..applied].to_vec(),
                },
            )
            .unwrap();
            std::fs::write(dir.join(COMMIT_FILE), rec.encode()).unwrap();
            // The resolver shows the final state at every point.
            let res = Resolver::rolled_forward(rec.clone());
            assert_eq!(res.txid(), Some("t"));
            for (name, want) in [
                ("data_a.npkd", Some("new a")),
                ("data_b.npkd", Some("new b")),
                (METADATA_FILE, Some("new meta")),
                ("data_c.npkd", None),
            ] {
                let got = resolve(&res, &dir, name).map(|p| std::fs::read_to_string(p).unwrap());
                assert_eq!(got.as_deref(), want, "{name} after {applied} ops");
            }
            assert!(recover(&dir).unwrap());
            assert!(!recover(&dir).unwrap());
            assert_eq!(
                names(&dir),
                vec!["data_a.npkd", "data_b.npkd", METADATA_FILE],
                "after {applied} ops"
            );
            for (f, c) in [
                (METADATA_FILE, "new meta"),
                ("data_a.npkd", "new a"),
                ("data_b.npkd", "new b"),
            ] {
                assert_eq!(std::fs::read_to_string(dir.join(f)).unwrap(), c);
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn recovery_with_a_corrupt_record_changes_nothing() {
        let dir = tmp("corrupt");
        std::fs::write(dir.join(".npk-stage-t-1"), b"staged").unwrap();
        std::fs::write(dir.join(COMMIT_TMP), b"tmp").unwrap();
        let mut bytes = Record {
            txid: "t".into(),
            ops: vec![Op::Rename {
                from: ".npk-stage-t-1".into(),
                to: "data_a.npkd".into(),
            }],
        }
        .encode();
        bytes[10] ^= 1;
        std::fs::write(dir.join(COMMIT_FILE), &bytes).unwrap();
        let before = names(&dir);
        let err = recover(&dir).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Corrupt);
        assert_eq!(names(&dir), before);
        assert_eq!(read_record(&dir).unwrap_err().kind, err.kind);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_direct_resolver_names_files_in_place() {
        let dir = Path::new("/s");
        let r = Resolver::direct();
        assert_eq!(r.txid(), None);
        assert_eq!(
            resolve(&r, dir, "data_a.npkd"),
            Some(dir.join("data_a.npkd"))
        );
        assert_eq!(Resolver::default().txid(), None);
    }
}
