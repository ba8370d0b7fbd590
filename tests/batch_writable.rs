//! The writable batch (NumPack's `writable_batch_mode`) through the Rust API: views map the data
//! files, so writes through them persist without a save; `end` records modify times; shapes and
//! dtypes cannot change; a file changed behind the batch's back is reported. The rules both
//! batches share are in tests/batch.rs; the C suite is c_tests/batch/batch_writable.c.

mod common;

use common::{
    load, load_bytes, load_shaped, pattern, reader, save, seq, to_bytes, view_src, view_values,
    wait_for_clock_past, writer, TempDir,
};
use numpack::batch::WritableBatch;
use numpack::layout::Src;
use numpack::{DType, ErrorKind};

#[test]
fn writes_through_a_view_persist_at_end_without_a_save() {
    let dir = TempDir::new("persist");
    let s = writer(&dir);
    for n in ["a", "b", "c"] {
        save(&s, n, &[10, 10], &seq(100, 1.0));
    }
    let mut b = WritableBatch::begin(&s).unwrap();
    for (n, k) in [("a", 2.0), ("b", 3.0), ("c", 4.0)] {
        let v = b.load(n).unwrap();
        assert!(v.writable);
        // SAFETY: the mapping is live until the batch ends.
        unsafe { view_values::<f64>(&v) }
            .iter_mut()
            .for_each(|x| *x *= k);
        assert_eq!(
            b.load(n).unwrap().ptr,
            v.ptr,
            "a second load maps nothing new"
        );
    }
    b.end().unwrap();
    for (n, k) in [("a", 2.0), ("b", 3.0), ("c", 4.0)] {
        assert_eq!(load::<f64>(&s, n), seq(100, k), "{n}");
        assert_eq!(
            std::fs::read(dir.join(format!("data_{n}.npkd"))).unwrap(),
            to_bytes(&seq(100, k)),
            "{n}: written to the data file in place"
        );
    }
    drop(s);
    assert_eq!(load::<f64>(&reader(&dir), "a"), seq(100, 2.0));
}

#[test]
fn end_records_modify_times_and_abort_keeps_the_writes_without_them() {
    let dir = TempDir::new("mtime");
    let s = writer(&dir);
    save(&s, "ended", &[4], &seq(4, 1.0));
    save(&s, "aborted", &[4], &seq(4, 1.0));
    let before = s.info("aborted").unwrap().modify_time_us;
    wait_for_clock_past(before.max(s.info("ended").unwrap().modify_time_us));
    let mut b = WritableBatch::begin(&s).unwrap();
    // SAFETY: the mapping is live until the batch ends.
    let first = unsafe { view_values::<f64>(&b.load("ended").unwrap()) };
    first[0] = 9.0;
    b.end().unwrap();
    // An ended batch still holds the store handle: drop it, or the store is not closed below.
    drop(b);
    let ended = s.info("ended").unwrap().modify_time_us;
    assert!(ended > before);

    let mut b = WritableBatch::begin(&s).unwrap();
    // SAFETY: as above.
    let first = unsafe { view_values::<f64>(&b.load("aborted").unwrap()) };
    first[0] = 9.0;
    b.abort();
    assert_eq!(s.info("aborted").unwrap().modify_time_us, before);
    assert_eq!(
        load::<f64>(&s, "aborted"),
        vec![9.0, 1.0, 2.0, 3.0],
        "a writable batch writes in place: abort cannot take it back"
    );
    drop(s);
    assert_eq!(
        reader(&dir).info("ended").unwrap().modify_time_us,
        ended,
        "the modify time reaches the disk at close"
    );
}

