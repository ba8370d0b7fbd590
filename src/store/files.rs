//! Data files opened on first use, and a process-wide bound on how many stay open.
//!
//! A snapshot names every array's data file but opens it only when the array is first read or
//! written (`DataFile::get`), so opening a store costs the catalogue, not a descriptor and a
//! stat per array. What makes a late open safe differs by handle:
//! - A writer holds the store's lock: no other structural writer can replace a file, and a file
//!   its own commits replace is opened before the commit renames it away (`DataFile::seal`), so
//!   an older snapshot still in use keeps reading the file it names.
//! - A reader holds the catalogue file of its snapshot open (so that inode cannot be reused) and,
//!   after each late open, checks that no commit record appeared and that `metadata.npkm` is
//!   still that file (`Source::still_current`): then the file it opened belongs to its commit.
//!   If the store moved on, the open reports `stale` and the store decides what to do.
//!
//! Open files are kept, up to a cap of half the process's descriptor limit over all handles;
//! past it the least recently used unpinned one is closed, and reopened (with the same checks,
//! and its identity compared with the first open) when needed again. A mapping keeps its file
//! alive without a descriptor, so views and cached mappings survive an eviction.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::{ArrayMeta, METADATA_FILE};
use crate::format::names::data_file_name;
use crate::store::commit::{self, Resolver};
use crate::store::fsutil::{self, FileId};

/// Where a snapshot's files come from and how a late open is checked.
#[derive(Debug)]
pub struct Source {
    pub dir: PathBuf,
    pub writable: bool,
    /// The commit record the snapshot was read through (staged files first), if any.
    pub resolver: Resolver,
    /// A reader's catalogue, held for the snapshot's lifetime; None for a writer.
    pub reader: Option<ReaderCheck>,
}

#[derive(Debug)]
pub struct ReaderCheck {
    /// Held only so its inode cannot be reused by a newer catalogue while we compare against it.
    pub _meta_file: Arc<File>,
    pub meta_id: FileId,
}

impl Source {
    pub fn writer(dir: &Path) -> Arc<Source> {
        Arc::new(Source {
            dir: dir.to_path_buf(),
            writable: true,
            resolver: Resolver::direct(),
            reader: None,
        })
    }

    /// For a reader: the store is still in the commit the snapshot was read from. Asked after
    /// opening a file: a commit that starts later renames only after it wrote its record, and
    /// one that finished meanwhile replaced `metadata.npkm` (whose inode we hold).
    pub fn still_current(&self) -> Result<bool> {
        let Some(check) = &self.reader else {
            return Ok(true);
        };
        let now = commit::read_record(&self.dir).ok().flatten();
        match (self.resolver.txid(), now.as_ref().map(|r| r.txid.as_str())) {
            (Some(ours), Some(now)) => return Ok(ours == now),
            (None, Some(_)) => return Ok(false),
            // No record now: the catalogue must still be ours (the one our record renamed in).
            (_, None) => {}
        }
        let current = fsutil::regular_file_meta(&self.dir.join(METADATA_FILE))
            .ok()
            .flatten();
        Ok(current.map(|m| FileId::of(&m)) == Some(check.meta_id))
    }

    /// Where `name` is, in order, as the snapshot's commit places it. A writer asks the record
    /// on disk (one of its own commits may be decided but not yet applied).
    fn candidates(&self, name: &str) -> Result<Vec<PathBuf>> {
        let resolver = if self.reader.is_none() {
            match commit::read_record(&self.dir)? {
                Some(r) => Resolver::rolled_forward(r),
                None => Resolver::direct(),
            }
        } else {
            self.resolver.clone()
        };
        Ok(resolver.candidates(&self.dir, name).unwrap_or_default())
    }
}

/// Marks the error a reader's late open gives when the store moved past its snapshot.
const STALE: &str = "moved past this handle's snapshot";

pub fn is_stale(e: &Error) -> bool {
    e.kind == ErrorKind::Busy && e.message.contains(STALE)
}

