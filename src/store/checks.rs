//! Argument checks shared by reads, writes and batches: names, item sizes, dtypes, row indices,
//! and data files cut short behind the store's back.

use std::fs::File;
use std::path::Path;

use super::snapshot::ArrayState;
use crate::error::{Error, ErrorKind, IoContext, Result};
use crate::format::names;
use crate::format::DType;
use crate::layout::Layout;
use crate::store::fsutil;

pub(crate) fn check_name(name: &str) -> Result<()> {
    names::validate_name(name).map_err(Error::invalid)
}

/// `check_name` for writes: a name we would not create that the store already has (numpack
/// wrote it) is refused all the same, saying why.
pub(crate) fn check_write_name(name: &str, listed: impl FnOnce() -> bool) -> Result<()> {
    check_name(name).map_err(|e| {
        if listed() {
            Error::invalid(format!(
                "{}; the store has such an array (numpack wrote it): libnumpack reads it but does not write it",
                e.message
            ))
        } else {
            e
        }
    })
}

/// `check_name` for reads: a name we would not create is still looked up when the catalogue
/// lists it (numpack wrote it), so its array is read or reports its damage.
pub(crate) fn check_read_name(name: &str, listed: impl FnOnce() -> bool) -> Result<()> {
    match check_name(name) {
        Err(_) if listed() => Ok(()),
        r => r,
    }
}

/// A buffer's item size must be the dtype's: the copies size rows by the array's dtype and walk
/// the buffer by its layout.
pub(crate) fn check_itemsize(dtype: DType, layout: &Layout) -> Result<()> {
    if layout.itemsize != dtype.size() {
        return Err(Error::invalid(format!(
            "buffer item size {} does not match {} ({} bytes)",
            layout.itemsize,
            dtype.name(),
            dtype.size()
        )));
    }
    Ok(())
}

pub(crate) fn check_dtype(st: &ArrayState, dtype: DType) -> Result<()> {
    if st.meta.dtype != dtype {
        return Err(Error::new(
            ErrorKind::DtypeMismatch,
            format!(
                "array {:?} holds {}, the caller asked for {}",
                st.meta.name,
                st.meta.dtype.name(),
                dtype.name()
            ),
        ));
    }
    Ok(())
}

pub(crate) fn zero_d(name: &str) -> Error {
    Error::new(
        ErrorKind::ShapeMismatch,
        format!("array {name:?} is 0-d: it has no rows"),
    )
}

/// Logical indices (negative from the end) to physical rows, range-checked.
pub(crate) fn physical_rows(name: &str, st: &ArrayState, indices: &[i64]) -> Result<Vec<u64>> {
    check_rows(name, st, indices)?;
    let n = st.logical_rows();
    Ok(indices.iter().map(|&i| physical_row(st, n, i)).collect())
}

/// Every index names a row of `st`: `physical_row` cannot fail on them afterwards.
pub(crate) fn check_rows(name: &str, st: &ArrayState, indices: &[i64]) -> Result<()> {
    let n = st.logical_rows();
    // A fold without an early exit vectorizes (one instruction or so per index, where a search
    // took 18); the search only runs to name the bad index.
    if indices
        .iter()
        .fold(true, |ok, &i| ok & (unwrap_index(n, i) < n))
    {
        return Ok(());
    }
    let i = indices.iter().find(|&&i| logical_row(n, i).is_none());
    Err(Error::invalid(format!(
        "row index {} is out of range for array {name:?} with {n} rows",
        i.copied().unwrap_or_default()
    )))
}

/// Index `i` (negative from the end) of an array with `n` logical rows as a row number, which
/// is `n` or more when `i` is out of range. Branch-free: a negative index wraps around to
/// `i + n`, which lands below `n` exactly when `i >= -n`; any other index stays itself.
#[inline(always)]
pub(crate) fn unwrap_index(n: u64, i: i64) -> u64 {
    (i as u64).wrapping_add(((i >> 63) as u64) & n)
}

/// Index `i` (negative from the end) of an array with `n` logical rows, if in range.
fn logical_row(n: u64, i: i64) -> Option<u64> {
    let logical = if i < 0 {
        n.checked_sub(i.unsigned_abs())
    } else {
        Some(i as u64)
    };
    logical.filter(|&l| l < n)
}

/// The physical row of index `i`, one `check_rows` accepted; `n` is `st.logical_rows()`.
pub(crate) fn physical_row(st: &ArrayState, n: u64, i: i64) -> u64 {
    let logical = logical_row(n, i).expect("index checked by check_rows");
    match &st.bitmap {
        Some(b) => b.physical(logical).expect("logical < alive rows"),
        None => logical,
    }
}

/// A get of `count` rows of `st` needs a buffer of shape (count, rest of the array's shape).
pub(crate) fn check_rows_shape(
    name: &str,
    st: &ArrayState,
    count: usize,
    shape: &[u64],
) -> Result<()> {
    let have = &st.meta.shape;
    if have.is_empty() {
        return Err(zero_d(name));
    }
    if shape.len() == have.len() && shape[0] == count as u64 && shape[1..] == have[1..] {
        return Ok(());
    }
    let mut want = st.logical_shape();
    want[0] = count as u64;
    Err(Error::new(
        ErrorKind::ShapeMismatch,
        format!(
            "getting {count} rows of array {name:?} needs a destination of shape {want:?}, got {shape:?}"
        ),
    ))
}

/// `untruncated` for an open file, for the row and block reads that check before every copy
/// out of the mapping: the length alone is cheaper to ask for than a stat.
pub(crate) fn check_len(name: &str, file: &File, path: &Path, expected: u64) -> Result<()> {
    let len = fsutil::file_len(file).ctx(format_args!("cannot stat {}", path.display()))?;
    untruncated(name, path, len, expected)
}

/// Fails with `corrupt` when an array's data file of `len` bytes is shorter than `expected`:
/// another program truncated it, and a mapping of it would fault or a read of it come back short.
pub(crate) fn untruncated(name: &str, path: &Path, len: u64, expected: u64) -> Result<()> {
    if len < expected {
        return Err(Error::corrupt(format!(
            "array {name:?}: {} was truncated behind the store's back: {len} bytes, {expected} expected",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The branch-free form agrees with the plain one, at the edges of both signs and sizes.
    #[test]
    fn unwrap_index_agrees_with_logical_row() {
        let ns = [0u64, 1, 2, 10, i64::MAX as u64, 1 << 63, u64::MAX];
        let is = [
            0i64,
            1,
            9,
            10,
            11,
            -1,
            -9,
            -10,
            -11,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        for n in ns {
            for i in is {
                let l = unwrap_index(n, i);
                assert_eq!((l < n).then_some(l), logical_row(n, i), "n {n}, i {i}");
            }
        }
    }
}
