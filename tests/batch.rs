//! The batch contexts through the safe Rust API (the C tests cover the ABI).

mod common;

use common::{load, save, staged_files, writer, TempDir};
use numpack::batch::{CacheBatch, WritableBatch};
use numpack::layout::Src;
use numpack::{DType, ErrorKind};

/// # Safety: `ptr` must point at `n` f64 owned by a live batch view.
unsafe fn scale(ptr: *mut u8, n: usize, k: f64) {
    let xs = std::slice::from_raw_parts_mut(ptr.cast::<f64>(), n);
    xs.iter_mut().for_each(|x| *x *= k);
}

#[test]
fn cache_batch_rounds_commit_once_and_spill_under_a_limit() {
    let dir = TempDir::new("cache");
    let s = writer(&dir);
    let n = 300_000usize; // 2.4 MB each
    save(&s, "a", &[n as u64], &vec![1.0; n]);
    save(&s, "b", &[n as u64], &vec![1.0; n]);
    let mut b = CacheBatch::begin(&s, 3).unwrap();
    assert_eq!(s.drop_arrays(&["a"]).unwrap_err().kind, ErrorKind::Busy);
    assert_eq!(
        CacheBatch::begin(&s, 0).err().unwrap().kind,
        ErrorKind::Busy
    );
    for _ in 0..10 {
        for name in ["a", "b"] {
            let v = b.load(name).unwrap();
            // SAFETY: the view holds n f64 until the next load of another array may evict it.
            unsafe { scale(v.ptr, n, 2.0) };
            let src = Src {
                data: unsafe { std::slice::from_raw_parts(v.ptr, n * 8) },
                origin: 0,
                layout: numpack::layout::Layout::new(&v.shape, None, 8).unwrap(),
            };
            b.save(name, DType::F64, &src).unwrap();
            assert!(
                b.cached_bytes() <= 3 << 20,
                "the limit keeps at most one array in memory"
            );
        }
    }
    assert_eq!(load::<f64>(&s, "a")[0], 1.0, "nothing visible before end");
    b.end().unwrap();
    assert!(load::<f64>(&s, "a").iter().all(|&x| x == 1024.0));
    assert!(load::<f64>(&s, "b").iter().all(|&x| x == 1024.0));
    assert_eq!(staged_files(&dir), Vec::<String>::new());
}

#[test]
fn writable_batch_changes_in_place_and_refuses_shape_change() {
    let dir = TempDir::new("writable");
    let s = writer(&dir);
    save(
        &s,
        "x",
        &[10, 10],
        &(0..100).map(f64::from).collect::<Vec<_>>(),
    );
    s.drop_rows("x", &[0]).unwrap();
    let before = s.info("x").unwrap().modify_time_us;
    let mut b = WritableBatch::begin(&s).unwrap();
    let v = b.load("x").unwrap();
    assert_eq!(
        v.shape,
        vec![9, 10],
        "dropped rows are compacted away before mapping"
    );
    // SAFETY: the mapping holds 90 f64 until the batch ends.
    unsafe { scale(v.ptr, 90, 2.0) };
    assert_eq!(
        b.load("x").unwrap().ptr,
        v.ptr,
        "same mapping on a second load"
    );
    let other = vec![0u8; 8 * 100];
    let err = b
        .save(
            "x",
            DType::F64,
            &Src::contiguous(&other, &[10, 10], 8).unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ShapeMismatch);
    b.end().unwrap();
    let after = load::<f64>(&s, "x");
    assert_eq!(after.len(), 90);
    assert_eq!(after[0], 20.0);
    assert!(s.info("x").unwrap().modify_time_us > before);
}
