//! numpack 0.7.0 stores arrays over 256 MiB as segments behind a JSON manifest (format.md §5).
//! 0.7.0 cannot be installed here, so these stores are built byte for byte as it writes them.

mod common;

use common::{load, reader, segmented_store, TempDir};
use numpack::layout::Dst;
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

#[test]
fn writes_in_place_refuse_segments_until_compacted_into_one_file() {
    let dir = TempDir::new("compact");
    let values = segmented_store(&dir, &[2, 2]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    let row = [0u8; 12];
    let src = numpack::layout::Src::contiguous(&row, &[1, 3], 4).unwrap();
    let err = s.append("x", DType::I32, &src).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(
        err.message.contains("segments") && err.message.contains("\"x\""),
        "{}",
        err.message
    );

    s.drop_rows("x", &[1]).unwrap();
    s.compact(None).unwrap();
    assert!(!s.info("x").unwrap().segmented);
    assert!(!dir.join("data_x.npkseg").exists() && !dir.join("data_x_segments").exists());
    let mut expect = values.clone();
    expect.drain(3..6);
    assert_eq!(load::<i32>(&s, "x"), expect);
    s.append("x", DType::I32, &src).unwrap();
    assert_eq!(s.info("x").unwrap().shape, vec![4, 3]);
}

fn open_read_only_err(dir: &std::path::Path) -> numpack::Error {
    let read_only = OpenOptions {
        read_only: true,
        ..Default::default()
    };
    Store::open(dir, read_only)
        .err()
        .expect("the open should fail")
}

#[test]
fn a_manifest_that_disagrees_with_the_metadata_is_corrupt() {
    let dir = TempDir::new("corrupt");
    segmented_store(&dir, &[2, 2]);
    std::fs::write(dir.join("data_x_segments/seg_000001.npkd"), [0u8; 5]).unwrap();
    let err = open_read_only_err(&dir);
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("seg_000001"), "{}", err.message);

    segmented_store(&dir, &[2, 2]);
    let manifest = std::fs::read_to_string(dir.join("data_x.npkseg")).unwrap();
    std::fs::write(
        dir.join("data_x.npkseg"),
        manifest.replace("data_x_segments/seg_000000", "../../etc/passwd"),
    )
    .unwrap();
    let err = open_read_only_err(&dir);
    assert_eq!(err.kind, ErrorKind::Corrupt);
}
