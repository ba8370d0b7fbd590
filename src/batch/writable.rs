//! The writable batch (NumPack's `writable_batch_mode`): each loaded array's data file is
//! mapped shared and writable, and the caller writes straight into the page cache. Memory use
//! does not grow with the array; the kernel writes pages back. `end` msyncs synchronously for a
//! durable store (a non-durable one needs nothing: the mapping is the page cache, as a `write`
//! would be) and records modify times in the handle's catalogue (on disk with the next commit
//! or at close). Shape and dtype cannot change here.
//!
//! The mapping is the array state's `MapSlot`, kept after the batch: the next batch (and row
//! reads) on the same file reuse it, with its page tables already filled, instead of paying
//! mmap, page faults and munmap every batch. A save or compact gives the array a new file and a
//! new slot, so a mapping never outlives its file or shows a replaced one.
//!
//! An array with dropped rows is compacted (one commit) before it is mapped, so the view never
//! shows a dropped row as live. A segmented array (numpack 0.7.0) keeps its segments: they are
//! mapped side by side into one reserved address range (`segmap`), one pointer as for a single
//! file, unless a segment other than the last is not a whole number of pages (then it is
//! consolidated into one file like an array with dropped rows). Compaction is structural, so a
//! shared open (in-place writers) refuses such an array (WrongMode).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use memmap2::MmapRaw;

use crate::batch::segmap::{self, SegmentedMap};
use crate::batch::{open_store, src_ptr, BatchView};
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::DType;
use crate::layout::Src;
use crate::store::fsutil::{self, FileId};
use crate::store::snapshot::DataFiles;
use crate::store::{check_dtype, check_itemsize, check_name, untruncated, BatchOpen, Store};

/// A mapped segment file: its path, identity and the bytes of it the array uses.
type SegmentId = (PathBuf, FileId, u64);

struct Mapped {
    map: Option<Arc<MmapRaw>>,
    /// A segmented array's one mapping, and (path, identity, bytes) of each segment file.
    segs: Option<(SegmentedMap, Vec<SegmentId>)>,
    /// The array's bytes; the mapping may be longer (room for appends).
    len: u64,
    dtype: DType,
    shape: Vec<u64>,
    /// The mapped file's identity, to recognise it under `path`.
    id: FileId,
    path: PathBuf,
}

impl Mapped {
    fn ptr(&self) -> *mut u8 {
        if let Some((m, _)) = &self.segs {
            return m.ptr();
        }
        self.map
            .as_ref()
            .map_or(std::ptr::null_mut(), |m| m.as_mut_ptr())
    }

    /// Another program may cut the mapped file short (touching the lost pages would raise
    /// SIGBUS, and their writes are gone) or rename another file over it (writes would go to a
    /// file nobody reads). Neither may pass as a successful save or end. One stat of the path
    /// answers both: when it names our file, its size is our file's.
    fn check_intact(&self, name: &str) -> Result<()> {
        if let Some((_, files)) = &self.segs {
            for (path, id, len) in files {
                check_file(name, path, *id, *len)?;
            }
            return Ok(());
        }
        if self.map.is_none() {
            return Ok(());
        }
        check_file(name, &self.path, self.id, self.len)
    }
}

