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
    let n = st.logical_rows();
    indices
        .iter()
        .map(|&i| {
            let logical = if i < 0 {
                n.checked_sub(i.unsigned_abs())
            } else {
                Some(i as u64)
            };
            let logical = logical.filter(|&l| l < n).ok_or_else(|| {
                Error::invalid(format!(
                    "row index {i} is out of range for array {name:?} with {n} rows"
                ))
            })?;
            Ok(match &st.bitmap {
                Some(b) => b.physical(logical).expect("logical < alive rows"),
                None => logical,
            })
        })
        .collect()
}

/// Fails with `corrupt` when `file` (an array's open data file) is shorter than `expected`
/// bytes: another program truncated it, and a mapping of it would fault or a read of it would
/// come back short. Returns the file's metadata for further checks.
pub(crate) fn check_untruncated(
    name: &str,
    file: &File,
    path: &Path,
    expected: u64,
) -> Result<std::fs::Metadata> {
    let meta = file
        .metadata()
        .ctx(format_args!("cannot stat {}", path.display()))?;
    untruncated(name, path, meta.len(), expected)?;
    Ok(meta)
}

/// `check_untruncated` without the metadata, for the row and block reads that check before every
/// copy out of the mapping: the length alone is cheaper to ask for.
pub(crate) fn check_len(name: &str, file: &File, path: &Path, expected: u64) -> Result<()> {
    let len = fsutil::file_len(file).ctx(format_args!("cannot stat {}", path.display()))?;
    untruncated(name, path, len, expected)
}

fn untruncated(name: &str, path: &Path, len: u64, expected: u64) -> Result<()> {
    if len < expected {
        return Err(Error::corrupt(format!(
            "array {name:?}: {} was truncated behind the store's back: {len} bytes, {expected} expected",
            path.display()
        )));
    }
    Ok(())
}
