//! Who may write the store, across processes: open-file-description locks on `.npk.lock`. OFD
//! locks belong to the open file, not the process, so two handles in one process exclude each
//! other exactly as two processes do, and the kernel drops a dead process's locks. Readers never
//! touch the lock file.
//!
//! Two byte ranges of the lock file:
//! - the writer range (byte 0): the structural writer holds it exclusively; in-place writers
//!   (`OpenOptions::shared`) hold it shared, any number at once. Either kind excludes the other.
//! - the shared gate (byte 1): only in-place writers take it, exclusively and briefly: while one
//!   opens (deciding whether it must recover the store) and while one merges its modify times
//!   into the catalogue. No structural writer ever holds it, so waiting for it is always short.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::store::fsutil;

pub const LOCK_FILE: &str = ".npk.lock";

/// Byte 0: structural writer exclusive, in-place writers shared.
const WRITER_RANGE: (i64, i64) = (0, 1);
/// Byte 1: among in-place writers, one at a time (open-time recovery, catalogue merges).
const SHARED_GATE: (i64, i64) = (1, 1);

/// The environment variable that turns file locking off, as HDF5_USE_FILE_LOCKING does for HDF5.
pub const LOCKING_ENV: &str = "NPK_USE_FILE_LOCKING";

/// True unless NPK_USE_FILE_LOCKING says FALSE, 0, NO or OFF (any case).
pub fn env_allows_locking() -> bool {
    match std::env::var(LOCKING_ENV) {
        Ok(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        ),
        Err(_) => true,
    }
}

/// What a structural writer appends to its pid in the lock file when it closes: the store was
/// left with no interrupted append, so the next writer open need not stat every data file to
/// trim one. A writer that dies leaves its bare pid (any writer open writes it first).
const CLOSED_MARK: &str = " closed";

/// A writer handle's hold on the store. `file` is None when locking is turned off: the caller
/// then guarantees the exclusion itself.
pub struct WriterLock {
    file: Option<File>,
    path: PathBuf,
    /// The lock file said the last structural writer closed (`CLOSED_MARK`) when we took it.
    was_closed: bool,
}

/// Whether the lock file of `dir` says its last writer closed, leaving no interrupted append.
pub fn closed_cleanly(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(LOCK_FILE)).is_ok_and(|s| s.ends_with(CLOSED_MARK))
}

/// The shared gate while held; released on drop.
pub struct GateGuard<'a> {
    lock: &'a WriterLock,
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        if let Some(f) = &self.lock.file {
            // Unlocking a range we hold cannot conflict; a failure would leave the gate to be
            // released when the handle closes.
            let _ = setlk(f, libc::F_UNLCK, SHARED_GATE, false);
        }
    }
}

fn flock_struct(kind: libc::c_int, (start, len): (i64, i64)) -> libc::flock {
    // SAFETY: libc::flock is plain old data; all-zero is a valid value that we then fill in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start;
    fl.l_len = len;
    fl
}

/// One OFD lock call on `range`: `kind` F_RDLCK, F_WRLCK or F_UNLCK; `wait` blocks until granted
/// (only ever used on the shared gate, which is held briefly).
fn setlk(file: &File, kind: libc::c_int, range: (i64, i64), wait: bool) -> std::io::Result<()> {
    #[cfg(test)]
    {
        let errno = fsutil::fail_points::LOCK_FAILS_WITH.get();
        if errno != 0 {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
    }
    let mut fl = flock_struct(kind, range);
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: the fd is open for the duration of the call and `fl` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// The type of a lock another open file holds that conflicts with an exclusive lock on `range`
/// (F_RDLCK, F_WRLCK), or F_UNLCK when there is none (or the question itself fails).
fn holder_kind(file: &File, range: (i64, i64)) -> libc::c_int {
    let mut fl = flock_struct(libc::F_WRLCK, range);
    // SAFETY: the fd is open for the duration of the call and `fl` is a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if rc != 0 {
        return libc::F_UNLCK;
    }
    fl.l_type as libc::c_int
}

fn is_conflict(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
}

/// A lock call that failed for another reason than a holder. Filesystems without working locks
/// (NFS without its lock daemon, Lustre mounted without `flock`, some FUSE filesystems) answer
/// ENOLCK, EOPNOTSUPP, ENOSYS, or EINVAL for the OFD commands: say so, and name the opt-out.
fn lock_failure(path: &Path, err: &std::io::Error) -> Error {
    let opt_out =
        "if you make sure yourself that no two writers of this store run at once (or only \
                   NPK_OPEN_SHARED in-place writers on disjoint rows), open it with \
                   NPK_OPEN_NO_LOCKING (Rust: OpenOptions::locking = false) or set \
                   NPK_USE_FILE_LOCKING=FALSE";
    let unsupported = matches!(
        err.raw_os_error(),
        Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL)
    );
    let what = if unsupported {
        format!(
            "the filesystem of {} does not support the file locks libnumpack takes on it \
             (fcntl F_OFD_SETLK); on NFS the lock daemon (lockd/statd) must run, on Lustre mount \
             with -o flock; {opt_out}",
            path.display()
        )
    } else {
        format!(
            "locking {} failed (fcntl F_OFD_SETLK); if the filesystem does not support locks, {opt_out}",
            path.display()
        )
    };
    Error::io(what, err)
}

