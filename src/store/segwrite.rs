//! Writing numpack 0.7.0's segmented arrays in their own layout (format.md §5), never
//! consolidating them: in-place writes go to the segment that holds each byte, and an append
//! splits its rows exactly as numpack 0.7.0's `append_bytes` does (the end of the last segment
//! up to the target size, then new segment files), committing the new manifest, the new
//! segment files and the catalogue in one record. Its cost depends on the rows appended, not on
//! the array's size.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};
use crate::format::metadata::{byte_size, ArrayMeta};
use crate::format::names::{bitmap_file_name, segment_manifest_name};
use crate::format::segments::{self, Segment};
use crate::format::DType;
use crate::layout::{for_chunks, Src};
use crate::store::commit::Txn;
use crate::store::fsutil;
use crate::store::snapshot::{ArrayState, DataFiles, SegmentFile, Snapshot};

/// Writes `bytes` at byte `offset` of the array's physical data, across segment boundaries.
/// The caller has checked that the range lies inside the array.
pub(crate) fn write_at(segs: &[SegmentFile], mut bytes: &[u8], mut offset: u64) -> Result<()> {
    let mut start = 0u64;
    for s in segs {
        let end = start + s.segment.bytes;
        if !bytes.is_empty() && offset < end {
            let n = ((end - offset) as usize).min(bytes.len());
            fsutil::write_all_at(&s.file, &bytes[..n], offset - start)
                .ctx(format_args!("cannot write to {}", s.path.display()))?;
            bytes = &bytes[n..];
            offset += n as u64;
        }
        start = end;
    }
    if bytes.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid("write past the end of a segmented array"))
    }
}

/// fsyncs every segment file (a durable in-place write; clean files cost little).
pub(crate) fn sync_all(segs: &[SegmentFile]) -> Result<()> {
    for s in segs {
        fsutil::sync_data(&s.file).ctx(format_args!("cannot fsync {}", s.path.display()))?;
    }
    Ok(())
}

/// Rows `first..first + n` of `src` in C order at byte `offset` of `file`, in bounded chunks
/// when the source is strided.
fn write_rows(file: &File, src: &Src, first: u64, n: u64, offset: u64) -> std::io::Result<()> {
    let row = src.layout.row_bytes();
    if let Some(all) = src.as_c_bytes() {
        let (a, b) = ((first * row) as usize, ((first + n) * row) as usize);
        return fsutil::write_all_at(file, &all[a..b], offset);
    }
    for_chunks(n, row, |k, chunk| {
        src.gather_rows(first + k, chunk);
        fsutil::write_all_at(file, chunk, offset + k * row)
    })
}

/// What an append to a segmented array prepared: the rows written past the last segment's end
/// (to cut off again if the commit is not decided) and the array's next state.
pub(crate) struct Prepared {
    pub state: ArrayState,
    /// The last segment and its committed length, when rows went into it.
    pub grown: Option<(Arc<File>, u64)>,
    /// The segment folder, when the commit renames new segments into it (a durable store
    /// fsyncs it after the commit: the commit fsyncs only the store's directory).
    pub new_in: Option<std::path::PathBuf>,
}

impl Prepared {
    /// Cuts the last segment back to its committed length (staged new segments go with the
    /// transaction).
    pub fn undo(&self) {
        if let Some((file, len)) = &self.grown {
            let _ = file.set_len(*len);
        }
    }
}

