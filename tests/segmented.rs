//! numpack 0.7.0 stores arrays over 256 MiB as segments behind a JSON manifest (format.md §5).
//! 0.7.0 cannot be installed here, so these stores are built byte for byte as it writes them.

mod common;

use common::{load, reader, segmented_store, TempDir};
use numpack::layout::{Dst, Src};
use numpack::DType;
use numpack::{ErrorKind, OpenOptions, Store};

#[test]
fn segmented_arrays_read_across_segment_boundaries() {
    let dir = TempDir::new("read");
    let values = segmented_store(&dir, &[3, 1, 4]);
    let s = reader(&dir);
    let info = s.info("x").unwrap();
    assert_eq!((info.shape.clone(), info.segmented), (vec![8, 3], true));
    assert_eq!(load::<i32>(&s, "x"), values);

    // Rows straddling segments, and negative indices.
    let mut short = vec![0u8; 3 * 12];
    assert!(
        Dst::contiguous(&mut short, &[4, 3], 4).is_err(),
        "a 36-byte buffer cannot hold (4,3) i32"
    );
    let mut out = vec![0u8; 4 * 12];
    s.get_rows(
        "x",
        &[2, 3, 4, -1],
        DType::I32,
        &mut Dst::contiguous(&mut out, &[4, 3], 4).unwrap(),
    )
    .unwrap();
    let got: Vec<i32> = out
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, vec![20, 21, 22, 30, 31, 32, 40, 41, 42, 70, 71, 72]);

    let view = s.view("x").unwrap();
    assert!(
        !view.is_mapped(),
        "segments cannot be one mapping: the view is a copy"
    );
    // SAFETY: the view holds 8*3 i32 until dropped.
    let viewed = unsafe { std::slice::from_raw_parts(view.as_ptr().cast::<i32>(), 24) };
    assert_eq!(viewed, values.as_slice());
}

/// numpack 0.7.0's segment size for this test binary: 40 bytes, so a segment of (n, 3) int32
/// rows is full at 3 rows. Every test sets the same value before touching a store.
fn small_segments() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("NUMPACK_SEGMENT_TARGET_BYTES", "40"));
}

fn rows_of(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn manifest_rows(dir: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("data_x.npkseg")).unwrap();
    numpack::internals::segments::parse_manifest(&text, "x")
        .unwrap()
        .iter()
        .map(|s| s.rows)
        .collect()
}

#[test]
fn appends_fill_the_last_segment_then_add_segments_as_numpack_07_does() {
    small_segments();
    let dir = TempDir::new("append");
    let mut values = segmented_store(&dir, &[3, 1]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let more: Vec<i32> = (12..18)
        .flat_map(|r| (0..3).map(move |c| 10 * r + c))
        .collect();
    let bytes = rows_of(&more);
    s.append(
        "x",
        DType::I32,
        &Src::contiguous(&bytes, &[6, 3], 4).unwrap(),
    )
    .unwrap();
    values.extend(&more);
    // Segment 1 grew from 1 to 3 rows (36 of 40 bytes), then two new segments.
    assert_eq!(manifest_rows(&dir), [3, 3, 3, 1]);
    assert_eq!(
        std::fs::metadata(dir.join("data_x_segments/seg_000003.npkd"))
            .unwrap()
            .len(),
        12
    );
    assert!(s.info("x").unwrap().segmented);
    assert_eq!(load::<i32>(&s, "x"), values);
    drop(s);
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".npk"))
        .collect();
    names.sort();
    assert_eq!(names, ["data_x.npkseg", "data_x_segments", "metadata.npkm"]);
}

#[test]
fn rows_and_blocks_are_written_in_place_across_segments() {
    small_segments();
    let dir = TempDir::new("inplace");
    let mut values = segmented_store(&dir, &[3, 1, 3]);
    let before = manifest_rows(&dir);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    // Rows 2 and 3 sit in different segments; -1 is in the last.
    let new = [-1, -2, -3, -4, -5, -6, -7, -8, -9];
    let bytes = rows_of(&new);
    s.replace_rows(
        "x",
        &[2, 3, -1],
        DType::I32,
        &Src::contiguous(&bytes, &[3, 3], 4).unwrap(),
    )
    .unwrap();
    values[6..9].copy_from_slice(&new[0..3]);
    values[9..12].copy_from_slice(&new[3..6]);
    values[18..21].copy_from_slice(&new[6..9]);
    assert_eq!(load::<i32>(&s, "x"), values);
    // A block of rows 2..5, columns 1..3, straddling all three segments.
    let block: Vec<i32> = (100..106).collect();
    let bytes = rows_of(&block);
    s.write_block(
        "x",
        DType::I32,
        &[2, 1],
        &Src::contiguous(&bytes, &[3, 2], 4).unwrap(),
    )
    .unwrap();
    for (k, r) in (2..5).enumerate() {
        values[r * 3 + 1] = block[2 * k];
        values[r * 3 + 2] = block[2 * k + 1];
    }
    assert_eq!(load::<i32>(&s, "x"), values);
    drop(s);
    assert_eq!(
        manifest_rows(&dir),
        before,
        "in-place writes keep the layout"
    );
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
}

