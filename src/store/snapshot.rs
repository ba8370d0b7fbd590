//! One committed state of a store, as a handle sees it: the catalogue, every array's deletion
//! bitmap, and its data files, which are opened on first use (`files::DataFile`), so opening a
//! store costs the catalogue and one directory listing, not a descriptor per array. Readers take
//! no lock: they open the catalogue, read the state, then check that no commit ran meanwhile
//! (the commit record is unchanged and `metadata.npkm` is still the file we hold). A state that
//! fails the check is read again. A reader keeps its catalogue open for the snapshot's lifetime,
//! so the same check proves that a data file opened later still belongs to its commit.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::arraymap::ArrayMap;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::{self, byte_size, ArrayMeta, Catalog, METADATA_FILE};
use crate::format::names::{self, bitmap_file_name, data_file_name};
use crate::format::segments::{self, Segment};
use crate::format::Bitmap;
use crate::store::commit::{self, Resolver};
use crate::store::files::{self, open_checked, DataFile, ReaderCheck, Source};
use crate::store::fsutil::{self, FileId};

/// A writer checks every data file of a store of at most this many arrays at open (present,
/// regular, long enough), as it did before files were opened on first use.
pub(crate) const SMALL_STORE: usize = 64;

/// Where an array's bytes live.
#[derive(Clone, Debug)]
pub enum DataFiles {
    /// One `data_<name>.npkd`. It may be longer than the array (an interrupted append leaves
    /// bytes past the end); only the first `size_bytes` count.
    Single { path: PathBuf, file: DataFile },
    /// numpack 0.7.0's segments, in row order.
    Segmented { segments: Vec<SegmentFile> },
}

#[derive(Clone, Debug)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub file: Arc<File>,
    pub segment: Segment,
}

#[derive(Clone, Debug)]
pub struct ArrayState {
    pub meta: ArrayMeta,
    pub bitmap: Option<Arc<Bitmap>>,
    pub data: DataFiles,
    /// A mapping of the single data file, made on first use by row operations.
    pub map: MapSlot,
    /// Why this array cannot be used (a name whose files cannot be named safely, a bitmap for
    /// another row count, a broken manifest): the store still opens, and every access to this
    /// array reports it (NPK_CORRUPT) while its entry is carried through commits unchanged.
    pub damage: Option<Error>,
}

/// Shared by the states of one data file across commits: an append keeps the file, so the
/// mapping stays valid for the rows it covers and is redone only when more are needed. A new
/// file (save, compact) gets a new state and slot, so a mapping never outlives its file's
/// states and never shows a replaced file. Writable batches reuse it from batch to batch.
#[derive(Clone, Debug, Default)]
pub struct MapSlot(Arc<parking_lot::Mutex<Slot>>);

#[derive(Debug, Default)]
struct Slot {
    map: Option<Arc<memmap2::MmapRaw>>,
    /// Whether `map` may be written through.
    writable: bool,
    /// Bytes of the file known to have no holes (a writable batch allocated them): a store
    /// through a mapping into a hole raises SIGBUS on a full disk.
    allocated: u64,
    /// The file's identity, asked once: writable batches compare it with what the path names.
    id: Option<FileId>,
}

impl MapSlot {
    /// A mapping covering at least `len` bytes of `file` (writable when `writable`).
    pub fn get(
        &self,
        file: &File,
        len: u64,
        writable: bool,
    ) -> std::io::Result<Arc<memmap2::MmapRaw>> {
        let mut slot = self.0.lock();
        let fits = slot.writable || !writable;
        if let Some(m) = slot.map.as_ref().filter(|m| fits && m.len() as u64 >= len) {
            return Ok(m.clone());
        }
        // Map with headroom so the appends that grow this same file do not force a new
        // mapping (and fresh page faults) each time; we never touch bytes past the array.
        let room = len.saturating_add(len / 4).saturating_add(1 << 20);
        let opts = {
            let mut o = memmap2::MmapOptions::new();
            o.len(room.min(isize::MAX as u64) as usize);
            o
        };
        let map = Arc::new(if writable {
            opts.map_raw(file)?
        } else {
            opts.map_raw_read_only(file)?
        });
        slot.map = Some(map.clone());
        slot.writable = writable;
        Ok(map)
    }

    /// Whether the first `len` bytes of the file were allocated through this slot already.
    pub fn is_allocated(&self, len: u64) -> bool {
        self.0.lock().allocated >= len
    }

    pub fn set_allocated(&self, len: u64) {
        let mut slot = self.0.lock();
        slot.allocated = slot.allocated.max(len);
    }

    /// The identity of `file` (the one this slot's state holds), from a stat on first use.
    pub fn file_id(&self, file: &File) -> std::io::Result<FileId> {
        let mut slot = self.0.lock();
        if let Some(id) = slot.id {
            return Ok(id);
        }
        let id = FileId::of(&file.metadata()?);
        slot.id = Some(id);
        Ok(id)
    }
}

impl ArrayState {
    pub fn physical_rows(&self) -> u64 {
        self.meta.shape.first().copied().unwrap_or(1)
    }

    pub fn logical_rows(&self) -> u64 {
        match &self.bitmap {
            Some(b) => b.alive_rows(),
            None => self.physical_rows(),
        }
    }

    /// The shape a reader sees: dropped rows are gone.
    pub fn logical_shape(&self) -> Vec<u64> {
        let mut shape = self.meta.shape.clone();
        if let Some(first) = shape.first_mut() {
            *first = self.logical_rows();
        }
        shape
    }

