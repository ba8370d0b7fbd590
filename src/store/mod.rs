//! The safe Rust store: NumPack's directory layout, every structural change committed through
//! `commit::Txn`, reads served from an immutable `Snapshot`.

pub mod commit;
pub mod data;
pub mod fsutil;
pub mod lock;
pub mod snapshot;
pub mod view;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock};

use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::{self, byte_size, ArrayMeta, METADATA_FILE};
use crate::format::names::{self, bitmap_file_name, data_file_name};
use crate::format::{Bitmap, DType};
use crate::layout::{for_chunks, Dst, Src};
use commit::Txn;
use data::DataReader;
use fsutil::FileId;
use lock::WriterLock;
use snapshot::{ArrayState, DataFiles, Snapshot};

#[derive(Copy, Clone, Debug, Default)]
pub struct OpenOptions {
    /// Create the directory and an empty catalogue when missing.
    pub create: bool,
    /// Take no lock, refuse every write.
    pub read_only: bool,
    /// fsync data, metadata and directory before a commit returns.
    pub durable: bool,
}

/// What `info` reports: the logical view, as a reader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayInfo {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub nbytes: u64,
    pub modify_time_us: u64,
    pub physical_rows: u64,
    pub segmented: bool,
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) read_only: bool,
    pub(crate) durable: bool,
    _lock: Option<WriterLock>,
    snap: RwLock<Arc<Snapshot>>,
    /// Serialises this handle's writers; held across a whole commit.
    write: Mutex<()>,
    batch_open: AtomicBool,
    /// A commit was decided but not fully applied: finish it before the next one.
    pending: AtomicBool,
    /// Array name -> the file its last save replaced, kept to be overwritten by its next save.
    spares: Mutex<HashMap<String, PathBuf>>,
    /// The in-memory catalogue has modify times (from in-place row replacements) that the one on
    /// disk lacks; the next commit, or close, writes them.
    times_dirty: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if *self.times_dirty.get_mut() {
            // Best effort, like NumPack's own close: the data is already in place; only the
            // modify times are at stake.
            let snap = self.snap.get_mut().clone();
            let _ = Txn::new(&self.dir, self.durable).commit(&metadata::encode(&snap.catalog()));
        }
        for spare in self.spares.get_mut().values() {
            let _ = fsutil::remove_if_exists(spare);
        }
    }
}

/// Arrays at least this large keep a spare: below it a new file costs about the same.
const SPARE_MIN_BYTES: u64 = 1 << 20;

