//! The batch contexts through the safe Rust API (the C tests cover the ABI).

use numpack::batch::{CacheBatch, WritableBatch};
use numpack::layout::{Dst, Src};
use numpack::{DType, ErrorKind, OpenOptions, Store};

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("npk-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn writer(p: &std::path::Path) -> Store {
    Store::open(
        p,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn save_f64(s: &Store, name: &str, v: &[f64], shape: &[u64]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    s.save(
        name,
        DType::F64,
        &Src::contiguous(&bytes, shape, 8).unwrap(),
    )
    .unwrap();
}

fn load_f64(s: &Store, name: &str) -> Vec<f64> {
    let info = s.info(name).unwrap();
    let mut bytes = vec![0u8; info.nbytes as usize];
    s.load(
        name,
        DType::F64,
        &mut Dst::contiguous(&mut bytes, &info.shape, 8).unwrap(),
    )
    .unwrap();
    bytes
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// # Safety: `ptr` must point at `n` f64 owned by a live batch view.
unsafe fn scale(ptr: *mut u8, n: usize, k: f64) {
    let xs = std::slice::from_raw_parts_mut(ptr.cast::<f64>(), n);
    xs.iter_mut().for_each(|x| *x *= k);
}

#[test]
fn cache_batch_rounds_commit_once_and_spill_under_a_limit() {
    let dir = tmp("cache");
    let s = writer(&dir);
    let n = 300_000usize; // 2.4 MB each
    save_f64(&s, "a", &vec![1.0; n], &[n as u64]);
    save_f64(&s, "b", &vec![1.0; n], &[n as u64]);
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
    assert_eq!(load_f64(&s, "a")[0], 1.0, "nothing visible before end");
    b.end().unwrap();
    assert!(load_f64(&s, "a").iter().all(|&x| x == 1024.0));
    assert!(load_f64(&s, "b").iter().all(|&x| x == 1024.0));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".npk-stage"))
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writable_batch_changes_in_place_and_refuses_shape_change() {
    let dir = tmp("writable");
    let s = writer(&dir);
    save_f64(
        &s,
        "x",
        &(0..100).map(f64::from).collect::<Vec<_>>(),
        &[10, 10],
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
    let after = load_f64(&s, "x");
    assert_eq!(after.len(), 90);
    assert_eq!(after[0], 20.0);
    assert!(s.info("x").unwrap().modify_time_us > before);
    std::fs::remove_dir_all(&dir).unwrap();
}
