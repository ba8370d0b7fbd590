//! Reading and writing an array's bytes: physical rows in one file or across numpack 0.7.0's
//! segments, with logical rows (dropped rows skipped) mapped through the bitmap. Reads go
//! through the snapshot's own descriptors, so they always see the snapshot's commit.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{for_chunks, Src};
use crate::store::fsutil;
use crate::store::snapshot::{ArrayState, DataFiles};

/// Reads one array's bytes through the snapshot's descriptors. Borrows the array's state and
/// holds its single data file for the call (opened now if this is the array's first use; a
/// descriptor the store closes meanwhile stays open until the call ends).
pub struct DataReader<'a> {
    state: &'a ArrayState,
    file: Option<Arc<File>>,
}

pub fn open_reader(state: &ArrayState) -> Result<DataReader<'_>> {
    let file = match &state.data {
        DataFiles::Single { file, .. } => Some(file.get(&state.meta)?),
        DataFiles::Segmented { .. } => None,
    };
    Ok(DataReader { state, file })
}

impl DataReader<'_> {
    /// The single data file, when the array has one.
    pub fn single(&self) -> Option<&File> {
        self.file.as_deref()
    }

    pub fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> Result<()> {
        let mut part = |file: &File, path: &Path, start: u64, len: u64| -> Result<bool> {
            let end = start + len;
            if offset >= end {
                return Ok(true);
            }
            let n = ((end - offset) as usize).min(buf.len());
            let (now, rest) = std::mem::take(&mut buf).split_at_mut(n);
            fsutil::read_exact_at(file, now, offset - start).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::corrupt(format!(
                        "array {:?}: {} was truncated behind the store's back: {n} bytes expected at offset {}",
                        self.state.meta.name,
                        path.display(),
                        offset - start
                    ))
                } else {
                    Error::io(
                        format!("array {:?}: cannot read {}", self.state.meta.name, path.display()),
                        &e,
                    )
                }
            })?;
            buf = rest;
            offset += n as u64;
            Ok(!buf.is_empty())
        };
        match &self.state.data {
            // `open_reader` gave a single file its descriptor.
            DataFiles::Single { path, .. } => {
                if let Some(file) = &self.file {
                    part(file, path, 0, self.state.meta.size_bytes)?;
                }
            }
            DataFiles::Segmented { segments } => {
                let mut start = 0;
                for s in segments {
                    if !part(&s.file, &s.path, start, s.segment.bytes)? {
                        break;
                    }
                    start += s.segment.bytes;
                }
            }
        }
        if buf.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(format!(
                "array {:?}: read past the end of its data",
                self.state.meta.name
            )))
        }
    }

    /// Logical rows `first..first + out.len() / row_bytes`, C order, dropped rows skipped.
    pub fn read_rows(&self, state: &ArrayState, first: u64, out: &mut [u8]) -> Result<()> {
        let row = state.row_bytes();
        if out.is_empty() {
            return Ok(());
        }
        let Some(bitmap) = &state.bitmap else {
            return self.read_at(out, first * row);
        };
        let count = out.len() as u64 / row;
        let (mut logical, mut pos) = (0u64, 0usize);
        for (start, len) in bitmap.alive_runs() {
            let (run_lo, run_hi) = (logical, logical + len);
            logical = run_hi;
            let lo = first.max(run_lo);
            let hi = (first + count).min(run_hi);
            if lo < hi {
                let bytes = ((hi - lo) * row) as usize;
                self.read_at(&mut out[pos..pos + bytes], (start + lo - run_lo) * row)?;
                pos += bytes;
            }
            if run_hi >= first + count {
                break;
            }
        }
        Ok(())
    }
}

/// Writes the rows of `src` in C order at byte `offset` of `file`, in bounded chunks when the
/// buffer is strided so memory use does not grow with the array.
pub fn write_src(file: &File, src: &Src, offset: u64) -> std::io::Result<()> {
    if let Some(bytes) = src.as_c_bytes() {
        return fsutil::write_all_at(file, bytes, offset);
    }
    let row = src.layout.row_bytes();
    for_chunks(src.layout.rows(), row, |first, chunk| {
        src.gather_rows(first, chunk);
        fsutil::write_all_at(file, chunk, offset + first * row)
    })
}
