//! Helpers shared by the integration tests: fresh store directories, typed saves and loads, and
//! what a directory holds. `mod common;` in a test file brings them in.

// Every tests/*.rs compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use numpack::batch::BatchView;
use numpack::internals::metadata::{encode, ArrayMeta, Catalog};
use numpack::layout::{Dst, Src};
use numpack::{DType, OpenOptions, Store};

/// Name prefix of the files a commit stages; a finished or aborted one leaves none behind.
pub const STAGE_PREFIX: &str = ".npk-stage-";

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory, unique per test binary, process and call. Removed when dropped,
/// except while a test is failing: then it stays for inspection and its path is printed.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "npk-{}-{name}-{}-{n}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A writer handle, creating the store when missing.
pub fn writer(dir: &Path) -> Store {
    Store::open(
        dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap()
}

pub fn reader(dir: &Path) -> Store {
    Store::open(
        dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A Rust element type and the dtype that stores it, little-endian like the files.
pub trait Elem: Copy + PartialEq + std::fmt::Debug {
    const DTYPE: DType;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! elem {
    ($($t:ty => $d:ident),*) => {$(
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().unwrap())
            }
        }
    )*};
}

elem!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
      i64 => I64, f32 => F32, f64 => F64);

pub fn to_bytes<T: Elem>(values: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(values));
    values.iter().for_each(|v| v.put(&mut out));
    out
}

pub fn from_bytes<T: Elem>(bytes: &[u8]) -> Vec<T> {
    bytes.chunks(std::mem::size_of::<T>()).map(T::get).collect()
}

/// The bytes of an array of `shape` whose every element is `value`.
pub fn filled<T: Elem>(value: T, shape: &[u64]) -> Vec<u8> {
    to_bytes(&vec![value; shape.iter().product::<u64>() as usize])
}

/// Saves array `name` of `shape` with every element `value`.
pub fn save_filled<T: Elem>(s: &Store, name: &str, shape: &[u64], value: T) {
    save(
        s,
        name,
        shape,
        &vec![value; shape.iter().product::<u64>() as usize],
    );
}

/// Saves `values` (C order) as array `name` of `shape`.
pub fn save<T: Elem>(s: &Store, name: &str, shape: &[u64], values: &[T]) {
    let bytes = to_bytes(values);
    s.save(
        name,
        T::DTYPE,
        &Src::contiguous(&bytes, shape, T::DTYPE.size()).unwrap(),
    )
    .unwrap();
}

/// n float64 values k * i, i = 0..n: a different sequence for each multiplier `k`.
pub fn seq(n: u64, k: f64) -> Vec<f64> {
    (0..n).map(|i| k * i as f64).collect()
}

/// `n` bytes of a pattern that differs between neighbours and between arrays (`seed`); bool
/// arrays get 0 and 1 only, the values NumPy stores.
pub fn pattern(dtype: DType, n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            let b = (i * 7 + seed * 13 + 1) as u8;
            if dtype == DType::Bool {
                b & 1
            } else {
                b
            }
        })
        .collect()
}

/// The bytes (C order) of array `name`, whatever its dtype.
pub fn load_bytes(s: &Store, name: &str) -> Vec<u8> {
    let info = s.info(name).unwrap();
    let mut out = vec![0u8; info.nbytes as usize];
    s.load(
        name,
        info.dtype,
        &mut Dst::contiguous(&mut out, &info.shape, info.dtype.size()).unwrap(),
    )
    .unwrap();
    out
}

/// The logical shape and values (C order) of array `name`, which must hold `T`'s dtype.
pub fn load_shaped<T: Elem>(s: &Store, name: &str) -> (Vec<u64>, Vec<T>) {
    let info = s.info(name).unwrap();
    assert_eq!(info.dtype, T::DTYPE, "dtype of array {name:?}");
    let mut bytes = vec![0u8; info.nbytes as usize];
    s.load(
        name,
        T::DTYPE,
        &mut Dst::contiguous(&mut bytes, &info.shape, T::DTYPE.size()).unwrap(),
    )
    .unwrap();
    (info.shape, from_bytes(&bytes))
}

pub fn load<T: Elem>(s: &Store, name: &str) -> Vec<T> {
    load_shaped(s, name).1
}

/// The elements of a batch view, to change them in place as a C caller would through the
/// pointer.
///
/// # Safety
/// The view must be live (its batch open, the array neither saved from another buffer nor
/// evicted since) and hold `T`'s dtype, and nothing else may use the slice's memory meanwhile.
pub unsafe fn view_values<'a, T: Elem>(v: &BatchView) -> &'a mut [T] {
    assert_eq!(v.dtype, T::DTYPE);
    let n = v.shape.iter().product::<u64>() as usize;
    if v.ptr.is_null() {
        return &mut [];
    }
    // SAFETY: the caller's contract; batch memory is page-aligned, so aligned for any T.
    unsafe { std::slice::from_raw_parts_mut(v.ptr.cast::<T>(), n) }
}

