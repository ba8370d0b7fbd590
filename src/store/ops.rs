//! The store's operations: save, append, in-place row replacement, drops, compaction and
//! clone, each checked, staged and published through one commit (or written in place where
//! NumPack does so).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use super::block::{Block, BlockSrc};
use super::checks::{
    check_dtype, check_itemsize, check_name, check_write_name, physical_rows, zero_d,
};
use super::data;
use super::fsutil;
use super::segwrite;
use super::snapshot::{ArrayState, DataFiles};
use super::stage::retire;
use super::{Store, WriteGuard};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::metadata::byte_size;
use crate::format::names::data_file_name;
use crate::format::{Bitmap, DType};
use crate::layout::{for_chunks, Layout, Src};

impl Store {
    /// Creates or replaces an array.
    pub fn save(&self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        check_itemsize(dtype, &src.layout)?;
        let w = self.structural_writer("save")?;
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
        next.arrays.insert(name, state);
        self.commit(w, txn, next)
    }

    /// Creates an array of `shape` without its data (HDF5's `H5Dcreate`): the data file is only
    /// sized, sparse where the filesystem allows, so it reads as zeros until written, or as
    /// `fill` (one element of `dtype`; a non-zero one is written out). One atomic commit, like
    /// `save`. An existing name is AlreadyExists (drop it first).
    pub fn create(
        &self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        fill: Option<&[u8]>,
    ) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        // The shape rules of save: rank and byte size.
        Layout::new(shape, None, dtype.size())?;
        let fill = check_fill(name, dtype, fill)?;
        let w = self.structural_writer("create")?;
        let current = self.snapshot();
        if current.arrays.contains_key(name) {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "cannot create array {name:?}: an array of that name exists; drop it first"
                ),
            ));
        }
        let elements = shape.iter().product::<u64>();
        let mut txn = self.txn();
        let state = self.stage_array(&mut txn, &current, name, dtype, shape, |f, path| {
            // A reused spare holds an old array's bytes: empty it, so that the sizing that
            // follows leaves holes, which read as zeros.
            f.set_len(0)
                .ctx(format_args!("cannot truncate {}", path.display()))?;
            let Some(value) = fill else {
                return Ok(());
            };
            let item = value.len();
            for_chunks(elements, item as u64, |first, chunk| {
                // for_chunks hands over the same buffer every time: fill it once.
                if first == 0 {
                    chunk
                        .chunks_exact_mut(item)
                        .for_each(|e| e.copy_from_slice(value));
                }
                fsutil::write_all_at(f, chunk, first * item as u64)
                    .ctx(format_args!("cannot write {}", path.display()))
            })
        })?;
        let mut next = (*current).clone();
        next.arrays.insert(name, state);
        self.commit(&w, txn, next)
    }

    /// Appends rows (shape (n, rest of the array's shape)) at the end of an array, in place:
    /// the new catalogue is the commit, and an interrupted append leaves only bytes past the
    /// array's end, which readers ignore and the next writer trims.
    pub fn append(&self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        check_itemsize(dtype, &src.layout)?;
        let w = self.structural_writer("append")?;
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
        let offset = st.meta.size_bytes;
        let added = src.layout.shape[0];
        let new_rows = st.meta.shape[0].checked_add(added);
        let mut meta = st.meta.clone();
        meta.shape[0] = new_rows.ok_or_else(|| Error::invalid("row count overflows"))?;
        meta.size_bytes = byte_size(&meta.shape, dtype)
            .ok_or_else(|| Error::invalid(format!("appending to {name:?} overflows its size")))?;
        meta.modify_time_us = fsutil::now_micros();
        if let DataFiles::Segmented { segments } = &st.data {
            if added == 0 {
                return Ok(());
            }
            let mut txn = self.txn();
            let prepared = segwrite::prepare_append(
                &self.inner.dir,
                &mut txn,
                st,
                segments,
                meta,
                src,
                self.inner.durable,
            )?;
            let mut state = prepared.state.clone();
            if let Some(b) = &st.bitmap {
                let mut grown = (**b).clone();
                let staged = grown
                    .try_grow(state.meta.shape[0])
                    .ok_or_else(|| bitmap_too_large(name, state.meta.shape[0]))
                    .and_then(|_| self.stage_bitmap(&mut txn, name, &grown));
                if let Err(e) = staged {
                    prepared.undo();
                    return Err(e);
                }
                state.bitmap = Some(Arc::new(grown));
            }
            let mut next = (*current).clone();
            next.arrays.insert(name, state);
            self.commit_with(&w, &mut txn, next).inspect_err(|_| {
                if !txn.is_decided() {
                    prepared.undo();
                }
            })?;
            if let (true, Some(folder)) = (self.inner.durable, &prepared.new_in) {
                fsutil::fsync_dir(folder).map_err(|e| {
                    Error::new(
                        ErrorKind::NotDurable,
                        format!(
                            "{e}; the append is committed and visible, but not confirmed durable"
                        ),
                    )
                })?;
            }
            return Ok(());
        }
        let file = self.open_for_update(st)?;
        let undo = |e: Error| {
            let _ = file.set_len(offset);
            e
        };
        data::write_src(&file, src, offset)
            .ctx(format_args!("cannot append to data_{name}.npkd"))
            .map_err(undo)?;
        if self.inner.durable {
            fsutil::sync_data(&file)
                .ctx(format_args!("cannot fsync data_{name}.npkd"))
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
        next.arrays.insert(name, state);
        // Once decided, the appended rows belong to the committed state: never cut them off.
        self.commit_with(&w, &mut txn, next)
            .map_err(|e| if txn.is_decided() { e } else { undo(e) })
    }

    /// Overwrites rows in place (not atomic: a crash may leave some of them written).
    pub fn replace_rows(&self, name: &str, indices: &[i64], dtype: DType, src: &Src) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        check_itemsize(dtype, &src.layout)?;
        let w = self.in_place_writer()?;
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
        if let DataFiles::Segmented { segments } = &st.data {
            let row = st.row_bytes();
            let mut tmp = vec![0u8; row as usize];
            let contiguous = src.as_c_bytes();
            for (k, &p) in phys.iter().enumerate() {
                let bytes = match contiguous {
                    Some(all) => &all[k * row as usize..(k + 1) * row as usize],
                    None => {
                        src.gather_rows(k as u64, &mut tmp);
                        &tmp[..]
                    }
                };
                segwrite::write_at(segments, bytes, p * row)?;
            }
            if self.inner.durable {
                segwrite::sync_all(segments)?;
            }
            drop(current);
            self.touch_in_memory(&w, name);
            return Ok(());
        }
        let Some(map) = self.row_map(st)? else {
            // An empty array has no rows to write.
            return Ok(());
        };
        // Rows go through the mapping, unless the file has holes (an array made by create): a
        // store into a hole needs a block, and on a full disk the mapping would raise SIGBUS
        // where a pwrite returns ENOSPC.
        let file = self.open_for_update(st)?;
        let holes = fsutil::has_holes(&file, st.meta.size_bytes);
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
            if holes {
                fsutil::write_all_at(&file, bytes, p * row as u64)
                    .ctx(format_args!("cannot write to {}", data_file_name(name)))?;
                continue;
            }
            // SAFETY: p < physical rows, so the row lies within the writable mapping;
            // memmove, as the source could be a view of this very file.
            unsafe { std::ptr::copy(bytes.as_ptr(), map.as_mut_ptr().add(p as usize * row), row) };
        }
        if self.inner.durable {
            if holes { file.sync_data() } else { map.flush() }
                .ctx(format_args!("cannot sync {}", data_file_name(name)))?;
        }
        drop(current);
        self.touch_in_memory(&w, name);
        Ok(())
    }

    /// Writes a block (hyperslab) of an array in place: `offset` and the source's shape (the
    /// count) per dimension, rows numbered logically (dropped rows skipped). Everything is checked
    /// before the first byte is written. Not atomic, like `replace_rows`: a crash, or an I/O error
    /// part way, may leave part of the block written. A count with a zero anywhere writes nothing
    /// and leaves the modify time alone. Segmented arrays are refused (compact them first).
    pub fn write_block(&self, name: &str, dtype: DType, offset: &[u64], src: &Src) -> Result<()> {
        check_itemsize(dtype, &src.layout)?;
        let data = match src.as_c_bytes() {
            Some(bytes) => BlockSrc::C(bytes),
            None => BlockSrc::Strided(src),
        };
        self.write_block_from(name, dtype, offset, &src.layout.shape, data)
    }

    /// `write_block` from C-order bytes of shape `count` (exactly its size): the C API's path
    /// for a buffer without strides, which needs no layout built per call.
    pub(crate) fn write_block_c(
        &self,
        name: &str,
        dtype: DType,
        offset: &[u64],
        count: &[u64],
        data: &[u8],
    ) -> Result<()> {
        self.write_block_from(name, dtype, offset, count, BlockSrc::C(data))
    }

    fn write_block_from(
        &self,
        name: &str,
        dtype: DType,
        offset: &[u64],
        count: &[u64],
        data: BlockSrc,
    ) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        let w = self.in_place_writer()?;
        let current = self.snapshot();
        let st = current.get(name)?;
        check_dtype(st, dtype)?;
        let block = Block::new(st, offset, count)?;
        let Some(block) = block else {
            return Ok(());
        };
        if let DataFiles::Segmented { segments } = &st.data {
            let put = |bytes: &[u8], at: u64| segwrite::write_at(segments, bytes, at);
            match data {
                BlockSrc::C(all) => block.for_runs(0, block.rows(), |at, pos, len| {
                    put(&all[pos..pos + len], at)
                })?,
                BlockSrc::Strided(src) => {
                    for_chunks(block.rows(), block.row_bytes(), |first, chunk| {
                        src.gather_rows(first, chunk);
                        let n = chunk.len() as u64 / block.row_bytes();
                        block.for_runs(first, n, |at, pos, len| put(&chunk[pos..pos + len], at))
                    })?
                }
            }
            if self.inner.durable {
                segwrite::sync_all(segments)?;
            }
            drop(current);
            self.touch_in_memory(&w, name);
            return Ok(());
        }
        let (file, path) = self.data_file(st)?;
        let map = if block.whole_rows() {
            None
        } else {
            self.row_map(st)?
                .filter(|_| !fsutil::has_holes(&file, st.meta.size_bytes))
        };
        let put = |bytes: &[u8], at: u64| match &map {
            Some(m) => {
                // SAFETY: the block lies within the array's physical shape (checked in
                // Block::new), so the run lies within the writable mapping; memmove, as the
                // source could be a view of this very file.
                unsafe {
                    std::ptr::copy(bytes.as_ptr(), m.as_mut_ptr().add(at as usize), bytes.len())
                };
                Ok(())
            }
            None => fsutil::write_all_at(&file, bytes, at)
                .ctx(format_args!("cannot write to {}", path.display())),
        };
        match data {
            BlockSrc::C(all) => block.for_runs(0, block.rows(), |at, pos, len| {
                put(&all[pos..pos + len], at)
            })?,
            BlockSrc::Strided(src) => {
                for_chunks(block.rows(), block.row_bytes(), |first, chunk| {
                    src.gather_rows(first, chunk);
                    let n = chunk.len() as u64 / block.row_bytes();
                    block.for_runs(first, n, |at, pos, len| put(&chunk[pos..pos + len], at))
                })?
            }
        }
        if self.inner.durable {
            match &map {
                Some(m) => m.flush(),
                None => file.sync_data(),
            }
            .ctx(format_args!("cannot sync {}", path.display()))?;
        }
        drop(current);
        self.touch_in_memory(&w, name);
        Ok(())
    }

    /// An array's single data file and its path, for writing in place (a writer's snapshot
    /// opens its files read-write); segmented arrays are refused.
    pub(crate) fn data_file(&self, st: &ArrayState) -> Result<(Arc<File>, PathBuf)> {
        match &st.data {
            DataFiles::Single { file, path, .. } => Ok((file.get(&st.meta)?, path.clone())),
            DataFiles::Segmented { .. } => Err(Error::invalid(format!(
                "array {:?} is stored in segments (numpack 0.7.0); compact it first to write it in place",
                st.meta.name
            ))),
        }
    }

    pub(crate) fn open_for_update(&self, st: &ArrayState) -> Result<Arc<File>> {
        self.data_file(st).map(|(file, _)| file)
    }

    /// Drops whole arrays, all or none.
    pub fn drop_arrays(&self, names: &[&str]) -> Result<()> {
        if names.is_empty() {
            return Err(Error::invalid("no array names given"));
        }
        for n in names {
            // An array numpack made under a name we would not create, whose files are plain
            // names in the store, may still be dropped (the one write such an array takes).
            super::checks::check_read_name(n, || {
                crate::format::names::readable_name(n).is_ok() && self.has(n)
            })?;
        }
        let w = self.structural_writer("drop")?;
        let current = self.snapshot();
        let mut next = (*current).clone();
        let mut txn = self.txn();
        for name in names {
            let st = next
                .arrays
                .remove(name)
                .ok_or_else(|| Error::not_found(name))?;
            match &st.data {
                // Nothing but the catalogue names this file, and a file of a name the catalogue
                // lacks changes no state: the catalogue's swap alone decides the drop, and the
                // file goes after it (`Txn::remove_after`). Its snapshot opens it first, as
                // `retire` does, for older snapshots still in use.
                DataFiles::Single { file, .. } if st.bitmap.is_none() => {
                    let _ = file.seal(&st.meta);
                    txn.remove_after(&data_file_name(name));
                }
                _ => retire(&mut txn, &st),
            }
        }
        self.commit(&w, txn, next)?;
        for name in names {
            self.inner.spares.forget(name);
        }
        Ok(())
    }

    /// Marks rows (logical indices, negative from the end) deleted in the bitmap; the data file
    /// and the physical shape stay, as in NumPack.
    /// An empty `indices` is refused like an empty `drop_arrays`: a structural change of nothing
    /// is usually a bug, and it must not commit a bitmap that changes nothing.
    pub fn drop_rows(&self, name: &str, indices: &[i64]) -> Result<()> {
        check_write_name(name, || self.has(name))?;
        if indices.is_empty() {
            return Err(Error::invalid(format!(
                "no row indices given to drop from array {name:?}"
            )));
        }
        let w = self.structural_writer("drop_rows")?;
        let current = self.snapshot();
        let st = current.get(name)?;
        if st.meta.shape.is_empty() {
            return Err(zero_d(name));
        }
        let phys = physical_rows(name, st, indices)?;
        if let DataFiles::Single { file, .. } = &st.data {
            // A missing or short data file is refused here as by every other write (a bitmap
            // over it would commit a change to an array no one can read).
            file.get(&st.meta)?;
        }
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
        next.arrays.insert(name, state);
        self.commit(&w, txn, next)
    }

    /// Rewrites arrays without their dropped rows (NumPack's `update`), and consolidates
    /// segmented arrays into one file. `None` compacts every array that needs it, in one commit.
    /// With nothing to compact it writes nothing.
    pub fn compact(&self, name: Option<&str>) -> Result<()> {
        if let Some(n) = name {
            check_write_name(n, || self.has(n))?;
        }
        let w = self.structural_writer("compact")?;
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
                // A damaged array stays as it is (see README, "Damaged stores").
                .filter(|s| s.damage.is_none() && (s.bitmap.is_some() || s.meta.is_segmented()))
                .map(|s| s.meta.name.clone())
                .collect(),
        };
        let mut txn = self.txn();
        let mut next = (*current).clone();
        let mut staged = false;
        for n in names {
            let st = current.get(&n)?;
            if st.bitmap.is_none() && !st.meta.is_segmented() {
                continue;
            }
            let state = self.stage_copy(&mut txn, &current, st, &n)?;
            next.arrays.insert(n, state);
            staged = true;
        }
        if !staged {
            // Nothing to compact is a no-op, and a no-op writes nothing (not even the same
            // catalogue again); deferred modify times still reach disk at the next commit or close.
            return Ok(());
        }
        self.commit(w, txn, next)
    }

    /// Copies an array's logical content (dropped rows left out) to a new name.
    pub fn clone_array(&self, src: &str, dst: &str) -> Result<()> {
        check_write_name(src, || self.has(src))?;
        check_name(dst)?;
        let w = self.structural_writer("clone")?;
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
        next.arrays.insert(dst, state);
        if let Some(attrs) = current.attrs.arrays.get(src) {
            Arc::make_mut(&mut next.attrs)
                .arrays
                .insert(dst.to_string(), attrs.clone());
        }
        self.commit(&w, txn, next)
    }
}

/// A fill value must be one element of the dtype (and a bool one 0 or 1, the values NumPy
/// stores). An all-zero one is what the sized file already reads as: None.
fn check_fill<'a>(name: &str, dtype: DType, fill: Option<&'a [u8]>) -> Result<Option<&'a [u8]>> {
    let Some(value) = fill else {
        return Ok(None);
    };
    if value.len() != dtype.size() {
        return Err(Error::invalid(format!(
            "fill value for array {name:?}: {} bytes given, one {} element has {}",
            value.len(),
            dtype.name(),
            dtype.size()
        )));
    }
    if dtype == DType::Bool && value[0] > 1 {
        return Err(Error::invalid(format!(
            "fill value for bool array {name:?} is {}; a bool is 0 or 1",
            value[0]
        )));
    }
    Ok(value.iter().any(|&b| b != 0).then_some(value))
}

/// A deletion bitmap this large cannot be held (rows of zero bytes cost no data, so a shape
/// can claim any row count).
pub(super) fn bitmap_too_large(name: &str, rows: u64) -> Error {
    Error::new(
        ErrorKind::OutOfMemory,
        format!(
            "array {name:?} has {rows} rows; a deletion bitmap for that many cannot be allocated"
        ),
    )
}