    pub fn row_bytes(&self) -> u64 {
        self.meta.shape.iter().skip(1).product::<u64>() * self.meta.dtype.size() as u64
    }
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub version: u32,
    /// Cloning a snapshot shares every entry; a commit copies only what it changes.
    pub arrays: ArrayMap,
    /// `attributes.json` of the same commit (see `crate::attrs`); a commit that changes it
    /// stages it with the catalogue.
    pub attrs: Arc<crate::attrs::Attributes>,
    /// The set of names was shown (list, has): a reader moving to a newer commit needs the same.
    pub names_shown: Arc<std::sync::atomic::AtomicBool>,
}

impl Snapshot {
    pub fn catalog(&self) -> Catalog {
        Catalog {
            version: self.version,
            arrays: self
                .arrays
                .iter()
                .map(|(k, v)| (k.clone(), v.meta.clone()))
                .collect(),
        }
    }

    /// The array's state; a damaged array reports its damage (see `ArrayState::damage`).
    pub fn get(&self, name: &str) -> Result<&ArrayState> {
        let st = self
            .arrays
            .get(name)
            .ok_or_else(|| Error::not_found(name))?;
        match &st.damage {
            Some(e) => Err(e.clone()),
            None => Ok(st),
        }
    }

    /// The catalogue file's bytes, exactly `metadata::encode(&self.catalog())`, built from the
    /// records cached in the map (only the entries changed since they were cached are encoded).
    pub fn encode_catalog(&self) -> Vec<u8> {
        self.arrays.encode()
    }
}

/// How long a reader keeps re-reading a store that changes under it before giving up.
const CHANGING_WAIT: Duration = Duration::from_secs(10);

/// Reads the current committed state of `dir` for a reader (files opened read-only, and checked
/// to belong to the snapshot's commit when opened later).
pub fn load(dir: &Path) -> Result<Snapshot> {
    load_with(dir, false)
}

/// Reads the current committed state; `writable` is a writer's snapshot (it holds the lock):
/// data files opened read-write, without the reader's checks.
pub fn load_with(dir: &Path, writable: bool) -> Result<Snapshot> {
    let start = Instant::now();
    loop {
        // A record on disk is a decided commit: read the state it leads to, whether its writer
        // is still applying it or died (then the next writer finishes it).
        let resolver = match commit::read_record(dir)? {
            None => Resolver::direct(),
            Some(record) => Resolver::rolled_forward(record),
        };
        #[cfg(test)]
        tests::pause(tests::Pause::Catalogue);
        let (meta_file, meta_path) = match open_resolved(dir, &resolver, METADATA_FILE, false)? {
            Some(f) => f,
            // A commit with a record moves the old catalogue aside before it renames the
            // new one in: between the two there is none, and the record says so.
            None if start.elapsed() <= CHANGING_WAIT && catalogue_moving(dir, &resolver) => {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            None => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "{} is not a NumPack store: {METADATA_FILE} is missing",
                        dir.display()
                    ),
                ))
            }
        };
        let meta_stat = meta_file
            .metadata()
            .ctx(format_args!("cannot stat {}", meta_path.display()))?;
        if !meta_stat.file_type().is_file() {
            return Err(Error::corrupt(format!(
                "{} is not a regular file",
                meta_path.display()
            )));
        }
        let meta_id = FileId::of(&meta_stat);
        // "No record" was seen before the catalogue was opened. A commit decided and partly
        // applied in between would pair its new catalogue with files it has yet to remove (a
        // bitmap of a compacted array, say), and finish before the check below. Seen again now
        // that the catalogue is held, any later commit is caught below: it renames the
        // catalogue (last of its renames) before it removes anything, and holds its record
        // until it is done.
        let record_appeared =
            resolver.txid().is_none() && commit::read_record(dir).ok().flatten().is_some();
        if !record_appeared {
            let bytes = read_catalogue(&meta_file, &meta_path);
            #[cfg(test)]
            tests::pause(tests::Pause::Files);
            let source = Arc::new(Source {
                dir: dir.to_path_buf(),
                writable,
                resolver: resolver.clone(),
                reader: None,
            });
            let meta_file = Arc::new(meta_file);
            let attempt = bytes.as_ref().map_err(Error::clone).and_then(|b| {
                read_with(source, meta_file.clone(), meta_id, b, &meta_path, writable)
            });
            #[cfg(test)]
            tests::pause(tests::Pause::Check);
            // Whatever we read only counts if no commit started or finished meanwhile; we hold
            // `meta_file`, so its inode cannot have been reused by a newer catalogue. And the
            // file must still read the same: a writer may have overwritten it in place as its
            // spare catalogue and swapped it back in (see `store::swap` for why this suffices).
            // A file of a small store found stale says the store changed too.
            let stale = matches!(&attempt, Err(e) if files::is_stale(e));
            if !stale
                && unchanged(dir, &resolver, meta_id)?
                && reads_the_same(&meta_file, bytes.as_deref().ok())
            {
                return attempt;
            }
            drop(meta_file);
        }
        if start.elapsed() > CHANGING_WAIT {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "store {} kept changing for {CHANGING_WAIT:?}; no whole state could be read",
                    dir.display()
                ),
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Whether a catalogue found missing may just have been between its move aside and the new
/// one's rename in: a commit other than the one `resolver` knows has its record on disk now, or
/// the catalogue is back.
fn catalogue_moving(dir: &Path, resolver: &Resolver) -> bool {
    let now = commit::read_record(dir).ok().flatten();
    now.as_ref().map(|r| r.txid.as_str()) != resolver.txid()
        || fsutil::regular_file_meta(&dir.join(METADATA_FILE))
            .ok()
            .flatten()
            .is_some()
}

