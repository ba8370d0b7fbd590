//! The writable batch (NumPack's `writable_batch_mode`): each loaded array's data file is
//! mapped shared and writable, and the caller writes straight into the page cache. Memory use
//! does not grow with the array; the kernel writes pages back. `end` msyncs (synchronously for a
//! durable store), unmaps, and records modify times in the handle's catalogue (on disk with the
//! next commit or at close). Shape and dtype cannot change here.
//!
//! An array with dropped rows is compacted (one commit) before it is mapped, so the view never
//! shows a dropped row as live. A segmented array (numpack 0.7.0) is consolidated the same way.
//! Both are structural, so a shared open (in-place writers) refuses such an array (WrongMode).

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::batch::{open_store, src_ptr, BatchView};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::DType;
use crate::layout::Src;
use crate::store::fsutil::{self, FileId};
use crate::store::{check_dtype, check_itemsize, check_name, check_untruncated, BatchOpen, Store};

struct Mapped {
    map: Option<MmapRaw>,
    dtype: DType,
    shape: Vec<u64>,
    file: Arc<File>,
    path: PathBuf,
}

impl Mapped {
    fn ptr(&self) -> *mut u8 {
        self.map
            .as_ref()
            .map_or(std::ptr::null_mut(), |m| m.as_mut_ptr())
    }

    /// Another program may cut the mapped file short (touching the lost pages would raise
    /// SIGBUS, and their writes are gone) or rename another file over it (writes would go to a
    /// file nobody reads). Neither may pass as a successful save or end.
    fn check_intact(&self, name: &str) -> Result<()> {
        let Some(map) = &self.map else {
            return Ok(());
        };
        let ours = check_untruncated(name, &self.file, &self.path, map.len() as u64)?;
        let named = fsutil::regular_file_meta(&self.path)?;
        if named.map(|m| FileId::of(&m)) != Some(FileId::of(&ours)) {
            return Err(Error::corrupt(format!(
                "array {name:?}: {} was removed or replaced behind the store's back while the writable batch had it mapped",
                self.path.display()
            )));
        }
        Ok(())
    }
}

pub struct WritableBatch {
    /// None once ended, so an ended batch does not keep the store open.
    store: Option<Store>,
    maps: HashMap<String, Mapped>,
    /// The store's batch flag while the batch is open; dropped after the mappings, however the
    /// batch ends.
    open: Option<BatchOpen>,
}

impl WritableBatch {
    pub fn begin(store: &Store) -> Result<WritableBatch> {
        let open = store.begin_batch()?;
        Ok(WritableBatch {
            store: Some(store.clone()),
            maps: HashMap::new(),
            open: Some(open),
        })
    }

    pub fn load(&mut self, name: &str) -> Result<BatchView> {
        check_name(name)?;
        if !self.maps.contains_key(name) {
            let mapped = self.map_array(name)?;
            self.maps.insert(name.to_string(), mapped);
        }
        let m = &self.maps[name];
        Ok(BatchView {
            ptr: m.ptr(),
            dtype: m.dtype,
            shape: m.shape.clone(),
            writable: true,
        })
    }

    fn store(&self) -> Result<&Store> {
        open_store(&self.store)
    }

    fn map_array(&self, name: &str) -> Result<Mapped> {
        let store = self.store()?;
        let snap = store.snapshot();
        let st = snap.get(name)?;
        if st.bitmap.is_some() || st.meta.is_segmented() {
            // Compacting it first is structural: a shared open cannot.
            store.refuse_shared(&format!(
                "compacting array {name:?} (it has dropped rows or segments) for a writable batch"
            ))?;
            let w = store.batch_writer()?;
            store.compact_locked(&w, Some(name))?;
        }
        let snap = store.snapshot();
        let st = snap.get(name)?;
        let (file, path) = store.data_file(st)?;
        let len = st.meta.size_bytes;
        let map = if len == 0 {
            None
        } else {
            // A sparse file (an array made by create) gets its blocks first: a store through
            // the mapping into a hole on a full disk would raise SIGBUS in the caller's loop;
            // here a full disk is an error.
            if fsutil::has_holes(&file, len) {
                fsutil::allocate(&file, len).map_err(|e| {
                    Error::io(
                        format!(
                            "cannot allocate disk space for array {name:?} ({len} bytes of {}, which has holes) for a writable batch",
                            path.display()
                        ),
                        &e,
                    )
                })?;
            }
            // SAFETY: a shared mapping of exactly the array's bytes, which the file holds (the
            // snapshot checked its size). Other processes may write the same file; we only hand
            // out the raw pointer and never form Rust references into the mapping.
            let map = MmapOptions::new()
                .len(len as usize)
                .map_raw(&*file)
                .map_err(|e| Error::io(format!("cannot map array {name:?} writable"), &e))?;
            Some(map)
        };
        Ok(Mapped {
            map,
            dtype: st.meta.dtype,
            shape: st.logical_shape(),
            file,
            path,
        })
    }