/// A store handle. Cloning shares it; it is `Send + Sync`, so threads may share one handle.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// Proof that the caller holds the store's write mutex.
pub(crate) struct WriteGuard<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl Store {
    pub fn open(path: impl AsRef<Path>, opts: OpenOptions) -> Result<Store> {
        let dir = path.as_ref().to_path_buf();
        if opts.read_only && opts.create {
            return Err(Error::invalid(
                "a store cannot be opened both read-only and create",
            ));
        }
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() || (m.file_type().is_symlink() && dir.is_dir()) => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "{} is not a directory",
                    dir.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create => {
                std::fs::create_dir_all(&dir).ctx(format_args!(
                    "cannot create store directory {}",
                    dir.display()
                ))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("store directory {} does not exist", dir.display()),
                ))
            }
            Err(e) => return Err(Error::io(format!("cannot stat {}", dir.display()), &e)),
        }
        // Not a store and not asked to create one: say so before leaving a lock file behind.
        if !opts.create
            && fsutil::regular_file_meta(&dir.join(METADATA_FILE))?.is_none()
            && fsutil::regular_file_meta(&dir.join(commit::COMMIT_FILE))?.is_none()
        {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{} is not a NumPack store: {METADATA_FILE} is missing",
                    dir.display()
                ),
            ));
        }
        let lock = if opts.read_only {
            None
        } else {
            let lock = WriterLock::acquire(&dir)?;
            recover(&dir)?;
            if opts.create && fsutil::regular_file_meta(&dir.join(METADATA_FILE))?.is_none() {
                let mut txn = Txn::new(&dir, opts.durable);
                txn.commit(&metadata::encode(&Default::default()))?;
            }
            Some(lock)
        };
        let snap = snapshot::load_with(&dir, !opts.read_only)?;
        if lock.is_some() {
            trim_interrupted_appends(&snap)?;
        }
        Ok(Store {
            inner: Arc::new(Inner {
                dir,
                read_only: opts.read_only,
                durable: opts.durable,
                _lock: lock,
                snap: RwLock::new(Arc::new(snap)),
                write: Mutex::new(()),
                batch_open: AtomicBool::new(false),
                pending: AtomicBool::new(false),
                spares: Mutex::new(HashMap::new()),
                times_dirty: AtomicBool::new(false),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snap.read().clone()
    }

    // ---- reads -------------------------------------------------------------------------------

    pub fn has(&self, name: &str) -> bool {
        self.snapshot().arrays.contains_key(name)
    }

    pub fn list(&self) -> Vec<String> {
        self.snapshot().arrays.keys().cloned().collect()
    }

    pub fn info(&self, name: &str) -> Result<ArrayInfo> {
        check_name(name)?;
        let snap = self.snapshot();
        let st = snap.get(name)?;
        let shape = st.logical_shape();
        Ok(ArrayInfo {
            dtype: st.meta.dtype,
            nbytes: shape.iter().product::<u64>() * st.meta.dtype.size() as u64,
            shape,
            modify_time_us: st.meta.modify_time_us,
            physical_rows: st.physical_rows(),
            segmented: st.meta.is_segmented(),
        })
    }

    /// Picks up commits made by another process (a writer handle sees its own at once).
    pub fn refresh(&self) -> Result<()> {
        if self.inner.read_only {
            let snap = snapshot::load(&self.inner.dir)?;
            *self.inner.snap.write() = Arc::new(snap);
        }
        Ok(())
    }

    /// Runs `f` on an array's state and data files, all of one snapshot.
    pub(crate) fn with_reader<T>(
        &self,
        name: &str,
        f: impl FnOnce(&ArrayState, &DataReader) -> Result<T>,
    ) -> Result<T> {
        check_name(name)?;
        let snap = self.snapshot();
        let st = snap.get(name)?;
        f(st, &data::open_reader(st))
    }

    pub fn load(&self, name: &str, dtype: DType, dst: &mut Dst) -> Result<()> {
        self.with_reader(name, |st, reader| {
            check_dtype(st, dtype)?;
            let shape = st.logical_shape();
            if dst.layout.shape != shape {
                return Err(Error::new(
                    ErrorKind::ShapeMismatch,
                    format!(
                        "array {name:?} has shape {shape:?}, the destination has shape {:?}",
                        dst.layout.shape
                    ),
                ));
            }
            let rows = st.logical_rows().max(if shape.is_empty() { 1 } else { 0 });
            if let Some(bytes) = dst.as_c_bytes_mut() {
                return reader.read_rows(st, 0, bytes);
            }
            for_chunks(rows, st.row_bytes(), |first, chunk| {
                reader.read_rows(st, first, chunk)?;
                dst.scatter_rows(first, chunk);
                Ok(())
            })
        })
    }

    /// Rows by logical index (negative counts from the end) into a buffer of shape
    /// (indices.len(), rest of the array's shape).
    pub fn get_rows(&self, name: &str, indices: &[i64], dtype: DType, dst: &mut Dst) -> Result<()> {
        self.with_reader(name, |st, reader| {
            check_dtype(st, dtype)?;
            let mut want = st.logical_shape();
            if want.is_empty() {
                return Err(zero_d(name));
            }
            want[0] = indices.len() as u64;
            if dst.layout.shape != want {
                return Err(Error::new(
                    ErrorKind::ShapeMismatch,
                    format!(
                        "getting {} rows of array {name:?} needs a destination of shape {want:?}, got {:?}",
                        indices.len(),
                        dst.layout.shape
                    ),
                ));
            }
            let phys = physical_rows(name, st, indices)?;
            let row = st.row_bytes() as usize;
            if let (Some(map), Some(out)) = (self.row_map(st)?, dst.as_c_bytes_mut()) {
                for (i, &p) in phys.iter().enumerate() {
                    // SAFETY: p < physical rows, so the row lies within size_bytes <= map.len();
                    // `out` holds indices.len() rows. memmove: the caller's buffer could be a
                    // view of this very file.
                    unsafe {
                        std::ptr::copy(map.as_ptr().add(p as usize * row), out.as_mut_ptr().add(i * row), row)
                    };
                }
                return Ok(());
            }
            let mut tmp = vec![0u8; row];
            let mut i = 0usize;
            for (start, len) in coalesce(&phys) {
                let len = len as usize;
                if let Some(out) = dst.as_c_bytes_mut() {
                    reader.read_at(&mut out[i * row..(i + len) * row], start * row as u64)?;
                } else {
                    for k in 0..len {
                        reader.read_at(&mut tmp, (start + k as u64) * row as u64)?;
                        dst.scatter_rows((i + k) as u64, &tmp);
                    }
                }
                i += len;
            }
            Ok(())
        })
    }

    pub fn view(&self, name: &str) -> Result<view::ReadView> {
        self.with_reader(name, view::ReadView::new)
    }

    // ---- writes ------------------------------------------------------------------------------

    /// Takes the write mutex after checking that plain writes are allowed now.
    fn writer(&self) -> Result<WriteGuard<'_>> {
        if self.inner.read_only {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!("store {} is open read-only", self.inner.dir.display()),
            ));
        }
        let guard = self.inner.write.lock();
        self.finish_pending()?;
        if self.inner.batch_open.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "a batch is open on store {}; end or abort it before writing outside it",
                    self.inner.dir.display()
                ),
            ));
        }
        Ok(WriteGuard { _guard: guard })
    }

    /// The write mutex for a batch, which is allowed to write while it is open.
    pub(crate) fn batch_writer(&self) -> Result<WriteGuard<'_>> {
        let guard = self.inner.write.lock();
        self.finish_pending()?;
        Ok(WriteGuard { _guard: guard })
    }

    /// Completes a commit that was decided but failed while being applied, so the next commit
    /// never replaces its record. Called with the write mutex held.
    fn finish_pending(&self) -> Result<()> {
        if self.inner.pending.load(Ordering::Acquire) {
            commit::finish_pending(&self.inner.dir)?;
            self.inner.pending.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Marks a batch open; fails with busy when one already is.
    pub(crate) fn begin_batch(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "store {} is open read-only; a batch needs a writer",
                    self.inner.dir.display()
                ),
            ));
        }
        let _g = self.inner.write.lock();
        if self.inner.batch_open.swap(true, Ordering::AcqRel) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "a batch is already open on store {}",
                    self.inner.dir.display()
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn end_batch(&self) {
        self.inner.batch_open.store(false, Ordering::Release);
    }

    pub(crate) fn txn(&self) -> Txn {
        Txn::new(&self.inner.dir, self.inner.durable)
    }

    /// Publishes `next` through `txn`: on success disk and memory both hold it; on failure both
    /// keep the previous state.
    pub(crate) fn commit(&self, _w: &WriteGuard, mut txn: Txn, next: Snapshot) -> Result<()> {
        self.commit_with(_w, &mut txn, next)
    }

    /// As `commit`, keeping `txn` (and its staged files) alive on failure for a retry. Once
    /// decided, `next` is published (it is the committed state), and a record left unapplied is
    /// completed by `finish_pending` before this handle's next write.
    pub(crate) fn commit_with(&self, _w: &WriteGuard, txn: &mut Txn, next: Snapshot) -> Result<()> {
        let result = txn.commit(&metadata::encode(&next.catalog()));
        if txn.is_decided() {
            *self.inner.snap.write() = Arc::new(next);
        }
        if txn.is_unfinished() {
            self.inner.pending.store(true, Ordering::Release);
        }
        if txn.is_decided() {
            self.inner.times_dirty.store(false, Ordering::Release);
            let mut spares = self.inner.spares.lock();
            for (target, keep) in txn.kept() {
                let name = target
                    .strip_prefix("data_")
                    .and_then(|t| t.strip_suffix(".npkd"));
                if let (Some(name), true) = (name, keep.exists()) {
                    if let Some(old) = spares.insert(name.to_string(), keep) {
                        let _ = fsutil::remove_if_exists(&old);
                    }
                }
            }
        }
        result
    }

    /// The file a new version of `name` is written into: its spare when nobody else has that
    /// open (overwriting cached pages beats filling a new file several times over), else a new
    /// staged file. When the current version is large, the commit keeps it as the next spare.
    pub(crate) fn staging_file(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        name: &str,
    ) -> Result<(File, PathBuf)> {
        let target = data_file_name(name);
        let keep = current.arrays.get(name).is_some_and(|st| {
            matches!(st.data, DataFiles::Single { .. }) && st.meta.size_bytes >= SPARE_MIN_BYTES
        });
        if keep && !self.inner.read_only {
            txn.keep_old(&target);
        }
        let spare = self.inner.spares.lock().remove(name);
        if let Some(spare) = spare {
            match fsutil::open_rw(&spare) {
                Ok(file) if fsutil::is_exclusive(&file) => {
                    txn.adopt(&target, &spare)?;
                    return Ok((file, spare));
                }
                _ => {
                    let _ = fsutil::remove_if_exists(&spare);
                }
            }
        }
        txn.stage(&target)
    }

    /// Forgets (and deletes) the spare of a dropped array.
    fn drop_spare(&self, name: &str) {
        if let Some(spare) = self.inner.spares.lock().remove(name) {
            let _ = fsutil::remove_if_exists(&spare);
        }
    }

    /// The one way a whole array is staged (save, compact, clone, a cache batch's spill and
    /// end): `fill` writes its `shape`'d content into the new file (given with its path, for
    /// messages), which is then sized exactly, and the files of the array it replaces are
    /// scheduled for removal in `txn`. Returns the array's state for the next snapshot.
    pub(crate) fn stage_array(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        name: &str,
        dtype: DType,
        shape: &[u64],
        fill: impl FnOnce(&File, &Path) -> Result<()>,
    ) -> Result<ArrayState> {
        let file_name = data_file_name(name);
        let (file, staged) = self.staging_file(txn, current, name)?;
        // Errors name the array's file too: the staged name means nothing to a user.
        fill(&file, &staged)
            .map_err(|e| Error::new(e.kind, format!("{e} (staged for {file_name})")))?;
        let len = metadata::byte_size(shape, dtype).unwrap_or(0);
        file.set_len(len).ctx(format_args!(
            "cannot size {} (staged for {file_name})",
            staged.display()
        ))?;
        let id = FileId::of(
            &file
                .metadata()
                .ctx(format_args!("cannot stat {}", staged.display()))?,
        );
        if let Some(old) = current.arrays.get(name) {
            retire(txn, old);
        }
        Ok(ArrayState {
            map: Default::default(),
            meta: ArrayMeta::new(name, dtype, shape.to_vec(), fsutil::now_micros()),
            bitmap: None,
            data: DataFiles::Single {
                path: self.inner.dir.join(file_name),
                id,
                file: Arc::new(file),
            },
        })
    }

    /// Creates or replaces an array.
    pub fn save(&self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        check_name(name)?;
        check_itemsize(dtype, src)?;
        let w = self.writer()?;
        self.save_locked(&w, name, dtype, src)
    }

    pub(crate) fn save_locked(
        &self,
        w: &WriteGuard,
        name: &str,
        dtype: DType,
        src: &Src,
    ) -> Result<()> {
        let current = self.snapshot();
        let mut txn = self.txn();
        let state = self.stage_array(
            &mut txn,
            &current,
            name,
            dtype,
            &src.layout.shape,
            |f, path| {
                data::write_src(f, src, 0).ctx(format_args!("cannot write {}", path.display()))
            },
        )?;
        let mut next = (*current).clone();
        next.arrays.insert(name.to_string(), state);
        self.commit(w, txn, next)
    }

    /// Appends rows (shape (n, rest of the array's shape)) at the end of an array, in place:
    /// the new catalogue is the commit, and an interrupted append leaves only bytes past the
    /// array's end, which readers ignore and the next writer trims.
    pub fn append(&self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        check_name(name)?;
        check_itemsize(dtype, src)?;
        let w = self.writer()?;
        let current = self.snapshot();
        let st = current.get(name)?;
        check_dtype(st, dtype)?;
        if st.meta.shape.is_empty() {
            return Err(zero_d(name));
        }
        if src.layout.shape.is_empty() || src.layout.shape[1..] != st.meta.shape[1..] {
            return Err(Error::new(
                ErrorKind::ShapeMismatch,
                format!(
                    "cannot append shape {:?} to array {name:?} of shape {:?}: the trailing dimensions must match",
                    src.layout.shape,
                    st.logical_shape()
                ),
            ));
        }
        let file = self.open_for_update(st)?;
        let offset = st.meta.size_bytes;
        let added = src.layout.shape[0];
        let new_rows = st.meta.shape[0].checked_add(added);
        let mut meta = st.meta.clone();
        meta.shape[0] = new_rows.ok_or_else(|| Error::invalid("row count overflows"))?;
        meta.size_bytes = byte_size(&meta.shape, dtype)
            .ok_or_else(|| Error::invalid(format!("appending to {name:?} overflows its size")))?;
        meta.modify_time_us = fsutil::now_micros();
        let undo = |e: Error| {
            let _ = file.set_len(offset);
            e
        };
        data::write_src(&file, src, offset)
            .ctx(format_args!("cannot append to {}", data_file_name(name)))
            .map_err(undo)?;
        if self.inner.durable {
            file.sync_data()
                .ctx(format_args!("cannot fsync {}", data_file_name(name)))
                .map_err(undo)?;
        }
        let mut txn = self.txn();
        let mut state = st.clone();
        state.meta = meta;
        if let Some(b) = &st.bitmap {
            let mut grown = (**b).clone();
            grown
                .try_grow(state.meta.shape[0])
                .ok_or_else(|| bitmap_too_large(name, state.meta.shape[0]))
                .map_err(undo)?;
            self.stage_bitmap(&mut txn, name, &grown).map_err(undo)?;
            state.bitmap = Some(Arc::new(grown));
        }
        let mut next = (*current).clone();
        next.arrays.insert(name.to_string(), state);
        // Once decided, the appended rows belong to the committed state: never cut them off.
        self.commit_with(&w, &mut txn, next)
            .map_err(|e| if txn.is_decided() { e } else { undo(e) })
    }

    /// Overwrites rows in place (not atomic: a crash may leave some of them written).
    pub fn replace_rows(&self, name: &str, indices: &[i64], dtype: DType, src: &Src) -> Result<()> {
        check_name(name)?;
        check_itemsize(dtype, src)?;
        let w = self.writer()?;
        let current = self.snapshot();
        let st = current.get(name)?;
        check_dtype(st, dtype)?;
        if st.meta.shape.is_empty() {
            return Err(zero_d(name));
        }
        let mut want = st.meta.shape.clone();
        want[0] = indices.len() as u64;
        if src.layout.shape != want {
            return Err(Error::new(
                ErrorKind::ShapeMismatch,
                format!(
                    "replacing {} rows of array {name:?} needs values of shape {want:?}, got {:?}",
                    indices.len(),
                    src.layout.shape
                ),
            ));
        }
        let phys = physical_rows(name, st, indices)?;
        if phys.is_empty() {
            // Nothing replaced: not even the modify time changes.
            return Ok(());
        }
        let Some(map) = self.row_map(st)? else {
            // Segmented arrays are refused here; an empty array has no rows to write.
            self.open_for_update(st)?;
            return Ok(());
        };
        let row = st.row_bytes() as usize;
        let mut tmp = vec![0u8; row];
        let contiguous = src.as_c_bytes();
        for (k, &p) in phys.iter().enumerate() {
            let bytes = match contiguous {
                Some(all) => &all[k * row..(k + 1) * row],
                None => {
                    src.gather_rows(k as u64, &mut tmp);
                    &tmp[..]
                }
            };
            // SAFETY: p < physical rows, so the row lies within the writable mapping;
            // memmove, as the source could be a view of this very file.
            unsafe { std::ptr::copy(bytes.as_ptr(), map.as_mut_ptr().add(p as usize * row), row) };
        }
        if self.inner.durable {
            map.flush()
                .ctx(format_args!("cannot msync {}", data_file_name(name)))?;
        }
        self.touch_in_memory(&w, name);
        Ok(())
    }

    /// Records a new modify time in the in-memory catalogue only: an in-place row replacement is
    /// not a commit, and writing the catalogue for it would cost more than the rows. The time
    /// reaches disk with the next commit or at close.
    pub(crate) fn touch_in_memory(&self, _w: &WriteGuard, name: &str) {
        let current = self.snapshot();
        let mut next = (*current).clone();
        if let Some(st) = next.arrays.get_mut(name) {
            st.meta.modify_time_us = fsutil::now_micros();
        }
        *self.inner.snap.write() = Arc::new(next);
        self.inner.times_dirty.store(true, Ordering::Release);
    }

    /// The array's data file mapped for row copies (writable for a writer handle); None for a
    /// segmented or empty array. Cached in the state, so repeated row operations map once.
    /// Like every mapping, it would fault (SIGBUS) if another program truncated the file.
    fn row_map(&self, st: &ArrayState) -> Result<Option<Arc<memmap2::MmapRaw>>> {
        let DataFiles::Single { file, path, .. } = &st.data else {
            return Ok(None);
        };
        if st.meta.size_bytes == 0 {
            return Ok(None);
        }
        // A file cut short behind our back would read as zeros (or fault): check first.
        check_untruncated(&st.meta.name, file, path, st.meta.size_bytes)?;
        st.map
            .get(file, st.meta.size_bytes, !self.inner.read_only)
            .map(Some)
            .map_err(|e| Error::io(format!("cannot map {}", path.display()), &e))
    }

    /// An array's single data file and its path, for writing in place (a writer's snapshot
    /// opens its files read-write); segmented arrays are refused.
    pub(crate) fn data_file(&self, st: &ArrayState) -> Result<(Arc<File>, PathBuf)> {
        match &st.data {
            DataFiles::Single { file, path, .. } => Ok((file.clone(), path.clone())),
            DataFiles::Segmented { .. } => Err(Error::invalid(format!(
                "array {:?} is stored in segments (numpack 0.7.0); compact it first to write it in place",
                st.meta.name
            ))),
        }
    }

    pub(crate) fn open_for_update(&self, st: &ArrayState) -> Result<Arc<File>> {
        self.data_file(st).map(|(file, _)| file)
    }

    fn stage_bitmap(&self, txn: &mut Txn, name: &str, bitmap: &Bitmap) -> Result<()> {
        let (file, path) = txn.stage(&bitmap_file_name(name))?;
        fsutil::write_all_at(&file, &bitmap.encode(), 0)
            .ctx(format_args!("cannot write {}", path.display()))
    }

    /// Drops whole arrays, all or none.
    pub fn drop_arrays(&self, names: &[&str]) -> Result<()> {
        if names.is_empty() {
            return Err(Error::invalid("no array names given"));
        }
        for n in names {
            check_name(n)?;
        }
        let w = self.writer()?;
        let current = self.snapshot();
        let mut next = (*current).clone();
        let mut txn = self.txn();
        for name in names {
            let st = next
                .arrays
                .remove(*name)
                .ok_or_else(|| Error::not_found(name))?;
            retire(&mut txn, &st);
        }
        self.commit(&w, txn, next)?;
        for name in names {
            self.drop_spare(name);
        }
        Ok(())
    }

    /// Marks rows (logical indices, negative from the end) deleted in the bitmap; the data file
    /// and the physical shape stay, as in NumPack.
    /// An empty `indices` is refused like an empty `drop_arrays`: a structural change of nothing
    /// is usually a bug, and it must not commit a bitmap that changes nothing.
    pub fn drop_rows(&self, name: &str, indices: &[i64]) -> Result<()> {
        check_name(name)?;
        if indices.is_empty() {
            return Err(Error::invalid(format!(
                "no row indices given to drop from array {name:?}"
            )));
        }
        let w = self.writer()?;
        let current = self.snapshot();
        let st = current.get(name)?;
        if st.meta.shape.is_empty() {
            return Err(zero_d(name));
        }
        let phys = physical_rows(name, st, indices)?;
        let mut bitmap = st
            .bitmap
            .as_deref()
            .cloned()
            .map_or_else(|| Bitmap::try_all_alive(st.meta.shape[0]), Some)
            .ok_or_else(|| bitmap_too_large(name, st.meta.shape[0]))?;
        bitmap.drop_physical(&phys);
        let mut txn = self.txn();
        self.stage_bitmap(&mut txn, name, &bitmap)?;
        let mut state = st.clone();
        state.bitmap = Some(Arc::new(bitmap));
        state.meta.modify_time_us = fsutil::now_micros();
        let mut next = (*current).clone();
        next.arrays.insert(name.to_string(), state);
        self.commit(&w, txn, next)
    }

    /// Rewrites arrays without their dropped rows (NumPack's `update`), and consolidates
    /// segmented arrays into one file. `None` compacts every array that needs it, in one commit.
    pub fn compact(&self, name: Option<&str>) -> Result<()> {
        if let Some(n) = name {
            check_name(n)?;
        }
        let w = self.writer()?;
        self.compact_locked(&w, name)
    }

    pub(crate) fn compact_locked(&self, w: &WriteGuard, name: Option<&str>) -> Result<()> {
        let current = self.snapshot();
        let names: Vec<String> = match name {
            Some(n) => {
                current.get(n)?;
                vec![n.to_string()]
            }
            None => current
                .arrays
                .values()
                .filter(|s| s.bitmap.is_some() || s.meta.is_segmented())
                .map(|s| s.meta.name.clone())
                .collect(),
        };
        let mut txn = self.txn();
        let mut next = (*current).clone();
        for n in names {
            let st = current.get(&n)?;
            if st.bitmap.is_none() && !st.meta.is_segmented() {
                continue;
            }
            let state = self.stage_copy(&mut txn, &current, st, &n)?;
            next.arrays.insert(n, state);
        }
        self.commit(w, txn, next)
    }

    /// Stages the logical content of `st` as array `as_name` (compact, clone). The caller holds
    /// the write mutex, so the files cannot be replaced under us.
    fn stage_copy(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        st: &ArrayState,
        as_name: &str,
    ) -> Result<ArrayState> {
        let reader = data::open_reader(st);
        let shape = st.logical_shape();
        let rows = st.logical_rows().max(if shape.is_empty() { 1 } else { 0 });
        let row = st.row_bytes();
        self.stage_array(
            txn,
            current,
            as_name,
            st.meta.dtype,
            &shape,
            |file, path| {
                for_chunks(rows, row, |first, chunk| {
                    reader.read_rows(st, first, chunk)?;
                    fsutil::write_all_at(file, chunk, first * row).ctx(format_args!(
                        "cannot write the copy of {:?} to {}",
                        st.meta.name,
                        path.display()
                    ))
                })
            },
        )
    }

    /// Copies an array's logical content (dropped rows left out) to a new name.
    pub fn clone_array(&self, src: &str, dst: &str) -> Result<()> {
        check_name(src)?;
        check_name(dst)?;
        let w = self.writer()?;
        let current = self.snapshot();
        let st = current.get(src)?;
        if current.arrays.contains_key(dst) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("cannot clone {src:?} to {dst:?}: an array named {dst:?} already exists"),
            ));
        }
        let mut txn = self.txn();
        let state = self.stage_copy(&mut txn, &current, st, dst)?;
        let mut next = (*current).clone();
        next.arrays.insert(dst.to_string(), state);
        self.commit(&w, txn, next)
    }
}