impl WriterLock {
    /// No file lock at all: the caller guarantees the exclusion.
    pub fn none(dir: &Path) -> WriterLock {
        WriterLock {
            file: None,
            path: dir.join(LOCK_FILE),
            was_closed: false,
        }
    }

    /// The last structural writer closed the store (see `CLOSED_MARK`); false without a lock.
    pub fn was_closed(&self) -> bool {
        self.was_closed
    }

    /// Records that this writer closes with no interrupted append (the store's data files all
    /// match the catalogue's sizes). Best effort: without it the next writer open trims.
    pub fn mark_closed(&self) {
        if let Some(f) = &self.file {
            let note = format!("{}{CLOSED_MARK}", std::process::id());
            let _ = f.set_len(0);
            let _ = fsutil::write_all_at(f, note.as_bytes(), 0);
        }
    }

    fn open_file(dir: &Path) -> Result<(File, PathBuf)> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags_nofollow()
            .open(&path)
            .ctx(format_args!("cannot open lock file {}", path.display()))?;
        Ok((file, path))
    }

    /// The structural writer's lock: the writer range, exclusively.
    pub fn exclusive(dir: &Path) -> Result<WriterLock> {
        let (file, path) = Self::open_file(dir)?;
        if let Err(err) = setlk(&file, libc::F_WRLCK, WRITER_RANGE, false) {
            if !is_conflict(&err) {
                return Err(lock_failure(&path, &err));
            }
            if holder_kind(&file, WRITER_RANGE) == libc::F_RDLCK {
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!(
                        "store {} is open by in-place writers (NPK_OPEN_SHARED); a structural writer can open it once they have all closed (or open it read-only)",
                        dir.display()
                    ),
                ));
            }
            return Err(Error::new(
                ErrorKind::Locked,
                format!(
                    "store {} is locked by another writer{}; open it read-only or close the other handle",
                    dir.display(),
                    pid_note(&path)
                ),
            ));
        }
        let mut before = [0u8; 64];
        let n = std::os::unix::fs::FileExt::read_at(&file, &mut before, 0).unwrap_or(0);
        let was_closed = before[..n].ends_with(CLOSED_MARK.as_bytes());
        // The pid is for the message a refused writer sees, and without CLOSED_MARK it says
        // "not closed yet" should this writer die; failing to write it only costs a trim.
        let _ = file.set_len(0);
        let _ = fsutil::write_all_at(&file, std::process::id().to_string().as_bytes(), 0);
        Ok(WriterLock {
            file: Some(file),
            path,
            was_closed,
        })
    }

    /// An in-place writer's lock: the writer range, shared. `recover` runs when this opener is
    /// the only writer (holding the range exclusively for the while): no structural writer can
    /// have run since any other in-place writer took its share, so when others hold it the store
    /// was already recovered. Decided under the shared gate, so two openers never both conclude
    /// that the other recovered.
    pub fn shared(dir: &Path, recover: impl FnOnce() -> Result<()>) -> Result<WriterLock> {
        let (file, path) = Self::open_file(dir)?;
        let lock = WriterLock {
            file: Some(file),
            path,
            was_closed: false,
        };
        let f = lock.file.as_ref().expect("just set");
        // Join without waiting when we can. A refusal comes from a structural writer, or from
        // an in-place opener holding the range exclusively while it recovers; that one holds the
        // gate meanwhile, so once we hold the gate, a refusal can only be a structural writer's.
        let joined = match setlk(f, libc::F_RDLCK, WRITER_RANGE, false) {
            Ok(()) => true,
            Err(e) if is_conflict(&e) => false,
            Err(e) => return Err(lock_failure(&lock.path, &e)),
        };
        let gate = lock.gate()?;
        if !joined {
            if let Err(err) = setlk(f, libc::F_RDLCK, WRITER_RANGE, false) {
                if !is_conflict(&err) {
                    return Err(lock_failure(&lock.path, &err));
                }
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!(
                        "store {} is locked by a structural writer{}; in-place writers (NPK_OPEN_SHARED) can open it once it has closed (or open it read-only)",
                        dir.display(),
                        pid_note(&lock.path)
                    ),
                ));
            }
        }
        // Converting our share to exclusive succeeds only when nobody else holds a share.
        match setlk(f, libc::F_WRLCK, WRITER_RANGE, false) {
            Ok(()) => {
                recover()?;
                setlk(f, libc::F_RDLCK, WRITER_RANGE, false)
                    .map_err(|e| lock_failure(&lock.path, &e))?;
            }
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(lock_failure(&lock.path, &e)),
        }
        drop(gate);
        Ok(lock)
    }

    /// The shared gate, waited for: in-place writers take it one at a time, briefly.
    pub fn gate(&self) -> Result<GateGuard<'_>> {
        if let Some(f) = &self.file {
            setlk(f, libc::F_WRLCK, SHARED_GATE, true).map_err(|e| lock_failure(&self.path, &e))?;
        }
        Ok(GateGuard { lock: self })
    }
}