#[test]
fn dropped_rows_and_appends_combine_on_segments() {
    small_segments();
    let dir = TempDir::new("droprows");
    let mut values = segmented_store(&dir, &[3, 1]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    s.drop_rows("x", &[1]).unwrap();
    values.drain(3..6);
    let bytes = rows_of(&[7, 8, 9]);
    s.append(
        "x",
        DType::I32,
        &Src::contiguous(&bytes, &[1, 3], 4).unwrap(),
    )
    .unwrap();
    values.extend([7, 8, 9]);
    assert_eq!(load::<i32>(&s, "x"), values);
    assert_eq!(s.info("x").unwrap().shape, vec![4, 3]);
    drop(s);
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
    assert_eq!(manifest_rows(&dir), [3, 2]);
}

#[test]
fn compaction_still_consolidates_segments_into_one_file() {
    small_segments();
    let dir = TempDir::new("compact");
    let values = segmented_store(&dir, &[2, 2]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    s.drop_rows("x", &[1]).unwrap();
    s.compact(None).unwrap();
    assert!(!s.info("x").unwrap().segmented);
    assert!(!dir.join("data_x.npkseg").exists() && !dir.join("data_x_segments").exists());
    let mut expect = values.clone();
    expect.drain(3..6);
    assert_eq!(load::<i32>(&s, "x"), expect);
}

/// The store opens read-only; the damaged segmented array reports its damage on access.
fn access_err(dir: &std::path::Path) -> numpack::Error {
    let read_only = OpenOptions {
        read_only: true,
        ..Default::default()
    };
    let s = Store::open(dir, read_only).expect("one damaged array does not fail the open");
    let info = s.info("x").expect_err("info of the damaged array fails");
    let mut out = vec![0u8; 48];
    let mut dst = Dst::contiguous(&mut out, &[4, 3], 4).unwrap();
    let loaded = s
        .load("x", DType::I32, &mut dst)
        .expect_err("load of the damaged array fails");
    assert_eq!(info, loaded);
    info
}

#[test]
fn a_manifest_that_disagrees_with_the_metadata_is_corrupt() {
    let dir = TempDir::new("corrupt");
    segmented_store(&dir, &[2, 2]);
    std::fs::write(dir.join("data_x_segments/seg_000001.npkd"), [0u8; 5]).unwrap();
    let err = access_err(&dir);
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("seg_000001"), "{}", err.message);

    segmented_store(&dir, &[2, 2]);
    let manifest = std::fs::read_to_string(dir.join("data_x.npkseg")).unwrap();
    std::fs::write(
        dir.join("data_x.npkseg"),
        manifest.replace("data_x_segments/seg_000000", "../../etc/passwd"),
    )
    .unwrap();
    let err = access_err(&dir);
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("\"x\""), "{}", err.message);
}

/// Segments of 1,024 rows of 12 bytes are 3 pages each, so a writable batch maps them side by
/// side: one pointer over the whole array, writes landing in the segment files, no
/// consolidation.
#[test]
fn a_writable_batch_maps_page_sized_segments_side_by_side() {
    small_segments();
    let dir = TempDir::new("wbatch");
    let mut values = segmented_store(&dir, &[1024, 1024, 5]);
    let manifest = std::fs::read(dir.join("data_x.npkseg")).unwrap();
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let mut b = numpack::batch::WritableBatch::begin(&s).unwrap();
    let v = b.load("x").unwrap();
    assert_eq!(v.shape, vec![2053, 3]);
    // SAFETY: the view holds 2053 * 3 i32 until the batch ends.
    let view = unsafe { std::slice::from_raw_parts_mut(v.ptr.cast::<i32>(), values.len()) };
    assert_eq!(
        view,
        values.as_slice(),
        "one contiguous pointer over three segments"
    );
    for r in [0usize, 1023, 1024, 2047, 2048, 2052] {
        view[r * 3 + 1] = -(r as i32);
        values[r * 3 + 1] = -(r as i32);
    }
    b.end().unwrap();
    assert_eq!(load::<i32>(&s, "x"), values);
    drop(s);
    assert!(reader(&dir).info("x").unwrap().segmented);
    assert_eq!(std::fs::read(dir.join("data_x.npkseg")).unwrap(), manifest);
    let seg1 = std::fs::read(dir.join("data_x_segments/seg_000001.npkd")).unwrap();
    assert_eq!(
        seg1[4..8],
        (-1024i32).to_le_bytes(),
        "row 1024 is segment 1's row 0"
    );
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
}

