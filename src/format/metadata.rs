//! `metadata.npkm`, the store's catalogue (format.md §2).
//!
//! NumPack reads this file carelessly (a garbage file becomes an empty store that it then
//! overwrites). The decoder here is strict and total instead: any input yields either a fully
//! validated catalogue or an error saying which field of which array is wrong, and a length
//! prefix is always checked against the bytes actually present before anything is allocated.

use std::collections::BTreeMap;

use super::names::{data_file_name, segment_manifest_name};
use super::reader::Reader;
use super::{DType, FormatError, MAX_DIMS};

pub const METADATA_FILE: &str = "metadata.npkm";
/// "NPKB" read as a little-endian u32.
pub const MAGIC: u32 = 0x424B_504E;

pub(crate) const HEADER_LEN: usize = 20;
/// Fixed bytes of a record without block info, besides its name, shape and data-file name.
const RECORD_FIXED_LEN: usize = 51;
/// No record, valid or not, is shorter, which lets a corrupt array_count be reported as such
/// instead of as a truncation far into the file.
const MIN_RECORD_LEN: usize = RECORD_FIXED_LEN;
/// Each block of the optional block-compression record: offset, original and compressed size.
const BLOCK_ENTRY_LEN: usize = 24;

/// One catalogue entry. `shape` is physical: rows dropped through the deletion bitmap are still
/// counted, as in NumPack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayMeta {
    pub name: String,
    pub shape: Vec<u64>,
    pub data_file: String,
    pub modify_time_us: u64,
    pub size_bytes: u64,
    pub dtype: DType,
}

impl ArrayMeta {
    /// New entry with data_file = data_file_name(name), size_bytes computed.
    ///
    /// # Panics
    /// If `byte_size(&shape, dtype)` is `None`: callers must check it first (it is a caller
    /// bug, and writing a wrapped size would produce a catalogue we ourselves reject).
    pub fn new(name: &str, dtype: DType, shape: Vec<u64>, modify_time_us: u64) -> ArrayMeta {
        let size_bytes = byte_size(&shape, dtype)
            .expect("ArrayMeta::new: shape byte size overflows; check byte_size() first");
        ArrayMeta {
            name: name.to_string(),
            data_file: data_file_name(name),
            shape,
            modify_time_us,
            size_bytes,
            dtype,
        }
    }

    /// Whether the data lives in numpack 0.7.0 segment files behind a `.npkseg` manifest.
    pub fn is_segmented(&self) -> bool {
        self.data_file.ends_with(".npkseg")
    }
}

/// prod(shape)*itemsize; None when the nonzero dimensions times the item size exceed
/// isize::MAX. This is NumPy's rule (it skips zero dimensions and refuses the rest past
/// npy_intp), and it bounds every sub-shape's size, so row sizes computed from a shape that
/// passed it never overflow. A valid size also fits any buffer or mapping of this process.
pub fn shape_bytes(shape: &[u64], itemsize: u64) -> Option<u64> {
    let bytes = nonzero_product(shape, itemsize)?;
    if bytes > isize::MAX as u64 {
        return None;
    }
    Some(if shape.contains(&0) { 0 } else { bytes })
}

/// `shape_bytes` for a dtype.
pub fn byte_size(shape: &[u64], dtype: DType) -> Option<u64> {
    shape_bytes(shape, dtype.size() as u64)
}

fn nonzero_product(shape: &[u64], init: u64) -> Option<u64> {
    shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(init, |acc, &d| acc.checked_mul(d))
}

/// The whole catalogue. `version` is what the file said; `encode` always writes 1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub version: u32,
    pub arrays: BTreeMap<String, ArrayMeta>,
}

