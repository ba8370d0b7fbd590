//! User buffers described the NumPy way: shape plus signed byte strides. The file is always C
//! order; these helpers move rows between a C-order byte stream and a buffer of any layout, so a
//! Fortran or Julia caller can hand over its column-major array as it is.

use crate::error::{Error, Result};
use crate::format::metadata::shape_bytes;
use crate::format::MAX_DIMS;

mod kernel;

/// Shape and optional byte strides of a user buffer (None = C-contiguous). Built only by
/// `Layout::new`, so every layout the core sees has one stride per dimension and a byte span
/// that fits the address space.
#[derive(Clone, Debug)]
pub struct Layout {
    pub(crate) shape: Vec<u64>,
    pub(crate) strides: Vec<i64>,
    pub(crate) itemsize: usize,
}

impl Layout {
    /// Validates rank, sizes and strides; computes C-contiguous strides when none are given.
    pub fn new(shape: &[u64], strides: Option<&[i64]>, itemsize: usize) -> Result<Layout> {
        if shape.len() > MAX_DIMS {
            return Err(Error::invalid(format!(
                "rank {} exceeds NPK_MAX_DIMS ({MAX_DIMS})",
                shape.len()
            )));
        }
        if shape_bytes(shape, itemsize as u64).is_none() {
            return Err(Error::invalid(format!(
                "shape {shape:?} is too large: its byte size overflows the address space"
            )));
        }
        let strides = match strides {
            Some(s) => {
                if s.len() != shape.len() {
                    return Err(Error::invalid("strides must have one entry per dimension"));
                }
                s.to_vec()
            }
            None => c_strides(shape, itemsize),
        };
        let layout = Layout {
            shape: shape.to_vec(),
            strides,
            itemsize,
        };
        layout.extent()?;
        Ok(layout)
    }

    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Byte strides, one per dimension (computed C-order ones when none were given).
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }

    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    pub fn element_count(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn byte_len(&self) -> u64 {
        self.element_count() * self.itemsize as u64
    }

    /// Rows in the first dimension; a 0-d array is one row of one element.
    pub fn rows(&self) -> u64 {
        self.shape.first().copied().unwrap_or(1)
    }

    pub fn row_bytes(&self) -> u64 {
        self.shape.iter().skip(1).product::<u64>() * self.itemsize as u64
    }

    /// The shape of rows `first..` making up `bytes` bytes in C order; None when there is
    /// nothing to copy. Panics when the rows are not within the layout or `bytes` is not whole
    /// rows, so the copies built on it never leave the buffer.
    fn row_block(&self, first: u64, bytes: usize) -> Option<Vec<u64>> {
        let row = self.row_bytes();
        if bytes == 0 || row == 0 {
            return None;
        }
        assert!(
            bytes as u64 % row == 0,
            "{bytes} bytes are not whole rows of {row}"
        );
        let n = bytes as u64 / row;
        assert!(
            first.checked_add(n).is_some_and(|end| end <= self.rows()),
            "rows {first}..+{n} outside {} rows",
            self.rows()
        );
        let mut shape = self.shape.clone();
        if let Some(r) = shape.first_mut() {
            *r = n;
        }
        Some(shape)
    }

    /// Byte offset of row `first` in a buffer whose element 0 is at `origin`.
    fn row_offset(&self, origin: usize, first: u64) -> isize {
        let stride0 = self.strides.first().copied().unwrap_or(0);
        origin as isize + first as isize * stride0 as isize
    }

    pub fn is_c_contiguous(&self) -> bool {
        // Strides of length-1 dimensions never matter, as in NumPy's flags.c_contiguous.
        let c = c_strides(&self.shape, self.itemsize);
        self.element_count() == 0
            || self
                .shape
                .iter()
                .zip(&self.strides)
                .zip(c)
                .all(|((&n, &s), c)| n <= 1 || s == c)
    }

    /// Byte range touched, relative to element 0: (lowest offset, one past the highest byte).
    /// Errors when the offsets overflow, so the FFI can build a slice without wrapping.
    pub fn extent(&self) -> Result<(i64, i64)> {
        if self.element_count() == 0 {
            return Ok((0, 0));
        }
        let overflow = || {
            Error::invalid(format!(
                "strides {:?} overflow the address space",
                self.strides
            ))
        };
        let (mut lo, mut hi) = (0i64, 0i64);
        for (&n, &s) in self.shape.iter().zip(&self.strides) {
            let span = i64::try_from(n - 1)
                .ok()
                .and_then(|m| m.checked_mul(s))
                .ok_or_else(overflow)?;
            if span < 0 {
                lo = lo.checked_add(span).ok_or_else(overflow)?;
            } else {
                hi = hi.checked_add(span).ok_or_else(overflow)?;
            }
        }
        let hi = hi.checked_add(self.itemsize as i64).ok_or_else(overflow)?;
        // The span must fit in an isize so a slice can cover it (and `offset(lo)` is defined).
        if hi
            .checked_sub(lo)
            .is_none_or(|span| span > isize::MAX as i64)
        {
            return Err(overflow());
        }
        Ok((lo, hi))
    }
}