/// A source reading a live batch view's own memory (saving it back marks it changed).
///
/// # Safety
/// As for `view_values`.
pub unsafe fn view_src<'a>(v: &BatchView) -> Src<'a> {
    let len = v.shape.iter().product::<u64>() as usize * v.dtype.size();
    let data: &[u8] = if v.ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(v.ptr, len) }
    };
    Src::contiguous(data, &v.shape, v.dtype.size()).unwrap()
}

/// The names in `dir` (not recursive), sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The names in `dir` that start with `prefix`, sorted.
pub fn names_starting(dir: &Path, prefix: &str) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// The staged files in `dir`: an open batch or commit may hold some, a finished one none.
pub fn staged_files(dir: &Path) -> Vec<String> {
    names_starting(dir, STAGE_PREFIX)
}

/// Every entry of `dir` (recursively): relative name → (inode, size, mtime s, mtime ns,
/// content). Equal before and after means nothing was created, removed, renamed, rewritten or
/// touched.
pub type Fingerprint = BTreeMap<String, (u64, u64, i64, i64, Option<Vec<u8>>)>;

/// Makes the lock file say what a structural writer killed while open leaves: its bare pid,
/// without the mark a closing writer adds. Tests that fake a crash's leftovers (bytes past an
/// array's end) by hand, after a writer closed cleanly, call this so the next writer open
/// treats the store as a crashed writer's.
pub fn as_if_the_writer_died(dir: &Path) {
    std::fs::write(dir.join(".npk.lock"), b"4194304").unwrap();
}

pub fn fingerprint(dir: &Path) -> Fingerprint {
    fn walk(root: &Path, dir: &Path, out: &mut Fingerprint) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // The lock file is the writer's own note (its pid, and whether it closed): that it
            // exists is part of the store's state, what it says is not.
            if rel == ".npk.lock" {
                out.insert(rel, (m.ino(), 0, 0, 0, None));
                continue;
            }
            let content = m.is_file().then(|| std::fs::read(e.path()).unwrap());
            out.insert(rel, (m.ino(), m.len(), m.mtime(), m.mtime_nsec(), content));
            if m.is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Returns once the wall clock reads later than `micros` (since the epoch), so a modify time
/// taken afterwards is larger. Waits on the clock itself, not for a guessed duration.
pub fn wait_for_clock_past(micros: u64) {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        if now > micros {
            return;
        }
        std::thread::yield_now();
    }
}

/// numpack 0.7.0 stores arrays over 256 MiB as segments behind a JSON manifest (format.md §5);
/// 0.7.0 cannot be installed here, so this builds one byte for byte as it writes them: a
/// (rows, 3) int32 array `x` with element (r, c) = 10 * r + c, split into segments of the
/// given row counts.
pub fn segmented_store(dir: &std::path::Path, split: &[u64]) -> Vec<i32> {
    let rows: u64 = split.iter().sum();
    let values: Vec<i32> = (0..rows as i32)
        .flat_map(|r| (0..3).map(move |c| 10 * r + c))
        .collect();
    std::fs::create_dir_all(dir.join("data_x_segments")).unwrap();
    let mut segs = Vec::new();
    let mut first = 0usize;
    for (i, &n) in split.iter().enumerate() {
        let file = format!("data_x_segments/seg_{i:06}.npkd");
        let part = &values[first * 3..(first + n as usize) * 3];
        let bytes: Vec<u8> = part.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(&file), &bytes).unwrap();
        segs.push(format!(
            "{{\"file\":\"{file}\",\"rows\":{n},\"bytes\":{}}}",
            bytes.len()
        ));
        first += n as usize;
    }
    let manifest = format!("{{\"version\":1,\"segments\":[{}]}}", segs.join(","));
    std::fs::write(dir.join("data_x.npkseg"), manifest).unwrap();
    let mut meta = ArrayMeta::new("x", DType::I32, vec![rows, 3], 1);
    meta.data_file = "data_x.npkseg".into();
    let mut catalog = Catalog::default();
    catalog.arrays.insert("x".into(), meta);
    std::fs::write(dir.join("metadata.npkm"), encode(&catalog)).unwrap();
    values
}

pub fn c_path(dir: &Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap()
}

/// Mounts a small tmpfs at `dir`, or returns false when this machine does not allow it. Done
/// with the system call, not by running mount(8): a fork while another test drops a writer
/// would briefly hold its lock's open file description and make that test's reopen `Locked`.
pub fn mount_tmpfs(dir: &Path, kib: u64) -> bool {
    let target = c_path(dir);
    let opts = std::ffi::CString::new(format!("size={kib}k")).unwrap();
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            opts.as_ptr().cast(),
        ) == 0
    }
}

pub fn umount(dir: &Path) {
    let target = c_path(dir);
    // SAFETY: a NUL-terminated path that outlives the call.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
}

/// Fills the file system holding `dir` with `filler`, then frees `pages` 4 KiB pages of it.
pub fn fill_leaving(dir: &Path, pages: u64) {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write(&chunk) {
            Ok(4096) => {}
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let pages_used = std::fs::metadata(&path).unwrap().len().div_ceil(4096);
    f.set_len(pages_used.saturating_sub(pages) * 4096).unwrap();
}
