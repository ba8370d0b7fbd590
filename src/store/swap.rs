//! Catalogue-only commits by exchange. A new `metadata.npkm` renamed over the old one costs
//! 100-800 µs on ext4: a rename over an existing file starts writeback of the new one
//! (`auto_da_alloc`), and an inode is created and another freed every time. Instead the writer
//! keeps one spare catalogue file (`.npk-spare-cat-*`), overwrites it in place with the new
//! bytes and swaps it with `metadata.npkm` in one `renameat2(RENAME_EXCHANGE)` (~5 µs): the
//! old catalogue becomes the next spare. The swap is the atomic step, as the rename was.
//!
//! Crash safety: the spare is never named by the catalogue or a record, so a crash while it is
//! written leaves garbage only under a spare name, which a writer open sweeps. Before the
//! exchange nothing visible changed; after it the new catalogue is whole (durable: the spare
//! was fdatasync'ed before the exchange, the directory is fsync'ed after it).
//!
//! Readers. Overwriting a file that used to be the catalogue is safe only if no reader reads
//! it meanwhile. Readers (`snapshot::load_with`) take no lock: they open `metadata.npkm`, read
//! it, open the data files, check that the record is unchanged and that `metadata.npkm` is still
//! the inode they hold, then read the catalogue again from their descriptor and require the
//! same bytes. The writer, before each overwrite, takes and at once drops a write lease on the
//! spare: the kernel grants it only while no other open file (any process, mappings included)
//! refers to the inode. Why a reader R holding inode A (opened at t_o) never accepts torn or
//! foreign bytes:
//! 1. Every write to A happens in a commit that took the lease on A successfully earlier in the
//!    same commit, with no exchange in between; commits are serialised (one writer).
//! 2. From t_o until R closes A, every lease on A fails. So at most one commit, C, writes A
//!    after t_o (C's lease preceded t_o), and C's writes end before C's exchange. Any later
//!    commit finds the lease refused and replaces the spare by a fresh file instead (below):
//!    A is never written again and never named `metadata.npkm` again.
//! 3. R's check passes only if `metadata.npkm` names A at check time t_c. If C exists and had
//!    not exchanged by t_c, A was the spare then (C took its lease on the spare) and the check
//!    fails. Otherwise all writes to A ended before t_c, and R's second read (after t_c) sees
//!    A's final bytes: equal to the first read only if that read was whole and the same state.
//!    That state was committed no later than t_c, after the data it describes was written, and
//!    the data files R opened are that state's: a commit replacing them renames or exchanges a
//!    new catalogue in, so `metadata.npkm` would no longer name A at t_c (or a record shows).
//!    Without C, A never changed while R held it: the old argument (the inode check) holds.
//!
//! The lease is never held while writing: it makes us the file's owner for SIGIO, and a
//! reader's open would break it with a signal whose default action ends the program.
//!
//! Fallbacks: a spare whose lease is refused (a reader has it open; EAGAIN) or not ours to lease
//! (EACCES: a file another user's NumPack wrote) is dropped and a fresh file takes its place (an
//! exchange with a new file still avoids the rename-over writeback). A filesystem without
//! leases or without RENAME_EXCHANGE (EINVAL, ENOSYS, EOPNOTSUPP) turns the swap off for the
//! handle: commits use the rename path, as before.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{IoContext, Result};
use crate::format::metadata::METADATA_FILE;
use crate::format::record::CATALOGUE_SPARE_PREFIX;
use crate::store::fsutil::{self, FileId};

/// A writer handle's spare catalogue: see the module comment.
#[derive(Default)]
pub(crate) struct CatalogueSwap {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The filesystem cannot exchange or lease: use the rename path.
    off: bool,
    /// The spare's name in the store directory, and its path (also as a C string, for the
    /// exchange), kept so a commit builds no path.
    name: String,
    path: PathBuf,
    path_c: Option<CString>,
    /// `metadata.npkm`'s path as a C string.
    meta_c: Option<CString>,
    spare: Option<Spare>,
    /// The file our last exchange made the catalogue: after the next exchange the spare's name
    /// holds it, and it is the next spare without an open (checked by its identity).
    current: Option<Spare>,
    /// Spares this handle made, so each name is new (a crashed writer's are swept).
    made: u64,
}

struct Spare {
    file: File,
    id: FileId,
    len: u64,
    /// The file's bytes as this handle last wrote them, when known: the next overwrite then
    /// writes only the pages that differ. A store of 10,000 arrays has an 830 KB catalogue of
    /// which a commit changes the header and a page or two (perf: writing it whole was ~40% of
    /// such a save, and the spare holds the catalogue of two commits ago).
    content: Option<Vec<u8>>,
}

