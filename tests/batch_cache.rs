//! The cache batch (NumPack's `batch_mode`) through the Rust API: loads are cached, saves are
//! committed together at `end` and never before, `abort` (or dropping the batch) leaves the store
//! as it was, and past the memory limit changed arrays are staged to disk. The rules both
//! batches share are in tests/batch.rs; the C suite is c_tests/batch/batch_cache.c.

mod common;

use common::{
    fingerprint, load, load_bytes, load_shaped, pattern, reader, save, seq, staged_files, to_bytes,
    view_src, view_values, wait_for_clock_past, writer, TempDir,
};
use numpack::batch::CacheBatch;
use numpack::layout::Src;
use numpack::{DType, ErrorKind, Store};

/// Loads `name` in the batch, multiplies it by `k` through the view and saves the view back.
fn scale_and_save(b: &mut CacheBatch, name: &str, k: f64) {
    let v = b.load(name).unwrap();
    // SAFETY: the view is live until the next call on the batch.
    unsafe { view_values::<f64>(&v) }
        .iter_mut()
        .for_each(|x| *x *= k);
    // SAFETY: as above; the slice above is no longer used.
    b.save(name, DType::F64, &unsafe { view_src(&v) }).unwrap();
}

#[test]
fn saved_arrays_are_committed_together_at_end_and_not_before() {
    let dir = TempDir::new("commit");
    let s = writer(&dir);
    for n in ["w0", "w1", "w2"] {
        save(&s, n, &[4, 4], &seq(4 * 4, 1.0));
    }
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    scale_and_save(&mut b, "w0", 2.0);
    let fives = to_bytes(&[5.0f64; 16]);
    b.save(
        "w1",
        DType::F64,
        &Src::contiguous(&fives, &[4, 4], 8).unwrap(),
    )
    .unwrap();
    // A second load returns the cached memory: the same pointer, with the change made through
    // it, although it was never saved.
    let first = b.load("w2").unwrap();
    // SAFETY: the view is live; nothing else uses its memory here.
    let values = unsafe { view_values::<f64>(&first) };
    values[0] = -1.0;
    let again = b.load("w2").unwrap();
    assert_eq!(again.ptr, first.ptr);
    // SAFETY: as above.
    assert_eq!(unsafe { view_values::<f64>(&again) }[0], -1.0);
    scale_and_save(&mut b, "w2", 3.0);
    // A saved buffer replaces the cached one: the next load returns it.
    // SAFETY: as above.
    assert_eq!(
        unsafe { view_values::<f64>(&b.load("w1").unwrap()) },
        &[5.0; 16]
    );

    for s in [&s, &reader(&dir)] {
        for n in ["w0", "w1", "w2"] {
            assert_eq!(load::<f64>(s, n), seq(4 * 4, 1.0), "{n} before end");
        }
    }
    b.end().unwrap();
    let mut w2 = seq(4 * 4, 3.0);
    w2[0] = -3.0;
    for s in [&s, &reader(&dir)] {
        assert_eq!(load::<f64>(s, "w0"), seq(4 * 4, 2.0));
        assert_eq!(load::<f64>(s, "w1"), vec![5.0; 16]);
        assert_eq!(load::<f64>(s, "w2"), w2);
    }
    assert!(staged_files(&dir).is_empty());
}