/// A deletion bitmap this large cannot be held (rows of zero bytes cost no data, so a shape
/// can claim any row count).
fn bitmap_too_large(name: &str, rows: u64) -> Error {
    Error::new(
        ErrorKind::OutOfMemory,
        format!(
            "array {name:?} has {rows} rows; a deletion bitmap for that many cannot be allocated"
        ),
    )
}

/// Schedules removal of every file of an array that a commit drops or replaces.
pub(crate) fn retire(txn: &mut Txn, st: &ArrayState) {
    let name = &st.meta.name;
    if st.bitmap.is_some() {
        txn.remove(&bitmap_file_name(name));
    }
    match &st.data {
        DataFiles::Single { .. } => txn.remove(&data_file_name(name)),
        DataFiles::Segmented { segments, .. } => {
            txn.remove(&st.meta.data_file);
            for seg in segments {
                txn.remove(&seg.segment.file);
            }
            if let Some(seg) = segments.first() {
                if let Some((folder, _)) = seg.segment.file.split_once('/') {
                    txn.remove_dir(folder);
                }
            }
        }
    }
}

/// Finishes a commit a dead writer decided, after checking that the record leads to a whole
/// store: a record with a valid checksum may still name a catalogue that does not match its
/// files (another program wrote it, or a bug did). Refused with nothing changed, rather than
/// applied until a missing file is noticed.
fn recover(dir: &Path) -> Result<()> {
    if let Some(record) = commit::read_record(dir)? {
        check_record_result(dir, &record)?;
    }
    commit::recover(dir).map(drop)
}

