//! Hyperslab geometry: a block (an offset and a count per dimension) checked against an array's
//! logical shape, and walked as the runs of bytes it covers in the array's data, in the C order
//! of the block, so block reads and writes move each run with one copy or one pread/pwrite.

use super::snapshot::ArrayState;
use crate::error::{Error, Result};
use crate::format::MAX_DIMS;
use crate::layout::{Dst, Src};

/// Where a block read puts the elements: C-order bytes of the block (the fast path: runs go
/// straight into them), or a strided buffer (runs go through a chunk, then scatter).
pub(crate) enum BlockDst<'a, 'b> {
    C(&'a mut [u8]),
    Strided(&'a mut Dst<'b>),
}

/// Where a block write takes the elements from, as `BlockDst`.
pub(crate) enum BlockSrc<'a, 'b> {
    C(&'a [u8]),
    Strided(&'a Src<'b>),
}

/// A non-empty block of one array, in physical byte terms.
pub(crate) struct Block {
    /// The block's rows (axis 0) as runs of physical rows.
    rows: Runs,
    /// Bytes of one array row.
    array_row_bytes: u64,
    /// Rows of the block (1 for a 0-d array) and bytes of one block row, C order of `count`.
    block_rows: u64,
    block_row_bytes: u64,
    /// None when the block takes whole array rows; otherwise where its runs lie in each row.
    within: Option<Within>,
}

/// Runs of physical rows: (first physical row, rows). One run, kept without an allocation
/// (the common case, row and block calls being as cheap as a pread), unless dropped rows fall
/// inside the block.
enum Runs {
    One([(u64, u64); 1]),
    Many(Vec<(u64, u64)>),
}

impl Runs {
    fn as_slice(&self) -> &[(u64, u64)] {
        match self {
            Runs::One(r) => r,
            Runs::Many(v) => v,
        }
    }
}

/// The runs of a block inside one array row: the first at byte `start` of the row, then the
/// others by an odometer over `counts` with byte `strides` (dimensions 1.. of the block that
/// cannot be folded into a run), each `run` bytes long.
struct Within {
    start: u64,
    counts: Vec<u64>,
    strides: Vec<u64>,
    run: u64,
}

/// Checks a block against `shape`, naming the dimension at fault. The rank of the block is
/// `count.len()`; `offset` must have as many entries.
pub(crate) fn check_bounds(name: &str, shape: &[u64], offset: &[u64], count: &[u64]) -> Result<()> {
    if offset.len() != count.len() {
        return Err(Error::invalid(format!(
            "block of array {name:?}: the offset has {} entries, the count {}",
            offset.len(),
            count.len()
        )));
    }
    if count.len() != shape.len() {
        return Err(Error::invalid(format!(
            "array {name:?} has rank {} (shape {shape:?}), the block has rank {}",
            shape.len(),
            count.len()
        )));
    }
    for (d, ((&o, &c), &n)) in offset.iter().zip(count).zip(shape).enumerate() {
        let bad = match o.checked_add(c) {
            None => format!("dimension {d}: offset {o} + count {c} overflows"),
            Some(end) if end > n => format!("dimension {d}: offset {o} + count {c} exceeds {n}"),
            Some(_) => continue,
        };
        return Err(Error::invalid(format!(
            "block of array {name:?} out of range: {bad} (the array's shape is {shape:?})"
        )));
    }
    Ok(())
}

impl Block {
    /// The block of `st` at `offset` with extent `count` (both in logical rows on axis 0), or
    /// None when it is empty (a zero count anywhere). Every bound is checked first, so an empty
    /// block with a bad offset is still refused.
    pub(crate) fn new(st: &ArrayState, offset: &[u64], count: &[u64]) -> Result<Option<Block>> {
        // The logical shape, on the stack: this runs once per block call.
        let mut buf = [0u64; MAX_DIMS];
        let shape = &mut buf[..st.meta.shape.len()];
        shape.copy_from_slice(&st.meta.shape);
        if let Some(rows) = shape.first_mut() {
            *rows = st.logical_rows();
        }
        let shape = &*shape;
        check_bounds(&st.meta.name, shape, offset, count)?;
        if count.contains(&0) {
            return Ok(None);
        }
        let item = st.meta.dtype.size() as u64;
        let row_bytes = st.row_bytes();
        // Fold trailing dimensions the block takes whole: together with the first partial one
        // they make one contiguous run; dimension 0 reached means whole rows.
        let mut k = shape.len();
        let mut run = item;
        while k > 1 && count[k - 1] == shape[k - 1] {
            run *= shape[k - 1];
            k -= 1;
        }
        let within = (k > 1).then(|| {
            let d = k - 1;
            // Byte stride of each dimension within a row.
            let stride = |d: usize| shape[d + 1..].iter().product::<u64>() * item;
            Within {
                start: (1..=d).map(|e| offset[e] * stride(e)).sum(),
                counts: count[1..d].to_vec(),
                strides: (1..d).map(stride).collect(),
                run: count[d] * run,
            }
        });
        let (first, rows) = match shape.first() {
            Some(_) => (offset[0], count[0]),
            None => (0, 1),
        };
        Ok(Some(Block {
            rows: physical_runs(st, first, rows),
            array_row_bytes: row_bytes,
            block_rows: rows,
            block_row_bytes: count.iter().skip(1).product::<u64>() * item,
            within,
        }))
    }