pub fn c_strides(shape: &[u64], itemsize: usize) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut acc = itemsize as i64;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1) as i64);
    }
    strides
}

/// A borrowed user buffer to read from. `origin` is the index of element 0 in `data`, which may
/// be past the start when strides are negative. The constructors check that `data` holds every
/// element the layout reaches, so the copies never index out of it.
pub struct Src<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) origin: usize,
    pub(crate) layout: Layout,
}

/// A borrowed user buffer to write into, checked as `Src`.
pub struct Dst<'a> {
    pub(crate) data: &'a mut [u8],
    pub(crate) origin: usize,
    pub(crate) layout: Layout,
}

impl<'a> Src<'a> {
    /// A buffer of any layout, element 0 at byte `origin` of `data` (past the start when
    /// strides are negative). InvalidArgument when `data` does not hold every element.
    pub fn new(data: &'a [u8], origin: usize, layout: Layout) -> Result<Src<'a>> {
        check_len(data.len(), &layout, origin)?;
        Ok(Src {
            data,
            origin,
            layout,
        })
    }

    /// A C-contiguous buffer.
    pub fn contiguous(data: &'a [u8], shape: &[u64], itemsize: usize) -> Result<Src<'a>> {
        let layout = Layout::new(shape, None, itemsize)?;
        check_len(data.len(), &layout, 0)?;
        Ok(Src {
            data,
            origin: 0,
            layout,
        })
    }

    /// The whole buffer as C-order bytes when it already is one, so callers can skip a copy.
    pub fn as_c_bytes(&self) -> Option<&'a [u8]> {
        self.layout.is_c_contiguous().then(|| {
            let len = self.layout.byte_len() as usize;
            &self.data[self.origin..self.origin + len]
        })
    }

    /// Whether a copy of the whole buffer into C order transposes whole register tiles, whose
    /// non-temporal stores write each destination line whole (`kernel::tiles`).
    pub(crate) fn tiles_to_c(&self) -> bool {
        let l = &self.layout;
        kernel::tiles(
            &l.strides,
            &c_strides(&l.shape, l.itemsize),
            &l.shape,
            l.itemsize,
        )
    }

    /// Copies rows `first..first + out.len() / row_bytes` in C order into `out`.
    /// Panics when the rows lie outside the layout or `out` is not whole rows.
    pub(crate) fn gather_rows(&self, first: u64, out: &mut [u8]) {
        // SAFETY: `out` is a live, exclusively borrowed slice, distinct from `data`.
        unsafe { self.gather_rows_to(first, out.as_mut_ptr(), out.len(), false) }
    }

    /// As `gather_rows`, into `len` bytes at `out`: memory no slice may cover, such as a shared
    /// file mapping. `stream` writes with non-temporal stores where the layout allows.
    ///
    /// # Safety
    /// `out` is writable for `len` bytes and does not overlap the buffer.
    pub(crate) unsafe fn gather_rows_to(&self, first: u64, out: *mut u8, len: usize, stream: bool) {
        let Some(rows) = self.layout.row_block(first, len) else {
            return;
        };
        let at = self.layout.row_offset(self.origin, first);
        let c = c_strides(&rows, self.layout.itemsize);
        // SAFETY: `new` checked that `data` holds every element of the layout with element 0
        // at `origin`; `row_block` checked the rows lie within it, and that `len` bytes at `out`
        // hold them in C order; `out` is writable and disjoint from `data` (caller).
        unsafe {
            kernel::copy(
                self.data.as_ptr().wrapping_offset(at),
                &self.layout.strides,
                out,
                &c,
                &rows,
                self.layout.itemsize,
                stream,
            )
        }
    }
}

impl<'a> Dst<'a> {
    /// As `Src::new`, for a buffer to write into.
    pub fn new(data: &'a mut [u8], origin: usize, layout: Layout) -> Result<Dst<'a>> {
        check_len(data.len(), &layout, origin)?;
        Ok(Dst {
            data,
            origin,
            layout,
        })
    }

    pub fn contiguous(data: &'a mut [u8], shape: &[u64], itemsize: usize) -> Result<Dst<'a>> {
        let layout = Layout::new(shape, None, itemsize)?;
        check_len(data.len(), &layout, 0)?;
        Ok(Dst {
            data,
            origin: 0,
            layout,
        })
    }

    pub fn as_c_bytes_mut(&mut self) -> Option<&mut [u8]> {
        if self.layout.is_c_contiguous() {
            let len = self.layout.byte_len() as usize;
            Some(&mut self.data[self.origin..self.origin + len])
        } else {
            None
        }
    }

    /// Copies C-order bytes of rows `first..` from `input` into the buffer.
    /// Panics when the rows lie outside the layout or `input` is not whole rows.
    pub(crate) fn scatter_rows(&mut self, first: u64, input: &[u8]) {
        // SAFETY: `input` is a live slice, and `data` is borrowed exclusively, so they cannot
        // overlap.
        unsafe { self.scatter_rows_from(first, input.as_ptr(), input.len()) }
    }

    /// As `scatter_rows`, from `len` bytes at `input`: memory no slice may cover, such as a
    /// shared file mapping another process may write to.
    ///
    /// # Safety
    /// `input` is readable for `len` bytes and does not overlap the buffer (`overlaps`).
    pub(crate) unsafe fn scatter_rows_from(&mut self, first: u64, input: *const u8, len: usize) {
        let Some(rows) = self.layout.row_block(first, len) else {
            return;
        };
        let at = self.layout.row_offset(self.origin, first);
        let c = c_strides(&rows, self.layout.itemsize);
        // SAFETY: `new` checked that `data` holds every element of the layout with element 0
        // at `origin`; `row_block` checked the rows lie within it and that `len` bytes are
        // exactly those rows in C order, readable at `input` and disjoint from `data` (caller).
        unsafe {
            kernel::copy(
                input,
                &c,
                self.data.as_mut_ptr().wrapping_offset(at),
                &self.layout.strides,
                &rows,
                self.layout.itemsize,
                self.layout.byte_len() >= STREAM_BYTES,
            )
        }
    }

    /// Whether the buffer shares a byte with the `len` bytes at `p`.
    pub(crate) fn overlaps(&self, p: *const u8, len: usize) -> bool {
        let (lo, hi) = (
            self.data.as_ptr() as usize,
            self.data.as_ptr() as usize + self.data.len(),
        );
        let (plo, phi) = (p as usize, p as usize + len);
        plo < hi && lo < phi
    }
}

/// Checks that a slice of `len` bytes, with element 0 at `origin`, holds every element.
pub fn check_len(len: usize, layout: &Layout, origin: usize) -> Result<()> {
    let (lo, hi) = layout.extent()?;
    let fits = (origin as i64).checked_add(lo).is_some_and(|l| l >= 0)
        && (origin as i64)
            .checked_add(hi)
            .is_some_and(|h| h as u64 <= len as u64);
    if fits {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "buffer of {len} bytes does not hold shape {:?} with strides {:?}",
            layout.shape, layout.strides
        )))
    }
}

