//! Modify times of in-place row replacements: visible at once, on disk after close.

mod common;

use common::{reader, save, wait_for_clock_past, writer, TempDir};
use numpack::layout::Src;
use numpack::DType;

#[test]
fn a_replaced_rows_modify_time_is_seen_at_once_and_persisted_at_close() {
    let dir = TempDir::new("mtime");
    let w = writer(&dir);
    save(&w, "x", &[4, 2], &[0i32; 8]);
    let saved = w.info("x").unwrap().modify_time_us;
    wait_for_clock_past(saved);
    let row = common::to_bytes(&[1i32, 1]);
    w.replace_rows(
        "x",
        &[-1],
        DType::I32,
        &Src::contiguous(&row, &[1, 2], 4).unwrap(),
    )
    .unwrap();
    let replaced = w.info("x").unwrap().modify_time_us;
    assert!(replaced > saved, "the writer sees the new time at once");
    assert_eq!(
        reader(&dir).info("x").unwrap().modify_time_us,
        saved,
        "not yet committed"
    );
    drop(w);
    assert_eq!(
        reader(&dir).info("x").unwrap().modify_time_us,
        replaced,
        "written at close"
    );
}