/// " (pid N)" from the lock file, where the last structural writer wrote its pid; "" if unknown.
fn pid_note(path: &Path) -> String {
    let holder = std::fs::read_to_string(path).unwrap_or_default();
    let holder = holder.trim();
    if holder.is_empty() || !holder.bytes().all(|b| b.is_ascii_digit()) {
        String::new()
    } else {
        format!(" (pid {holder})")
    }
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorKind;
    use crate::store::fsutil::fail_points::LOCK_FAILS_WITH;
    use crate::store::{OpenOptions, Store};
    use crate::test_util::tmp;

    fn open(dir: &std::path::Path, shared: bool, locking: bool) -> crate::Result<Store> {
        Store::open(
            dir,
            OpenOptions {
                shared,
                locking,
                ..Default::default()
            },
        )
    }

    /// No local filesystem lacks OFD locks, so the errors of one that does are injected: each
    /// must name the filesystem problem and both forms of the opt-out, for both writer kinds,
    /// and never be a bare "cannot lock".
    #[test]
    fn a_filesystem_refusing_locks_gives_a_message_naming_the_opt_out() {
        let dir = tmp("nolocks");
        drop(
            Store::open(
                &dir,
                OpenOptions {
                    create: true,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        for errno in [libc::ENOLCK, libc::EOPNOTSUPP, libc::ENOSYS, libc::EINVAL] {
            for shared in [false, true] {
                LOCK_FAILS_WITH.set(errno);
                let err = open(&dir, shared, true).err().expect("the lock failed");
                LOCK_FAILS_WITH.set(0);
                assert_eq!(err.kind, ErrorKind::Io, "{errno}: {}", err.message);
                for part in [
                    "does not support the file locks",
                    ".npk.lock",
                    "NPK_OPEN_NO_LOCKING",
                    "NPK_USE_FILE_LOCKING=FALSE",
                    &format!("errno {errno}"),
                ] {
                    assert!(err.message.contains(part), "{part:?} in {}", err.message);
                }
                // The opt-out works on the same "filesystem": no lock call is made at all.
                LOCK_FAILS_WITH.set(errno);
                let opened = open(&dir, shared, false);
                LOCK_FAILS_WITH.set(0);
                opened.unwrap();
            }
        }
        // Another errno still names the opt-out (it may be a filesystem problem too).
        LOCK_FAILS_WITH.set(libc::EIO);
        let err = open(&dir, false, true).err().unwrap();
        LOCK_FAILS_WITH.set(0);
        assert_eq!(err.kind, ErrorKind::Io);
        assert!(
            err.message.contains("NPK_OPEN_NO_LOCKING") && err.message.contains("errno 5"),
            "{}",
            err.message
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
