//! Staging the files of the next state: a whole array (the one path every rewrite takes), a
//! copy of an array's logical rows, a deletion bitmap, and retiring the files a commit replaces.

use std::fs::File;
use std::path::Path;

use super::commit::Txn;
use super::data;
use super::files::{DataFile, Source};
use super::fsutil;
use super::snapshot::{ArrayState, DataFiles, Snapshot};
use super::Store;
use crate::error::{Error, IoContext, Result};
use crate::format::metadata::{self, ArrayMeta};
use crate::format::names::{bitmap_file_name, data_file_name};
use crate::format::{Bitmap, DType};
use crate::layout::for_chunks;

impl Store {
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
        let (file, staged) = self.inner.spares.staging_file(txn, current, name)?;
        // Errors name the array's file too: the staged name means nothing to a user.
        fill(&file, &staged)
            .map_err(|e| Error::new(e.kind, format!("{e} (staged for {file_name})")))?;
        let len = metadata::byte_size(shape, dtype).unwrap_or(0);
        file.set_len(len).ctx(format_args!(
            "cannot size {} (staged for {file_name})",
            staged.display()
        ))?;
        if let Some(old) = current.arrays.get(name) {
            retire(txn, old);
        }
        Ok(ArrayState {
            map: Default::default(),
            meta: ArrayMeta::new(name, dtype, shape.to_vec(), fsutil::now_micros()),
            damage: None,
            bitmap: None,
            data: DataFiles::Single {
                path: self.inner.dir.join(&file_name),
                file: DataFile::opened(Source::writer(&self.inner.dir), file)?,
            },
        })
    }

    /// Stages the logical content of `st` as array `as_name` (compact, clone). The caller holds
    /// the write mutex, so the files cannot be replaced under us.
    pub(super) fn stage_copy(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        st: &ArrayState,
        as_name: &str,
    ) -> Result<ArrayState> {
        let reader = data::open_reader(st)?;
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

    pub(super) fn stage_bitmap(&self, txn: &mut Txn, name: &str, bitmap: &Bitmap) -> Result<()> {
        let (file, path) = txn.stage(&bitmap_file_name(name))?;
        fsutil::write_all_at(&file, &bitmap.encode(), 0)
            .ctx(format_args!("cannot write {}", path.display()))
    }
}

/// Schedules removal of every file of an array that a commit drops or replaces. Its data file
/// is opened first if it was not yet (and kept while the old state lives): a snapshot of the
/// old state still in use, on another thread, must read this file, not the name's next one.
/// One that cannot be opened cannot be read by that snapshot either.
pub(crate) fn retire(txn: &mut Txn, st: &ArrayState) {
    let name = &st.meta.name;
    if st.damage.is_some() {
        // Replaced by a save (a valid name): its stale bitmap goes with it, so the new array
        // is not read through it, and its data file or manifest (never opened; a commit's
        // removals stay inside the store). A broken manifest's segments stay unreferenced.
        txn.remove(&bitmap_file_name(name));
        txn.remove(&st.meta.data_file);
        return;
    }
    if st.bitmap.is_some() {
        txn.remove(&bitmap_file_name(name));
    }
    match &st.data {
        DataFiles::Single { file, .. } => {
            let _ = file.seal(&st.meta);
            txn.remove(&data_file_name(name))
        }
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
