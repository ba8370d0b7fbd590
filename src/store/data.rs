//! Reading and writing an array's bytes: physical rows in one file or across numpack 0.7.0's
//! segments, with logical rows (dropped rows skipped) mapped through the bitmap. Reads go
//! through the snapshot's own descriptors, so they always see the snapshot's commit.

use std::fs::File;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{for_chunks, Src};
use crate::store::fsutil;
use crate::store::snapshot::{ArrayState, DataFiles};

pub struct DataReader {
    /// (file, first byte of the array it holds, bytes it holds)
    parts: Vec<(Arc<File>, u64, u64)>,
    /// For messages: the array and its file(s).
    name: String,
    paths: Vec<std::path::PathBuf>,
}

pub fn open_reader(state: &ArrayState) -> DataReader {
    let paths = match &state.data {
        DataFiles::Single { path, .. } => vec![path.clone()],
        DataFiles::Segmented { segments, .. } => segments.iter().map(|s| s.path.clone()).collect(),
    };
    let parts = match &state.data {
        DataFiles::Single { file, .. } => vec![(file.clone(), 0, state.meta.size_bytes)],
        DataFiles::Segmented { segments, .. } => {
            let mut start = 0;
            segments
                .iter()
                .map(|s| {
                    let part = (s.file.clone(), start, s.segment.bytes);
                    start += s.segment.bytes;
                    part
                })
                .collect()
        }
    };
    DataReader {
        parts,
        name: state.meta.name.clone(),
        paths,
    }
}

impl DataReader {
    /// The single data file, when the array has one.
    pub fn single(&self) -> Option<&File> {
        match self.parts.as_slice() {
            [(f, 0, _)] => Some(f),
            _ => None,
        }
    }

    pub fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> Result<()> {
        for ((file, start, len), path) in self.parts.iter().zip(&self.paths) {
            if buf.is_empty() {
                break;
            }
            let end = start + len;
            if offset >= end {
                continue;
            }
            let n = ((end - offset) as usize).min(buf.len());
            let (now, rest) = buf.split_at_mut(n);
            fsutil::read_exact_at(file, now, offset - start).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::corrupt(format!(
                        "array {:?}: {} was truncated behind the store's back: {n} bytes expected at offset {}",
                        self.name,
                        path.display(),
                        offset - start
                    ))
                } else {
                    Error::io(format!("array {:?}: cannot read {}", self.name, path.display()), &e)
                }
            })?;
            buf = rest;
            offset += n as u64;
        }
        if buf.is_empty() {
            Ok(())
        } else {
            Err(Error::corrupt(format!(
                "array {:?}: read past the end of its data",
                self.name
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