#[test]
fn save_copies_a_matching_buffer_and_refuses_a_new_shape_or_dtype() {
    let dir = TempDir::new("save");
    let s = writer(&dir);
    save(&s, "x", &[2, 3], &seq(6, 1.0));
    let mut b = WritableBatch::begin(&s).unwrap();
    let v = b.load("x").unwrap();
    // SAFETY: the mapping is live until the batch ends.
    b.save("x", DType::F64, &unsafe { view_src(&v) }).unwrap();
    let other = to_bytes(&seq(6, -1.0));
    b.save(
        "x",
        DType::F64,
        &Src::contiguous(&other, &[2, 3], 8).unwrap(),
    )
    .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { view_values::<f64>(&v) }, seq(6, -1.0).as_slice());

    let longer = to_bytes(&seq(9, 5.0));
    let err = b
        .save(
            "x",
            DType::F64,
            &Src::contiguous(&longer, &[3, 3], 8).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ShapeMismatch, "{}", err.message);
    let ints = to_bytes(&[5i64; 6]);
    let err = b
        .save(
            "x",
            DType::I64,
            &Src::contiguous(&ints, &[2, 3], 8).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DtypeMismatch, "{}", err.message);
    // The dtype is right but the buffer's items are not float64s: copying it by its own layout
    // would write past the mapping.
    let wide = vec![0u8; 6 * 4096];
    let err = b
        .save(
            "x",
            DType::F64,
            &Src::contiguous(&wide, &[2, 3], 4096).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{}", err.message);
    let err = b
        .save(
            "nope",
            DType::F64,
            &Src::contiguous(&other, &[2, 3], 8).unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::NotFound,
        "a writable batch cannot create arrays"
    );
    assert_eq!(b.load("nope").unwrap_err().kind, ErrorKind::NotFound);
    b.end().unwrap();
    assert_eq!(load_shaped::<f64>(&s, "x"), (vec![2, 3], seq(6, -1.0)));
    assert!(!s.has("nope"));
}

#[test]
fn dropped_rows_are_compacted_away_before_mapping() {
    let dir = TempDir::new("dropped");
    let s = writer(&dir);
    save(&s, "x", &[10, 10], &seq(100, 1.0));
    s.drop_rows("x", &[0]).unwrap();
    let mut b = WritableBatch::begin(&s).unwrap();
    let v = b.load("x").unwrap();
    assert_eq!(v.shape, vec![9, 10], "the view never shows a dropped row");
    // SAFETY: the mapping is live until the batch ends.
    let xs = unsafe { view_values::<f64>(&v) };
    assert_eq!(xs, &seq(100, 1.0)[10..]);
    xs.iter_mut().for_each(|x| *x *= 2.0);
    b.end().unwrap();
    let info = s.info("x").unwrap();
    assert_eq!((info.shape, info.physical_rows), (vec![9, 10], 9));
    assert!(!dir.join("deleted_x.npkb").exists());
    assert_eq!(load::<f64>(&reader(&dir), "x")[0], 20.0);
}

#[test]
fn empty_and_0d_arrays_map_too() {
    let dir = TempDir::new("empty");
    let s = writer(&dir);
    save::<i32>(&s, "e", &[0, 3], &[]);
    save(&s, "scalar", &[], &[42i32]);
    let mut b = WritableBatch::begin(&s).unwrap();
    let e = b.load("e").unwrap();
    assert!(e.ptr.is_null(), "no elements, no mapping");
    assert_eq!(e.shape, vec![0, 3]);
    b.save("e", DType::I32, &Src::contiguous(&[], &[0, 3], 4).unwrap())
        .unwrap();
    let v = b.load("scalar").unwrap();
    assert_eq!(v.shape, Vec::<u64>::new());
    // SAFETY: the mapping is live until the batch ends.
    let first = unsafe { view_values::<i32>(&v) };
    first[0] = 99;
    b.end().unwrap();
    assert_eq!(load_shaped::<i32>(&s, "e"), (vec![0, 3], vec![]));
    assert_eq!(load_shaped::<i32>(&s, "scalar"), (vec![], vec![99]));
}

#[test]
fn every_dtype_changed_through_a_view_persists() {
    let dir = TempDir::new("dtypes");
    let s = writer(&dir);
    for dtype in DType::ALL {
        let zeros = vec![0u8; 50 * dtype.size()];
        s.save(
            dtype.name(),
            dtype,
            &Src::contiguous(&zeros, &[10, 5], dtype.size()).unwrap(),
        )
        .unwrap();
    }
    let mut b = WritableBatch::begin(&s).unwrap();
    for dtype in DType::ALL {
        let v = b.load(dtype.name()).unwrap();
        assert_eq!((v.dtype, v.shape.clone()), (dtype, vec![10, 5]));
        // SAFETY: the mapping holds 50 elements of the dtype until the batch ends.
        let bytes = unsafe { std::slice::from_raw_parts_mut(v.ptr, 50 * dtype.size()) };
        bytes.copy_from_slice(&pattern(dtype, bytes.len(), dtype.code().into()));
    }
    b.end().unwrap();
    let r = reader(&dir);
    for dtype in DType::ALL {
        assert_eq!(
            load_bytes(&r, dtype.name()),
            pattern(dtype, 50 * dtype.size(), dtype.code().into()),
            "{dtype}"
        );
    }
}