#[test]
fn new_names_shapes_and_dtypes_saved_in_a_batch_persist() {
    let dir = TempDir::new("reshape");
    let s = writer(&dir);
    save(&s, "w", &[4, 4], &seq(4 * 4, 1.0));
    save(&s, "t", &[2], &[1.0f64, 2.0]);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    let longer = to_bytes(&seq(6 * 4, 1.0));
    b.save(
        "w",
        DType::F64,
        &Src::contiguous(&longer, &[6, 4], 8).unwrap(),
    )
    .unwrap();
    let ints = to_bytes(&[7i32, 8, 9]);
    b.save("t", DType::I32, &Src::contiguous(&ints, &[3], 4).unwrap())
        .unwrap();
    let fresh = to_bytes(&[1u8, 2, 3, 4]);
    b.save(
        "fresh",
        DType::U8,
        &Src::contiguous(&fresh, &[2, 2], 1).unwrap(),
    )
    .unwrap();
    let v = b.load("fresh").unwrap();
    assert_eq!((v.dtype, v.shape.clone()), (DType::U8, vec![2, 2]));
    // SAFETY: the view is live.
    assert_eq!(unsafe { view_values::<u8>(&v) }, &[1, 2, 3, 4]);
    assert!(!s.has("fresh"), "a new name is invisible until end");
    b.end().unwrap();
    let r = reader(&dir);
    assert_eq!(load_shaped::<f64>(&r, "w"), (vec![6, 4], seq(6 * 4, 1.0)));
    assert_eq!(load_shaped::<i32>(&r, "t"), (vec![3], vec![7, 8, 9]));
    assert_eq!(
        load_shaped::<u8>(&r, "fresh"),
        (vec![2, 2], vec![1, 2, 3, 4])
    );
}

#[test]
fn arrays_changed_but_never_saved_are_not_written() {
    let dir = TempDir::new("unsaved");
    let s = writer(&dir);
    save(&s, "touched", &[6, 6], &seq(6 * 6, 1.0));
    save(&s, "saved", &[6, 6], &seq(6 * 6, 1.0));
    let before = s.info("touched").unwrap().modify_time_us;
    wait_for_clock_past(before);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    let v = b.load("touched").unwrap();
    // SAFETY: the view is live.
    unsafe { view_values::<f64>(&v) }
        .iter_mut()
        .for_each(|x| *x *= 10.0);
    scale_and_save(&mut b, "saved", 2.0);
    b.end().unwrap();
    assert_eq!(load::<f64>(&s, "touched"), seq(6 * 6, 1.0));
    assert_eq!(s.info("touched").unwrap().modify_time_us, before);
    assert_eq!(load::<f64>(&s, "saved"), seq(6 * 6, 2.0));
}

/// Three 1 MiB float64 arrays, so a 1 MB memory limit spills changed ones to staged files.
fn three_mib_arrays(s: &Store) {
    for n in ["m0", "m1", "m2"] {
        save(s, n, &[4096, 32], &seq(4096 * 32, 1.0));
    }
}

#[test]
fn abort_and_drop_leave_the_store_byte_identical() {
    let dir = TempDir::new("abort");
    let s = writer(&dir);
    three_mib_arrays(&s);
    let before = fingerprint(&dir);
    let begin = || CacheBatch::begin(&s, 1).unwrap();
    let fill = |b: &mut CacheBatch| {
        for n in ["m0", "m1", "m2"] {
            scale_and_save(b, n, 2.0);
        }
        let fresh = to_bytes(&[1.0f64; 4]);
        b.save(
            "fresh",
            DType::F64,
            &Src::contiguous(&fresh, &[4], 8).unwrap(),
        )
        .unwrap();
        assert!(
            !staged_files(&dir).is_empty(),
            "over the limit, changed arrays are staged to disk"
        );
    };
    let mut b = begin();
    fill(&mut b);
    b.abort();
    assert_eq!(fingerprint(&dir), before, "abort");
    let mut b = begin();
    fill(&mut b);
    drop(b);
    assert_eq!(fingerprint(&dir), before, "a batch dropped without end");
    // The store is free again, and holds what it held.
    assert_eq!(load::<f64>(&s, "m1"), seq(4096 * 32, 1.0));
    assert!(!s.has("fresh"));
    save(&s, "after", &[1], &[1u8]);
}

