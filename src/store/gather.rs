//! Gathering rows by index out of a mapped data file: the inner loop of `get_rows`.
//!
//! Random rows are memory-bound: each row is a cache (and TLB) miss, and the loop is as fast as
//! it keeps many of them in flight. A loop calling memmove per row (call, length dispatch, ~30
//! instructions) kept fewer in flight than the raw floor's inlined copies (10,000 rows of 40
//! bytes: 1.7x the floor). Here the common row sizes get a loop of their own whose copy is a
//! few register moves, and arrays without dropped rows skip the bitmap.

use super::checks::{physical_row, unwrap_index};
use super::snapshot::ArrayState;

/// Copies the rows `indices` (logical, negative from the end, all already accepted by
/// `check_rows`) of `st`, whose data `src` points to, into `out`, one after another.
///
/// # Safety
/// `src` must be valid for reads of the array's `size_bytes`, and `out` hold `indices.len()`
/// rows of `st.row_bytes()` bytes (which must not be 0). `out` may alias `src` (a caller's
/// buffer can be a view of the same file): each row is read whole before it is written.
pub(crate) unsafe fn gather(src: *const u8, st: &ArrayState, indices: &[i64], out: &mut [u8]) {
    let row = st.row_bytes() as usize;
    let n = st.logical_rows();
    let dropped = st.bitmap.as_ref().is_some_and(|b| b.has_deleted());
    if dropped {
        for (i, &idx) in indices.iter().enumerate() {
            let p = physical_row(st, n, idx) as usize;
            // SAFETY: p < physical rows, so the row lies within size_bytes; out holds row i.
            unsafe { std::ptr::copy(src.add(p * row), out.as_mut_ptr().add(i * row), row) };
        }
        return;
    }
    // SAFETY (every arm): no dropped rows, so each index names physical row
    // `unwrap_index(n, idx) < n`; the caller's contract covers the rest.
    unsafe {
        match row {
            4 => fixed::<4>(src, n, indices, out),
            8 => fixed::<8>(src, n, indices, out),
            12 => fixed::<12>(src, n, indices, out),
            16 => fixed::<16>(src, n, indices, out),
            20 => fixed::<20>(src, n, indices, out),
            24 => fixed::<24>(src, n, indices, out),
            32 => fixed::<32>(src, n, indices, out),
            40 => fixed::<40>(src, n, indices, out),
            48 => fixed::<48>(src, n, indices, out),
            64 => fixed::<64>(src, n, indices, out),
            80 => fixed::<80>(src, n, indices, out),
            96 => fixed::<96>(src, n, indices, out),
            128 => fixed::<128>(src, n, indices, out),
            _ => {
                for (i, &idx) in indices.iter().enumerate() {
                    let p = unwrap_index(n, idx) as usize;
                    std::ptr::copy(src.add(p * row), out.as_mut_ptr().add(i * row), row);
                }
            }
        }
    }
}

/// `gather` for rows of `R` bytes and no dropped rows.
///
/// # Safety
/// As `gather`, with every index in range.
#[inline(never)]
unsafe fn fixed<const R: usize>(src: *const u8, n: u64, indices: &[i64], out: &mut [u8]) {
    for (&idx, dst) in indices.iter().zip(out.chunks_exact_mut(R)) {
        let p = unwrap_index(n, idx) as usize;
        // SAFETY: the row lies within the mapping (caller); read whole, then written.
        unsafe {
            let v = std::ptr::read_unaligned(src.add(p * R).cast::<[u8; R]>());
            std::ptr::write_unaligned(dst.as_mut_ptr().cast::<[u8; R]>(), v);
        }
    }
}