/// Whether a commit went through the swap.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Swapped {
    /// Exchanged: the commit is decided.
    Yes,
    /// Not possible here; nothing changed: take the rename path.
    No,
}

/// A catalogue written into the spare for a commit with a record: the record renames `from`
/// (the spare) to `metadata.npkm`, first moving the old catalogue aside to `keep`, which becomes
/// the next spare (`Op::RenameKeepingOld`: both renames land on free names, so neither starts
/// writeback, and no inode is created or freed).
pub(crate) struct Prepared {
    pub(crate) from: String,
    pub(crate) keep: String,
}

impl CatalogueSwap {
    /// Makes `bytes` the catalogue of `dir` by overwriting the spare and exchanging it in.
    /// `Err` means a failure before the exchange (the store is unchanged).
    pub(crate) fn commit(&self, dir: &Path, bytes: &[u8], durable: bool) -> Result<Swapped> {
        let mut st = self.state.lock();
        if !st.fill(dir, bytes, durable)? {
            return Ok(Swapped::No);
        }
        if st.meta_c.is_none() {
            st.meta_c = c_path(&dir.join(METADATA_FILE)).ok();
        }
        let swapped = match (&st.path_c, &st.meta_c) {
            (Some(a), Some(b)) => exchange_c(a, b),
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        match swapped {
            Ok(()) => {}
            Err(e) if unsupported(&e) => return Ok(st.turn_off(dir)),
            Err(_) => {
                st.current = None;
                return Ok(Swapped::No);
            }
        }
        // Decided. The spare's name now holds the old catalogue: the next spare.
        st.published(dir, None);
        Ok(Swapped::Yes)
    }

    /// Writes `bytes` into the spare for a commit with a record (see `Prepared`); None when
    /// the swap is off or no spare can be made (stage a new catalogue instead). `Err`: the
    /// write failed (nothing visible changed).
    pub(crate) fn prepare(
        &self,
        dir: &Path,
        bytes: &[u8],
        durable: bool,
    ) -> Result<Option<Prepared>> {
        let mut st = self.state.lock();
        if !st.fill(dir, bytes, durable)? {
            return Ok(None);
        }
        let keep = st.new_name();
        Ok(Some(Prepared {
            from: st.name.clone(),
            keep,
        }))
    }

    /// The commit that `prepare` wrote for is decided; `applied`: its record was applied (the
    /// old catalogue is at `keep`). Otherwise its record awaits `finish_pending`, and the next
    /// commit starts from a fresh spare.
    pub(crate) fn renamed(&self, dir: &Path, prepared: Prepared, applied: bool) {
        let mut st = self.state.lock();
        if applied {
            st.published(dir, Some(prepared.keep));
        } else {
            st.spare = None;
            st.current = None;
            st.set_name(dir, prepared.keep);
        }
    }

    /// Removes the spare (at close).
    pub(crate) fn discard(&self) {
        let mut st = self.state.lock();
        st.current = None;
        st.spare = None;
        if !st.name.is_empty() {
            let _ = fsutil::remove_if_exists(&st.path);
        }
    }
}

impl State {
    /// Names the spare `name` (empty: none).
    fn set_name(&mut self, dir: &Path, name: String) {
        self.path = dir.join(&name);
        self.path_c = c_path(&self.path).ok();
        self.name = name;
    }

    /// A name for a new spare: unique, and swept by a writer's open after a crash.
    fn new_name(&mut self) -> String {
        self.made += 1;
        format!(
            "{CATALOGUE_SPARE_PREFIX}{:x}-{:x}-{}",
            std::process::id(),
            fsutil::now_micros(),
            self.made
        )
    }

    /// Writes `bytes` over the spare once no one else has it open (see the module comment),
    /// or into a fresh one. False: the swap is off or no spare could be made; nothing written.
    fn fill(&mut self, dir: &Path, bytes: &[u8], durable: bool) -> Result<bool> {
        if self.off {
            return Ok(false);
        }
        if let Some(spare) = &self.spare {
            match lease_probe(&spare.file) {
                Ok(()) => {}
                Err(e) if unsupported(&e) => {
                    self.turn_off(dir);
                    return Ok(false);
                }
                // A reader holds it (or it is not ours to lease): never write it again. Its
                // name goes; a reader holding it keeps reading it.
                Err(_) => {
                    let _ = fsutil::remove_if_exists(&self.path);
                    self.spare = None;
                }
            }
        }
        if self.spare.is_none() {
            if !self.name.is_empty() {
                // A name left by a record commit that was not applied here.
                let _ = fsutil::remove_if_exists(&self.path);
            }
            let name = self.new_name();
            self.set_name(dir, name);
            // Without a spare (a full directory, say) the rename path reports the real
            // trouble, if any.
            let Ok(spare) =
                fsutil::create_new(&self.path).and_then(|file| Spare::of(file, Some(0)))
            else {
                self.set_name(dir, String::new());
                return Ok(false);
            };
            self.spare = Some(spare);
        }
        let spare = self.spare.as_mut().expect("a spare was just made");
        if let Err(e) = overwrite(&self.path, spare, bytes, durable) {
            spare.len = u64::MAX; // garbage is harmless in a spare, but its length is unknown
            spare.content = None;
            return Err(e);
        }
        Ok(true)
    }