/// Segments that are not page multiples cannot be mapped side by side: the writable batch
/// consolidates that array into one file first (as it compacts an array with dropped rows).
#[test]
fn a_writable_batch_consolidates_segments_that_are_not_page_multiples() {
    small_segments();
    let dir = TempDir::new("wbatch-odd");
    let mut values = segmented_store(&dir, &[3, 1]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let mut b = numpack::batch::WritableBatch::begin(&s).unwrap();
    let v = b.load("x").unwrap();
    // SAFETY: the view holds 4 * 3 i32 until the batch ends.
    let view = unsafe { std::slice::from_raw_parts_mut(v.ptr.cast::<i32>(), values.len()) };
    view[10] = 7;
    values[10] = 7;
    b.end().unwrap();
    assert!(!s.info("x").unwrap().segmented);
    assert_eq!(load::<i32>(&s, "x"), values);
}

/// A cache batch's save of a segmented array writes it as numpack 0.7.0's save would: segments
/// when it is larger than the target, reusing the segment names and removing the ones left over.
#[test]
fn a_cache_batch_rewrites_a_segmented_array_as_segments() {
    small_segments();
    let dir = TempDir::new("cbatch");
    let mut values = segmented_store(&dir, &[3, 3, 3, 1]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let mut b = numpack::batch::CacheBatch::begin(&s, 64).unwrap();
    let v = b.load("x").unwrap();
    // SAFETY: the batch's buffer holds 10 * 3 i32 until the batch ends.
    let view = unsafe { std::slice::from_raw_parts_mut(v.ptr.cast::<i32>(), values.len()) };
    assert_eq!(view, values.as_slice());
    view[4] = 99;
    values[4] = 99;
    // Fewer rows: 5 rows of 12 bytes over 40-byte segments.
    values.truncate(15);
    // SAFETY: the first 15 of the buffer's 30 i32, alive until the batch ends.
    let bytes = unsafe { std::slice::from_raw_parts(v.ptr, 15 * 4) };
    b.save(
        "x",
        DType::I32,
        &Src::contiguous(bytes, &[5, 3], 4).unwrap(),
    )
    .unwrap();
    b.end().unwrap();
    assert_eq!(load::<i32>(&s, "x"), values);
    assert!(s.info("x").unwrap().segmented);
    drop(s);
    assert_eq!(manifest_rows(&dir), [3, 2]);
    assert!(!dir.join("data_x_segments/seg_000002.npkd").exists());
    assert!(!dir.join("data_x_segments/seg_000003.npkd").exists());
    assert!(!dir.join("data_x.npkd").exists());
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);

    // Three rows (36 bytes) fit the 40-byte target: numpack 0.7.0 would write one file.
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let mut b = numpack::batch::CacheBatch::begin(&s, 64).unwrap();
    let small = rows_of(&values[..9]);
    b.save(
        "x",
        DType::I32,
        &Src::contiguous(&small, &[3, 3], 4).unwrap(),
    )
    .unwrap();
    b.end().unwrap();
    assert!(!s.info("x").unwrap().segmented);
    assert_eq!(load::<i32>(&s, "x"), values[..9]);
    drop(s);
    assert!(!dir.join("data_x.npkseg").exists() && !dir.join("data_x_segments").exists());
}

/// Between an append's decision and its renames, the new segment is only under its staged
/// name: a reader rolls the record forward and finds it there, as it finds the manifest.
#[test]
fn readers_find_a_new_segment_under_its_staged_name_until_the_record_is_applied() {
    use numpack::internals::record::{Op, Record, COMMIT_FILE, STAGE_PREFIX};
    small_segments();
    // The state after the append, made by a real append in another directory.
    let after = TempDir::new("gap-after");
    let mut values = segmented_store(&after, &[3, 3]);
    let bytes = rows_of(&[60, 61, 62]);
    let s = Store::open(&after, OpenOptions::default()).unwrap();
    s.append(
        "x",
        DType::I32,
        &Src::contiguous(&bytes, &[1, 3], 4).unwrap(),
    )
    .unwrap();
    drop(s);
    values.extend([60, 61, 62]);
    assert_eq!(manifest_rows(&after), [3, 3, 1]);
    // The store before it, with the three files staged and the decided record.
    let dir = TempDir::new("gap");
    segmented_store(&dir, &[3, 3]);
    let files = [
        "data_x_segments/seg_000002.npkd",
        "data_x.npkseg",
        "metadata.npkm",
    ];
    let mut ops = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let staged = format!("{STAGE_PREFIX}t-{i}");
        std::fs::copy(after.join(f), dir.join(&staged)).unwrap();
        ops.push(Op::Rename {
            from: staged,
            to: f.to_string(),
        });
    }
    let record = Record {
        txid: "t".into(),
        ops,
    };
    std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
    assert!(dir.join(COMMIT_FILE).exists(), "a reader applies nothing");
    let w = Store::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(load::<i32>(&w, "x"), values);
    assert!(dir.join("data_x_segments/seg_000002.npkd").exists());
}