#[test]
fn a_data_file_truncated_or_replaced_behind_the_batch_is_reported() {
    let dir = TempDir::new("behind");
    let s = writer(&dir);
    save(&s, "cut", &[512], &seq(512, 1.0));
    save(&s, "swapped", &[4], &seq(4, 1.0));
    let mut b = WritableBatch::begin(&s).unwrap();
    b.load("cut").unwrap();
    b.load("swapped").unwrap();
    // Another program cuts one file short; the views are never touched after that.
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("data_cut.npkd"))
        .unwrap()
        .set_len(8)
        .unwrap();
    let other = to_bytes(&seq(512, 2.0));
    let err = b
        .save(
            "cut",
            DType::F64,
            &Src::contiguous(&other, &[512], 8).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("data_cut.npkd"), "{}", err.message);
    assert_eq!(b.end().unwrap_err().kind, ErrorKind::Corrupt);
    b.abort();

    // Another program renames a new file over the mapped one: writes would go nowhere.
    let mut b = WritableBatch::begin(&s).unwrap();
    b.load("swapped").unwrap();
    let fresh = dir.join("elsewhere");
    std::fs::write(&fresh, to_bytes(&seq(4, 1.0))).unwrap();
    std::fs::rename(&fresh, dir.join("data_swapped.npkd")).unwrap();
    let err = b.end().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("data_swapped.npkd"), "{}", err.message);
    b.abort();
}

/// Mappings of this process whose file is `path` (by name) or has inode `ino`.
fn mappings(path: &std::path::Path, ino: Option<u64>) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = path.to_str().unwrap();
    maps.lines()
        .filter(|l| {
            let inode = l
                .split_whitespace()
                .nth(4)
                .and_then(|i| i.parse::<u64>().ok());
            l.ends_with(name) || (ino.is_some() && inode == ino)
        })
        .count()
}

fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// The README loop runs a writable batch per round: each one must not map, fault in and unmap
/// the file again. The next batch gets the same mapping and sees the last one's writes.
#[test]
fn batches_in_a_row_reuse_one_mapping_and_see_each_others_writes() {
    let dir = TempDir::new("reuse");
    let s = writer(&dir);
    save(&s, "a", &[512, 16], &seq(512 * 16, 1.0));
    let file = dir.join("data_a.npkd");
    let mut first = None;
    for round in 0..3 {
        let mut b = WritableBatch::begin(&s).unwrap();
        let v = b.load("a").unwrap();
        assert_eq!(
            *first.get_or_insert(v.ptr),
            v.ptr,
            "round {round}: mapped again"
        );
        // SAFETY: the mapping is live until the batch ends.
        let values = unsafe { view_values::<f64>(&v) };
        assert_eq!(values[1], f64::from(1 << round), "round {round}");
        values.iter_mut().for_each(|x| *x *= 2.0);
        b.end().unwrap();
        assert_eq!(mappings(&file, None), 1, "round {round}");
    }
    assert_eq!(load::<f64>(&s, "a"), seq(512 * 16, 8.0));
    drop(s);
    assert_eq!(mappings(&file, None), 0, "still mapped after close");
}

/// A save gives the array a new file: the next batch must write there, not into the old file
/// through a kept mapping, and the old file's mapping must not outlive it.
#[test]
fn a_save_between_batches_maps_the_new_file_and_lets_the_old_one_go() {
    let dir = TempDir::new("resaved");
    let s = writer(&dir);
    let file = dir.join("data_a.npkd");
    // 1 MiB: the old file is kept as a spare (renamed, still on disk); 8 KiB: it is removed.
    for rows in [8192u64, 64] {
        let n = 16;
        save(&s, "a", &[rows, n], &seq(rows * n, 1.0));
        let mut b = WritableBatch::begin(&s).unwrap();
        // SAFETY: the mapping is live until the batch ends.
        let v = b.load("a").unwrap();
        let values = unsafe { view_values::<f64>(&v) };
        values[0] = 7.0;
        b.end().unwrap();
        let old = inode(&file);
        save(&s, "a", &[rows, n], &seq(rows * n, 3.0));
        assert_ne!(inode(&file), old);
        assert_eq!(
            mappings(&file, Some(old)),
            0,
            "the replaced file is still mapped"
        );

        let mut b = WritableBatch::begin(&s).unwrap();
        let v = b.load("a").unwrap();
        // SAFETY: as above.
        let values = unsafe { view_values::<f64>(&v) };
        assert_eq!(values[1], 3.0, "the batch shows the old file");
        values[0] = 5.0;
        b.end().unwrap();
        let mut want = seq(rows * n, 3.0);
        want[0] = 5.0;
        assert_eq!(load::<f64>(&s, "a"), want);
    }
}