/// Destination buffers from this size on are filled with non-temporal stores where a layout
/// conversion allows it: far larger than the caches, reading each line before overwriting it
/// would only add memory traffic.
const STREAM_BYTES: u64 = 8 << 20;

/// The most bytes a chunked copy holds at a time: large enough for full-speed I/O, small enough
/// that memory use does not grow with the array.
const CHUNK_BYTES: u64 = 8 << 20;

/// Calls `f(first_row, chunk)` over `rows` rows of `row_bytes` bytes each, in order, with one
/// reused buffer of at most `CHUNK_BYTES` (at least one row). Nothing is called when there are
/// no bytes to copy.
pub fn for_chunks<E>(
    rows: u64,
    row_bytes: u64,
    f: impl FnMut(u64, &mut [u8]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    for_chunks_of(CHUNK_BYTES, rows, row_bytes, f)
}

/// As `for_chunks`, with chunks of at most `bytes` (at least one row).
pub fn for_chunks_of<E>(
    bytes: u64,
    rows: u64,
    row_bytes: u64,
    mut f: impl FnMut(u64, &mut [u8]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if rows == 0 || row_bytes == 0 {
        return Ok(());
    }
    let per = (bytes / row_bytes).max(1).min(rows);
    let mut chunk = vec![0u8; (per * row_bytes) as usize];
    let mut first = 0;
    while first < rows {
        let n = per.min(rows - first);
        f(first, &mut chunk[..(n * row_bytes) as usize])?;
        first += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fortran_strides(shape: &[u64], item: usize) -> Vec<i64> {
        let mut s = Vec::new();
        let mut acc = item as i64;
        for &n in shape {
            s.push(acc);
            acc *= n as i64;
        }
        s
    }

    #[test]
    fn gathers_fortran_order_as_c_order() {
        // A 2x3 array of u8 stored column-major: element (i,j) = 10*i + j.
        let col_major = [0u8, 10, 1, 11, 2, 12];
        let layout = Layout::new(&[2, 3], Some(&fortran_strides(&[2, 3], 1)), 1).unwrap();
        let src = Src {
            data: &col_major,
            origin: 0,
            layout,
        };
        let mut out = [0u8; 6];
        src.gather_rows(0, &mut out);
        assert_eq!(out, [0, 1, 2, 10, 11, 12]);
        let mut second = [0u8; 3];
        src.gather_rows(1, &mut second);
        assert_eq!(second, [10, 11, 12]);
    }

    #[test]
    fn negative_strides_reverse_rows() {
        let data = [1u8, 2, 3, 4, 5, 6];
        // Element 0 is the last row: rows reversed.
        let layout = Layout::new(&[3, 2], Some(&[-2, 1]), 1).unwrap();
        check_len(data.len(), &layout, 4).unwrap();
        let src = Src {
            data: &data,
            origin: 4,
            layout,
        };
        let mut out = [0u8; 6];
        src.gather_rows(0, &mut out);
        assert_eq!(out, [5, 6, 3, 4, 1, 2]);
    }

    #[test]
    fn scatter_into_strided_3d_round_trips() {
        let shape = [3u64, 4, 5];
        let item = 2;
        let n = 60 * item;
        let c: Vec<u8> = (0..n as u32).map(|v| v as u8).collect();
        let mut buf = vec![0u8; n];
        let layout = Layout::new(&shape, Some(&fortran_strides(&shape, item)), item).unwrap();
        let mut dst = Dst {
            data: &mut buf,
            origin: 0,
            layout: layout.clone(),
        };
        dst.scatter_rows(0, &c);
        let src = Src {
            data: &buf,
            origin: 0,
            layout,
        };
        let mut back = vec![0u8; n];
        src.gather_rows(0, &mut back);
        assert_eq!(back, c);
        assert_ne!(buf, c, "column-major bytes must differ from C order");
    }

    #[test]
    fn rejects_buffers_too_small_and_overflowing_strides() {
        let layout = Layout::new(&[4, 4], None, 8).unwrap();
        assert!(check_len(127, &layout, 0).is_err());
        assert!(check_len(128, &layout, 0).is_ok());
        assert!(Layout::new(&[3, 3], Some(&[i64::MAX, 8]), 8).is_err());
        assert!(Layout::new(&[u64::MAX, 2], None, 8).is_err());
        // A zero dimension makes no buffer, but the rest must still fit, wherever the zero is.
        assert!(Layout::new(&[0, 1 << 62, 1 << 62], None, 1).is_err());
        assert!(Layout::new(&[1 << 40, 1 << 30, 0], None, 1).is_err());
        assert!(Layout::new(&[0, 1 << 62], None, 2).is_err());
        assert_eq!(Layout::new(&[0, 1 << 62], None, 1).unwrap().byte_len(), 0);
        assert!(Layout::new(&[2], Some(&[8, 8]), 8).is_err());
        // Each stride fits, but the span from lowest to highest byte does not.
        assert!(Layout::new(&[3, 3], Some(&[-(1 << 62), 4]), 4).is_err());
        assert!(Layout::new(&[2, 3], Some(&[i64::MIN, 4]), 4).is_err());
    }

    #[test]
    fn zero_d_is_one_row_of_one_element() {
        let layout = Layout::new(&[], None, 4).unwrap();
        assert_eq!(
            (layout.rows(), layout.row_bytes(), layout.byte_len()),
            (1, 4, 4)
        );
        let src = Src {
            data: &[1, 2, 3, 4],
            origin: 0,
            layout,
        };
        let mut out = [0u8; 4];
        src.gather_rows(0, &mut out);
        assert_eq!(out, [1, 2, 3, 4]);
    }
}