#[test]
fn durable_stores_append_to_segments_too() {
    small_segments();
    let dir = TempDir::new("durable");
    let mut values = segmented_store(&dir, &[3, 2]);
    let durable = OpenOptions {
        durable: true,
        ..Default::default()
    };
    let s = Store::open(&dir, durable).unwrap();
    let more: Vec<i32> = (5..9)
        .flat_map(|r| (0..3).map(move |c| 10 * r + c))
        .collect();
    let bytes = rows_of(&more);
    s.append(
        "x",
        DType::I32,
        &Src::contiguous(&bytes, &[4, 3], 4).unwrap(),
    )
    .unwrap();
    values.extend(&more);
    assert_eq!(manifest_rows(&dir), [3, 3, 3]);
    drop(s);
    assert_eq!(load::<i32>(&reader(&dir), "x"), values);
}

/// A read view of page-sized segments is one mapping over the segment files (no copy of a
/// possibly huge array); other segments are copied.
#[test]
fn read_views_map_page_sized_segments_side_by_side() {
    let dir = TempDir::new("rview");
    let values = segmented_store(&dir, &[1024, 1024, 5]);
    let s = reader(&dir);
    let view = s.view("x").unwrap();
    assert!(
        view.is_mapped(),
        "three whole-page segments map side by side"
    );
    assert_eq!(view.len(), values.len() * 4);
    // SAFETY: the view holds 2053 * 3 i32 until dropped.
    let got = unsafe { std::slice::from_raw_parts(view.as_ptr().cast::<i32>(), values.len()) };
    assert_eq!(got, values.as_slice());
}

/// numpack 0.7.0 segments arrays under any name it accepts. One whose name we would not create
/// but can name files for (a tab here) reads whole, segments and all; writes to it are refused
/// with a clear code, and the store stays as it was.
#[test]
fn a_segmented_array_with_an_odd_name_reads() {
    let dir = TempDir::new("odd-seg");
    let values = segmented_store(&dir, &[2, 3]);
    let name = "tab\there";
    std::fs::rename(
        dir.join("data_x_segments"),
        dir.join(format!("data_{name}_segments")),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(dir.join("data_x.npkseg")).unwrap();
    std::fs::remove_file(dir.join("data_x.npkseg")).unwrap();
    // JSON writes the tab as \t.
    let manifest = manifest.replace("data_x_segments", "data_tab\\there_segments");
    std::fs::write(dir.join(format!("data_{name}.npkseg")), manifest).unwrap();
    let mut meta = numpack::internals::metadata::ArrayMeta::new(name, DType::I32, vec![5, 3], 1);
    meta.data_file = format!("data_{name}.npkseg");
    let mut catalog = numpack::internals::metadata::Catalog::default();
    catalog.arrays.insert(name.into(), meta);
    let bytes = numpack::internals::metadata::encode(&catalog);
    std::fs::write(dir.join("metadata.npkm"), &bytes).unwrap();

    let s = reader(&dir);
    assert!(s.info(name).unwrap().segmented);
    assert_eq!(load::<i32>(&s, name), values);
    drop(s);

    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    assert_eq!(load::<i32>(&s, name), values);
    let row = rows_of(&[1, 2, 3]);
    let err = s
        .append(
            name,
            DType::I32,
            &Src::contiguous(&row, &[1, 3], 4).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{err}");
    drop(s);
    assert_eq!(std::fs::read(dir.join("metadata.npkm")).unwrap(), bytes);
    assert_eq!(load::<i32>(&reader(&dir), name), values);
}