/// One array's single data file: opened on first use, shared by every snapshot in which the
/// array has this file (cloning shares it).
#[derive(Clone, Debug)]
pub struct DataFile {
    slot: Arc<Slot>,
}

#[derive(Debug)]
struct Slot {
    source: Arc<Source>,
    file: Mutex<Option<Arc<File>>>,
    /// The file first opened: a reopen after an eviction must find the same one.
    id: OnceLock<FileId>,
    /// Never evicted: the file cannot be found again by name (sealed), or the snapshot keeps
    /// every file of a small store open.
    pinned: AtomicBool,
    /// Used since the evictor last passed (second chance).
    used: AtomicBool,
    /// Something of the array was shown to the caller (its shape, its bytes).
    shown: AtomicBool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.file.get_mut().is_some() {
            OPEN.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl DataFile {
    /// A file not opened yet.
    pub fn lazy(source: Arc<Source>) -> DataFile {
        DataFile {
            slot: Arc::new(Slot {
                source,
                file: Mutex::new(None),
                id: OnceLock::new(),
                pinned: AtomicBool::new(false),
                used: AtomicBool::new(false),
                shown: AtomicBool::new(false),
            }),
        }
    }

    /// A file the writer has open already (a staged new version).
    pub fn opened(source: Arc<Source>, file: File) -> Result<Self> {
        let id = FileId::of(&file.metadata().ctx("cannot stat a staged file")?);
        let f = DataFile::lazy(source);
        let _ = f.slot.id.set(id);
        *f.slot.file.lock() = Some(Arc::new(file));
        OPEN.fetch_add(1, Ordering::Relaxed);
        register(&f.slot);
        Ok(f)
    }

    /// The open file of the array `meta` describes, opening it now if needed (a file shorter
    /// than the shape needs is corrupt). Readers get a `stale` Busy error when the store moved
    /// past their snapshot before the file was opened.
    pub fn get(&self, meta: &ArrayMeta) -> Result<Arc<File>> {
        let s = &self.slot;
        s.used.store(true, Ordering::Relaxed);
        let mut held = s.file.lock();
        if let Some(f) = held.as_ref() {
            return Ok(f.clone());
        }
        let file = Arc::new(self.open(meta, s.source.reader.is_some())?);
        // Only an open that succeeded can show anything of the array.
        s.shown.store(true, Ordering::Relaxed);
        *held = Some(file.clone());
        drop(held);
        OPEN.fetch_add(1, Ordering::Relaxed);
        register(s);
        Ok(file)
    }

    /// Opens the file now and never closes it while this state lives: a writer calls it on the
    /// files a commit is about to rename away or remove, so an older snapshot still in use reads
    /// them and not the name's next file. Also used by readers of small stores, which keep
    /// every file of their snapshot as they always did.
    pub fn seal(&self, meta: &ArrayMeta) -> Result<()> {
        self.slot.pinned.store(true, Ordering::Relaxed);
        self.get(meta).map(drop)
    }

    /// `seal` for a reader's snapshot while it is being read: without the per-file check, as
    /// the load checks once, after opening them all, that no commit ran meanwhile.
    pub fn pin_in_load(&self, meta: &ArrayMeta) -> Result<()> {
        let s = &self.slot;
        s.pinned.store(true, Ordering::Relaxed);
        let file = Arc::new(self.open(meta, false)?);
        *s.file.lock() = Some(file);
        OPEN.fetch_add(1, Ordering::Relaxed);
        register(s);
        Ok(())
    }

    /// The held file's identity, when it is open now (not evicted) — proof that it is still
    /// the file the snapshot first opened.
    pub fn held_id(&self) -> Option<FileId> {
        self.slot.file.lock().as_ref()?;
        self.slot.id.get().copied()
    }

    /// Records that the array's shape was shown (an info call) without opening its file.
    pub fn mark_shown(&self) {
        self.slot.shown.store(true, Ordering::Relaxed);
    }

    /// Whether anything of the array was shown: its shape, or its bytes.
    pub fn was_shown(&self) -> bool {
        self.slot.shown.load(Ordering::Relaxed)
    }

    /// Whether the file was ever opened (its bytes may have been shown).
    pub fn was_opened(&self) -> bool {
        self.slot.id.get().is_some()
    }

    /// Opens the file; `checked`: prove it belongs to a reader's commit (`still_current`).
    fn open(&self, meta: &ArrayMeta, checked: bool) -> Result<File> {
        let s = &self.slot;
        let src = &s.source;
        let (array, need) = (&meta.name, meta.size_bytes);
        let file_name = data_file_name(array);
        let missing = || {
            Error::corrupt(format!(
                "array {array:?}: {file_name} is missing from {}",
                src.dir.display()
            ))
        };
        let mut found = None;
        for path in src.candidates(&file_name)? {
            if let Some(f) = open_checked(&path, src.writable)? {
                found = Some((f, path));
                break;
            }
        }
        let stale = || {
            Error::new(
                ErrorKind::Busy,
                format!(
                    "array {array:?}: the store {} {STALE} (opened or refreshed before the writer's last commit)",
                    src.dir.display()
                ),
            )
        };
        let Some((file, path)) = found else {
            if checked && !src.still_current()? {
                return Err(stale());
            }
            return Err(missing());
        };
        if checked && !src.still_current()? {
            return Err(stale());
        }
        let stat = file
            .metadata()
            .ctx(format_args!("cannot stat {}", path.display()))?;
        if !stat.file_type().is_file() {
            return Err(Error::corrupt(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let id = FileId::of(&stat);
        if *s.id.get_or_init(|| id) != id {
            return Err(Error::corrupt(format!(
                "array {array:?}: {} was replaced behind the store's back",
                path.display()
            )));
        }
        if stat.len() < need {
            return Err(Error::corrupt(format!(
                "array {array:?}: {} holds {} bytes but shape {:?} of {} needs {need}",
                path.display(),
                stat.len(),
                meta.shape,
                meta.dtype.name()
            )));
        }
        Ok(file)
    }

    /// Closes the descriptor (the file stays reachable by name for a later `get`).
    fn evict(&self) -> bool {
        let mut held = self.slot.file.lock();
        if held.take().is_some() {
            OPEN.fetch_sub(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

/// Opens a store file without following symlinks; None when it does not exist.
pub fn open_checked(path: &Path, writable: bool) -> Result<Option<File>> {
    let opened = if writable {
        fsutil::open_rw(path)
    } else {
        fsutil::open_read(path)
    };
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::corrupt(format!(
                "{} is a symbolic link; refusing to follow it out of the store",
                path.display()
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {
            return Err(Error::corrupt(format!(
                "{} is not a regular file",
                path.display()
            )))
        }
        Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
            return Err(Error::io(
                format!(
                    "cannot open {}: the process is out of descriptors (the store keeps at most {} data files open)",
                    path.display(),
                    cap()
                ),
                &e,
            ))
        }
        Err(e) => return Err(Error::io(format!("cannot open {}", path.display()), &e)),
    };
    Ok(Some(file))
}

/// Data files open now, over every handle of the process.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Open slots, oldest first (entries of closed or dropped slots are skipped and pruned).
static QUEUE: Mutex<VecDeque<Weak<Slot>>> = Mutex::new(VecDeque::new());

/// A reader opens every data file of a store of at most this many arrays at open (and keeps
/// them), when the descriptor budget allows: it then shows its commit however many commits
/// follow, as every reader did before files were opened on first use.
pub(crate) const PIN_MAX: usize = 4096;

/// Whether a reader's snapshot of `arrays` arrays opens all its files at open.
pub fn pins_all(arrays: usize) -> bool {
    arrays <= PIN_MAX.min(cap())
}

/// How many data files may stay open (0: not known yet).
static CAP: AtomicUsize = AtomicUsize::new(0);

/// How many data files may stay open: half the descriptor limit (the rest is the program's),
/// at least 16. Read again at every snapshot load (`refresh_cap`), not at every open.
pub fn cap() -> usize {
    match CAP.load(Ordering::Relaxed) {
        0 => refresh_cap(),
        c => c,
    }
}

pub fn refresh_cap() -> usize {
    let c = limit_cap();
    CAP.store(c, Ordering::Relaxed);
    c
}

fn limit_cap() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 512;
    }
    ((lim.rlim_cur / 2).min(usize::MAX as u64) as usize).max(16)
}

fn register(slot: &Arc<Slot>) {
    let cap = cap();
    let mut victims = Vec::new();
    {
        let mut q = QUEUE.lock();
        q.push_back(Arc::downgrade(slot));
        // Clock: pass over the oldest entries, giving used ones a second chance, until the
        // count is under the cap or every entry was seen twice.
        let mut budget = q.len() * 2;
        let over = OPEN.load(Ordering::Relaxed).saturating_sub(cap);
        while over > victims.len() && budget > 0 {
            budget -= 1;
            let Some(w) = q.pop_front() else { break };
            let Some(s) = w.upgrade() else { continue };
            if Arc::ptr_eq(&s, slot) || s.pinned.load(Ordering::Relaxed) {
                q.push_back(w);
                continue;
            }
            if s.used.swap(false, Ordering::Relaxed) {
                q.push_back(w);
                continue;
            }
            victims.push(s);
        }
        if q.len() > 2 * cap + 64 {
            q.retain(|w| w.upgrade().is_some_and(|s| s.file.lock().is_some()));
        }
    }
    // Outside the queue's lock: a slot's own lock is taken before the queue's in `get`.
    for v in victims {
        (DataFile { slot: v }).evict();
    }
}

/// Calls `found` with the part after `prefix` of every name in `dir` that starts with it. Reads
/// the directory with getdents64 into one large buffer and allocates nothing per entry: a store
/// of 10,000 arrays has 10,000+ names, and `std::fs::read_dir` costs two allocations for each.
pub fn names_with_prefix(dir: &Path, prefix: &[u8], mut found: impl FnMut(&[u8])) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .ctx(format_args!("cannot open directory {}", dir.display()))?;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        // SAFETY: getdents64 writes at most buf.len() bytes of records into buf, on a
        // directory descriptor we hold open.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                d.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::io(format!("cannot list {}", dir.display()), &e));
        }
        if n == 0 {
            return Ok(());
        }
        // Each record: d_ino (8), d_off (8), d_reclen (2), d_type (1), NUL-terminated name.
        let mut at = 0usize;
        while at + 19 <= n as usize {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen < 19 || at + reclen > n as usize {
                break;
            }
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(rest) = name.strip_prefix(prefix) {
                found(rest);
            }
            at += reclen;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::format::DType;
    use crate::layout::Src;
    use crate::store::{data, OpenOptions, Store};
    use crate::test_util::tmp;

    fn save(s: &Store, name: &str, values: &[i32]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let shape = [values.len() as u64];
        s.save(
            name,
            DType::I32,
            &Src::contiguous(&bytes, &shape, 4).unwrap(),
        )
        .unwrap();
    }

    /// A writer's snapshot taken before a commit replaced an array it had not opened yet (another
    /// thread's read, say) still reads the replaced file: the commit opens it before renaming
    /// the new one over its name. Without that, the old state would open the new, shorter file.
    #[test]
    fn an_older_writer_snapshot_reads_the_file_a_commit_replaced() {
        let dir = tmp("seal");
        let opts = OpenOptions {
            create: true,
            ..Default::default()
        };
        save(&Store::open(&dir, opts).unwrap(), "a", &[1, 1, 1, 1]);
        let s = Store::open(&dir, OpenOptions::default()).unwrap();
        let old = s.snapshot();
        save(&s, "a", &[2, 2]);
        let st = old.get("a").unwrap();
        let mut out = [0u8; 16];
        data::open_reader(st).unwrap().read_at(&mut out, 0).unwrap();
        assert_eq!(out, [1, 0, 0, 0].repeat(4).as_slice());
        drop((old, s));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