/// The state `record` leads to must load (the reader's rolled-forward view: every file the
/// resulting catalogue names exists and fits it), and no removal of the record may hit one of
/// those files (applying it would take them away again).
fn check_record_result(dir: &Path, record: &commit::Record) -> Result<()> {
    let refuse = |why: String| {
        Error::corrupt(format!(
            "{}: the commit record leads to an inconsistent store ({why}); nothing was applied",
            dir.join(commit::COMMIT_FILE).display()
        ))
    };
    let snap = snapshot::load(dir).map_err(|e| match e.kind {
        ErrorKind::Corrupt | ErrorKind::NotFound => refuse(e.message),
        _ => e,
    })?;
    let mut named: Vec<&str> = Vec::new();
    for st in snap.arrays.values() {
        match &st.data {
            DataFiles::Single { .. } => named.push(&st.meta.data_file),
            DataFiles::Segmented { segments, .. } => {
                named.push(&st.meta.data_file);
                named.extend(segments.iter().map(|s| s.segment.file.as_str()));
            }
        }
    }
    for op in &record.ops {
        let hit = match op {
            commit::Op::Remove { path } => named.iter().find(|n| **n == path),
            commit::Op::RemoveDir { path } => named
                .iter()
                .find(|n| n.split_once('/').is_some_and(|(folder, _)| folder == path)),
            commit::Op::Rename { to, .. } | commit::Op::RenameKeepingOld { to, .. } => {
                if to == commit::COMMIT_FILE || to == lock::LOCK_FILE {
                    return Err(refuse(format!("it renames a file over {to}")));
                }
                None
            }
        };
        if let Some(n) = hit {
            return Err(refuse(format!("it removes {n}, which its catalogue names")));
        }
    }
    Ok(())
}

