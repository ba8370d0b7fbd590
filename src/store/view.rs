//! Read-only views: a shared mapping of the data file when the array is one contiguous file
//! with no dropped rows (zero copy, "lazy load"), or numpack 0.7.0's segment files mapped side
//! by side when they are whole pages (`batch::segmap`), otherwise an aligned copy of the live
//! rows, so a view never shows a dropped row.

use memmap2::{Mmap, MmapOptions};

use crate::batch::segmap::{self, SegmentedMap};
use crate::error::{Error, Result};
use crate::format::DType;
use crate::layout::for_chunks;
use crate::pages::PageBuf;
use crate::store::data::DataReader;
use crate::store::snapshot::{ArrayState, DataFiles};

enum Memory {
    Empty,
    Mapped(Mmap),
    Segments(SegmentedMap),
    Copied(PageBuf),
}

pub struct ReadView {
    pub dtype: DType,
    pub shape: Vec<u64>,
    memory: Memory,
}

impl ReadView {
    pub(crate) fn new(st: &ArrayState, reader: &DataReader) -> Result<ReadView> {
        let shape = st.logical_shape();
        let len = shape.iter().product::<u64>() * st.meta.dtype.size() as u64;
        let memory = if len == 0 {
            Memory::Empty
        } else if let (Some(file), None) = (reader.single(), &st.bitmap) {
            // SAFETY: the mapping is read-only and private to this view; the library never
            // forms Rust references into it beyond `as_ptr`. Another process writing the file
            // in place (replace rows) changes what the caller reads, as documented.
            let map = unsafe { MmapOptions::new().len(len as usize).map(file) }
                .map_err(|e| Error::io(format!("cannot map array {:?}", st.meta.name), &e))?;
            Memory::Mapped(map)
        } else if let (DataFiles::Segmented { segments }, None) = (&st.data, &st.bitmap) {
            if segmap::side_by_side(segments) {
                Memory::Segments(SegmentedMap::map(segments, len, false)?)
            } else {
                copy(st, reader, &shape, len)?
            }
        } else {
            copy(st, reader, &shape, len)?
        };
        Ok(ReadView {
            dtype: st.meta.dtype,
            shape,
            memory,
        })
    }

    /// NULL for a zero-size array.
    pub fn as_ptr(&self) -> *const u8 {
        match &self.memory {
            Memory::Empty => std::ptr::null(),
            Memory::Mapped(m) => m.as_ptr(),
            Memory::Segments(m) => m.ptr(),
            Memory::Copied(b) => b.as_ptr(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.memory {
            Memory::Empty => 0,
            Memory::Mapped(m) => m.len(),
            Memory::Segments(_) => self.shape.iter().product::<u64>() as usize * self.dtype.size(),
            Memory::Copied(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the view maps the file (no copy was made).
    pub fn is_mapped(&self) -> bool {
        matches!(self.memory, Memory::Mapped(_) | Memory::Segments(_))
    }
}

/// An aligned copy of the array's live rows.
fn copy(st: &ArrayState, reader: &DataReader, shape: &[u64], len: u64) -> Result<Memory> {
    let mut buf = PageBuf::zeroed(len as usize).map_err(|e| {
        Error::new(
            e.kind,
            format!(
                "{e} for a copy of array {:?} without its dropped rows",
                st.meta.name
            ),
        )
    })?;
    let row = st.row_bytes();
    let rows = st.logical_rows().max(if shape.is_empty() { 1 } else { 0 });
    let out = buf.as_mut_slice();
    for_chunks(rows, row, |first, chunk| {
        reader.read_rows(st, first, chunk)?;
        let at = (first * row) as usize;
        out[at..at + chunk.len()].copy_from_slice(chunk);
        Ok(())
    })?;
    Ok(Memory::Copied(buf))
}
