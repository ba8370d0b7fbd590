//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz/fuzz_targets/` and by the
//! corpus replay test `tests/fuzz_corpus.rs`, so a seed or a crash reproducer runs the very same
//! code under `cargo test` as under libFuzzer.
//!
//! Every body takes arbitrary bytes. A failure of the library must be an `Err`; anything else (a
//! panic, an abort, a sanitizer report, a file changed outside the store directory, or an
//! oracle below that does not hold) is a finding. Each body returns how deep the input got, so
//! the replay test can check that the corpus reaches past the first error.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use numpack::internals::metadata::{self, ArrayMeta, Catalog};
use numpack::internals::record::fnv1a;
use numpack::internals::segments::parse_manifest;
use numpack::internals::Bitmap;
use numpack::layout::{Dst, Src};
use numpack::{DType, OpenOptions, Store};

// ---- pure decoders ----------------------------------------------------------------------------

/// `metadata.npkm` decoder. A catalogue that decodes must encode to bytes that decode to the
/// same arrays, and encoding is a fixed point after one round.
pub fn metadata(data: &[u8]) -> bool {
    let Ok(catalog) = metadata::decode(data) else {
        return false;
    };
    let bytes = metadata::encode(&catalog);
    let back = match metadata::decode(&bytes) {
        Ok(c) => c,
        Err(e) => panic!("re-encoded catalogue {catalog:?} does not decode: {e}"),
    };
    assert_eq!(back.arrays, catalog.arrays, "encode/decode round trip");
    assert_eq!(back.version, 1, "encode always writes version 1");
    assert_eq!(
        metadata::encode(&back),
        bytes,
        "encode is not a fixed point"
    );
    for (name, meta) in &catalog.arrays {
        assert_eq!(name, &meta.name);
        assert_eq!(
            metadata::byte_size(&meta.shape, meta.dtype),
            Some(meta.size_bytes),
            "a decoded record's size_bytes must match its shape"
        );
    }
    true
}

/// Deletion bitmap: 8 bytes of physical row count (little endian), then the file's bytes.
pub fn bitmap(data: &[u8]) -> bool {
    if data.len() < 8 {
        return false;
    }
    let (rows, body) = data.split_at(8);
    let rows = u64::from_le_bytes(rows.try_into().expect("8 bytes"));
    let Ok(bm) = Bitmap::decode(body, rows) else {
        return false;
    };
    assert_eq!(bm.total_rows(), rows);
    assert_eq!(bm.alive_rows() + bm.deleted_count(), rows);
    assert_eq!(bm.has_deleted(), bm.deleted_count() > 0);
    let runs = bm.alive_runs();
    assert_eq!(runs.iter().map(|r| r.1).sum::<u64>(), bm.alive_rows());
    // Runs are maximal, ordered and alive; logical row i maps to the i-th alive physical row.
    let mut logical = 0u64;
    let mut prev_end = None;
    for &(start, len) in runs.iter().take(256) {
        assert!(len > 0, "empty run");
        if let Some(end) = prev_end {
            assert!(
                start > end,
                "runs {runs:?} overlap, touch or are out of order"
            );
        }
        assert!(bm.is_alive(start) && bm.is_alive(start + len - 1));
        assert_eq!(bm.physical(logical), Some(start));
        assert_eq!(bm.physical(logical + len - 1), Some(start + len - 1));
        logical += len;
        prev_end = Some(start + len);
    }
    assert_eq!(bm.physical(bm.alive_rows()), None);
    let again = Bitmap::decode(&bm.encode(), rows).expect("an encoded bitmap decodes");
    assert_eq!(again, bm, "bitmap round trip");
    true
}

/// Segment manifest: the first byte picks the array name, the rest is the manifest text.
pub fn manifest(data: &[u8]) -> bool {
    const NAMES: [&str; 4] = ["x", "a", "été", "a.b"];
    let Some((&pick, text)) = data.split_first() else {
        return false;
    };
    let name = NAMES[usize::from(pick) % NAMES.len()];
    let text = String::from_utf8_lossy(text);
    let Ok(segments) = parse_manifest(&text, name) else {
        return false;
    };
    let folder = format!("data_{name}_segments/");
    for s in &segments {
        let base = s
            .file
            .strip_prefix(&folder)
            .unwrap_or_else(|| panic!("segment {:?} is outside {folder}", s.file));
        assert!(
            !base.is_empty() && base != "." && base != ".." && !base.contains(['/', '\0']),
            "segment base name {base:?} could leave {folder}"
        );
    }
    true
}