    /// The spare is now the catalogue and the old catalogue is named `name`: it is the next
    /// spare. It is the file we published last if nothing else replaced the catalogue since
    /// (one lstat tells); else it is opened by name, so the file we write is always the one the
    /// name holds.
    fn published(&mut self, dir: &Path, name: Option<String>) {
        if let Some(name) = name {
            self.set_name(dir, name);
        }
        let published = self.spare.take();
        let held = fsutil::regular_file_meta(&self.path).ok().flatten();
        self.spare = match (self.current.take(), held) {
            (Some(cur), Some(m)) if FileId::of(&m) == cur.id => Some(cur),
            (_, Some(_)) => fsutil::open_rw(&self.path)
                .and_then(|file| Spare::of(file, None))
                .ok(),
            (_, None) => None,
        };
        self.current = published;
        if self.spare.is_none() {
            let _ = fsutil::remove_if_exists(&self.path);
            self.set_name(dir, String::new());
        }
    }

    fn turn_off(&mut self, dir: &Path) -> Swapped {
        self.off = true;
        self.current = None;
        if self.spare.take().is_some() {
            let _ = fsutil::remove_if_exists(&self.path);
        }
        self.set_name(dir, String::new());
        Swapped::No
    }
}

impl Spare {
    /// `len`: its length when known, else asked of the file.
    fn of(file: File, len: Option<u64>) -> io::Result<Spare> {
        quiet_lease_breaks(&file);
        let meta = file.metadata()?;
        Ok(Spare {
            id: FileId::of(&meta),
            len: len.unwrap_or(meta.len()),
            // A file we just created holds nothing; one we opened by name, what we cannot tell.
            content: (len == Some(0)).then(Vec::new),
            file,
        })
    }
}

/// Writes `bytes` over the spare's content, cut to their length.
/// Pages compared and written as a unit by `write_changed`.
const PAGE: usize = 4096;

/// Writes `bytes` over a file that holds `old`: only the pages that differ (the file keeps the
/// rest, and `old` is updated to match). Without `old`, all of it.
fn write_changed(file: &File, old: &mut Option<Vec<u8>>, bytes: &[u8]) -> io::Result<()> {
    let Some(old) = old.as_mut() else {
        fsutil::write_all_at(file, bytes, 0)?;
        *old = Some(bytes.to_vec());
        return Ok(());
    };
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + PAGE).min(bytes.len());
        if old.get(at..end) == Some(&bytes[at..end]) {
            at = end;
            continue;
        }
        // A run of differing pages goes out in one write.
        let mut run_end = end;
        while run_end < bytes.len() {
            let next = (run_end + PAGE).min(bytes.len());
            if old.get(run_end..next) == Some(&bytes[run_end..next]) {
                break;
            }
            run_end = next;
        }
        fsutil::write_all_at(file, &bytes[at..run_end], at as u64)?;
        if old.len() < run_end {
            old.resize(run_end, 0);
        }
        old[at..run_end].copy_from_slice(&bytes[at..run_end]);
        at = run_end;
    }
    old.truncate(bytes.len());
    Ok(())
}

fn overwrite(path: &Path, spare: &mut Spare, bytes: &[u8], durable: bool) -> Result<()> {
    let path = || path;
    let mut content = spare.content.take();
    write_changed(&spare.file, &mut content, bytes).ctx(format_args!(
        "cannot write the new {METADATA_FILE} into its spare {}",
        path().display()
    ))?;
    let len = bytes.len() as u64;
    if spare.len > len {
        spare.file.set_len(len).ctx(format_args!(
            "cannot truncate the new {METADATA_FILE} in its spare {}",
            path().display()
        ))?;
    }
    spare.len = len;
    spare.content = content;
    if durable {
        // The exchange must not reach the disk before the bytes it publishes.
        fsutil::sync_data(&spare.file).ctx(format_args!(
            "cannot fsync the new {METADATA_FILE} in its spare {}",
            path().display()
        ))?;
    }
    Ok(())
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
    )
}