/// Strict, total decoder: never panics, never over-reads, on any input. See the module docs;
/// every rule NumPack's own writer follows is checked, and `data_file` must be exactly
/// `data_<name>.npkd` or `data_<name>.npkseg` so a crafted store can never make us touch
/// another path. Any version number is accepted; total_size is not checked.
pub fn decode(bytes: &[u8]) -> Result<Catalog, FormatError> {
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::new(format!(
            "corrupt {METADATA_FILE}: file is {} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    let mut r = Reader::new(bytes, METADATA_FILE, "header");
    let magic = r.u32("magic")?;
    if magic != MAGIC {
        return Err(r.err(format_args!(
            "bad magic: expected {MAGIC:#010x} (\"NPKB\") but found {magic:#010x} ({})",
            String::from_utf8_lossy(&magic.to_le_bytes()).escape_debug()
        )));
    }
    let version = r.u32("version")?;
    // NumPack never maintains total_size consistently across its own code paths; ignore it.
    let _total_size = r.u64("total_size")?;
    let count = r.u32("array_count")?;
    let count_usize = usize::try_from(count).unwrap_or(usize::MAX);
    if count_usize > r.remaining() / MIN_RECORD_LEN {
        return Err(r.err(format_args!(
            "array_count is {count}, but only {} bytes follow the header and every record needs at least {MIN_RECORD_LEN} (the file is truncated or the count is wrong)",
            r.remaining()
        )));
    }

    // Records are decoded without building their messages' context (a format per record and
    // field was most of the time a large catalogue took to open); a record that fails is
    // decoded again with it, so the message is the same.
    let mut arrays = BTreeMap::new();
    for index in 1..=count {
        let start = r.pos;
        let meta = match decode_record(&mut r, false) {
            Ok(meta) => meta,
            Err(quiet) => {
                r.pos = start;
                r.ctx = format!("record {index} of {count}");
                return Err(decode_record(&mut r, true).err().unwrap_or(quiet));
            }
        };
        match arrays.entry(meta.name.clone()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(meta);
            }
            std::collections::btree_map::Entry::Occupied(_) => {
                r.ctx = format!("record {index} of {count} (array {:?})", meta.name);
                return Err(r.err(format_args!(
                    "array name {:?} appears more than once in the catalogue",
                    meta.name
                )));
            }
        }
    }
    if r.remaining() != 0 {
        r.ctx = "end of file".to_string();
        return Err(r.err(format_args!(
            "unexpected trailing bytes ({}) at offset {} after the last of {count} records (array_count may be wrong)",
            r.remaining(),
            r.pos
        )));
    }
    Ok(Catalog { version, arrays })
}

/// One record; `detail` builds the context and field names its errors need (see `decode`).
fn decode_record(r: &mut Reader<'_>, detail: bool) -> Result<ArrayMeta, FormatError> {
    // Any UTF-8 name is kept (numpack validates none): the store loader decides per array
    // whether its files may be opened (`names::readable_name`), so one odd name costs only its
    // own array. The data file must still be the one derived from the name.
    let name = r.string("name")?;
    if detail {
        r.ctx = format!("{} (array {name:?})", r.ctx);
    }

    let ndim_pos = r.pos;
    let ndim = r.u32("ndim")?;
    if ndim as usize > MAX_DIMS {
        return Err(r.err(format_args!(
            "ndim at offset {ndim_pos} is {ndim}, more than the maximum of {MAX_DIMS} dimensions"
        )));
    }
    let mut shape = Vec::with_capacity(ndim as usize);
    for d in 0..ndim {
        shape.push(if detail {
            r.u64(&format!("shape[{d}]"))?
        } else {
            r.u64("shape")?
        });
    }

    let df_pos = r.pos;
    let data_file = r.string("data file name")?;
    let is_plain = data_file
        .strip_prefix("data_")
        .and_then(|d| d.strip_suffix(".npkd"))
        == Some(name.as_str());
    if !is_plain && data_file != segment_manifest_name(&name) {
        let plain = data_file_name(&name);
        return Err(r.err(format_args!(
            "data file name at offset {df_pos} is {data_file:?}, expected {plain:?} (or {:?} for a segmented array)",
            segment_manifest_name(&name)
        )));
    }

    let modify_time_us = r.u64("modify time")?;
    let size_pos = r.pos;
    let size_bytes = r.u64("size_bytes")?;
    let dtype_pos = r.pos;
    let code = r.u8("dtype")?;
    let dtype = DType::from_code(code).ok_or_else(|| {
        r.err(format_args!(
            "unknown dtype code {code} at offset {dtype_pos} (known codes are 0 to 13)"
        ))
    })?;
    let Some(expected) = byte_size(&shape, dtype) else {
        return Err(r.err(format_args!(
            "shape {shape:?} of {dtype} is too large: its byte size overflows (limit {} bytes)",
            isize::MAX
        )));
    };
    if size_bytes != expected {
        return Err(r.err(format_args!(
            "size_bytes at offset {size_pos} is {size_bytes}, but shape {shape:?} of {dtype} needs {expected}"
        )));
    }

    let algo_pos = r.pos;
    let algo = r.u8("compression algorithm")?;
    if algo != 0 {
        return Err(r.err(format_args!(
            "compressed arrays are not supported (compression algorithm {algo} at offset {algo_pos}; only 0 = none is)"
        )));
    }
    // Level and sizes are meaningless without compression; NumPack writes zeros.
    r.u32("compression level")?;
    r.u64("compression original size")?;
    r.u64("compression compressed size")?;

    if r.u8("block-compression flag")? != 0 {
        // Never written in practice, but NumPack reads it, so we skip it rather than fail.
        r.u8("block-compression enabled")?;
        r.u64("block size")?;
        r.u64("block count")?;
        let n_pos = r.pos;
        let n = r.u32("block entry count")?;
        let len = (n as usize).checked_mul(BLOCK_ENTRY_LEN).ok_or_else(|| {
            r.err(format_args!(
                "block entry count {n} at offset {n_pos} overflows"
            ))
        })?;
        if len > r.remaining() {
            return Err(r.err(format_args!(
                "block entry count at offset {n_pos} says {n} entries ({len} bytes) but only {} bytes remain",
                r.remaining()
            )));
        }
        r.take(len, "block entries")?;
    }

    Ok(ArrayMeta {
        name,
        shape,
        data_file,
        modify_time_us,
        size_bytes,
        dtype,
    })
}

/// Exactly as NumPack writes: version field = 1 always (regardless of catalog.version),
/// total_size = sum of size_bytes, records in name order, compression fields zero, block flag 0.
pub fn encode(catalog: &Catalog) -> Vec<u8> {
    let total_size = catalog
        .arrays
        .values()
        .fold(0u64, |acc, m| acc.saturating_add(m.size_bytes));
    let body_len: usize = catalog.arrays.values().map(record_len).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + body_len);
    encode_header(total_size, catalog.arrays.len(), &mut out);
    for meta in catalog.arrays.values() {
        encode_record(meta, &mut out);
    }
    debug_assert_eq!(out.len(), HEADER_LEN + body_len);
    out
}