#[test]
fn over_the_memory_limit_changed_arrays_spill_to_disk_and_still_commit() {
    let dir = TempDir::new("limit");
    let s = writer(&dir);
    let n = 300_000u64; // 2.4 MB each: a 3 MB limit holds one array at a time.
    save(&s, "a", &[n], &vec![1.0f64; n as usize]);
    save(&s, "b", &[n], &vec![1.0f64; n as usize]);
    let mut b = CacheBatch::begin(&s, 3).unwrap();
    for _ in 0..10 {
        for name in ["a", "b"] {
            scale_and_save(&mut b, name, 2.0);
            assert!(
                b.cached_bytes() <= 3 << 20,
                "the limit keeps at most one array in memory"
            );
        }
    }
    assert!(!staged_files(&dir).is_empty());
    assert_eq!(load::<f64>(&s, "a")[0], 1.0, "nothing visible before end");
    // A spilled array is read back with its changes.
    let v = b.load("a").unwrap();
    // SAFETY: the view is live.
    assert!(unsafe { view_values::<f64>(&v) }
        .iter()
        .all(|&x| x == 1024.0));
    b.end().unwrap();
    for name in ["a", "b"] {
        assert!(
            load::<f64>(&reader(&dir), name)
                .iter()
                .all(|&x| x == 1024.0),
            "{name}"
        );
    }
    assert!(staged_files(&dir).is_empty());
}

#[test]
fn empty_and_0d_arrays_load_and_save_back() {
    let dir = TempDir::new("empty");
    let s = writer(&dir);
    save::<f64>(&s, "e", &[0, 3], &[]);
    save(&s, "scalar", &[], &[42.0f64]);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    let e = b.load("e").unwrap();
    assert!(e.ptr.is_null(), "no elements, no memory");
    assert_eq!(e.shape, vec![0, 3]);
    b.save("e", DType::F64, &Src::contiguous(&[], &[0, 3], 8).unwrap())
        .unwrap();
    scale_and_save(&mut b, "scalar", 2.0);
    b.end().unwrap();
    assert_eq!(load_shaped::<f64>(&s, "e"), (vec![0, 3], vec![]));
    assert_eq!(load_shaped::<f64>(&s, "scalar"), (vec![], vec![84.0]));
}

#[test]
fn every_dtype_saved_in_a_batch_persists_exactly() {
    let dir = TempDir::new("dtypes");
    let s = writer(&dir);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    for dtype in DType::ALL {
        let bytes = pattern(dtype, 50 * dtype.size(), dtype.code().into());
        b.save(
            dtype.name(),
            dtype,
            &Src::contiguous(&bytes, &[10, 5], dtype.size()).unwrap(),
        )
        .unwrap();
    }
    b.end().unwrap();
    let r = reader(&dir);
    for dtype in DType::ALL {
        let info = r.info(dtype.name()).unwrap();
        assert_eq!((info.dtype, info.shape.clone()), (dtype, vec![10, 5]));
        assert_eq!(
            load_bytes(&r, dtype.name()),
            pattern(dtype, 50 * dtype.size(), dtype.code().into()),
            "{dtype}"
        );
    }
}

#[test]
fn consecutive_batches_build_on_each_other() {
    let dir = TempDir::new("consecutive");
    let s = writer(&dir);
    save(&s, "w", &[3, 3], &seq(3 * 3, 1.0));
    for k in [2.0, 3.0] {
        let mut b = CacheBatch::begin(&s, 0).unwrap();
        scale_and_save(&mut b, "w", k);
        b.end().unwrap();
    }
    assert_eq!(load::<f64>(&s, "w"), seq(3 * 3, 6.0));
    // An ended batch with nothing saved commits nothing.
    let before = fingerprint(&dir);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    b.load("w").unwrap();
    b.end().unwrap();
    assert_eq!(fingerprint(&dir), before);
}

#[test]
fn a_bad_argument_fails_that_call_and_keeps_the_batch() {
    let dir = TempDir::new("badargs");
    let s = writer(&dir);
    save(&s, "w", &[2], &[1.0f64, 2.0]);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    scale_and_save(&mut b, "w", 2.0);
    let err = b.load("missing").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("\"missing\""), "{}", err.message);
    assert_eq!(b.load("a/b").unwrap_err().kind, ErrorKind::InvalidArgument);
    let ints = to_bytes(&[1i32, 2]);
    assert_eq!(
        b.save("w", DType::F64, &Src::contiguous(&ints, &[2], 4).unwrap())
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument,
        "item size 4 is not float64's"
    );
    b.end().unwrap();
    assert_eq!(load::<f64>(&s, "w"), vec![2.0, 4.0]);
}