    /// The view's own pointer: nothing to do. Another buffer of the same dtype and shape: copied
    /// into the mapping. Anything that would change dtype or shape is refused.
    pub fn save(&mut self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        // The copy into the mapping is sized by the source's layout: another item size would
        // write past the mapping.
        check_itemsize(dtype, &src.layout)?;
        let view = self.load(name)?;
        if view.dtype != dtype {
            let snap = self.store()?.snapshot();
            check_dtype(snap.get(name)?, dtype)?;
            return Err(Error::new(
                ErrorKind::DtypeMismatch,
                format!("array {name:?}: dtype cannot change in a writable batch"),
            ));
        }
        if view.shape != src.layout.shape {
            return Err(Error::new(
                ErrorKind::ShapeMismatch,
                format!(
                    "array {name:?} has shape {:?}; a writable batch cannot change it to {:?} (use a cache batch to append or reshape)",
                    view.shape, src.layout.shape
                ),
            ));
        }
        if view.ptr.is_null()
            || std::ptr::eq(src_ptr(src), view.ptr) && src.layout.is_c_contiguous()
        {
            return Ok(());
        }
        self.maps[name].check_intact(name)?;
        let len = src.layout.byte_len() as usize;
        // A source inside the mapping itself (another offset of the same view) is first copied
        // out, so the mapping is never borrowed mutably while the source borrows it.
        let (map_lo, map_hi) = (view.ptr as usize, view.ptr as usize + len);
        let (src_lo, src_hi) = (
            src.data.as_ptr() as usize,
            src.data.as_ptr() as usize + src.data.len(),
        );
        let owned;
        let bytes: &[u8] = if src_lo < map_hi && map_lo < src_hi {
            let mut tmp = vec![0u8; len];
            src.gather_rows(0, &mut tmp);
            owned = tmp;
            &owned
        } else if let Some(bytes) = src.as_c_bytes() {
            bytes
        } else {
            let mut tmp = vec![0u8; len];
            src.gather_rows(0, &mut tmp);
            owned = tmp;
            &owned
        };
        // SAFETY: the mapping is `len` bytes long, lives as long as the batch, and does not
        // overlap `bytes` (checked above).
        let mapped = unsafe { std::slice::from_raw_parts_mut(view.ptr, len) };
        mapped.copy_from_slice(bytes);
        Ok(())
    }

    /// Flushes every mapping, unmaps, and records modify times. On failure the mappings stay
    /// and the batch stays open.
    pub fn end(&mut self) -> Result<()> {
        if self.open.is_none() {
            return Ok(());
        }
        let durable = self.store()?.inner.durable;
        for (name, m) in &self.maps {
            m.check_intact(name)?;
            if let Some(map) = &m.map {
                let r = if durable {
                    map.flush()
                } else {
                    map.flush_async()
                };
                r.ctx(format_args!("cannot flush array {name:?}"))?;
            }
        }
        // In-place writes, like replace_rows: the modify times go into the handle's catalogue
        // now and reach metadata.npkm with the next commit or at close.
        if !self.maps.is_empty() {
            let store = self.store()?;
            let w = store.batch_writer()?;
            for name in self.maps.keys() {
                store.touch_in_memory(&w, name);
            }
        }
        self.finish();
        Ok(())
    }

    fn finish(&mut self) {
        self.maps.clear();
        self.store = None;
        self.open = None;
    }

    /// Unmaps without recording modify times. Writes already made through views stay in the
    /// files: a writable batch writes in place and cannot take them back.
    pub fn abort(self) {
        drop(self);
    }
}