/// `attributes.json` decoder. What decodes re-encodes to bytes that decode to the same
/// attributes (NaN and -0.0 compared by their text), and encoding is a fixed point.
pub fn attributes(data: &[u8]) -> bool {
    use numpack::internals::attributes::{decode, encode};
    let Ok(a) = decode(data) else {
        return false;
    };
    let bytes = encode(&a);
    let back = match decode(&bytes) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded attributes {a:?} do not decode: {e}"),
    };
    assert_eq!(
        format!("{back:?}"),
        format!("{a:?}"),
        "attributes round trip"
    );
    assert_eq!(encode(&back), bytes, "encode is not a fixed point");
    true
}

// ---- a store directory from bytes -------------------------------------------------------------

/// How far a `store_dir` input got.
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreOutcome {
    pub files: usize,
    pub read_only_opened: bool,
    pub writer_opened: bool,
    /// Arrays whose whole content was loaded.
    pub arrays_loaded: usize,
}

/// File names an entry's selector byte picks from (index 31 takes the name from the content).
const NAMES: [&str; 31] = [
    "metadata.npkm",
    "data_a.npkd",
    "deleted_a.npkb",
    "data_a.npkseg",
    "data_a_segments/seg_000000.npkd",
    "data_a_segments/seg_000001.npkd",
    "data_b.npkd",
    "deleted_b.npkb",
    "data_b.npkseg",
    "data_b_segments/seg_000000.npkd",
    ".npk.commit",
    ".npk.commit.tmp",
    ".npk-stage-1-1",
    ".npk-stage-1-2",
    ".npk-stage-1-3",
    ".npk-spare-1-1",
    ".npk.lock",
    "data_a_segments",
    "data_b_segments",
    "data_x.npkd",
    "deleted_x.npkb",
    "data_x.npkseg",
    "data_x_segments/seg_000000.npkd",
    "data_c.npkd",
    "deleted_c.npkb",
    "data_c.npkseg",
    "data_c_segments/seg_000000.npkd",
    ".npk-stage-2-1",
    ".npk-spare-2-1",
    "data_a_segments/.npk-stage-1-1",
    "metadata.npkm.tmp",
];

/// Where symlink entries point: all outside the store, next to it, where the canary lives.
const LINK_TARGETS: [&str; 5] = [
    "../outside",
    "../outside/canary",
    "../outside/sub",
    "../outside/missing",
    "/nonexistent-npk-fuzz-target",
];

const MAX_ENTRIES: usize = 24;
/// Arrays larger than this are not loaded (their files are tiny; the shape alone is not data).
const MAX_LOAD_BYTES: u64 = 1 << 22;

/// One entry of the archive format `store_dir` inputs are written in.
#[derive(Debug)]
pub enum Entry {
    /// A regular file with these bytes.
    File(String, Vec<u8>),
    /// A regular file with these bytes followed by their FNV-1a sum (a commit record whose
    /// checksum the fuzzer need not find).
    Summed(String, Vec<u8>),
    /// A symbolic link to `LINK_TARGETS[n % 5]`.
    Link(String, u8),
    Dir(String),
}

