//! Reading and writing an array's bytes: physical rows in one file or across numpack 0.7.0's
//! segments, with logical rows (dropped rows skipped) mapped through the bitmap. Reads go
//! through the snapshot's own descriptors, so they always see the snapshot's commit.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::{for_chunks_of, Src};
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

/// Writes the rows of `src` in C order at byte `offset` of `file`. A strided buffer is written
/// in one pass through a mapping of the file when its copy streams whole lines
/// (`write_src_mapped`), else through a reused staging chunk small enough to stay in L2.
pub fn write_src(file: &File, src: &Src, offset: u64) -> std::io::Result<()> {
    if let Some(bytes) = src.as_c_bytes() {
        return fsutil::write_all_at(file, bytes, offset);
    }
    let tiles = src.tiles_to_c();
    if tiles
        && offset == 0
        && src.layout.byte_len() >= MAP_SAVE_BYTES
        && write_src_mapped(file, src)?
    {
        return Ok(());
    }
    let chunk = if tiles { CHUNK_BYTES } else { L2_CHUNK_BYTES };
    let row = src.layout.row_bytes();
    for_chunks_of(chunk, src.layout.rows(), row, |first, chunk| {
        src.gather_rows(first, chunk);
        fsutil::write_all_at(file, chunk, offset + first * row)
    })
}

/// Tiled strided saves of at least this many bytes into a file of their own transpose straight
/// into the page cache through a shared mapping with non-temporal stores: one pass over the
/// bytes, where a transpose into a staging chunk then a `pwrite` out of it moves every byte
/// twice (4096x4096 float64 from Fortran order, CPU ms, C order 28-33: over a spare 59 -> 31,
/// into a new file 74 -> 49). Below it the mapping's set-up costs more than the copy it saves.
const MAP_SAVE_BYTES: u64 = 1 << 20;

/// Staging chunk of the copies that do not take whole tiles (the ten columns of a tall array):
/// it stays in L2 between the transpose and the `pwrite`, where the 8 MiB chunk went to memory
/// and back (1M x 10 float32 from Fortran order: 15-17 -> 11-12 ms CPU, C order 8-9). Through a
/// mapping those copies were slower still (19 ms): their plain stores read every page-cache line
/// first, and each page takes a write fault.
const L2_CHUNK_BYTES: u64 = 1 << 20;

/// The staging chunk of tiled copies that cannot map: smaller chunks cover too few rows of a
/// 4096-column buffer, reading each column in pieces of a few cache lines, one page apiece.
const CHUNK_BYTES: u64 = 8 << 20;

/// Writes `src` in C order over the start of `file` through a shared mapping. The blocks are
/// allocated first (`fallocate`): a store through a mapping into a hole faults (SIGBUS) on a
/// full disk, where `fallocate` returns ENOSPC. False, with nothing written, when the
/// filesystem cannot allocate ahead (the caller then writes with `pwrite`).
fn write_src_mapped(file: &File, src: &Src) -> std::io::Result<bool> {
    let len = src.layout.byte_len();
    let Ok(size) = usize::try_from(len) else {
        return Ok(false);
    };
    match fsutil::allocate(file, len) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(false),
        Err(e) => return Err(e),
    }
    let map = memmap2::MmapOptions::new().len(size).map_raw(file)?;
    // Faulting the pages in writable with one call costs less than a write fault per page
    // (4096x4096 float64 over a spare: 31 against 33 ms CPU). Only advice: a kernel without
    // MADV_POPULATE_WRITE (before 5.14) fails it, and the stores fault the pages in themselves.
    // SAFETY: madvise on the mapping we just made, over its length; it changes no content.
    let _ = unsafe { libc::madvise(map.as_mut_ptr().cast(), size, libc::MADV_POPULATE_WRITE) };
    // SAFETY: the mapping is `size` bytes, writable and shared, of a file the store's writer
    // lock keeps to us (a staged file or an exclusive spare), its blocks allocated above, so
    // stores cannot fault for want of space; a fresh mapping, disjoint from the caller's buffer.
    unsafe { src.gather_rows_to(0, map.as_mut_ptr(), size, true) };
    Ok(true)
}
