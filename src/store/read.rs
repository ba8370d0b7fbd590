//! Reads: everything served from the handle's current snapshot, which no commit changes under
//! a reader.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::block::{self, Block, BlockDst};
use super::checks::{
    check_dtype, check_itemsize, check_len, check_read_name, check_rows, check_rows_shape,
    physical_row,
};
use super::data::{self, DataReader};
use super::files;
use super::gather::gather;
use super::snapshot::{self, ArrayState, DataFiles, Snapshot};
use super::view;
use super::{ArrayInfo, Store};
use crate::error::{Error, ErrorKind, Result};
use crate::format::DType;
use crate::layout::{for_chunks, Dst};

/// Reads up to this many bytes hold the snapshot's read lock (`with_reader_small`).
const SMALL_READ: u64 = 1 << 20;

/// Blocks of whole rows up to this many bytes are copied from the mapping, larger ones preaded.
const MAP_READ_MAX: u64 = 64 << 10;

impl Store {
    pub fn has(&self, name: &str) -> bool {
        let snap = self.snapshot();
        snap.names_shown.store(true, Ordering::Relaxed);
        snap.arrays.contains_key(name)
    }

    pub fn list(&self) -> Vec<String> {
        let snap = self.snapshot();
        snap.names_shown.store(true, Ordering::Relaxed);
        snap.arrays.keys().cloned().collect()
    }

    pub fn info(&self, name: &str) -> Result<ArrayInfo> {
        check_read_name(name, || self.snapshot().arrays.contains_key(name))?;
        if self.inner.read_only {
            // A reader opens the array's file first: the shape it reports is then the one its
            // later reads of this array see (opened late, after a commit, the handle moves on
            // before it shows anything of the array; see `after_stale`).
            return self.with_reader(name, |st, _| Ok(array_info(st)));
        }
        let snap = self.snapshot();
        let st = snap.get(name)?;
        Ok(array_info(st))
    }

    /// Picks up commits made by another process (a writer handle sees its own at once). An
    /// in-place writer of a shared open first merges its modify times into the catalogue on
    /// disk, then picks up the times the other in-place writers recorded.
    pub fn refresh(&self) -> Result<()> {
        if self.inner.shared {
            return self.refresh_shared();
        }
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
        check_read_name(name, || self.snapshot().arrays.contains_key(name))?;
        let mut tries = 0;
        loop {
            let snap = self.snapshot();
            let st = snap.get(name)?;
            let err = match data::open_reader(st) {
                Ok(reader) => return f(st, &reader),
                Err(e) => e,
            };
            self.after_stale(&snap, err, &mut tries)?;
        }
    }

    /// A read-only handle's late open found the store past its snapshot: move the handle to
    /// the newest commit when that shows nothing different from what the handle has shown
    /// (then its calls still see one whole commit), and try again; any other error is returned.
    fn after_stale(&self, old: &Arc<Snapshot>, err: Error, tries: &mut u32) -> Result<()> {
        *tries += 1;
        if !self.inner.read_only || !files::is_stale(&err) || *tries > 50 {
            return Err(err);
        }
        let _one = self.inner.write.lock();
        if !Arc::ptr_eq(&self.inner.snap.read(), old) {
            return Ok(());
        }
        let new = snapshot::load(&self.inner.dir)?;
        match still_shows(old, &new) {
            // The store moved again while we compared: compare with the next state.
            Err(e) if files::is_stale(&e) => return Ok(()),
            r => r?,
        }
        *self.inner.snap.write() = Arc::new(new);
        Ok(())
    }

    /// `with_reader` for a read of at most `SMALL_READ` bytes: under the snapshot's read lock
    /// instead of a clone of the snapshot, two atomic operations fewer (measured: 20 ns of the
    /// 490 ns a 4 KiB block read from the page cache takes here). A commit publishing meanwhile
    /// waits for at most that one read.
    fn with_reader_small<T>(
        &self,
        name: &str,
        f: impl FnOnce(&ArrayState, &DataReader) -> Result<T>,
    ) -> Result<T> {
        check_read_name(name, || self.snapshot().arrays.contains_key(name))?;
        let mut tries = 0;
        loop {
            let snap = self.inner.snap.read();
            let st = snap.get(name)?;
            let err = match data::open_reader(st) {
                Ok(reader) => return f(st, &reader),
                Err(e) => e,
            };
            let old = Arc::clone(&snap);
            drop(snap);
            self.after_stale(&old, err, &mut tries)?;
        }
    }