    pub(crate) fn rows(&self) -> u64 {
        self.block_rows
    }

    pub(crate) fn row_bytes(&self) -> u64 {
        self.block_row_bytes
    }

    /// Whether the block takes whole array rows, so each run of physical rows is one range of
    /// bytes (the fast path).
    pub(crate) fn whole_rows(&self) -> bool {
        self.within.is_none()
    }

    /// Calls `f(byte offset in the array's data, position, length)` for each run of block rows
    /// `first..first + n`, in the block's C order; positions count from the start of row `first`.
    pub(crate) fn for_runs(
        &self,
        first: u64,
        n: u64,
        mut f: impl FnMut(u64, usize, usize) -> Result<()>,
    ) -> Result<()> {
        let (end, mut pos, mut seen) = (first + n, 0usize, 0u64);
        for &(phys, len) in self.rows.as_slice() {
            let (lo, hi) = (first.max(seen), end.min(seen + len));
            if lo < hi {
                let p = phys + (lo - seen);
                match &self.within {
                    None => {
                        let bytes = ((hi - lo) * self.array_row_bytes) as usize;
                        f(p * self.array_row_bytes, pos, bytes)?;
                        pos += bytes;
                    }
                    Some(w) => {
                        for row in p..p + (hi - lo) {
                            pos = w.for_runs(row * self.array_row_bytes + w.start, pos, &mut f)?;
                        }
                    }
                }
            }
            seen += len;
            if seen >= end {
                break;
            }
        }
        Ok(())
    }
}

impl Within {
    /// The runs of one row starting at byte `base`; returns the position after them.
    fn for_runs(
        &self,
        base: u64,
        mut pos: usize,
        f: &mut impl FnMut(u64, usize, usize) -> Result<()>,
    ) -> Result<usize> {
        let run = self.run as usize;
        let mut idx = vec![0u64; self.counts.len()];
        loop {
            let off: u64 = idx.iter().zip(&self.strides).map(|(i, s)| i * s).sum();
            f(base + off, pos, run)?;
            pos += run;
            let mut d = idx.len();
            loop {
                if d == 0 {
                    return Ok(pos);
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < self.counts[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }
}

/// Logical rows `first..first + n` (all live) as runs of physical rows, dropped rows skipped.
/// Costs the rows the block spans, not the array's length.
fn physical_runs(st: &ArrayState, first: u64, n: u64) -> Runs {
    let Some(b) = st.bitmap.as_deref().filter(|b| b.has_deleted()) else {
        return Runs::One([(first, n)]);
    };
    let mut runs: Vec<(u64, u64)> = Vec::new();
    let mut p = b
        .physical(first)
        .expect("the block's rows were checked to be live");
    let mut left = n;
    while left > 0 {
        if b.is_alive(p) {
            match runs.last_mut() {
                Some((s, len)) if *s + *len == p => *len += 1,
                _ => runs.push((p, 1)),
            }
            left -= 1;
        }
        p += 1;
    }
    Runs::Many(runs)
}