/// The 20-byte header `encode` writes: the catalogue is this followed by its records in name
/// order, which lets a writer keep records encoded and only rewrite the header per commit.
pub fn encode_header(total_size: u64, count: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&total_size.to_le_bytes());
    out.extend_from_slice(&len_u32(count).to_le_bytes());
}

/// Bytes of `meta`'s record as `encode_record` writes it.
pub fn record_len(meta: &ArrayMeta) -> usize {
    RECORD_FIXED_LEN + meta.name.len() + 8 * meta.shape.len() + meta.data_file.len()
}

/// One record exactly as `encode` writes it.
pub fn encode_record(meta: &ArrayMeta, out: &mut Vec<u8>) {
    out.extend_from_slice(&len_u32(meta.name.len()).to_le_bytes());
    out.extend_from_slice(meta.name.as_bytes());
    out.extend_from_slice(&len_u32(meta.shape.len()).to_le_bytes());
    for d in &meta.shape {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out.extend_from_slice(&len_u32(meta.data_file.len()).to_le_bytes());
    out.extend_from_slice(meta.data_file.as_bytes());
    out.extend_from_slice(&meta.modify_time_us.to_le_bytes());
    out.extend_from_slice(&meta.size_bytes.to_le_bytes());
    out.push(meta.dtype.code());
    out.push(0); // compression algorithm: none
    out.extend_from_slice(&0u32.to_le_bytes()); // compression level
    out.extend_from_slice(&0u64.to_le_bytes()); // original size
    out.extend_from_slice(&0u64.to_le_bytes()); // compressed size
    out.push(0); // no block-compression record
}

/// Names, shapes and counts of a valid catalogue are far below u32::MAX; saturating keeps a
/// caller bug from silently wrapping into a plausible-looking length.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::XorShift;

    /// numpack 0.5.0: `save({'x': np.arange(6, dtype=np.float32).reshape(2, 3)})`.
    const REAL_ONE_F32: &[u8] = b"\
        \x4e\x50\x4b\x42\x01\x00\x00\x00\x18\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\
        \x78\x02\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\
        \x00\x64\x61\x74\x61\x5f\x78\x2e\x6e\x70\x6b\x64\xb3\x1d\x68\x1a\x08\x61\x06\x00\x18\x00\x00\x00\
        \x00\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00";

    /// numpack 0.5.0: arrays `flag` bool (2,), `bb` uint8 (3,), `h` float16 (4,5),
    /// `c` complex128 (2,2,2), `a` int64 (70,1), in NumPack's hash-map order.
    const REAL_FIVE: &[u8] = b"\
        \x4e\x50\x4b\x42\x01\x00\x00\x00\xdd\x02\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\
        \x66\x6c\x61\x67\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x0e\x00\x00\x00\x64\x61\x74\x61\
        \x5f\x66\x6c\x61\x67\x2e\x6e\x70\x6b\x64\x3f\x20\x68\x1a\x08\x61\x06\x00\x02\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x02\x00\x00\x00\x62\x62\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x0c\x00\x00\x00\x64\
        \x61\x74\x61\x5f\x62\x62\x2e\x6e\x70\x6b\x64\x7e\x20\x68\x1a\x08\x61\x06\x00\x03\x00\x00\x00\x00\
        \x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x01\x00\x00\x00\x68\x02\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\
        \x00\x00\x00\x0b\x00\x00\x00\x64\x61\x74\x61\x5f\x68\x2e\x6e\x70\x6b\x64\x36\x21\x68\x1a\x08\x61\
        \x06\x00\x28\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x63\x03\x00\x00\x00\x02\x00\x00\x00\x00\x00\
        \x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x64\x61\
        \x74\x61\x5f\x63\x2e\x6e\x70\x6b\x64\x69\x21\x68\x1a\x08\x61\x06\x00\x80\x00\x00\x00\x00\x00\x00\
        \x00\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x01\x00\x00\x00\x61\x02\x00\x00\x00\x46\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x00\x0b\x00\x00\x00\x64\x61\x74\x61\x5f\x61\x2e\x6e\x70\x6b\x64\xab\x20\x68\x1a\x08\x61\x06\x00\
        \x30\x02\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00";

    /// numpack 0.5.0: a 0-d float64 `z` and an empty int16 `e` of shape (0, 3).
    const REAL_ZERO_D_AND_EMPTY: &[u8] = b"\
        \x4e\x50\x4b\x42\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\
        \x7a\x00\x00\x00\x00\x0b\x00\x00\x00\x64\x61\x74\x61\x5f\x7a\x2e\x6e\x70\x6b\x64\xe9\xa2\xc5\x1c\
        \x08\x61\x06\x00\x08\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x65\x02\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x0b\x00\x00\x00\x64\x61\x74\x61\x5f\x65\x2e\x6e\
        \x70\x6b\x64\x79\xa2\xc5\x1c\x08\x61\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

    /// A record spelled out field by field, so a test can corrupt exactly one field.
    #[derive(Clone)]
    struct Rec {
        name: Vec<u8>,
        name_len: Option<u32>,
        ndim: Option<u32>,
        shape: Vec<u64>,
        data_file: Vec<u8>,
        data_file_len: Option<u32>,
        mtime: u64,
        size: u64,
        dtype: u8,
        algo: u8,
        /// Bytes after the compression fields: the block flag and, if nonzero, its record.
        tail: Vec<u8>,
    }

    impl Rec {
        fn new(name: &str, dtype: DType, shape: &[u64]) -> Rec {
            Rec {
                name: name.as_bytes().to_vec(),
                name_len: None,
                ndim: None,
                shape: shape.to_vec(),
                data_file: data_file_name(name).into_bytes(),
                data_file_len: None,
                mtime: 1_700_000_000_000_000,
                size: byte_size(shape, dtype).unwrap_or(0),
                dtype: dtype.code(),
                algo: 0,
                tail: vec![0],
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let mut b = Vec::new();
            let name_len = self.name_len.unwrap_or(self.name.len() as u32);
            b.extend_from_slice(&name_len.to_le_bytes());
            b.extend_from_slice(&self.name);
            let ndim = self.ndim.unwrap_or(self.shape.len() as u32);
            b.extend_from_slice(&ndim.to_le_bytes());
            for d in &self.shape {
                b.extend_from_slice(&d.to_le_bytes());
            }
            let df_len = self.data_file_len.unwrap_or(self.data_file.len() as u32);
            b.extend_from_slice(&df_len.to_le_bytes());
            b.extend_from_slice(&self.data_file);
            b.extend_from_slice(&self.mtime.to_le_bytes());
            b.extend_from_slice(&self.size.to_le_bytes());
            b.push(self.dtype);
            b.push(self.algo);
            b.extend_from_slice(&[0u8; 20]);
            b.extend_from_slice(&self.tail);
            b
        }
    }

    fn file_with(version: u32, count: u32, recs: &[Rec]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC.to_le_bytes());
        b.extend_from_slice(&version.to_le_bytes());
        let total: u64 = recs.iter().map(|r| r.size).sum();
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        for r in recs {
            b.extend_from_slice(&r.bytes());
        }
        b
    }

    fn file(recs: &[Rec]) -> Vec<u8> {
        file_with(1, recs.len() as u32, recs)
    }

    fn decode_err(bytes: &[u8]) -> String {
        match decode(bytes) {
            Ok(c) => panic!("expected an error, decoded {c:?}"),
            Err(FormatError(msg)) => msg,
        }
    }

    fn assert_err_contains(bytes: &[u8], needles: &[&str]) {
        let msg = decode_err(bytes);
        for n in needles {
            assert!(msg.contains(n), "message {msg:?} lacks {n:?}");
        }
    }

    fn catalog_of(metas: Vec<ArrayMeta>) -> Catalog {
        Catalog {
            version: 1,
            arrays: metas.into_iter().map(|m| (m.name.clone(), m)).collect(),
        }
    }

    #[test]
    fn format_md_example_is_99_bytes_and_matches_numpack() {
        let meta = ArrayMeta::new("x", DType::F32, vec![2, 3], 1_795_537_290_927_539);
        assert_eq!(meta.size_bytes, 24);
        assert_eq!(meta.data_file, "data_x.npkd");
        let cat = catalog_of(vec![meta]);
        let bytes = encode(&cat);
        assert_eq!(bytes.len(), 99);
        assert_eq!(bytes, REAL_ONE_F32);
        assert_eq!(decode(REAL_ONE_F32).unwrap(), cat);
    }

    #[test]
    fn decodes_real_numpack_store_with_five_arrays() {
        let cat = decode(REAL_FIVE).unwrap();
        assert_eq!(cat.version, 1);
        let names: Vec<&str> = cat.arrays.keys().map(String::as_str).collect();
        assert_eq!(names, ["a", "bb", "c", "flag", "h"]);
        let expect = [
            ("a", DType::I64, vec![70, 1], 560),
            ("bb", DType::U8, vec![3], 3),
            ("c", DType::Complex128, vec![2, 2, 2], 128),
            ("flag", DType::Bool, vec![2], 2),
            ("h", DType::F16, vec![4, 5], 40),
        ];
        for (name, dtype, shape, size) in expect {
            let m = &cat.arrays[name];
            assert_eq!(m.name, name);
            assert_eq!(m.dtype, dtype, "{name}");
            assert_eq!(m.shape, shape, "{name}");
            assert_eq!(m.size_bytes, size, "{name}");
            assert_eq!(m.data_file, data_file_name(name));
            assert!(!m.is_segmented());
            assert!(m.modify_time_us > 1_700_000_000_000_000, "{name}");
        }
        // Same records in name order instead of hash order: same length and header.
        let ours = encode(&cat);
        assert_eq!(ours.len(), REAL_FIVE.len());
        assert_eq!(ours[..20], REAL_FIVE[..20]);
        assert_eq!(decode(&ours).unwrap(), cat);
    }

    #[test]
    fn decodes_real_zero_d_and_empty_arrays() {
        let cat = decode(REAL_ZERO_D_AND_EMPTY).unwrap();
        let z = &cat.arrays["z"];
        assert_eq!(
            (z.dtype, z.shape.clone(), z.size_bytes),
            (DType::F64, vec![], 8)
        );
        let e = &cat.arrays["e"];
        assert_eq!(
            (e.dtype, e.shape.clone(), e.size_bytes),
            (DType::I16, vec![0, 3], 0)
        );
        assert_eq!(decode(&encode(&cat)).unwrap(), cat);
    }

    #[test]
    fn round_trips_every_dtype_and_rank() {
        let shapes: Vec<Vec<u64>> = vec![
            vec![],
            vec![5],
            vec![0],
            vec![3, 4],
            vec![2, 0, 7],
            vec![2, 3, 4, 5],
            vec![1; MAX_DIMS],
            vec![2; MAX_DIMS],
        ];
        for dtype in DType::ALL {
            let metas: Vec<ArrayMeta> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    ArrayMeta::new(&format!("{}_{i}", dtype.name()), dtype, s.clone(), i as u64)
                })
                .collect();
            let cat = catalog_of(metas);
            let bytes = encode(&cat);
            let expected_len: usize = 20
                + cat
                    .arrays
                    .values()
                    .map(|m| 51 + m.name.len() + 8 * m.shape.len() + m.data_file.len())
                    .sum::<usize>();
            assert_eq!(bytes.len(), expected_len);
            assert_eq!(decode(&bytes).unwrap(), cat, "{dtype:?}");
        }
        let empty = Catalog::default();
        let bytes = encode(&empty);
        assert_eq!(bytes.len(), 20);
        assert_eq!(decode(&bytes).unwrap(), catalog_of(vec![]));
    }

    #[test]
    fn encode_writes_version_1_sum_and_name_order() {
        let mut cat = catalog_of(vec![
            ArrayMeta::new("zeta", DType::U16, vec![10], 1),
            ArrayMeta::new("alpha", DType::F64, vec![2, 2], 2),
        ]);
        cat.version = 7;
        let bytes = encode(&cat);
        assert_eq!(&bytes[0..4], b"NPKB");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 1);
        assert_eq!(u64::from_le_bytes(bytes[8..16].try_into().unwrap()), 52);
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 2);
        assert_eq!(&bytes[24..29], b"alpha");
        assert_eq!(decode(&bytes).unwrap().version, 1);
    }

    #[test]
    fn accepts_other_versions_any_total_size_and_any_order() {
        let recs = [
            Rec::new("b", DType::I32, &[3]),
            Rec::new("a", DType::U8, &[1]),
        ];
        let mut bytes = file_with(42, 2, &recs);
        bytes[8..16].copy_from_slice(&999u64.to_le_bytes());
        let cat = decode(&bytes).unwrap();
        assert_eq!(cat.version, 42);
        assert_eq!(cat.arrays.len(), 2);
    }

    #[test]
    fn accepts_segmented_manifest_data_file() {
        let mut r = Rec::new("big", DType::F32, &[1000, 4]);
        r.data_file = b"data_big.npkseg".to_vec();
        let cat = decode(&file(&[r])).unwrap();
        let m = &cat.arrays["big"];
        assert!(m.is_segmented());
        assert_eq!(decode(&encode(&cat)).unwrap(), cat);
    }

    #[test]
    fn skips_block_compression_record() {
        let mut r = Rec::new("x", DType::U8, &[4]);
        let mut tail = vec![1u8, 1];
        tail.extend_from_slice(&4096u64.to_le_bytes());
        tail.extend_from_slice(&2u64.to_le_bytes());
        tail.extend_from_slice(&2u32.to_le_bytes());
        tail.extend_from_slice(&[7u8; 48]);
        r.tail = tail.clone();
        let cat = decode(&file(&[r.clone(), Rec::new("y", DType::U8, &[1])])).unwrap();
        assert_eq!(cat.arrays.len(), 2);

        // One entry short: the truncation is reported, not over-read.
        r.tail = tail[..tail.len() - 1].to_vec();
        assert_err_contains(
            &file(&[r.clone()]),
            &["block entry count", "2 entries (48 bytes)", "only 47"],
        );

        // A huge entry count is checked against the remaining bytes before anything else.
        let mut huge = tail[..18].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        r.tail = huge;
        assert_err_contains(&file(&[r]), &["4294967295 entries", "array \"x\""]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for fixture in [REAL_ONE_F32, REAL_FIVE, REAL_ZERO_D_AND_EMPTY] {
            for len in 0..fixture.len() {
                let r = decode(&fixture[..len]);
                assert!(r.is_err(), "prefix of {len} bytes decoded: {r:?}");
            }
            assert!(decode(fixture).is_ok());
        }
        assert_err_contains(&REAL_ONE_F32[..10], &["10 bytes", "20-byte header"]);
        assert_err_contains(
            &REAL_ONE_F32[..95],
            &[
                "truncated",
                "array \"x\"",
                "compression compressed size needs 8 bytes at offset 90 but only 5 remain",
            ],
        );
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut b = REAL_ONE_F32.to_vec();
        b[0..4].copy_from_slice(b"NPKA");
        assert_err_contains(&b, &["bad magic", "0x424b504e", "NPKA"]);
    }

    #[test]
    fn rejects_bad_utf8_name_and_data_file() {
        let mut r = Rec::new("ab", DType::U8, &[1]);
        r.name = vec![b'a', 0xff];
        assert_err_contains(&file(&[r]), &["name is not valid UTF-8", "offset 25"]);
        let mut r = Rec::new("ab", DType::U8, &[1]);
        r.data_file = b"data_\xc3.npkd".to_vec();
        assert_err_contains(
            &file(&[r]),
            &["data file name is not valid UTF-8", "array \"ab\""],
        );
    }

    /// numpack creates arrays under any name; the catalogue keeps them, byte for byte, and the
    /// loader decides which it opens. The data file must still be derived from the name.
    #[test]
    fn keeps_odd_names_byte_for_byte() {
        for odd in ["", ".", "..", "a/b", "a\\b", "a\0b", "a\nb"] {
            let mut r = Rec::new("x", DType::U8, &[1]);
            r.name = odd.as_bytes().to_vec();
            r.data_file = data_file_name(odd).into_bytes();
            let bytes = file(&[r.clone()]);
            let cat = decode(&bytes).unwrap();
            assert_eq!(cat.arrays[odd].name, odd);
            assert_eq!(encode(&cat), bytes, "{odd:?}");
            r.data_file = b"data_x.npkd".to_vec();
            assert_err_contains(&file(&[r]), &["data file name", "record 1 of 1"]);
        }
    }

    #[test]
    fn rejects_unknown_dtype_codes() {
        for code in [14u8, 255] {
            let mut r = Rec::new("x", DType::U8, &[1]);
            r.dtype = code;
            assert_err_contains(
                &file(&[r]),
                &[&format!("unknown dtype code {code}"), "array \"x\""],
            );
        }
    }

    #[test]
    fn rejects_too_many_dims() {
        let r = Rec::new("x", DType::U8, &[1; 33]);
        assert_err_contains(&file(&[r]), &["ndim", "33", "maximum of 32", "array \"x\""]);
        let mut r = Rec::new("x", DType::U8, &[1]);
        r.ndim = Some(u32::MAX);
        assert_err_contains(&file(&[r]), &["4294967295"]);
    }

    #[test]
    fn rejects_overflowing_shapes() {
        for shape in [
            vec![u64::MAX, 2],
            vec![1 << 32, 1 << 32],
            vec![1 << 62, 1],
            vec![1 << 59, 2, 2, 2, 2],
        ] {
            let mut r = Rec::new("x", DType::F64, &shape);
            r.size = 0;
            assert_err_contains(&file(&[r]), &["overflows", "array \"x\""]);
        }
        assert_eq!(shape_bytes(&[], 1), Some(1));
        assert_eq!(
            shape_bytes(&[isize::MAX as u64, 1], 1),
            Some(isize::MAX as u64)
        );
        assert_eq!(shape_bytes(&[isize::MAX as u64, 2], 1), None);
        assert_eq!(shape_bytes(&[u64::MAX, 2], 1), None);
        assert_eq!(byte_size(&[1 << 20, 0], DType::F64), Some(0));
        assert_eq!(byte_size(&[1 << 62], DType::U8), Some(1 << 62));
        assert_eq!(byte_size(&[1 << 62], DType::U16), None);
        assert_eq!(byte_size(&[1 << 63], DType::U8), None);
        assert_eq!(byte_size(&[], DType::Complex128), Some(16));
    }

    #[test]
    fn a_zero_dimension_does_not_hide_an_overflow_wherever_it_sits() {
        // NumPy refuses all of these: the nonzero dimensions' product overflows.
        for shape in [
            vec![1 << 40, 1 << 30, 0],
            vec![0, 1 << 62, 1 << 62],
            vec![1 << 62, 0, 1 << 62],
            vec![u64::MAX, 0],
            vec![0, u64::MAX],
        ] {
            assert_eq!(byte_size(&shape, DType::U8), None, "{shape:?}");
            let mut r = Rec::new("x", DType::U8, &shape);
            r.size = 0;
            assert_err_contains(&file(&[r]), &["overflows", "array \"x\""]);
        }
        // The item size counts too: 2^62 bytes of u8 fit, of u16 they do not, zero rows or not.
        assert_eq!(byte_size(&[0, 1 << 62], DType::U8), Some(0));
        assert_eq!(byte_size(&[0, 1 << 62], DType::U16), None);
        assert_eq!(byte_size(&[1 << 62, 0], DType::U16), None);
        // Empty shapes that NumPy allows still decode, as 0 bytes.
        for shape in [vec![0, 1 << 31, 1 << 31], vec![1 << 31, 1 << 31, 0]] {
            assert_eq!(byte_size(&shape, DType::U8), Some(0));
            let bytes = file(&[Rec::new("x", DType::U8, &shape)]);
            assert_eq!(decode(&bytes).unwrap().arrays["x"].shape, shape);
        }
    }

    #[test]
    fn rejects_size_bytes_mismatch() {
        let mut r = Rec::new("x", DType::F32, &[2, 3]);
        r.size = 23;
        assert_err_contains(
            &file(&[r]),
            &[
                "size_bytes",
                "is 23",
                "needs 24",
                "[2, 3]",
                "float32",
                "array \"x\"",
            ],
        );
    }

    #[test]
    fn rejects_duplicate_names() {
        let r = Rec::new("x", DType::U8, &[1]);
        assert_err_contains(
            &file(&[r.clone(), Rec::new("y", DType::U8, &[1]), r]),
            &["\"x\"", "more than once", "record 3 of 3"],
        );
    }

    #[test]
    fn rejects_foreign_data_files() {
        for bad in [
            "../x",
            "data_y.npkd",
            "/etc/passwd",
            "data_x.npkd.tmp",
            "data_x.NPKD",
            "sub/data_x.npkd",
            "data_x_segments/seg_000000.npkd",
            "",
        ] {
            let mut r = Rec::new("x", DType::U8, &[1]);
            r.data_file = bad.as_bytes().to_vec();
            assert_err_contains(
                &file(&[r]),
                &[
                    &format!("{bad:?}"),
                    "expected \"data_x.npkd\"",
                    "array \"x\"",
                ],
            );
        }
    }

    #[test]
    fn rejects_compressed_arrays() {
        let mut r = Rec::new("x", DType::U8, &[1]);
        r.algo = 1;
        assert_err_contains(
            &file(&[r]),
            &[
                "compressed arrays are not supported",
                "algorithm 1",
                "array \"x\"",
            ],
        );
    }

    #[test]
    fn rejects_trailing_garbage_and_wrong_counts() {
        let mut b = REAL_ONE_F32.to_vec();
        b.push(0);
        assert_err_contains(&b, &["unexpected trailing bytes (1)", "offset 99"]);

        let recs = [
            Rec::new("a", DType::U8, &[1]),
            Rec::new("b", DType::U8, &[1]),
        ];
        assert_err_contains(&file_with(1, 1, &recs), &["trailing", "last of 1 records"]);
        assert_err_contains(&file_with(1, 3, &recs), &["array_count is 3"]);
        assert_err_contains(
            &file_with(1, u32::MAX, &recs),
            &["array_count is 4294967295"],
        );
    }

    #[test]
    fn rejects_huge_length_prefixes_without_allocating() {
        let mut r = Rec::new("x", DType::U8, &[1]);
        r.name_len = Some(u32::MAX);
        assert_err_contains(
            &file(&[r]),
            &[
                "name length at offset 20 says 4294967295 bytes",
                "record 1 of 1",
            ],
        );
        let mut r = Rec::new("x", DType::U8, &[1]);
        r.data_file_len = Some(u32::MAX - 3);
        assert_err_contains(
            &file(&[r]),
            &["data file name length", "4294967292", "array \"x\""],
        );
    }

    #[test]
    fn random_corruptions_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for fixture in [REAL_ONE_F32, REAL_FIVE, REAL_ZERO_D_AND_EMPTY] {
            for _ in 0..3000 {
                let mut b = fixture.to_vec();
                for _ in 0..1 + rng.next() % 4 {
                    let i = (rng.next() % b.len() as u64) as usize;
                    b[i] = match rng.next() % 3 {
                        0 => rng.next() as u8,
                        1 => b[i] ^ (1 << (rng.next() % 8)),
                        _ => 0xff,
                    };
                }
                if let Ok(cat) = decode(&b) {
                    // Whatever survives must be internally consistent.
                    for m in cat.arrays.values() {
                        assert_eq!(byte_size(&m.shape, m.dtype), Some(m.size_bytes));
                        assert!(
                            m.data_file == data_file_name(&m.name)
                                || m.data_file == segment_manifest_name(&m.name)
                        );
                    }
                }
            }
        }
        for _ in 0..3000 {
            let len = (rng.next() % 200) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 4 && rng.next() % 2 == 0 {
                b[..4].copy_from_slice(b"NPKB");
            }
            let _ = decode(&b);
        }
    }
}
