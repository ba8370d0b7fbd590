//! The commit protocol. Every structural change is staged in new files next to the store, then
//! decided by one atomic rename: of `metadata.npkm` alone when that is the only file that
//! changes, otherwise of a commit record (`.npk.commit`) that lists the renames and removals to
//! apply. A record on disk means "decided": recovery rolls it forward, idempotently. Without a
//! record, staged files are garbage and are swept. So after a crash at any instant a reopen
//! shows every file of a commit new, or every one old.
//!
//! Order of a commit: write staged files → (durable: fsync them) → write record to a temp name →
//! (durable: fsync) → rename to `.npk.commit` → (durable: fsync dir) → apply renames, metadata
//! last → apply removals → (durable: fsync dir) → unlink the record.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};
use crate::format::metadata::METADATA_FILE;
use crate::store::fsutil;

pub const COMMIT_FILE: &str = ".npk.commit";
const COMMIT_TMP: &str = ".npk.commit.tmp";
pub const STAGE_PREFIX: &str = ".npk-stage-";
const RECORD_MAGIC: &[u8; 4] = b"NPKC";
const RECORD_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Move a staged file over its target (done when the staged file is gone).
    Rename { from: String, to: String },
    /// Remove a file the commit makes obsolete.
    Remove { path: String },
    /// Remove an emptied directory (a segmented array's segment folder).
    RemoveDir { path: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub txid: String,
    pub ops: Vec<Op>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Paths in a record come from disk and may be hostile: only names inside the store directory
/// (one optional sub-folder for segments) are accepted.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').count() <= 2
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(RECORD_MAGIC);
        out.extend_from_slice(&RECORD_VERSION.to_le_bytes());
        let put = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        put(&mut out, &self.txid);
        out.extend_from_slice(&(self.ops.len() as u32).to_le_bytes());
        for op in &self.ops {
            match op {
                Op::Rename { from, to } => {
                    out.push(1);
                    put(&mut out, from);
                    put(&mut out, to);
                }
                Op::Remove { path } => {
                    out.push(2);
                    put(&mut out, path);
                }
                Op::RemoveDir { path } => {
                    out.push(3);
                    put(&mut out, path);
                }
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Record, String> {
        if bytes.len() < 20 || &bytes[..4] != RECORD_MAGIC {
            return Err("commit record has no NPKC header".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if fnv1a(body) != u64::from_le_bytes(sum.try_into().unwrap()) {
            return Err("commit record checksum does not match".into());
        }
        let mut pos = 8usize;
        let u32_at = |pos: &mut usize| -> std::result::Result<u32, String> {
            let b = body.get(*pos..*pos + 4).ok_or("commit record truncated")?;
            *pos += 4;
            Ok(u32::from_le_bytes(b.try_into().unwrap()))
        };
        let str_at = |pos: &mut usize| -> std::result::Result<String, String> {
            let len = u32_at(pos)? as usize;
            let b = body
                .get(*pos..pos.saturating_add(len))
                .ok_or("commit record truncated")?;
            *pos += len;
            String::from_utf8(b.to_vec()).map_err(|_| "commit record has a non-UTF-8 path".into())
        };
        let txid = str_at(&mut pos)?;
        let n = u32_at(&mut pos)?;
        let mut ops = Vec::new();
        for _ in 0..n {
            let kind = *body.get(pos).ok_or("commit record truncated")?;
            pos += 1;
            let op = match kind {
                1 => Op::Rename {
                    from: str_at(&mut pos)?,
                    to: str_at(&mut pos)?,
                },
                2 => Op::Remove {
                    path: str_at(&mut pos)?,
                },
                3 => Op::RemoveDir {
                    path: str_at(&mut pos)?,
                },
                k => return Err(format!("commit record has unknown operation {k}")),
            };
            let ok = match &op {
                Op::Rename { from, to } => from.starts_with(STAGE_PREFIX) && safe_relative(to),
                Op::Remove { path } | Op::RemoveDir { path } => safe_relative(path),
            };
            if !ok {
                return Err(format!(
                    "commit record names a path outside the store: {op:?}"
                ));
            }
            ops.push(op);
        }
        if pos != body.len() {
            return Err("commit record has trailing bytes".into());
        }
        Ok(Record { txid, ops })
    }
}

pub fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(COMMIT_FILE);
    match fsutil::read_small(&path)? {
        None => Ok(None),
        Some(bytes) => Record::decode(&bytes)
            .map(Some)
            .map_err(|m| Error::corrupt(format!("{}: {m}", path.display()))),
    }
}

/// Applies a decided record. Idempotent: a rename whose staged file is gone was already done.
fn apply(dir: &Path, record: &Record) -> Result<()> {
    for op in &record.ops {
        match op {
            Op::Rename { from, to } => {
                let src = dir.join(from);
                if fsutil::regular_file_meta(&src)?.is_some() {
                    std::fs::rename(&src, dir.join(to))
                        .ctx(format_args!("cannot rename {} to {to}", src.display()))?;
                }
            }
            Op::Remove { path } => fsutil::remove_if_exists(&dir.join(path))
                .ctx(format_args!("cannot remove {}", dir.join(path).display()))?,
            Op::RemoveDir { path } => match std::fs::remove_dir(dir.join(path)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(
                        format!("cannot remove directory {}", dir.join(path).display()),
                        &e,
                    ))
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// Run by a writer at open, holding the lock: finish a decided commit, sweep staged garbage.
/// Returns true when a commit was rolled forward.
pub fn recover(dir: &Path) -> Result<bool> {
    let rolled = match read_record(dir)? {
        Some(record) => {
            apply(dir, &record)?;
            fsutil::fsync_dir(dir)?;
            fsutil::remove_if_exists(&dir.join(COMMIT_FILE)).ctx(format_args!(
                "cannot remove {}",
                dir.join(COMMIT_FILE).display()
            ))?;
            true
        }
        None => false,
    };
    let entries = std::fs::read_dir(dir).ctx(format_args!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGE_PREFIX) || name == COMMIT_TMP {
            fsutil::remove_if_exists(&entry.path())
                .ctx(format_args!("cannot remove {}", entry.path().display()))?;
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

    /// The path holding `name` in the resolved state, or None when the commit removes it.
    pub fn resolve(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        if let Some(record) = &self.record {
            for op in &record.ops {
                match op {
                    Op::Rename { from, to } if to == name => {
                        let staged = dir.join(from);
                        if staged.exists() {
                            return Some(staged);
                        }
                    }
                    Op::Remove { path } if path == name => return None,
                    _ => {}
                }
            }
        }
        Some(dir.join(name))
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
    txid: String,
    durable: bool,
    staged: Vec<(String, String)>,
    removals: Vec<Op>,
    seq: u64,
    done: bool,
}

impl Txn {
    pub fn new(dir: &Path, durable: bool) -> Txn {
        let n = TX_COUNTER.fetch_add(1, Ordering::Relaxed);
        Txn {
            dir: dir.to_path_buf(),
            txid: format!("{:x}-{:x}-{n}", std::process::id(), fsutil::now_micros()),
            durable,
            staged: Vec::new(),
            removals: Vec::new(),
            seq: 0,
            done: false,
        }
    }

    /// Creates the staged file that will replace `target` at commit; a file staged earlier for
    /// the same target in this transaction is discarded.
    pub fn stage(&mut self, target: &str) -> Result<(File, PathBuf)> {
        self.unstage(target);
        self.seq += 1;
        let name = format!("{STAGE_PREFIX}{}-{}", self.txid, self.seq);
        let path = self.dir.join(&name);
        let file = fsutil::create_new(&path).ctx(format_args!(
            "cannot create staging file {}",
            path.display()
        ))?;
        self.staged.push((name, target.to_string()));
        Ok((file, path))
    }

    /// Forgets and deletes what was staged for `target`, if anything.
    pub fn unstage(&mut self, target: &str) {
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

    pub fn remove(&mut self, target: &str) {
        self.removals.push(Op::Remove {
            path: target.to_string(),
        });
    }

    pub fn remove_dir(&mut self, target: &str) {
        self.removals.push(Op::RemoveDir {
            path: target.to_string(),
        });
    }

    /// Stages `metadata` as the new catalogue and makes every staged change visible at once.
    /// If it fails before the decision, the store is unchanged and the other staged files are
    /// kept, so the caller may retry (a batch end) or drop the transaction to discard them.
    pub fn commit(&mut self, metadata: &[u8]) -> Result<()> {
        let result = self.try_commit(metadata);
        if result.is_err() && !self.done {
            self.unstage(METADATA_FILE);
        }
        result
    }

    fn try_commit(&mut self, metadata: &[u8]) -> Result<()> {
        let (meta_file, meta_path) = self.stage(METADATA_FILE)?;
        fsutil::write_all_at(&meta_file, metadata, 0)
            .ctx(format_args!("cannot write {}", meta_path.display()))?;
        if self.durable {
            for (staged, _) in &self.staged {
                let path = self.dir.join(staged);
                let f =
                    fsutil::open_read(&path).ctx(format_args!("cannot open {}", path.display()))?;
                f.sync_all()
                    .ctx(format_args!("cannot fsync {}", path.display()))?;
            }
        }
        let mut ops: Vec<Op> = self
            .staged
            .iter()
            .map(|(from, to)| Op::Rename {
                from: from.clone(),
                to: to.clone(),
            })
            .collect();
        // A file replaced by a rename in this commit must not then be removed.
        ops.extend(
            self.removals
                .iter()
                .filter(|r| match r {
                    Op::Remove { path } => !self.staged.iter().any(|(_, to)| to == path),
                    _ => true,
                })
                .cloned(),
        );

        if ops.len() == 1 {
            // Only the catalogue changes: its own rename is the atomic step.
            let meta = self.dir.join(METADATA_FILE);
            std::fs::rename(&meta_path, &meta).ctx(format_args!(
                "cannot rename {} to {}",
                meta_path.display(),
                meta.display()
            ))?;
            self.done = true;
            if self.durable {
                fsutil::fsync_dir(&self.dir)?;
            }
            return Ok(());
        }

        let record = Record {
            txid: self.txid.clone(),
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
                f.sync_all()
                    .ctx(format_args!("cannot fsync {}", tmp.display()))?;
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
        // Decided: from here on the staged files belong to the record, never to the rollback.
        self.done = true;
        if self.durable {
            fsutil::fsync_dir(&self.dir)?;
        }
        apply(&self.dir, &record).map_err(|e| {
            Error::new(
                e.kind,
                format!("{e}; the commit is recorded and will be completed when the store is next opened for writing"),
            )
        })?;
        if self.durable {
            fsutil::fsync_dir(&self.dir)?;
        }
        fsutil::remove_if_exists(&record_path)
            .ctx(format_args!("cannot remove {}", record_path.display()))?;
        Ok(())
    }

    #[cfg(test)]
    pub fn txid(&self) -> &str {
        &self.txid
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if !self.done {
            for (staged, _) in &self.staged {
                let _ = fsutil::remove_if_exists(&self.dir.join(staged));
            }
        }
    }
}