/// Writes the rows of `src` as numpack 0.7.0 would and stages the new segment files and
/// manifest in `txn`; `meta` is the array's new catalogue entry (shape and size grown).
pub(crate) fn prepare_append(
    dir: &Path,
    txn: &mut Txn,
    st: &ArrayState,
    segs: &[SegmentFile],
    meta: ArrayMeta,
    src: &Src,
    durable: bool,
) -> Result<Prepared> {
    let name = &st.meta.name;
    let row = st.row_bytes();
    let rows = src.layout.shape[0];
    let list: Vec<Segment> = segs.iter().map(|s| s.segment.clone()).collect();
    if list.is_empty() {
        return Err(Error::invalid(format!(
            "array {name:?} is segmented with no segment at all; compact it before appending"
        )));
    }
    let plan = segments::plan_append(&list, row, rows, segments::target_bytes(row));
    let mut out: Vec<SegmentFile> = segs.to_vec();
    let mut prepared = Prepared {
        state: st.clone(),
        grown: None,
        new_in: None,
    };
    let result = (|| -> Result<()> {
        if plan.into_last > 0 {
            let last = out.last_mut().expect("checked non-empty");
            prepared.grown = Some((last.file.clone(), last.segment.bytes));
            write_rows(&last.file, src, 0, plan.into_last, last.segment.bytes)
                .ctx(format_args!("cannot append to {}", last.path.display()))?;
            if durable {
                fsutil::sync_data(&last.file)
                    .ctx(format_args!("cannot fsync {}", last.path.display()))?;
            }
            last.segment.rows += plan.into_last;
            last.segment.bytes += plan.into_last * row;
        }
        let mut first = plan.into_last;
        if !plan.new_segments.is_empty() {
            let folder = segments::segment_file(name, 0);
            let folder = folder.split_once('/').map_or("", |(f, _)| f);
            prepared.new_in = Some(dir.join(folder));
        }
        for n in plan.new_segments {
            let target = segments::segment_file(name, out.len());
            let (file, staged) = txn.stage(&target)?;
            // Staged files are fsynced by the commit on a durable store.
            write_rows(&file, src, first, n, 0)
                .ctx(format_args!("cannot write {}", staged.display()))?;
            first += n;
            out.push(SegmentFile {
                path: dir.join(&target),
                file: Arc::new(file),
                segment: Segment {
                    file: target,
                    rows: n,
                    bytes: n * row,
                },
            });
        }
        let list: Vec<Segment> = out.iter().map(|s| s.segment.clone()).collect();
        let (file, staged) = txn.stage(&st.meta.data_file)?;
        fsutil::write_all_at(&file, segments::encode_manifest(&list).as_bytes(), 0)
            .ctx(format_args!("cannot write {}", staged.display()))?;
        Ok(())
    })();
    if let Err(e) = result {
        prepared.undo();
        return Err(e);
    }
    prepared.state.meta = meta;
    prepared.state.data = DataFiles::Segmented { segments: out };
    Ok(prepared)
}

impl crate::store::Store {
    /// Whether a whole-array save of `shape` over the array `name` keeps numpack 0.7.0's
    /// segments: the array is segmented now (with its segment folder) and the new content is
    /// larger than the target, which is when numpack 0.7.0's own save writes segments. Other
    /// saves write one file, which both numpack versions read.
    pub(crate) fn saves_as_segments(
        &self,
        current: &Snapshot,
        name: &str,
        dtype: DType,
        shape: &[u64],
    ) -> bool {
        let Some(DataFiles::Segmented { segments }) = current.arrays.get(name).map(|s| &s.data)
        else {
            return false;
        };
        if segments.is_empty() || shape.is_empty() {
            return false;
        }
        let row = shape[1..].iter().product::<u64>() * dtype.size() as u64;
        let total = byte_size(shape, dtype).unwrap_or(0);
        row > 0 && total > segments::target_bytes(row)
    }

    /// Stages `bytes` (C order, `shape`) as array `name` in numpack 0.7.0's segmented layout,
    /// split as its save splits (`target / row` rows a segment), over the array's current
    /// segments: files of the same name are renamed over, the others removed, the folder kept.
    /// The caller checked `saves_as_segments`.
    pub(crate) fn stage_segments(
        &self,
        txn: &mut Txn,
        current: &Snapshot,
        name: &str,
        dtype: DType,
        shape: &[u64],
        bytes: &[u8],
    ) -> Result<ArrayState> {
        let row = shape[1..].iter().product::<u64>() * dtype.size() as u64;
        let per_segment = (segments::target_bytes(row) / row).max(1);
        let rows = shape[0];
        let mut out = Vec::new();
        let mut first = 0u64;
        while first < rows {
            let n = per_segment.min(rows - first);
            let target = segments::segment_file(name, out.len());
            let (file, staged) = txn.stage(&target)?;
            let (a, b) = ((first * row) as usize, ((first + n) * row) as usize);
            fsutil::write_all_at(&file, &bytes[a..b], 0)
                .ctx(format_args!("cannot write {}", staged.display()))?;
            out.push(SegmentFile {
                path: self.inner.dir.join(&target),
                file: Arc::new(file),
                segment: Segment {
                    file: target,
                    rows: n,
                    bytes: n * row,
                },
            });
            first += n;
        }
        let manifest = segment_manifest_name(name);
        let list: Vec<Segment> = out.iter().map(|s| s.segment.clone()).collect();
        let (file, staged) = txn.stage(&manifest)?;
        fsutil::write_all_at(&file, segments::encode_manifest(&list).as_bytes(), 0)
            .ctx(format_args!("cannot write {}", staged.display()))?;
        let old = current.get(name)?;
        if old.bitmap.is_some() {
            txn.remove(&bitmap_file_name(name));
        }
        if let DataFiles::Segmented { segments } = &old.data {
            for s in segments {
                if !list.iter().any(|n| n.file == s.segment.file) {
                    txn.remove(&s.segment.file);
                }
            }
        }
        let mut meta = ArrayMeta::new(name, dtype, shape.to_vec(), fsutil::now_micros());
        meta.data_file = manifest;
        Ok(ArrayState {
            map: Default::default(),
            meta,
            damage: None,
            bitmap: None,
            data: DataFiles::Segmented { segments: out },
        })
    }
}