/// A lease broken by another open sends the lease holder a signal: SIGIO by default, whose
/// default action ends the program. Our leases last from one system call to the next, but an
/// open that looked the name up before can land in between (the stalled reader of the module
/// comment): for opens of `file` the signal is SIGURG instead, which is ignored unless the
/// program asked for it (and Go's runtime, which uses it, takes a stray one in stride). Set once
/// per descriptor.
pub(crate) fn quiet_lease_breaks(file: &File) {
    // F_SETSIG from asm-generic/fcntl.h, which these architectures use (the libc crate does not
    // export it for all of them).
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    ))]
    {
        use std::os::fd::AsRawFd;
        const F_SETSIG: libc::c_int = 10;
        // SAFETY: fcntl on an fd we own; F_SETSIG takes an int argument.
        unsafe { libc::fcntl(file.as_raw_fd(), F_SETSIG, libc::SIGURG) };
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    )))]
    let _ = file;
}

/// Ok when no other open file refers to `file`'s inode (the kernel grants a write lease only
/// then); the lease is dropped at once (see the module comment). Call `quiet_lease_breaks` on
/// the descriptor first.
pub(crate) fn lease_probe(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    #[cfg(test)]
    if let Some(errno) = fail_points::LEASE_FAILS_WITH.get() {
        return Err(io::Error::from_raw_os_error(errno));
    }
    // SAFETY: fcntl on an fd we own; F_SETLEASE takes an int argument.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
    Ok(())
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Swaps the names `a` and `b` in `dir` atomically (tests stage a writer's steps with it).
#[cfg(test)]
pub(crate) fn exchange(dir: &Path, a: &str, b: &str) -> io::Result<()> {
    exchange_c(&c_path(&dir.join(a))?, &c_path(&dir.join(b))?)
}

/// Swaps the files at paths `a` and `b` atomically.
fn exchange_c(a: &CString, b: &CString) -> io::Result<()> {
    #[cfg(test)]
    if let Some(errno) = fail_points::EXCHANGE_FAILS_WITH.get() {
        return Err(io::Error::from_raw_os_error(errno));
    }
    // SAFETY: renameat2 reads two NUL-terminated paths that live across the call. Called by
    // number: glibc has a wrapper only from 2.28.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod write_changed_tests {
    use super::*;

    /// Only the pages that differ from what the handle last wrote reach the file: a page the
    /// file holds differently (planted behind our back) but that the new bytes do not change is
    /// left alone, and the changed ones are written exactly.
    #[test]
    fn only_differing_pages_are_written() {
        let dir = crate::test_util::tmp("write-changed");
        let path = dir.join("f");
        let old: Vec<u8> = vec![1; 3 * PAGE + 100];
        std::fs::write(&path, &old).unwrap();
        let file = fsutil::open_rw(&path).unwrap();
        // The file's second page no longer matches `old`: a full write would restore it.
        fsutil::write_all_at(&file, &[9; PAGE], PAGE as u64).unwrap();
        let mut new = old.clone();
        new[5] = 2; // first page
        new[3 * PAGE + 50] = 3; // last, partial page
        new.extend_from_slice(&[4; 10]);
        let mut known = Some(old);
        write_changed(&file, &mut known, &new).unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[..PAGE], &new[..PAGE]);
        assert_eq!(
            &on_disk[PAGE..2 * PAGE],
            &[9; PAGE][..],
            "an unchanged page was written"
        );
        assert_eq!(&on_disk[2 * PAGE..], &new[2 * PAGE..]);
        assert_eq!(known.as_deref(), Some(&new[..]));
        // Without knowledge of the file, everything is written.
        let mut unknown = None;
        write_changed(&file, &mut unknown, &new).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An open that breaks our lease (here: this process's own, non-blocking) signals SIGURG,
    /// not SIGIO: with SIGIO's default action this test process would end here.
    #[test]
    fn a_broken_lease_does_not_end_the_program() {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = crate::test_util::tmp("lease-break");
        let path = dir.join("f");
        let file = fsutil::create_new(&path).unwrap();
        quiet_lease_breaks(&file);
        // SAFETY: fcntl on an fd we own.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path);
        assert_eq!(
            opened.map(drop).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EWOULDBLOCK)),
            "the open did not meet the lease"
        );
        // SAFETY: as above.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Failures a unit test can switch on for its own thread.
#[cfg(test)]
pub(crate) mod fail_points {
    use std::cell::Cell;
    thread_local! {
        /// The lease probe fails with this errno.
        pub(crate) static LEASE_FAILS_WITH: Cell<Option<i32>> = const { Cell::new(None) };
        /// The exchange fails with this errno.
        pub(crate) static EXCHANGE_FAILS_WITH: Cell<Option<i32>> = const { Cell::new(None) };
    }
}