/// Whether `dir` holds a store: a catalogue, or a decided commit's record. A commit with a
/// record moves the old catalogue aside just before it renames the new one in, so "no
/// catalogue" is only believed when no record was seen around it, a few times over.
pub fn has_catalogue(dir: &Path) -> Result<bool> {
    let exists =
        |name: &str| -> Result<bool> { Ok(fsutil::regular_file_meta(&dir.join(name))?.is_some()) };
    for _ in 0..3 {
        if exists(METADATA_FILE)? || exists(commit::COMMIT_FILE)? || exists(METADATA_FILE)? {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(false)
}

fn unchanged(dir: &Path, resolver: &Resolver, meta_id: FileId) -> Result<bool> {
    let now = commit::read_record(dir).ok().flatten();
    if now.as_ref().map(|r| r.txid.as_str()) != resolver.txid() {
        return Ok(false);
    }
    if resolver.txid().is_none() {
        let current = fsutil::regular_file_meta(&dir.join(METADATA_FILE))
            .ok()
            .flatten();
        return Ok(current.map(|m| FileId::of(&m)) == Some(meta_id));
    }
    Ok(true)
}

/// Opens `name` as the resolver places it (staged file first, then final path); None when
/// it does not exist in the resolved state.
fn open_resolved(
    dir: &Path,
    resolver: &Resolver,
    name: &str,
    writable: bool,
) -> Result<Option<(File, PathBuf)>> {
    for path in resolver.candidates(dir, name).unwrap_or_default() {
        if let Some(file) = open_checked(&path, writable)? {
            return Ok(Some((file, path)));
        }
    }
    Ok(None)
}

/// Reads a small file (manifest, bitmap) as the resolver places it.
fn read_resolved(
    dir: &Path,
    resolver: &Resolver,
    name: &str,
) -> Result<Option<(Vec<u8>, PathBuf)>> {
    for path in resolver.candidates(dir, name).unwrap_or_default() {
        if let Some(bytes) = fsutil::read_small(&path)? {
            return Ok(Some((bytes, path)));
        }
    }
    Ok(None)
}

/// The arrays with a bitmap file (`deleted_<name>.npkb`) in the store directory: one listing
/// instead of a failing open per array that has none.
fn bitmap_candidates(dir: &Path) -> Result<HashSet<String>> {
    let mut names = HashSet::new();
    files::names_with_prefix(dir, b"deleted_", |rest| {
        let array = rest
            .strip_suffix(b".npkb")
            .and_then(|a| std::str::from_utf8(a).ok());
        if let Some(array) = array {
            names.insert(array.to_string());
        }
    })?;
    Ok(names)
}

fn read_catalogue(meta_file: &File, meta_path: &Path) -> Result<Vec<u8>> {
    let len = meta_file
        .metadata()
        .ctx(format_args!("cannot stat {}", meta_path.display()))?
        .len();
    let mut bytes = vec![0u8; len as usize];
    fsutil::read_exact_at(meta_file, &mut bytes, 0)
        .ctx(format_args!("cannot read {}", meta_path.display()))?;
    Ok(bytes)
}

/// Whether `file` still holds exactly `first` (None: the first read failed, and so does this
/// one). One pread of a byte more than expected, so a longer file shows too.
fn reads_the_same(file: &File, first: Option<&[u8]>) -> bool {
    let Some(first) = first else {
        return read_catalogue(file, Path::new("")).is_err();
    };
    let mut buf = vec![0u8; first.len() + 1];
    let mut n = 0;
    while n < buf.len() {
        match std::os::unix::fs::FileExt::read_at(file, &mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    buf[..n] == *first
}

fn read_with(
    mut source: Arc<Source>,
    meta_file: Arc<File>,
    meta_id: FileId,
    bytes: &[u8],
    meta_path: &Path,
    writable: bool,
) -> Result<Snapshot> {
    let catalog = metadata::decode(bytes)
        .map_err(|e| Error::corrupt(format!("{}: {e}", meta_path.display())))?;
    if !writable {
        // A reader keeps its catalogue open: see `files::Source::still_current`.
        Arc::get_mut(&mut source).expect("not shared yet").reader = Some(ReaderCheck {
            _meta_file: meta_file,
            meta_id,
        });
    }
    // More descriptors mean fewer data files closed and reopened; none are needed up front.
    fsutil::ensure_fd_headroom(catalog.arrays.len());
    files::refresh_cap();
    let dir = source.dir.clone();
    let listed = if catalog.arrays.is_empty() {
        HashSet::new()
    } else {
        bitmap_candidates(&dir)?
    };
    let pin = !writable && files::pins_all(catalog.arrays.len());
    let arrays = catalog
        .arrays
        .into_iter()
        .map(|(name, meta)| {
            let mut state = match names::readable_name(&name) {
                Ok(()) => match read_files(&source, &listed, &meta) {
                    Ok((data, bitmap)) => ArrayState {
                        meta,
                        bitmap,
                        data,
                        map: MapSlot::default(),
                        damage: None,
                    },
                    Err(e) => damaged(&source, meta, e)?,
                },
                Err(why) => damaged(
                    &source,
                    meta,
                    Error::corrupt(format!(
                        "array {name:?} cannot be read: {why}; its files are not opened (the other arrays are unaffected; numpack can drop it)"
                    )),
                )?,
            };
            if pin && state.damage.is_none() {
                if let DataFiles::Single { file, .. } = &state.data {
                    if let Err(e) = file.pin_in_load(&state.meta) {
                        state = damaged(&source, state.meta.clone(), e)?;
                    }
                }
            }
            Ok((name, state))
        })
        .collect::<Result<ArrayMap>>()?;
    let attrs = Arc::new(crate::attrs::file::read(&dir, &source.resolver)?);
    Ok(Snapshot {
        version: catalog.version,
        arrays,
        attrs,
        names_shown: Default::default(),
    })
}

/// The state of an array the store opens without: `e` is reported on every access to it. Only
/// the array's own damage is kept this way; anything else (an I/O error, a file that changed
/// under a reader) still fails the load as before.
fn damaged(source: &Arc<Source>, meta: ArrayMeta, e: Error) -> Result<ArrayState> {
    if e.kind != ErrorKind::Corrupt || files::is_stale(&e) {
        return Err(e);
    }
    Ok(ArrayState {
        // Never opened: every access stops at `Snapshot::get`.
        data: DataFiles::Single {
            path: source.dir.clone(),
            file: DataFile::lazy(source.clone()),
        },
        meta,
        bitmap: None,
        map: MapSlot::default(),
        damage: Some(e),
    })
}

/// An array's data files (the single one unopened) and its bitmap.
fn read_files(
    source: &Arc<Source>,
    listed: &HashSet<String>,
    meta: &ArrayMeta,
) -> Result<(DataFiles, Option<Arc<Bitmap>>)> {
    let dir = &source.dir;
    let resolver = &source.resolver;
    let name = meta.name.clone();
    let expected = byte_size(&meta.shape, meta.dtype).unwrap_or(u64::MAX);
    let missing = |what: &str| {
        Error::corrupt(format!(
            "array {name:?}: {what} is missing from {}",
            dir.display()
        ))
    };
    let data = if meta.is_segmented() {
        let (text, manifest) = read_resolved(dir, resolver, &meta.data_file)?
            .ok_or_else(|| missing(&meta.data_file))?;
        let text = String::from_utf8(text).map_err(|_| {
            Error::corrupt(format!(
                "array {name:?}: {} is not UTF-8",
                manifest.display()
            ))
        })?;
        let segs = segments::parse_manifest(&text, &name)
            .map_err(|e| Error::corrupt(format!("array {name:?}: {}: {e}", manifest.display())))?;
        let mut out = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for seg in segs {
            fsutil::check_subdir(dir, &seg.file)?;
            let path = dir.join(&seg.file);
            // Resolved like the manifest: an append's new segment is still under its staged
            // name between the commit's decision and its renames.
            let (file, _) = open_resolved(dir, resolver, &seg.file, source.writable)?
                .ok_or_else(|| missing(&seg.file))?;
            let stat = file
                .metadata()
                .ctx(format_args!("cannot stat {}", path.display()))?;
            if !stat.file_type().is_file() {
                return Err(Error::corrupt(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            let len = stat.len();
            if len < seg.bytes {
                return Err(Error::corrupt(format!(
                    "array {name:?}: segment {} holds {len} bytes, its manifest says {}",
                    path.display(),
                    seg.bytes
                )));
            }
            rows = rows.saturating_add(seg.rows);
            bytes = bytes.saturating_add(seg.bytes);
            out.push(SegmentFile {
                path,
                file: Arc::new(file),
                segment: seg,
            });
        }
        if bytes != expected || rows != meta.shape.first().copied().unwrap_or(1) {
            return Err(Error::corrupt(format!(
                "array {name:?}: segments hold {rows} rows / {bytes} bytes, the metadata says shape {:?} ({expected} bytes)",
                meta.shape
            )));
        }
        DataFiles::Segmented { segments: out }
    } else {
        DataFiles::Single {
            // Named by its final path even while a record still points at a staged one.
            path: dir.join(data_file_name(&name)),
            file: DataFile::lazy(source.clone()),
        }
    };
    // The final name is looked up in the listing; a staged one (a record names it) is tried.
    let has_final = listed.contains(name.as_str());
    let mut bitmap_bytes = None;
    if has_final || resolver.txid().is_some() {
        let bitmap_name = bitmap_file_name(&name);
        let final_path = dir.join(&bitmap_name);
        for path in resolver.candidates(dir, &bitmap_name).unwrap_or_default() {
            if path == final_path && !has_final {
                continue;
            }
            if let Some(bytes) = fsutil::read_small(&path)? {
                bitmap_bytes = Some((bytes, path));
                break;
            }
        }
    }
    let bitmap = match bitmap_bytes {
        None => None,
        Some((bytes, path)) => {
            if meta.shape.is_empty() {
                return Err(Error::corrupt(format!(
                    "array {name:?} is 0-d but has a deletion bitmap {}",
                    path.display()
                )));
            }
            let rows = meta.shape[0];
            let b =
                Bitmap::decode(&bytes, rows).map_err(|e| match Bitmap::stated_rows(&bytes) {
                    Some(stated) if stated != rows => {
                        Error::corrupt(stale_bitmap(&name, &path, stated, rows))
                    }
                    _ => Error::corrupt(format!("array {name:?}: {}: {e}", path.display())),
                })?;
            Some(Arc::new(b))
        }
    };
    Ok((data, bitmap))
}

/// What a stale bitmap means and what to do about it (see README, "Damaged stores").
pub fn stale_bitmap(name: &str, path: &Path, stated: u64, rows: u64) -> String {
    format!(
        "array {name:?}: its deletion bitmap {} is stale: it is for {stated} rows, the array has {rows} \
         (numpack 0.5.0 keeps the bitmap when an array is saved again after rows were dropped, and then \
         shows only the rows it marks alive); the data file holds all {rows} rows, and \
         `npk check --repair` removes the stale bitmap",
        path.display()
    )
}

impl Snapshot {
    /// Opens every data file now (a commit record's result is checked whole before recovery
    /// applies it): a missing or short file is reported here rather than on first use.
    pub fn open_all(&self) -> Result<()> {
        for st in self.arrays.values().filter(|st| st.damage.is_none()) {
            if let DataFiles::Single { file, .. } = &st.data {
                file.get(&st.meta)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::ErrorKind;
    use crate::format::DType;
    use crate::store::commit::{Op, Record, COMMIT_FILE};
    use crate::test_util::{record_t, tmp};

    /// Points inside `load_with` (before each of its steps) where a test can run a writer's
    /// steps between the reader's.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Pause {
        Catalogue,
        Files,
        Check,
    }

    type PauseHook = Box<dyn FnMut(Pause)>;

    thread_local! {
        static PAUSE: std::cell::RefCell<Option<PauseHook>> = const { std::cell::RefCell::new(None) };
    }

    pub(super) fn pause(at: Pause) {
        PAUSE.with(|p| {
            if let Some(hook) = p.borrow_mut().as_mut() {
                hook(at);
            }
        });
    }

    /// Runs `f` with `hook` called at every pause point of loads on this thread.
    fn with_pauses<T>(hook: impl FnMut(Pause) + 'static, f: impl FnOnce() -> T) -> T {
        PAUSE.with(|p| *p.borrow_mut() = Some(Box::new(hook)));
        let out = f();
        PAUSE.with(|p| *p.borrow_mut() = None);
        out
    }

    /// A reader that saw no record, then a commit (compacting x, which removes its bitmap) is
    /// decided and renames its files in before the reader opens the catalogue, and removes the
    /// old bitmap and its record after the reader read it. Found by valgrind's slow threads:
    /// the reader paired the new catalogue (3 rows) with the old bitmap (4 rows) and reported
    /// the store corrupt.
    #[test]
    fn a_commit_between_the_record_check_and_the_catalogue_is_not_mixed_in() {
        use crate::format::Bitmap;
        let dir = tmp("record-gap");
        store(&dir, &[("x", &[4], 1)]);
        let mut dropped = Bitmap::all_alive(4);
        dropped.drop_physical(&[0]);
        std::fs::write(dir.join("deleted_x.npkb"), dropped.encode()).unwrap();
        std::fs::write(dir.join(".npk-stage-t-1"), [2u8; 12]).unwrap();
        std::fs::write(dir.join(".npk-stage-t-2"), catalog(&[("x", &[3])])).unwrap();
        let record = Record {
            txid: "t".into(),
            ops: vec![
                Op::Rename {
                    from: ".npk-stage-t-1".into(),
                    to: "data_x.npkd".into(),
                },
                Op::Rename {
                    from: ".npk-stage-t-2".into(),
                    to: METADATA_FILE.into(),
                },
                Op::Remove {
                    path: "deleted_x.npkb".into(),
                },
            ],
        };
        let d = dir.clone();
        let mut seen = Vec::new();
        let snap = with_pauses(
            move |at| {
                seen.push(at);
                let first = |p: Pause| seen.iter().filter(|&&s| s == p).count() == 1;
                if at == Pause::Catalogue && first(at) {
                    // The writer decides and applies its renames, not yet its removal.
                    std::fs::write(d.join(COMMIT_FILE), record.encode()).unwrap();
                    for op in &record.ops[..2] {
                        let Op::Rename { from, to } = op else {
                            unreachable!()
                        };
                        std::fs::rename(d.join(from), d.join(to)).unwrap();
                    }
                }
                if at == Pause::Check && first(at) {
                    std::fs::remove_file(d.join("deleted_x.npkb")).unwrap();
                    std::fs::remove_file(d.join(COMMIT_FILE)).unwrap();
                }
            },
            || load(&dir),
        )
        .unwrap_or_else(|e| panic!("a reader mixed two commits: {e}"));
        let x = snap.get("x").unwrap();
        assert_eq!(x.meta.shape, vec![3]);
        assert!(x.bitmap.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The ABA of the catalogue swap (`store::swap`): a reader resolves `metadata.npkm` to file
    /// A, a commit swaps A out as the spare, and the next commit's lease on A succeeds before
    /// the reader's open completes; the reader then reads A while it is overwritten (here: a
    /// state that was never committed, x of 2 rows), and A is swapped back in, so the
    /// "still the file I hold" check passes. The second read from the held descriptor differs
    /// from the first, and the reader reads again.
    #[test]
    fn a_catalogue_overwritten_while_read_and_swapped_back_is_read_again() {
        let dir = tmp("aba");
        store(&dir, &[("x", &[3], 1)]);
        let meta = dir.join(METADATA_FILE);
        // What the reader's open finds: the writer midway through overwriting A.
        std::fs::write(&meta, catalog(&[("x", &[2])])).unwrap();
        let d = dir.clone();
        let mut once = true;
        let snap = with_pauses(
            move |at| {
                if at == Pause::Files && std::mem::take(&mut once) {
                    // The writer ends its overwrite of A (the spare, named b) and swaps A
                    // back in.
                    std::fs::write(d.join("b"), catalog(&[("x", &[3])])).unwrap();
                    crate::store::swap::exchange(&d, "b", METADATA_FILE).unwrap();
                    std::fs::write(d.join("b"), catalog(&[("x", &[3])])).unwrap();
                    crate::store::swap::exchange(&d, "b", METADATA_FILE).unwrap();
                }
            },
            || load(&dir),
        )
        .unwrap();
        assert_eq!(shapes(&snap), vec![("x".into(), vec![3])]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A commit with a record moves the old catalogue aside before renaming the new one in. A
    /// reader that saw no record and opens the catalogue in that gap finds none: it must read
    /// again (the record is there), not report "not a NumPack store".
    #[test]
    fn a_catalogue_moved_aside_by_a_commit_is_waited_for() {
        let dir = tmp("aside");
        store(&dir, &[("x", &[3], 1)]);
        std::fs::write(dir.join(".npk-spare-new"), catalog(&[("x", &[2])])).unwrap();
        let record = Record {
            txid: "t".into(),
            ops: vec![Op::RenameKeepingOld {
                from: ".npk-spare-new".into(),
                to: METADATA_FILE.into(),
                keep: ".npk-spare-old".into(),
            }],
        };
        let d = dir.clone();
        let mut calls = 0;
        let snap = with_pauses(
            move |at| {
                if at != Pause::Catalogue {
                    return;
                }
                calls += 1;
                if calls == 1 {
                    // Decided, and the old catalogue moved aside.
                    std::fs::write(d.join(COMMIT_FILE), record.encode()).unwrap();
                    std::fs::rename(d.join(METADATA_FILE), d.join(".npk-spare-old")).unwrap();
                } else if calls == 2 {
                    std::fs::rename(d.join(".npk-spare-new"), d.join(METADATA_FILE)).unwrap();
                    std::fs::remove_file(d.join(".npk-spare-old")).unwrap();
                    std::fs::remove_file(d.join(COMMIT_FILE)).unwrap();
                }
            },
            || load(&dir),
        )
        .unwrap_or_else(|e| panic!("a reader in the gap gave up: {e}"));
        assert_eq!(shapes(&snap), vec![("x".into(), vec![2])]);
        assert!(has_catalogue(&dir).unwrap());
        std::fs::remove_file(dir.join(METADATA_FILE)).unwrap();
        assert!(!has_catalogue(&dir).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Catalogue bytes for int32 arrays of the given shapes.
    fn catalog(arrays: &[(&str, &[u64])]) -> Vec<u8> {
        let mut c = Catalog {
            version: 1,
            arrays: BTreeMap::new(),
        };
        for (name, shape) in arrays {
            c.arrays.insert(
                name.to_string(),
                ArrayMeta::new(name, DType::I32, shape.to_vec(), 1),
            );
        }
        metadata::encode(&c)
    }

    /// A store of int32 arrays written by hand: data file = `fill` repeated.
    fn store(dir: &Path, arrays: &[(&str, &[u64], u8)]) {
        let cat: Vec<(&str, &[u64])> = arrays.iter().map(|(n, s, _)| (*n, *s)).collect();
        std::fs::write(dir.join(METADATA_FILE), catalog(&cat)).unwrap();
        for (name, shape, fill) in arrays {
            let len = shape.iter().product::<u64>() as usize * 4;
            std::fs::write(dir.join(data_file_name(name)), vec![*fill; len]).unwrap();
        }
    }

    fn shapes(s: &Snapshot) -> Vec<(String, Vec<u64>)> {
        s.arrays
            .iter()
            .map(|(n, st)| (n.clone(), st.meta.shape.clone()))
            .collect()
    }

    fn data_path(s: &Snapshot, name: &str) -> PathBuf {
        match &s.get(name).unwrap().data {
            DataFiles::Single { path, .. } => path.clone(),
            DataFiles::Segmented { .. } => panic!("segmented"),
        }
    }

    #[test]
    fn a_plain_store_loads_with_file_identities() {
        let dir = tmp("plain");
        store(&dir, &[("a", &[2, 3], 1), ("z", &[], 2)]);
        let s = load(&dir).unwrap();
        assert_eq!(
            shapes(&s),
            vec![("a".into(), vec![2, 3]), ("z".into(), vec![])]
        );
        let DataFiles::Single { path, .. } = &s.get("a").unwrap().data else {
            panic!()
        };
        assert_eq!(path, &dir.join("data_a.npkd"));
        assert_eq!(file_id(&s, "a"), id_of(path));
        assert_eq!(s.get("z").unwrap().physical_rows(), 1);
        assert_eq!(s.get("a").unwrap().row_bytes(), 12);
        assert_eq!(s.get("nope").unwrap_err().kind, ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bytes_past_the_end_are_fine_and_missing_bytes_are_corrupt() {
        let dir = tmp("sizes");
        store(&dir, &[("a", &[4], 1)]);
        let mut long = vec![1u8; 16];
        long.extend_from_slice(&[9; 7]);
        std::fs::write(dir.join("data_a.npkd"), &long).unwrap();
        assert_eq!(load(&dir).unwrap().get("a").unwrap().meta.size_bytes, 16);

        // The store opens; the array reports its file on access (a small store's reader
        // opens every file at load, so the damage is found there and kept for the array).
        let corrupt = |dir: &Path| {
            let s = load(dir).unwrap();
            s.get("a").unwrap_err()
        };
        std::fs::write(dir.join("data_a.npkd"), [1u8; 15]).unwrap();
        let e = corrupt(&dir);
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        assert!(e.message.contains("15 bytes"), "{e}");

        std::fs::remove_file(dir.join("data_a.npkd")).unwrap();
        assert_eq!(corrupt(&dir).kind, ErrorKind::Corrupt);

        std::os::unix::fs::symlink("/etc/hostname", dir.join("data_a.npkd")).unwrap();
        assert_eq!(corrupt(&dir).kind, ErrorKind::Corrupt);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_or_bad_catalogue_is_reported() {
        let dir = tmp("catalogue");
        assert_eq!(load(&dir).unwrap_err().kind, ErrorKind::NotFound);
        std::fs::write(dir.join(METADATA_FILE), b"NPKB garbage").unwrap();
        assert_eq!(load(&dir).unwrap_err().kind, ErrorKind::Corrupt);
        std::fs::remove_file(dir.join(METADATA_FILE)).unwrap();
        let elsewhere = tmp("catalogue-elsewhere");
        store(&elsewhere, &[("a", &[1], 1)]);
        std::os::unix::fs::symlink(elsewhere.join(METADATA_FILE), dir.join(METADATA_FILE)).unwrap();
        assert_eq!(load(&dir).unwrap_err().kind, ErrorKind::Corrupt);
        std::fs::remove_file(dir.join(METADATA_FILE)).unwrap();
        std::fs::create_dir(dir.join(METADATA_FILE)).unwrap();
        assert!(load(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&elsewhere).unwrap();
    }

    /// Old state a=[2], c=[1]; a decided record (not applied) makes it a=[3], b=[1], no c.
    fn crashed(dir: &Path) -> Record {
        store(dir, &[("a", &[2], 1), ("c", &[1], 3)]);
        std::fs::write(dir.join(".npk-stage-t-1"), [5u8; 12]).unwrap();
        std::fs::write(dir.join(".npk-stage-t-2"), [6u8; 4]).unwrap();
        std::fs::write(
            dir.join(".npk-stage-t-3"),
            catalog(&[("a", &[3]), ("b", &[1])]),
        )
        .unwrap();
        let record = record_t();
        std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
        record
    }

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_dead_writers_record_is_read_rolled_forward_without_writing() {
        let dir = tmp("dead");
        crashed(&dir);
        let before = listing(&dir);
        let s = load(&dir).unwrap();
        assert_eq!(
            shapes(&s),
            vec![("a".into(), vec![3]), ("b".into(), vec![1])]
        );
        // The snapshot names the final paths but holds the staged files the record moves there.
        assert_eq!(data_path(&s, "a"), dir.join("data_a.npkd"));
        assert_eq!(file_id(&s, "a"), id_of(&dir.join(".npk-stage-t-1")));
        assert_eq!(file_id(&s, "b"), id_of(&dir.join(".npk-stage-t-2")));
        assert_eq!(listing(&dir), before, "a reader wrote to the store");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_writers_record_is_read_rolled_forward_while_it_applies() {
        let dir = tmp("live");
        crashed(&dir);
        let _writer = crate::store::lock::WriterLock::exclusive(&dir).unwrap();
        let before = listing(&dir);
        // No waiting on the writer: the decided record already says what the state is.
        let s = load(&dir).unwrap();
        assert_eq!(
            shapes(&s),
            vec![("a".into(), vec![3]), ("b".into(), vec![1])]
        );
        assert_eq!(file_id(&s, "a"), id_of(&dir.join(".npk-stage-t-1")));
        assert_eq!(listing(&dir), before, "a reader wrote to the store");
        // The writer finishes; the snapshot keeps the same files, now under their final names.
        commit::recover(&dir).unwrap();
        assert_eq!(file_id(&s, "a"), id_of(&dir.join("data_a.npkd")));
        let again = load(&dir).unwrap();
        assert_eq!(shapes(&again), shapes(&s));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn file_id(s: &Snapshot, name: &str) -> FileId {
        match &s.get(name).unwrap().data {
            DataFiles::Single { file, .. } => FileId::of(
                &file
                    .get(&s.get(name).unwrap().meta)
                    .unwrap()
                    .metadata()
                    .unwrap(),
            ),
            DataFiles::Segmented { .. } => panic!("segmented"),
        }
    }

    fn id_of(path: &Path) -> FileId {
        FileId::of(&std::fs::metadata(path).unwrap())
    }

    #[test]
    fn a_state_read_across_a_commit_is_not_stable() {
        let dir = tmp("unchanged");
        store(&dir, &[("a", &[2], 1)]);
        load(&dir).unwrap();
        let meta_id = id_of(&dir.join(METADATA_FILE));
        let direct = Resolver::direct();
        assert!(unchanged(&dir, &direct, meta_id).unwrap());
        // A commit replaced the catalogue (kept open, so its inode cannot be reused).
        let _old = std::fs::File::open(dir.join(METADATA_FILE)).unwrap();
        std::fs::write(dir.join("new"), catalog(&[("a", &[2])])).unwrap();
        std::fs::rename(dir.join("new"), dir.join(METADATA_FILE)).unwrap();
        assert!(!unchanged(&dir, &direct, meta_id).unwrap());
        // A commit decided meanwhile.
        let other = tmp("unchanged-other");
        let record = crashed(&other);
        std::fs::remove_dir_all(&other).unwrap();
        std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
        assert!(!unchanged(&dir, &direct, meta_id).unwrap());
        let rolled = Resolver::rolled_forward(record);
        assert!(unchanged(&dir, &rolled, meta_id).unwrap());
        std::fs::remove_file(dir.join(COMMIT_FILE)).unwrap();
        assert!(!unchanged(&dir, &rolled, meta_id).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bitmap_gives_the_logical_shape() {
        let dir = tmp("bitmap");
        store(&dir, &[("a", &[5, 2], 1)]);
        let mut b = Bitmap::all_alive(5);
        b.drop_physical(&[0, 3]);
        std::fs::write(dir.join("deleted_a.npkb"), b.encode()).unwrap();
        let s = load(&dir).unwrap();
        let st = s.get("a").unwrap();
        assert_eq!((st.physical_rows(), st.logical_rows()), (5, 3));
        assert_eq!(st.logical_shape(), vec![3, 2]);
        // A bitmap for another row count (numpack 0.5.0 leaves one when an array is saved
        // again after rows were dropped) makes that array corrupt, not the store.
        std::fs::write(dir.join("deleted_a.npkb"), Bitmap::all_alive(70).encode()).unwrap();
        let e = load(&dir).unwrap().get("a").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        assert!(
            e.message.contains("\"a\"") && e.message.contains("70"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// One odd array costs only itself: names numpack accepts but we would not create, a stale
    /// bitmap, a short data file, a broken manifest. The catalogue's bytes are kept as they were.
    #[test]
    fn one_damaged_array_leaves_the_others_readable() {
        let dir = tmp("damage");
        let odd: &[(&str, &[u64], u8)] = &[
            ("ok", &[3], 1),
            ("back\\slash", &[2], 2),
            ("tab\tname", &[1], 3),
            ("stale", &[5], 4),
            ("short", &[4], 5),
            ("seg", &[2], 6),
        ];
        store(&dir, odd);
        // Names whose files would not be one plain name in the store directory: listed, never
        // opened (a file they might name is planted to prove it).
        let unsafe_names = ["", ".", "..", "sub/x", "../out"];
        let mut c = metadata::decode(&std::fs::read(dir.join(METADATA_FILE)).unwrap()).unwrap();
        for n in unsafe_names {
            c.arrays
                .insert(n.into(), ArrayMeta::new(n, DType::I32, vec![1], 1));
        }
        let mut seg = ArrayMeta::new("seg", DType::I32, vec![2], 1);
        seg.data_file = "data_seg.npkseg".into();
        c.arrays.insert("seg".into(), seg);
        let bytes = metadata::encode(&c);
        std::fs::write(dir.join(METADATA_FILE), &bytes).unwrap();
        std::fs::write(dir.join("data_..npkd"), [7u8; 4]).unwrap();
        std::fs::write(dir.join("data_seg.npkseg"), b"not json").unwrap();
        std::fs::write(
            dir.join("deleted_stale.npkb"),
            Bitmap::all_alive(15).encode(),
        )
        .unwrap();
        std::fs::write(dir.join("data_short.npkd"), [5u8; 3]).unwrap();

        for writable in [false, true] {
            let s = load_with(&dir, writable).unwrap();
            assert_eq!(s.arrays.keys().len(), 6 + unsafe_names.len());
            for (name, shape, fill) in &odd[..3] {
                let st = s.get(name).unwrap();
                assert_eq!(st.meta.shape, shape.to_vec());
                let DataFiles::Single { file, path } = &st.data else {
                    panic!()
                };
                assert_eq!(path, &dir.join(data_file_name(name)));
                let f = file.get(&st.meta).unwrap();
                let mut buf = vec![0u8; st.meta.size_bytes as usize];
                std::os::unix::fs::FileExt::read_exact_at(&*f, &mut buf, 0).unwrap();
                assert!(buf.iter().all(|b| b == fill), "{name:?}");
            }
            for (name, needle) in [
                ("stale", "15"),
                ("seg", "data_seg.npkseg"),
                ("short", "3 bytes"),
            ] {
                // A writer's snapshot opens files on first use: the short file is found there.
                let e = match s.get(name) {
                    Err(e) => e,
                    Ok(st) => {
                        let DataFiles::Single { file, .. } = &st.data else {
                            panic!()
                        };
                        file.get(&st.meta).unwrap_err()
                    }
                };
                assert_eq!(e.kind, ErrorKind::Corrupt, "{name}: {e}");
                assert!(e.message.contains(&format!("{name:?}")), "{e}");
                assert!(e.message.contains(needle), "{e}");
            }
            for n in unsafe_names {
                let e = s.get(n).unwrap_err();
                assert_eq!(e.kind, ErrorKind::Corrupt, "{n:?}: {e}");
                assert!(
                    e.message.contains(&format!("array {n:?} cannot be read")),
                    "{e}"
                );
            }
            assert_eq!(s.encode_catalog(), bytes);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