/// A writer that crashed mid-append leaves bytes past an array's end: cut them off, so the file
/// size matches the shape again for NumPack too.
fn trim_interrupted_appends(snap: &Snapshot) -> Result<()> {
    for st in snap.arrays.values() {
        if let DataFiles::Single { path, file, .. } = &st.data {
            let len = file
                .metadata()
                .ctx(format_args!("cannot stat {}", path.display()))?
                .len();
            if len > st.meta.size_bytes {
                file.set_len(st.meta.size_bytes)
                    .ctx(format_args!("cannot trim {}", path.display()))?;
            }
        }
    }
    Ok(())
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    names::validate_name(name).map_err(Error::invalid)
}

pub(crate) fn check_itemsize(dtype: DType, src: &Src) -> Result<()> {
    if src.layout.itemsize != dtype.size() {
        return Err(Error::invalid(format!(
            "buffer item size {} does not match {} ({} bytes)",
            src.layout.itemsize,
            dtype.name(),
            dtype.size()
        )));
    }
    Ok(())
}

pub(crate) fn check_dtype(st: &ArrayState, dtype: DType) -> Result<()> {
    if st.meta.dtype != dtype {
        return Err(Error::new(
            ErrorKind::DtypeMismatch,
            format!(
                "array {:?} holds {}, the caller asked for {}",
                st.meta.name,
                st.meta.dtype.name(),
                dtype.name()
            ),
        ));
    }
    Ok(())
}