    pub fn load(&self, name: &str, dtype: DType, dst: &mut Dst) -> Result<()> {
        check_itemsize(dtype, &dst.layout)?;
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
            if st.bitmap.is_none() {
                // A strided buffer is filled straight from the store's mapping of the file: one
                // pass, where a copy through a staging chunk would move every byte twice (a
                // 4096 x 4096 float64 Fortran load: 46 -> 29 ms CPU, C order 14).
                if let Some(map) = self.row_map(st)? {
                    let len = (rows * st.row_bytes()) as usize;
                    if !dst.overlaps(map.as_ptr(), len) {
                        // SAFETY: without dropped rows the file holds exactly `rows` rows,
                        // `size_bytes` <= the mapping's length (row_map checked the file's
                        // length); the buffer does not overlap the mapping.
                        unsafe { dst.scatter_rows_from(0, map.as_ptr(), len) };
                        return Ok(());
                    }
                }
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
        check_itemsize(dtype, &dst.layout)?;
        if dst.layout.is_c_contiguous() {
            let len = dst.layout.byte_len() as usize;
            let out = &mut dst.data[dst.origin..dst.origin + len];
            return self.get_rows_into(name, indices, dtype, &dst.layout.shape, BlockDst::C(out));
        }
        let shape = dst.layout.shape.clone();
        self.get_rows_into(name, indices, dtype, &shape, BlockDst::Strided(dst))
    }

    /// `get_rows` into C-order bytes of shape `shape` (exactly its size): the C API's path for a
    /// buffer without strides, which needs no layout built per call.
    pub(crate) fn get_rows_c(
        &self,
        name: &str,
        indices: &[i64],
        dtype: DType,
        shape: &[u64],
        out: &mut [u8],
    ) -> Result<()> {
        self.get_rows_into(name, indices, dtype, shape, BlockDst::C(out))
    }

    /// `get_rows` into a buffer of shape `shape`. The common case (a single data file into
    /// C-order bytes) allocates nothing: indices are checked in one pass and translated while
    /// the rows are copied in a second, so a bad index still leaves the buffer untouched.
    fn get_rows_into(
        &self,
        name: &str,
        indices: &[i64],
        dtype: DType,
        shape: &[u64],
        dst: BlockDst,
    ) -> Result<()> {
        // The buffer exists, so its byte size cannot overflow.
        let bytes = shape.iter().product::<u64>() * dtype.size() as u64;
        let read = |st: &ArrayState, reader: &DataReader| {
            check_dtype(st, dtype)?;
            check_rows_shape(name, st, indices.len(), shape)?;
            check_rows(name, st, indices)?;
            let n = st.logical_rows();
            let row = st.row_bytes() as usize;
            let copy = |map: &memmap2::MmapRaw, p: u64, out: &mut [u8]| {
                // SAFETY: p < physical rows, so the row lies within size_bytes <= map.len();
                // `out` is one row. memmove: the caller's buffer could be a view of this very
                // file.
                unsafe {
                    std::ptr::copy(map.as_ptr().add(p as usize * row), out.as_mut_ptr(), row)
                };
            };
            match (self.row_map(st)?, dst) {
                // SAFETY: the mapping covers size_bytes > 0 (so rows are not empty), `out` holds
                // indices.len() rows, and check_rows accepted every index.
                (Some(map), BlockDst::C(out)) => unsafe { gather(map.as_ptr(), st, indices, out) },
                (Some(map), BlockDst::Strided(dst)) => {
                    let mut tmp = vec![0u8; row];
                    for (i, &idx) in indices.iter().enumerate() {
                        copy(&map, physical_row(st, n, idx), &mut tmp);
                        dst.scatter_rows(i as u64, &tmp);
                    }
                }
                // Segmented arrays: runs of consecutive rows by pread.
                (None, mut dst) => {
                    let phys: Vec<u64> = indices.iter().map(|&i| physical_row(st, n, i)).collect();
                    let mut tmp = vec![0u8; row];
                    let mut i = 0usize;
                    for (start, len) in coalesce(&phys) {
                        let len = len as usize;
                        match &mut dst {
                            BlockDst::C(out) => reader
                                .read_at(&mut out[i * row..(i + len) * row], start * row as u64)?,
                            BlockDst::Strided(dst) => {
                                for k in 0..len {
                                    reader.read_at(&mut tmp, (start + k as u64) * row as u64)?;
                                    dst.scatter_rows((i + k) as u64, &tmp);
                                }
                            }
                        }
                        i += len;
                    }
                }
            }
            Ok(())
        };
        if bytes <= SMALL_READ {
            self.with_reader_small(name, read)
        } else {
            self.with_reader(name, read)
        }
    }

    /// A block (hyperslab) of an array: `offset` and the destination's shape (the count) per
    /// dimension, rows numbered logically (dropped rows skipped, as in `get_rows`). A count with a
    /// zero anywhere reads nothing; the offsets are checked all the same.
    pub fn read_block(
        &self,
        name: &str,
        dtype: DType,
        offset: &[u64],
        dst: &mut Dst,
    ) -> Result<()> {
        check_itemsize(dtype, &dst.layout)?;
        if dst.layout.is_c_contiguous() {
            let len = dst.layout.byte_len() as usize;
            let out = &mut dst.data[dst.origin..dst.origin + len];
            return self.read_block_into(name, dtype, offset, &dst.layout.shape, BlockDst::C(out));
        }
        let count = dst.layout.shape.clone();
        self.read_block_into(name, dtype, offset, &count, BlockDst::Strided(dst))
    }

    /// `read_block` into C-order bytes of shape `count` (exactly its size): the C API's path for
    /// a buffer without strides, which needs no layout built per call.
    pub(crate) fn read_block_c(
        &self,
        name: &str,
        dtype: DType,
        offset: &[u64],
        count: &[u64],
        out: &mut [u8],
    ) -> Result<()> {
        self.read_block_into(name, dtype, offset, count, BlockDst::C(out))
    }

    fn read_block_into(
        &self,
        name: &str,
        dtype: DType,
        offset: &[u64],
        count: &[u64],
        dst: BlockDst,
    ) -> Result<()> {
        // The count's byte size cannot overflow: its buffer exists.
        let bytes = count.iter().product::<u64>() * dtype.size() as u64;
        let read = |st: &ArrayState, reader: &DataReader| {
            check_dtype(st, dtype)?;
            let Some(block) = Block::new(st, offset, count)? else {
                return Ok(());
            };
            // Runs are copied out of the store's cached mapping: for a small block the syscall of
            // a pread costs as much as the copy (12.8 KB from the page cache: pread 0.84 us,
            // memcpy 0.44, length check 0.1). Blocks of whole rows over MAP_READ_MAX take one
            // pread per run: as fast when the pages are cached (400 KB: equal), and far faster when
            // they are not, as a pread reads what it asks for while a fault on the mapping reads
            // read_ahead_kb around it (8 MiB on the dev VM: 6 ms per cold 400 KB block against
            // 0.9). Small blocks pay that too when cold (6 ms against 0.1), like get_rows and
            // numpack's own reads. Segmented arrays have no mapping and take the preads.
            let map = if block.whole_rows() && bytes > MAP_READ_MAX {
                None
            } else {
                self.row_map(st)?
            };
            let copy = |out: &mut [u8], at: u64| match &map {
                Some(m) => {
                    // SAFETY: the block lies within the array's physical shape (checked in
                    // Block::new), so the run lies within size_bytes <= the mapping's length;
                    // memmove, as `out` could be a view of this very file.
                    unsafe {
                        std::ptr::copy(m.as_ptr().add(at as usize), out.as_mut_ptr(), out.len())
                    };
                    Ok(())
                }
                None => reader.read_at(out, at),
            };
            match dst {
                BlockDst::C(out) => block.for_runs(0, block.rows(), |at, pos, len| {
                    copy(&mut out[pos..pos + len], at)
                }),
                BlockDst::Strided(dst) => {
                    for_chunks(block.rows(), block.row_bytes(), |first, chunk| {
                        let n = chunk.len() as u64 / block.row_bytes();
                        block.for_runs(first, n, |at, pos, len| {
                            copy(&mut chunk[pos..pos + len], at)
                        })?;
                        dst.scatter_rows(first, chunk);
                        Ok(())
                    })
                }
            }
        };
        if bytes <= SMALL_READ {
            self.with_reader_small(name, read)
        } else {
            self.with_reader(name, read)
        }
    }

    /// A block's bounds against an array (for the C API, which must build the caller's buffer
    /// layout before `read_block` sees it: a count that fails there is explained here, naming
    /// the dimension).
    pub(crate) fn check_block(&self, name: &str, offset: &[u64], count: &[u64]) -> Result<()> {
        check_read_name(name, || self.snapshot().arrays.contains_key(name))?;
        let snap = self.snapshot();
        block::check_bounds(name, &snap.get(name)?.logical_shape(), offset, count)
    }

    pub fn view(&self, name: &str) -> Result<view::ReadView> {
        self.with_reader(name, view::ReadView::new)
    }

    /// The array's data file mapped for row copies (writable for a writer handle); None for a
    /// segmented or empty array. Cached in the state, so repeated row operations map once.
    /// Like every mapping, it would fault (SIGBUS) if another program truncated the file.
    pub(super) fn row_map(&self, st: &ArrayState) -> Result<Option<Arc<memmap2::MmapRaw>>> {
        let DataFiles::Single { file, path, .. } = &st.data else {
            return Ok(None);
        };
        if st.meta.size_bytes == 0 {
            return Ok(None);
        }
        let file = file.get(&st.meta)?;
        // A file cut short behind our back would read as zeros (or fault): check first.
        check_len(&st.meta.name, &file, path, st.meta.size_bytes)?;
        st.map
            .get(&file, st.meta.size_bytes, !self.inner.read_only)
            .map(Some)
            .map_err(|e| Error::io(format!("cannot map {}", path.display()), &e))
    }
}

fn array_info(st: &ArrayState) -> ArrayInfo {
    let shape = st.logical_shape();
    ArrayInfo {
        dtype: st.meta.dtype,
        nbytes: shape.iter().product::<u64>() * st.meta.dtype.size() as u64,
        shape,
        modify_time_us: st.meta.modify_time_us,
        physical_rows: st.physical_rows(),
        segmented: st.meta.is_segmented(),
    }
}

/// Whether `new` shows the same as `old` for everything `old` has shown: the set of names if it
/// was listed, and for every array shown, its catalogue entry (but the modify time, which
/// in-place writes move), its bitmap, and, when its bytes were read, the very file (`old` still
/// holds it, so its inode cannot have been reused). Then serving the next call from `new` is
/// as if the handle had read `new` all along. Otherwise the handle cannot go on: NPK_BUSY.
fn still_shows(old: &Snapshot, new: &Snapshot) -> Result<()> {
    let changed = |name: &str| {
        Error::new(
            ErrorKind::Busy,
            format!(
                "the store changed since this read-only handle was opened or refreshed: array \
                 {name:?}, which the handle has shown, was changed, and an array it had not \
                 opened yet cannot be read from the handle's commit; npk_refresh reads the \
                 new state"
            ),
        )
    };
    if old.names_shown.load(Ordering::Relaxed) {
        if !old.arrays.keys().eq(new.arrays.keys()) {
            return Err(changed("(the list of arrays)"));
        }
        new.names_shown.store(true, Ordering::Relaxed);
    }
    for (name, st) in old.arrays.iter() {
        let shown = match &st.data {
            DataFiles::Single { file, .. } => file.was_shown(),
            DataFiles::Segmented { .. } => true,
        };
        if !shown {
            continue;
        }
        let Some(now) = new.arrays.get(name) else {
            return Err(changed(name));
        };
        let mut a = st.meta.clone();
        a.modify_time_us = now.meta.modify_time_us;
        if a != now.meta || st.bitmap != now.bitmap {
            return Err(changed(name));
        }
        match (&st.data, &now.data) {
            (DataFiles::Single { file: was, .. }, DataFiles::Single { file: is, .. }) => {
                if was.was_opened() {
                    let same = match was.held_id() {
                        Some(id) => {
                            let f = is.get(&now.meta)?;
                            let meta = f.metadata().map_err(|e| Error::io("cannot stat", &e))?;
                            crate::store::fsutil::FileId::of(&meta) == id
                        }
                        None => false,
                    };
                    if !same {
                        return Err(changed(name));
                    }
                } else {
                    is.mark_shown();
                }
            }
            (DataFiles::Segmented { segments: was }, DataFiles::Segmented { segments: is }) => {
                let ids =
                    |s: &[snapshot::SegmentFile]| -> Vec<Option<crate::store::fsutil::FileId>> {
                        s.iter()
                            .map(|f| {
                                f.file
                                    .metadata()
                                    .ok()
                                    .map(|m| crate::store::fsutil::FileId::of(&m))
                            })
                            .collect()
                    };
                if ids(was) != ids(is) {
                    return Err(changed(name));
                }
            }
            _ => return Err(changed(name)),
        }
    }
    Ok(())
}

/// Runs of consecutive rows: (first, count), in the order given.
pub(super) fn coalesce(rows: &[u64]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &r in rows {
        match runs.last_mut() {
            Some((s, n)) if *s + *n == r => *n += 1,
            _ => runs.push((r, 1)),
        }
    }
    runs
}