/// Names the harness itself will create: inside the store, at most one folder deep.
fn harmless(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').count() <= 2
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

/// The archive: entries of `selector: u8, len: u16 LE, bytes[len]` (a short tail takes what is
/// left). Selector bits 5-6 are the kind (file, summed file, symlink, directory), bits 0-4 index
/// `NAMES`; index 31 reads the name from the content (`n: u8` then `n` bytes of name).
pub fn parse_archive(mut data: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    while let Some((&sel, rest)) = data.split_first() {
        if out.len() == MAX_ENTRIES {
            break;
        }
        let (len, rest) = match rest {
            [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
            _ => (rest.len(), &rest[rest.len()..]),
        };
        let len = len.min(rest.len());
        let (mut content, rest) = rest.split_at(len);
        data = rest;
        let idx = usize::from(sel & 31);
        let name = if idx < NAMES.len() {
            NAMES[idx].to_string()
        } else {
            let Some((&n, tail)) = content.split_first() else {
                continue;
            };
            let n = usize::from(n).min(tail.len());
            let name = String::from_utf8_lossy(&tail[..n]).into_owned();
            content = &tail[n..];
            name
        };
        if !harmless(&name) {
            continue;
        }
        out.push(match (sel >> 5) & 3 {
            0 => Entry::File(name, content.to_vec()),
            1 => Entry::Summed(name, content.to_vec()),
            2 => Entry::Link(name, content.first().copied().unwrap_or(0)),
            _ => Entry::Dir(name),
        });
    }
    out
}

/// The inverse of `parse_archive`, for building seeds (names must be in `NAMES` or valid custom
/// names shorter than 256 bytes; contents shorter than 64 KiB).
pub fn write_archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (kind, name, content): (u8, &str, Vec<u8>) = match e {
            Entry::File(n, c) => (0, n, c.clone()),
            Entry::Summed(n, c) => (1, n, c.clone()),
            Entry::Link(n, t) => (2, n, vec![*t]),
            Entry::Dir(n) => (3, n, Vec::new()),
        };
        let (idx, content) = match NAMES.iter().position(|k| *k == name) {
            Some(i) => (i as u8, content),
            None => {
                let mut c = vec![u8::try_from(name.len()).expect("name < 256 bytes")];
                c.extend_from_slice(name.as_bytes());
                c.extend_from_slice(&content);
                (31, c)
            }
        };
        out.push(kind << 5 | idx);
        let len = u16::try_from(content.len()).expect("content < 64 KiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&content);
    }
    out
}

/// A fresh directory in RAM when there is one: `<root>/store` for the store and
/// `<root>/outside` with the canary that symlinks point at.
fn fresh_root() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let root = base.join(format!(
        "npk-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(root.join("store")).expect("create the store directory");
    fs::create_dir_all(root.join("outside/sub")).expect("create the canary directory");
    fs::write(root.join("outside/canary"), b"canary").expect("write the canary");
    fs::write(root.join("outside/sub/seg_000000.npkd"), [7u8; 16]).expect("write the canary");
    root
}

/// Everything below `dir` (symlinks not followed): relative path, kind, content.
fn tree(dir: &Path) -> Vec<(String, char, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, char, Vec<u8>)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("list the canary directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p
                .strip_prefix(base)
                .expect("below base")
                .display()
                .to_string();
            let ft = fs::symlink_metadata(&p).expect("lstat").file_type();
            if ft.is_dir() {
                out.push((rel, 'd', Vec::new()));
                walk(base, &p, out);
            } else if ft.is_file() {
                out.push((rel, 'f', fs::read(&p).expect("read a canary file")));
            } else {
                out.push((rel, 'l', Vec::new()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// Writes the entries into `store`, never through a symlink: the harness must not itself be
/// the one that writes outside. An entry whose name is already taken is skipped.
fn materialise(store: &Path, entries: &[Entry]) -> usize {
    let mut made = 0;
    for e in entries {
        let name = match e {
            Entry::File(n, _) | Entry::Summed(n, _) | Entry::Link(n, _) | Entry::Dir(n) => n,
        };
        let path = store.join(name);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        if let Some((folder, _)) = name.split_once('/') {
            let folder = store.join(folder);
            match fs::symlink_metadata(&folder) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => continue,
                Err(_) => {
                    if fs::create_dir(&folder).is_err() {
                        continue;
                    }
                }
            }
        }
        let ok = match e {
            Entry::File(_, c) => fs::write(&path, c).is_ok(),
            Entry::Summed(_, c) => {
                let mut bytes = c.clone();
                bytes.extend_from_slice(&fnv1a(c).to_le_bytes());
                fs::write(&path, bytes).is_ok()
            }
            Entry::Link(_, t) => {
                let target = LINK_TARGETS[usize::from(*t) % LINK_TARGETS.len()];
                std::os::unix::fs::symlink(target, &path).is_ok()
            }
            Entry::Dir(_) => fs::create_dir(&path).is_ok(),
        };
        made += usize::from(ok);
    }
    made
}

/// Bytes of one row (all but the first dimension); None on overflow.
fn row_bytes(shape: &[u64], itemsize: usize) -> Option<u64> {
    shape
        .iter()
        .skip(1)
        .try_fold(itemsize as u64, |a, &d| a.checked_mul(d))
}

/// Reads every array every way there is and checks the ways agree. Returns arrays loaded.
/// Every attribute of the store and of its arrays: a damaged file is an error for each call,
/// never a panic, and every listed key can be read.
fn read_attrs(store: &Store) {
    let mut owners: Vec<Option<String>> = vec![None];
    owners.extend(store.list().into_iter().map(Some));
    for owner in &owners {
        let Ok(keys) = store.attr_keys(owner.as_deref()) else {
            continue;
        };
        for k in keys {
            if let Err(e) = store.attr_get(owner.as_deref(), &k) {
                panic!("listed attribute {k:?} of {owner:?} cannot be read: {e}");
            }
        }
    }
}

fn read_all(store: &Store) -> usize {
    read_attrs(store);
    let mut loaded = 0;
    for name in store.list() {
        let info = match store.info(&name) {
            Ok(i) => i,
            Err(e) => panic!("listed array {name:?} has no info: {e}"),
        };
        let size = info.dtype.size();
        let elems = info.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        assert_eq!(
            elems.and_then(|n| n.checked_mul(size as u64)),
            Some(info.nbytes),
            "info of {name:?}: nbytes disagrees with the shape"
        );
        assert!(
            info.shape.first().is_none_or(|&r| r <= info.physical_rows),
            "more logical than physical rows in {name:?}"
        );
        if info.nbytes > MAX_LOAD_BYTES {
            continue;
        }
        let mut all = vec![0u8; info.nbytes as usize];
        let dst = Dst::contiguous(&mut all, &info.shape, size);
        let loaded_ok = match dst {
            Ok(mut dst) => store.load(&name, info.dtype, &mut dst).is_ok(),
            Err(e) => panic!(
                "info shape {:?} of {name:?} is not a buffer: {e}",
                info.shape
            ),
        };
        loaded += usize::from(loaded_ok);
        // A wrong dtype is refused.
        let other = if info.dtype == DType::U8 {
            DType::I8
        } else {
            DType::U8
        };
        let mut scratch = vec![0u8; info.nbytes as usize / size * other.size()];
        if let Ok(mut dst) = Dst::contiguous(&mut scratch, &info.shape, other.size()) {
            assert!(store.load(&name, other, &mut dst).is_err());
        }
        if let Ok(view) = store.view(&name) {
            assert_eq!(view.len() as u64, info.nbytes, "view length of {name:?}");
            assert_eq!(view.shape, info.shape);
            if loaded_ok && !view.is_empty() {
                // SAFETY: a non-empty view's pointer is valid for `len()` bytes while it lives.
                let bytes = unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) };
                assert!(bytes == all.as_slice(), "view and load of {name:?} differ");
            }
        }
        let Some(&rows) = info.shape.first() else {
            continue;
        };
        // Rows of a zero-row array may still be huge: (0, 2^40, 2^40).
        let Some(row) = row_bytes(&info.shape, size).filter(|&r| r <= MAX_LOAD_BYTES) else {
            continue;
        };
        let row = row as usize;
        if rows > 0 {
            let pick = [0i64, -1, (rows / 2) as i64, 0];
            let mut shape = info.shape.clone();
            shape[0] = pick.len() as u64;
            let mut got = vec![0u8; pick.len() * row];
            let mut dst = Dst::contiguous(&mut got, &shape, size).expect("a small buffer");
            let r = store.get_rows(&name, &pick, info.dtype, &mut dst);
            if loaded_ok && r.is_ok() {
                for (i, &p) in pick.iter().enumerate() {
                    let p = if p < 0 {
                        i128::from(rows) + i128::from(p)
                    } else {
                        i128::from(p)
                    } as usize;
                    assert!(
                        got[i * row..(i + 1) * row] == all[p * row..(p + 1) * row],
                        "get_rows and load of {name:?} differ at row {p}"
                    );
                }
            }
        }
        // Out-of-range rows are refused, both ends (past i64::MAX rows, every i64 is in range).
        let bad: Vec<i64> = match i64::try_from(rows) {
            Ok(n) if n < i64::MAX => vec![n, -n - 1, i64::MIN, i64::MAX],
            _ => Vec::new(),
        };
        for bad in bad {
            let mut shape = info.shape.clone();
            shape[0] = 1;
            let mut got = vec![0u8; row];
            let mut dst = Dst::contiguous(&mut got, &shape, size).expect("a one-row buffer");
            assert!(
                store.get_rows(&name, &[bad], info.dtype, &mut dst).is_err(),
                "row {bad} of {name:?} ({rows} rows) was not refused"
            );
        }
    }
    loaded
}

/// Every structural write once, on whatever the store holds; each may fail, none may panic.
fn write_all(store: &Store) {
    let names = store.list();
    if let Some(name) = names.first() {
        // A shape (n, 0) claims n rows with no data; their bitmap is n/8 bytes. Between 2^26
        // and 2^50 rows it may be allocated and filled, which is legitimate but trips the
        // fuzzer's memory limit; past that the allocation must fail with an error.
        let rows = store.info(name).map_or(0, |i| i.physical_rows);
        if !(1 << 26..1 << 50).contains(&rows) {
            let _ = store.drop_rows(name, &[0]);
            let _ = store.drop_rows(name, &[-1, 0, 1]);
        }
        let _ = store.clone_array(name, "fuzz_clone");
        if let Ok(info) = store.info(name) {
            if let Some(&rows) = info.shape.first() {
                let row = row_bytes(&info.shape, info.dtype.size()).unwrap_or(u64::MAX);
                if rows > 0 && row <= 1 << 16 {
                    let bytes = vec![1u8; row as usize];
                    let mut shape = info.shape.clone();
                    shape[0] = 1;
                    if let Ok(src) = Src::contiguous(&bytes, &shape, info.dtype.size()) {
                        let _ = store.append(name, info.dtype, &src);
                        let _ = store.replace_rows(name, &[0], info.dtype, &src);
                    }
                }
            }
        }
    }
    let _ = store.compact(None);
    let bytes = [3u8; 24];
    let src = Src::contiguous(&bytes, &[3, 2], 4).expect("a small source");
    let _ = store.save("fuzz_new", DType::I32, &src);
    if let Some(name) = names.last() {
        let _ = store.save(name, DType::I32, &src);
    }
    let _ = store.drop_arrays(&["fuzz_clone"]);
}

/// An arbitrary store directory: opened read-only and read every way; opened as a writer
/// (crash recovery runs on any commit record), read, written, closed; then a reader must
/// find a whole store. Nothing outside the store directory may change.
pub fn store_dir(data: &[u8]) -> StoreOutcome {
    let entries = parse_archive(data);
    let root = fresh_root();
    let store_path = root.join("store");
    let outside_before = tree(&root.join("outside"));
    let mut out = StoreOutcome {
        files: materialise(&store_path, &entries),
        ..Default::default()
    };

    let ro = OpenOptions {
        read_only: true,
        ..Default::default()
    };
    if let Ok(store) = Store::open(&store_path, ro) {
        out.read_only_opened = true;
        out.arrays_loaded += read_all(&store);
        assert!(store
            .save("x", DType::U8, &Src::contiguous(&[0], &[1], 1).unwrap())
            .is_err());
    }

    let writer = Store::open(&store_path, OpenOptions::default());
    if let Ok(store) = writer {
        out.writer_opened = true;
        out.arrays_loaded += read_all(&store);
        write_all(&store);
        out.arrays_loaded += read_all(&store);
        let mut names = store.list();
        names.sort();
        drop(store);
        // Whatever the writes did, atomically or not at all, the store is whole.
        match Store::open(&store_path, ro) {
            Ok(again) => {
                let mut listed = again.list();
                listed.sort();
                assert_eq!(listed, names, "a reopen lists other arrays");
                read_all(&again);
            }
            Err(e) => panic!("a store a writer opened and closed no longer opens: {e}"),
        }
    }

    assert_eq!(
        tree(&root.join("outside")),
        outside_before,
        "a file outside the store directory changed"
    );
    let mut top: Vec<String> = fs::read_dir(&root)
        .expect("list the root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["outside", "store"],
        "a file appeared next to the store"
    );
    fs::remove_dir_all(&root).expect("remove the fuzz directory");
    out
}

// ---- one damaged array ------------------------------------------------------------------------

/// What one damage did: whether the damaged array still read (it may, e.g. bytes past its end).
#[derive(Debug, Default, Clone, Copy)]
pub struct OneArrayOutcome {
    pub victim_read: bool,
}

fn load_i32(s: &Store, name: &str) -> Result<Vec<i32>, numpack::Error> {
    let info = s.info(name)?;
    let mut buf = vec![0u8; info.nbytes as usize];
    s.load(
        name,
        DType::I32,
        &mut Dst::contiguous(&mut buf, &info.shape, 4)?,
    )?;
    Ok(buf
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Whatever one array's files hold, the store opens and the other arrays read as saved.
/// A store of int32 arrays "a" (4 rows), "v" (6 rows, row 2 dropped) and "z" (3 rows, row 0
/// dropped); the first input byte picks what of "v" is damaged, the rest is the damage:
///   0 data_v.npkd's bytes, 1 deleted_v.npkb's bytes, 2 v's name in the catalogue (any UTF-8,
///   its data file renamed to match when that is one plain name), 3 data_v.npkd removed, made
///   a folder or a symlink out of the store.
/// Read-only and writer opens must succeed and read "a" and "z" exactly; "v" reads or fails
/// with an error, never a panic; a writer's commit (save "b") carries v's catalogue record
/// unchanged; a reader then sees a, b, z.
pub fn one_array(data: &[u8]) -> OneArrayOutcome {
    let root = fresh_root();
    let dir = root.join("store");
    let create = OpenOptions {
        create: true,
        ..Default::default()
    };
    let a: Vec<i32> = (0..4).collect();
    let z_alive: Vec<i32> = vec![21, 22];
    {
        let s = Store::open(&dir, create).expect("create the store");
        let save = |name: &str, v: &[i32]| {
            let bytes = i32_src(v);
            s.save(
                name,
                DType::I32,
                &Src::contiguous(&bytes, &[v.len() as u64], 4).unwrap(),
            )
            .expect("save");
        };
        save("a", &a);
        save("v", &[10, 11, 12, 13, 14, 15]);
        save("z", &[20, 21, 22]);
        s.drop_rows("v", &[2]).expect("drop a row of v");
        s.drop_rows("z", &[0]).expect("drop a row of z");
    }
    let (mode, rest) = data
        .split_first()
        .map_or((0, &[][..]), |(m, r)| (*m % 4, r));
    let mut victim = "v".to_string();
    match mode {
        0 => fs::write(dir.join("data_v.npkd"), rest).expect("damage data_v.npkd"),
        1 => fs::write(dir.join("deleted_v.npkb"), rest).expect("damage deleted_v.npkb"),
        2 => {
            let name = String::from_utf8_lossy(&rest[..rest.len().min(300)]).into_owned();
            let meta_path = dir.join(metadata::METADATA_FILE);
            let mut c = metadata::decode(&fs::read(&meta_path).unwrap()).unwrap();
            if !["a", "b", "z"].contains(&name.as_str()) {
                let mut m = c.arrays.remove("v").unwrap();
                m.data_file = format!("data_{name}.npkd");
                m.name = name.clone();
                c.arrays.insert(name.clone(), m);
                fs::write(&meta_path, metadata::encode(&c)).unwrap();
                if numpack::internals::names::readable_name(&name).is_ok() {
                    let _ = fs::rename(
                        dir.join("data_v.npkd"),
                        dir.join(format!("data_{name}.npkd")),
                    );
                    let _ = fs::rename(
                        dir.join("deleted_v.npkb"),
                        dir.join(format!("deleted_{name}.npkb")),
                    );
                }
                victim = name;
            }
        }
        _ => {
            let path = dir.join("data_v.npkd");
            fs::remove_file(&path).unwrap();
            match rest.first().map(|b| b % 3) {
                Some(1) => fs::create_dir(&path).unwrap(),
                Some(2) => std::os::unix::fs::symlink(root.join("outside"), &path).unwrap(),
                _ => {}
            }
        }
    }
    fs::create_dir_all(root.join("outside")).unwrap();
    let outside_before = tree(&root.join("outside"));
    let catalogue_before = metadata::decode(&fs::read(dir.join(metadata::METADATA_FILE)).unwrap())
        .expect("the damage keeps the catalogue valid");

    let healthy = |s: &Store, how: &str| {
        assert_eq!(
            load_i32(s, "a").unwrap_or_else(|e| panic!("{how}: a: {e}")),
            a
        );
        assert_eq!(
            load_i32(s, "z").unwrap_or_else(|e| panic!("{how}: z: {e}")),
            z_alive
        );
    };
    let ro = OpenOptions {
        read_only: true,
        ..Default::default()
    };
    let mut out = OneArrayOutcome::default();
    {
        let r = Store::open(&dir, ro).unwrap_or_else(|e| panic!("read-only open: {e}"));
        healthy(&r, "reader");
        out.victim_read = load_i32(&r, &victim).is_ok();
        let _ = r.view(&victim);
        let _ = r.get_rows(
            &victim,
            &[0],
            DType::I32,
            &mut Dst::contiguous(&mut [0u8; 4], &[1], 4).unwrap(),
        );
    }
    {
        let w = Store::open(&dir, OpenOptions::default())
            .unwrap_or_else(|e| panic!("writer open: {e}"));
        healthy(&w, "writer");
        let _ = load_i32(&w, &victim);
        let b = i32_src(&[7, 8]);
        w.save("b", DType::I32, &Src::contiguous(&b, &[2], 4).unwrap())
            .unwrap_or_else(|e| panic!("save beside a damaged array: {e}"));
        healthy(&w, "writer after save");
    }
    let after = metadata::decode(&fs::read(dir.join(metadata::METADATA_FILE)).unwrap()).unwrap();
    assert_eq!(
        after.arrays.get(&victim),
        catalogue_before.arrays.get(&victim),
        "the damaged array's record is carried unchanged"
    );
    let r = Store::open(&dir, ro).unwrap_or_else(|e| panic!("reopen: {e}"));
    healthy(&r, "reopened");
    assert_eq!(load_i32(&r, "b").unwrap(), vec![7, 8]);
    drop(r);
    assert_eq!(
        tree(&root.join("outside")),
        outside_before,
        "a file outside the store changed"
    );
    fs::remove_dir_all(&root).expect("remove the fuzz directory");
    out
}

// ---- seeds written by this library ------------------------------------------------------------

/// The files of a store directory (one folder deep), as archive entries.
fn pack_dir(dir: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (rel, kind, content) in tree(dir) {
        match kind {
            'f' if rel != ".npk.lock" => out.push(Entry::File(rel, content)),
            'd' => out.push(Entry::Dir(rel)),
            _ => {}
        }
    }
    out
}

fn i32_src(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Seed inputs for every target, written by this library: `(target, file name, bytes)`.
/// `tests/fuzz_corpus.rs` replays them and, when asked, writes them to `fuzz/corpus/`.
pub fn library_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use numpack::internals::record::{Op, Record};
    let root = fresh_root();
    let dir = root.join("store");
    let create = OpenOptions {
        create: true,
        ..Default::default()
    };
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();

    // A plain store: a 2-d array with dropped rows, a 1-d f64, a 0-d array, an empty one.
    {
        let s = Store::open(&dir, create).expect("create a store");
        let a = i32_src(&(0..15).collect::<Vec<_>>());
        s.save("a", DType::I32, &Src::contiguous(&a, &[5, 3], 4).unwrap())
            .unwrap();
        s.drop_rows("a", &[1, -1]).unwrap();
        let b: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        s.save("b", DType::F64, &Src::contiguous(&b, &[2], 8).unwrap())
            .unwrap();
        s.save("c", DType::U16, &Src::contiguous(&[9, 0], &[], 2).unwrap())
            .unwrap();
        s.save("e", DType::U8, &Src::contiguous(&[], &[0, 4], 1).unwrap())
            .unwrap();
    }
    let plain = pack_dir(&dir);
    seeds.push(("store_dir", "lib_plain".into(), write_archive(&plain)));
    let meta = fs::read(dir.join("metadata.npkm")).unwrap();
    seeds.push(("metadata", "lib_plain".into(), meta.clone()));
    let mut bm = 5u64.to_le_bytes().to_vec();
    bm.extend(fs::read(dir.join("deleted_a.npkb")).unwrap());
    seeds.push(("bitmap", "lib_plain_a".into(), bm));

    // The same store mid-commit: a decided record renaming a new catalogue and data file into
    // place and removing the bitmap; crash recovery (writer) and the resolver (reader) see it.
    let mut new_cat = metadata::decode(&meta).unwrap();
    new_cat
        .arrays
        .insert("a".into(), ArrayMeta::new("a", DType::I32, vec![2, 3], 7));
    let record = Record {
        txid: "1-1-0".into(),
        ops: vec![
            Op::Rename {
                from: ".npk-stage-1-1".into(),
                to: "data_a.npkd".into(),
            },
            Op::Remove {
                path: "deleted_a.npkb".into(),
            },
            Op::RenameKeepingOld {
                from: ".npk-stage-1-2".into(),
                to: "data_b.npkd".into(),
                keep: ".npk-spare-1-1".into(),
            },
            Op::Rename {
                from: ".npk-stage-1-3".into(),
                to: "metadata.npkm".into(),
            },
        ],
    };
    let encoded = record.encode();
    let body = encoded[..encoded.len() - 8].to_vec();
    let mut crashed = plain
        .iter()
        .filter_map(|e| match e {
            Entry::File(n, c) => Some(Entry::File(n.clone(), c.clone())),
            _ => None,
        })
        .collect::<Vec<_>>();
    crashed.push(Entry::File(
        ".npk-stage-1-1".into(),
        i32_src(&[1, 2, 3, 4, 5, 6]),
    ));
    crashed.push(Entry::File(".npk-stage-1-2".into(), vec![0; 16]));
    crashed.push(Entry::File(
        ".npk-stage-1-3".into(),
        metadata::encode(&new_cat),
    ));
    crashed.push(Entry::Summed(".npk.commit".into(), body));
    seeds.push((
        "store_dir",
        "lib_crashed_commit".into(),
        write_archive(&crashed),
    ));

    // A hostile record: removals through a segment folder that is a symlink out of the store.
    let hostile = Record {
        txid: "x".into(),
        ops: vec![
            Op::Remove {
                path: "data_a_segments/seg_000000.npkd".into(),
            },
            Op::Remove {
                path: "data_a_segments/canary".into(),
            },
            Op::RemoveDir {
                path: "data_a_segments".into(),
            },
            Op::Rename {
                from: ".npk-stage-1-1".into(),
                to: "data_a_segments/canary".into(),
            },
        ],
    };
    let encoded = hostile.encode();
    let entries = vec![
        Entry::File(
            "metadata.npkm".into(),
            metadata::encode(&Catalog::default()),
        ),
        Entry::Link("data_a_segments".into(), 0),
        Entry::Link("data_b.npkd".into(), 1),
        Entry::File(".npk-stage-1-1".into(), b"evil".to_vec()),
        Entry::Summed(".npk.commit".into(), encoded[..encoded.len() - 8].to_vec()),
    ];
    seeds.push((
        "store_dir",
        "lib_hostile_record".into(),
        write_archive(&entries),
    ));

    // A segmented array (numpack 0.7.0's layout), rows split 2 + 1 over two segment files.
    let manifest = r#"{"version":1,"segments":[{"file":"data_a_segments/seg_000000.npkd","rows":2,"bytes":16},{"file":"data_a_segments/seg_000001.npkd","rows":1,"bytes":8}]}"#;
    let mut seg_meta = ArrayMeta::new("a", DType::I32, vec![3, 2], 1);
    seg_meta.data_file = "data_a.npkseg".into();
    let mut cat = Catalog::default();
    cat.arrays.insert("a".into(), seg_meta);
    let mut plain_b = ArrayMeta::new("b", DType::U8, vec![4], 2);
    plain_b.data_file = "data_b.npkd".into();
    cat.arrays.insert("b".into(), plain_b);
    let seg_cat = metadata::encode(&cat);
    let entries = vec![
        Entry::File("metadata.npkm".into(), seg_cat.clone()),
        Entry::File("data_a.npkseg".into(), manifest.as_bytes().to_vec()),
        Entry::File(
            "data_a_segments/seg_000000.npkd".into(),
            i32_src(&[0, 1, 10, 11]),
        ),
        Entry::File("data_a_segments/seg_000001.npkd".into(), i32_src(&[20, 21])),
        Entry::File("data_b.npkd".into(), vec![1, 2, 3, 4]),
        Entry::File("deleted_b.npkb".into(), vec![2, 0, 0, 0, 0, 0, 0, 0]),
    ];
    seeds.push(("store_dir", "lib_segmented".into(), write_archive(&entries)));
    seeds.push(("metadata", "lib_segmented".into(), seg_cat));
    let mut m = vec![1u8];
    m.extend_from_slice(manifest.as_bytes());
    seeds.push(("manifest", "lib_two_segments".into(), m));
    let fancy = "\u{feff} {\"segments\":[{\"bytes\":18446744073709551615,\"extra\":[null,true,false,-1.5e3,{\"d\":[]}],\"rows\":0,\"file\":\"data_\\u00e9t\\u00E9_segments\\/s\\u005f0.npkd\"}],\"version\":2,\"note\":\"\\ud83d\\ude00\"}";
    let mut m = vec![2u8];
    m.extend_from_slice(fancy.trim_start_matches('\u{feff}').as_bytes());
    seeds.push(("manifest", "lib_escapes".into(), m));

    // A bitmap in the headerless form, with the last partial word's bits in use.
    let mut bm = 70u64.to_le_bytes().to_vec();
    bm.extend_from_slice(&(u64::MAX ^ 0b1011).to_le_bytes());
    bm.extend_from_slice(&0b10_0001u64.to_le_bytes());
    seeds.push(("bitmap", "lib_headerless_70".into(), bm));

    // A store with attributes on it and on an array, and attribute files hostile in each way
    // the reader must refuse.
    {
        use numpack::AttrValue as V;
        let dir = root.join("attrs");
        let s = Store::open(&dir, create).expect("create a store");
        let b: Vec<u8> = [1.5f64, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        s.save("b", DType::F64, &Src::contiguous(&b, &[2], 8).unwrap())
            .unwrap();
        for (k, v) in [
            ("step", V::Int64(-7)),
            ("t", V::Float64(f64::NAN)),
            ("s", V::Str("é\"\n".into())),
            ("iv", V::Int64s(vec![1, 2])),
            ("fe", V::Float64s(vec![])),
        ] {
            s.attr_set(None, k, v.clone()).unwrap();
            s.attr_set(Some("b"), k, v).unwrap();
        }
        drop(s);
        seeds.push((
            "store_dir",
            "lib_attrs".into(),
            write_archive(&pack_dir(&dir)),
        ));
        let file = fs::read(dir.join("attributes.json")).unwrap();
        seeds.push(("attributes", "lib_attrs".into(), file.clone()));
        let text = String::from_utf8(file.clone()).unwrap();
        let head = r#"{"format": "libnumpack-attributes", "version": 1, "store": "#;
        for (name, bytes) in [
            ("hostile_truncated", file[..file.len() / 2].to_vec()),
            (
                "hostile_deep",
                format!("{head}{}", "[".repeat(10_000)).into_bytes(),
            ),
            (
                "hostile_duplicate",
                format!(r#"{head}{{"a": 1, "a": 2.0}}, "arrays": {{}}}}"#).into_bytes(),
            ),
            (
                "hostile_mixed",
                format!(r#"{head}{{"a": [1, 2.0]}}, "arrays": {{}}}}"#).into_bytes(),
            ),
            (
                "hostile_surrogate",
                format!(r#"{head}{{"a": "\udc00"}}, "arrays": {{}}}}"#).into_bytes(),
            ),
            (
                "hostile_utf8",
                text.replacen("step", "st\u{1}p", 1)
                    .replace('\u{1}', "\u{fffd}")
                    .into_bytes()
                    .into_iter()
                    .map(|c| if c == 0xef { 0xff } else { c })
                    .collect(),
            ),
            (
                "hostile_wrong_types",
                format!(r#"{head}[], "arrays": {{"b": 3}}}}"#).into_bytes(),
            ),
        ] {
            seeds.push(("attributes", name.into(), bytes.clone()));
            let mut entries = pack_dir(&dir);
            entries.retain(|e| !matches!(e, Entry::File(n, _) if n == "attributes.json"));
            entries.push(Entry::File("attributes.json".into(), bytes));
            seeds.push((
                "store_dir",
                format!("lib_attrs_{name}"),
                write_archive(&entries),
            ));
        }
    }

    fs::remove_dir_all(&root).expect("remove the seed directory");
    seeds
}