fn zero_d(name: &str) -> Error {
    Error::new(
        ErrorKind::ShapeMismatch,
        format!("array {name:?} is 0-d: it has no rows"),
    )
}

/// Logical indices (negative from the end) to physical rows, range-checked.
pub(crate) fn physical_rows(name: &str, st: &ArrayState, indices: &[i64]) -> Result<Vec<u64>> {
    let n = st.logical_rows();
    indices
        .iter()
        .map(|&i| {
            let logical = if i < 0 {
                n.checked_sub(i.unsigned_abs())
            } else {
                Some(i as u64)
            };
            let logical = logical.filter(|&l| l < n).ok_or_else(|| {
                Error::invalid(format!(
                    "row index {i} is out of range for array {name:?} with {n} rows"
                ))
            })?;
            Ok(match &st.bitmap {
                Some(b) => b.physical(logical).expect("logical < alive rows"),
                None => logical,
            })
        })
        .collect()
}

/// Runs of consecutive rows: (first, count), in the order given.
fn coalesce(rows: &[u64]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &r in rows {
        match runs.last_mut() {
            Some((s, n)) if *s + *n == r => *n += 1,
            _ => runs.push((r, 1)),
        }
    }
    runs
}

/// Fails with `corrupt` when `file` (an array's open data file) is shorter than `expected`
/// bytes: another program truncated it, and a mapping of it would fault or a read of it would
/// come back short. Returns the file's metadata for further checks.
pub(crate) fn check_untruncated(
    name: &str,
    file: &File,
    path: &Path,
    expected: u64,
) -> Result<std::fs::Metadata> {
    let meta = file
        .metadata()
        .ctx(format_args!("cannot stat {}", path.display()))?;
    let len = meta.len();
    if len < expected {
        return Err(Error::corrupt(format!(
            "array {name:?}: {} was truncated behind the store's back: {len} bytes, {expected} expected",
            path.display()
        )));
    }
    Ok(meta)
}