fn check_file(name: &str, path: &std::path::Path, id: FileId, len: u64) -> Result<()> {
    match fsutil::regular_file_meta(path)? {
        Some(m) if FileId::of(&m) == id => untruncated(name, path, m.len(), len),
        _ => Err(Error::corrupt(format!(
            "array {name:?}: {} was removed or replaced behind the store's back while the writable batch had it mapped",
            path.display()
        ))),
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
        let side_by_side =
            matches!(&st.data, DataFiles::Segmented { segments } if segmap::side_by_side(segments));
        if st.bitmap.is_some() || (st.meta.is_segmented() && !side_by_side) {
            // Compacting it first is structural: a shared open cannot.
            store.refuse_shared(&format!(
                "compacting array {name:?} (it has dropped rows or segments) for a writable batch"
            ))?;
            let w = store.batch_writer()?;
            store.compact_locked(&w, Some(name))?;
        }
        let snap = store.snapshot();
        let st = snap.get(name)?;
        if let DataFiles::Segmented { segments } = &st.data {
            return map_segments(st, segments);
        }
        let (file, path) = store.data_file(st)?;
        let len = st.meta.size_bytes;
        let id = st
            .map
            .file_id(&file)
            .ctx(format_args!("cannot stat {}", path.display()))?;
        let map = if len == 0 {
            None
        } else {
            // A sparse file (an array made by create) gets its blocks first: a store through
            // the mapping into a hole on a full disk would raise SIGBUS in the caller's loop;
            // here a full disk is an error. Once per file: nothing of ours punches holes.
            if !st.map.is_allocated(len) {
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
                st.map.set_allocated(len);
            }
            let map = st
                .map
                .get(&file, len, true)
                .map_err(|e| Error::io(format!("cannot map array {name:?} writable"), &e))?;
            Some(map)
        };
        Ok(Mapped {
            map,
            segs: None,
            len,
            dtype: st.meta.dtype,
            shape: st.logical_shape(),
            id,
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

    /// Checks every mapped file is still the array's, msyncs on a durable store, and records
    /// modify times. On failure the batch stays open.
    pub fn end(&mut self) -> Result<()> {
        if self.open.is_none() {
            return Ok(());
        }
        let durable = self.store()?.inner.durable;
        for (name, m) in &self.maps {
            m.check_intact(name)?;
            // Non-durable: nothing to flush. The mapping is the file's page cache, which the
            // kernel writes back as it would a `write`; msync(MS_ASYNC) starts no I/O on Linux.
            if let (true, Some(map)) = (durable, &m.map) {
                sync_range(map, m.len).ctx(format_args!("cannot flush array {name:?}"))?;
            }
            if let (true, Some((map, _))) = (durable, &m.segs) {
                map.flush(m.len)
                    .ctx(format_args!("cannot flush array {name:?}"))?;
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

    /// Ends without recording modify times. Writes already made through views stay in the
    /// files: a writable batch writes in place and cannot take them back.
    pub fn abort(self) {
        drop(self);
    }
}

/// A segmented array's segments mapped side by side (the caller checked that they can be).
fn map_segments(
    st: &crate::store::snapshot::ArrayState,
    segments: &[crate::store::snapshot::SegmentFile],
) -> Result<Mapped> {
    let len = st.meta.size_bytes;
    let mut files = Vec::with_capacity(segments.len());
    for s in segments {
        let id = s
            .file
            .metadata()
            .map(|m| FileId::of(&m))
            .ctx(format_args!("cannot stat {}", s.path.display()))?;
        files.push((s.path.clone(), id, s.segment.bytes));
    }
    // Unused for a segmented array (check_intact checks `files`), but it has to be something.
    let (path, id) = files
        .first()
        .map_or((PathBuf::new(), FileId { dev: 0, ino: 0 }), |(p, id, _)| {
            (p.clone(), *id)
        });
    let segs = if len == 0 {
        None
    } else {
        Some((SegmentedMap::map(segments, len, true)?, files))
    };
    Ok(Mapped {
        map: None,
        segs,
        len,
        dtype: st.meta.dtype,
        shape: st.logical_shape(),
        id,
        path,
    })
}

/// A synchronous msync of the array's bytes only (the mapping has room past them).
fn sync_range(map: &MmapRaw, len: u64) -> std::io::Result<()> {
    #[cfg(test)]
    if fail_points::MSYNC_FAILS.get() {
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    map.flush_range(0, len as usize)
}

#[cfg(test)]
pub(crate) mod fail_points {
    thread_local! {
        /// Every synchronous msync of a writable batch on this thread fails with EIO.
        pub(crate) static MSYNC_FAILS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenOptions;
    use crate::test_util::tmp;

    fn store_with_array(name: &str, durable: bool) -> (Store, std::path::PathBuf) {
        let dir = tmp(name);
        let s = Store::open(
            &dir,
            OpenOptions {
                create: true,
                durable,
                ..Default::default()
            },
        )
        .unwrap();
        let bytes = vec![1u8; 64 * 1024];
        s.save(
            "a",
            DType::U8,
            &Src::contiguous(&bytes, &[64, 1024], 1).unwrap(),
        )
        .unwrap();
        (s, dir)
    }

    /// A durable end msyncs before it returns, also when the mapping is one a previous batch
    /// left: a failing msync is the end's failure, and the batch stays open to retry.
    #[test]
    fn a_durable_end_msyncs_every_batch_and_reports_a_failure() {
        let (s, dir) = store_with_array("wb-durable", true);
        for round in 0..2 {
            let mut b = WritableBatch::begin(&s).unwrap();
            b.load("a").unwrap();
            fail_points::MSYNC_FAILS.set(true);
            let e = b.end().unwrap_err();
            fail_points::MSYNC_FAILS.set(false);
            assert_eq!(e.kind, ErrorKind::Io, "round {round}: {e}");
            assert!(e.message.contains("cannot flush array \"a\""), "{e}");
            b.end().unwrap();
        }
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Without durability nothing at end needs an msync: the mapping is the page cache.
    #[test]
    fn a_non_durable_end_needs_no_msync() {
        let (s, dir) = store_with_array("wb-plain", false);
        let mut b = WritableBatch::begin(&s).unwrap();
        b.load("a").unwrap();
        fail_points::MSYNC_FAILS.set(true);
        let r = b.end();
        fail_points::MSYNC_FAILS.set(false);
        r.unwrap();
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
