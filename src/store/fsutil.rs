//! Thin wrappers over the file operations the store needs, each refusing symlinks so a crafted
//! store directory can never make us read or write outside it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Identity of a file, so a reader can tell that a path now names another file than the one its
/// snapshot saw (a commit renamed a new one over it).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

pub fn open_read(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

pub fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A new file that must not exist yet (staging names are unique; an old one is garbage).
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// lstat that turns "is a symlink or not a regular file" into `corrupt`.
pub fn regular_file_meta(path: &Path) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(Some(m)),
        Ok(m) if m.file_type().is_symlink() => Err(Error::corrupt(format!(
            "{} is a symbolic link; refusing to follow it out of the store",
            path.display()
        ))),
        Ok(_) => Err(Error::corrupt(format!(
            "{} is not a regular file",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot stat {}", path.display()), &e)),
    }
}

/// Reads a whole small file (metadata, bitmap, commit record), refusing symlinks.
pub fn read_small(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(Error::corrupt(format!(
                "{} is a symbolic link; refusing to follow it out of the store",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io(format!("cannot open {}", path.display()), &e)),
    };
    let len = file
        .metadata()
        .ctx(format_args!("cannot stat {}", path.display()))?
        .len();
    let mut buf = vec![0u8; len as usize];
    read_exact_at(&file, &mut buf, 0).ctx(format_args!("cannot read {}", path.display()))?;
    Ok(Some(buf))
}

pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// Whether the first `len` bytes of `file` have a hole (SEEK_HOLE; a filesystem without it
/// reports none). Stores through a mapping into a hole can fault (SIGBUS) on a full disk.
pub fn has_holes(file: &File, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on a descriptor we hold open; it only moves the file offset, which no call
    // of ours uses (all I/O is pread/pwrite).
    let hole = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_HOLE) };
    hole >= 0 && (hole as u64) < len
}

/// The length of `file` as the kernel knows it now: an lseek to its end, which costs half a
/// statx (no struct to fill and copy out; measured 250 vs 430 ns here under load), since row and
/// block reads ask once per call.
pub fn file_len(file: &File) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: lseek on a descriptor we hold open; it only moves the file offset, which no call
    // of ours uses (all I/O is pread/pwrite).
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
    if end < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(end as u64)
    }
}

/// Gives the first `len` bytes of `file` disk blocks (their content stays as it reads), so
/// writes through a mapping of them cannot fault for want of space.
pub fn allocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = i64::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: fallocate on a descriptor we hold open, mode 0 (allocate, keep the content).
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// fdatasync (tests count them and can make them fail).
pub fn sync_data(file: &File) -> io::Result<()> {
    #[cfg(test)]
    {
        fail_points::FSYNCS.set(fail_points::FSYNCS.get() + 1);
        if fail_points::FSYNC_FILE_FAILS.get() {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
    }
    file.sync_data()
}

/// fsync: data and every attribute (tests count them and can make them fail).
pub fn sync_all(file: &File) -> io::Result<()> {
    #[cfg(test)]
    {
        fail_points::FSYNCS.set(fail_points::FSYNCS.get() + 1);
        if fail_points::FSYNC_FILE_FAILS.get() {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
    }
    file.sync_all()
}

pub fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(test)]
    fail_points::FSYNCS.set(fail_points::FSYNCS.get() + 1);
    #[cfg(test)]
    if fail_points::FSYNC_DIR_FAILS.get() {
        return Err(Error::io(
            format!("cannot fsync directory {}", dir.display()),
            &io::Error::from_raw_os_error(libc::EIO),
        ));
    }
    let d = File::open(dir).ctx(format_args!("cannot open directory {}", dir.display()))?;
    d.sync_all()
        .ctx(format_args!("cannot fsync directory {}", dir.display()))
}

pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A path with one folder inside the store (a segment file) must not pass through a symlink:
/// O_NOFOLLOW only guards the last component.
pub fn check_subdir(dir: &Path, relative: &str) -> Result<()> {
    if let Some((folder, _)) = relative.split_once('/') {
        let path = dir.join(folder);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(Error::corrupt(format!(
                "{} is not a directory (a symbolic link?); refusing to follow it out of the store",
                path.display()
            )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot stat {}", path.display()), &e)),
        }
    }
    Ok(())
}

/// Data files stay open up to half this limit (`files::cap`): more room, fewer reopens. Raise the
/// soft limit toward the hard one when a store has more arrays than the default 1024 allows, as
/// Go's runtime does at start-up; never lower it.
pub fn ensure_fd_headroom(arrays: usize) {
    let want = (arrays as u64).saturating_mul(2).saturating_add(256);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 || lim.rlim_cur >= want {
        return;
    }
    lim.rlim_cur = want.min(lim.rlim_max);
    // SAFETY: setrlimit reads the struct; raising the soft limit up to the hard one is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// Failures a unit test can switch on for its own thread.
#[cfg(test)]
pub(crate) mod fail_points {
    thread_local! {
        /// Every `fsync_dir` on this thread fails with EIO.
        pub(crate) static FSYNC_DIR_FAILS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// Every file fsync or fdatasync through `sync_data` / `sync_all` on this thread fails
        /// with EIO.
        pub(crate) static FSYNC_FILE_FAILS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        /// fsyncs of files and directories made on this thread.
        pub(crate) static FSYNCS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
        /// Every lock call on this thread fails with this errno (0: off), as on a filesystem
        /// without working locks.
        pub(crate) static LOCK_FAILS_WITH: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
    }
}
