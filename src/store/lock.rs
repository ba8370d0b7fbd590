//! The one-writer-per-store rule: an open-file-description lock on `.npk.lock`. OFD locks belong
//! to the open file, not the process, so a second writer handle in the same process is refused
//! too. Readers never touch the lock.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::store::fsutil;

pub const LOCK_FILE: &str = ".npk.lock";

pub struct WriterLock {
    _file: File,
}

fn flock_struct(kind: libc::c_short) -> libc::flock {
    // SAFETY: libc::flock is plain old data; all-zero is a valid value that we then fill in.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl
}

impl WriterLock {
    pub fn acquire(dir: &Path) -> Result<WriterLock> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags_nofollow()
            .open(&path)
            .ctx(format_args!("cannot open lock file {}", path.display()))?;
        let mut fl = flock_struct(libc::F_WRLCK as libc::c_short);
        // SAFETY: the fd is open for the duration of the call and `fl` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!(
                        "store {} is locked by another writer{who}; open it read-only or close the other handle",
                        dir.display()
                    ),
                ));
            }
            return Err(Error::io(format!("cannot lock {}", path.display()), &err));
        }
        // The pid is only for the message a refused writer sees; failing to write it is harmless.
        let _ = file.set_len(0);
        let _ = fsutil::write_all_at(&file, std::process::id().to_string().as_bytes(), 0);
        Ok(WriterLock { _file: file })
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
