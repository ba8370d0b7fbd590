//! Modify times of in-place row replacements: visible at once, on disk after close.

use numpack::layout::Src;
use numpack::{DType, OpenOptions, Store};

#[test]
fn a_replaced_rows_modify_time_is_seen_at_once_and_persisted_at_close() {
    let dir = std::env::temp_dir().join(format!("npk-mtime-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let w = Store::open(
        &dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let data = [0u8; 4 * 8];
    w.save(
        "x",
        DType::I32,
        &Src::contiguous(&data, &[4, 2], 4).unwrap(),
    )
    .unwrap();
    let saved = w.info("x").unwrap().modify_time_us;
    std::thread::sleep(std::time::Duration::from_millis(2));
    let row = [1u8; 8];
    w.replace_rows(
        "x",
        &[-1],
        DType::I32,
        &Src::contiguous(&row, &[1, 2], 4).unwrap(),
    )
    .unwrap();
    let replaced = w.info("x").unwrap().modify_time_us;
    assert!(replaced > saved, "the writer sees the new time at once");
    let on_disk = Store::open(
        &dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        on_disk.info("x").unwrap().modify_time_us,
        saved,
        "not yet committed"
    );
    drop(on_disk);
    drop(w);
    let r = Store::open(
        &dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        r.info("x").unwrap().modify_time_us,
        replaced,
        "written at close"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
