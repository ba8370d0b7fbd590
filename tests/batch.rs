//! What both batches share, through the Rust API: one batch at a time per store, plain writes
//! refused (busy) while one is open and reads showing the last commit, and the two kinds
//! combining with each other and with plain writes. Each kind's own behaviour is in
//! tests/batch_cache.rs and tests/batch_writable.rs.

mod common;

use common::{
    load, load_shaped, reader, save, seq, to_bytes, view_src, view_values, wait_for_clock_past,
    writer, TempDir,
};
use numpack::batch::{Batch, CacheBatch, WritableBatch};
use numpack::layout::{Dst, Src};
use numpack::{DType, ErrorKind, Store};

/// Loads `name` in the batch, applies `f` to every element through the view, and saves the
/// view back (which a writable batch does not need, and accepts).
fn apply(b: &mut Batch, name: &str, f: impl Fn(f64) -> f64) {
    let v = b.load(name).unwrap();
    // SAFETY: the view is live until the next call on the batch.
    unsafe { view_values::<f64>(&v) }
        .iter_mut()
        .for_each(|x| *x = f(*x));
    // SAFETY: as above; the slice is no longer used.
    b.save(name, DType::F64, &unsafe { view_src(&v) }).unwrap();
}

fn begin(s: &Store, cache: bool) -> Batch {
    if cache {
        Batch::Cache(CacheBatch::begin(s, 0).unwrap())
    } else {
        Batch::Writable(WritableBatch::begin(s).unwrap())
    }
}

#[test]
fn while_a_batch_is_open_plain_writes_and_other_batches_are_busy() {
    let dir = TempDir::new("busy");
    let s = writer(&dir);
    save(&s, "w", &[10, 4], &seq(40, 1.0));
    for cache in [true, false] {
        let what = if cache {
            "cache batch"
        } else {
            "writable batch"
        };
        let mut b = begin(&s, cache);
        apply(&mut b, "w", |x| x * 3.0);
        let row = to_bytes(&[-7.0f64; 4]);
        let src = || Src::contiguous(&row, &[1, 4], 8).unwrap();
        let writes: Vec<(&str, numpack::Result<()>)> = vec![
            ("save", s.save("w", DType::F64, &src())),
            ("save new", s.save("brand_new", DType::F64, &src())),
            ("append", s.append("w", DType::F64, &src())),
            (
                "replace_rows",
                s.replace_rows("w", &[0], DType::F64, &src()),
            ),
            ("drop_arrays", s.drop_arrays(&["w"])),
            ("drop_rows", s.drop_rows("w", &[0])),
            ("compact one", s.compact(Some("w"))),
            ("compact all", s.compact(None)),
            ("clone", s.clone_array("w", "w_copy")),
            ("cache batch", CacheBatch::begin(&s, 0).map(drop)),
            ("writable batch", WritableBatch::begin(&s).map(drop)),
        ];
        for (call, result) in writes {
            let err = result.expect_err(call);
            assert_eq!(err.kind, ErrorKind::Busy, "{call} during a {what}");
            assert!(err.message.contains("batch"), "{}", err.message);
        }
        assert!(!s.has("brand_new") && !s.has("w_copy"));
        assert_eq!(s.info("w").unwrap().shape, vec![10, 4], "{what}");
        if cache {
            // Reads show the last commit, not the batch's changes.
            assert_eq!(load::<f64>(&s, "w"), seq(40, 1.0));
            let mut last = [0u8; 32];
            s.get_rows(
                "w",
                &[-1],
                DType::F64,
                &mut Dst::contiguous(&mut last, &[1, 4], 8).unwrap(),
            )
            .unwrap();
            assert_eq!(common::from_bytes::<f64>(&last), seq(40, 1.0)[36..]);
        }
        b.end().unwrap();
    }
    assert_eq!(
        load::<f64>(&s, "w"),
        seq(40, 9.0),
        "each batch lost nothing"
    );
    // Free again after an end, an abort or a drop: plain writes work on top of the batches'.
    begin(&s, true).abort();
    drop(begin(&s, false));
    let row = to_bytes(&[-7.0f64; 4]);
    s.append("w", DType::F64, &Src::contiguous(&row, &[1, 4], 8).unwrap())
        .unwrap();
    s.clone_array("w", "w_copy").unwrap();
    let (shape, values) = load_shaped::<f64>(&s, "w_copy");
    assert_eq!(shape, vec![11, 4]);
    assert_eq!(values[..40], seq(40, 9.0)[..]);
    assert_eq!(values[40..], [-7.0; 4]);
}

#[test]
fn cache_and_writable_batches_and_plain_writes_compose() {
    let dir = TempDir::new("compose");
    let s = writer(&dir);
    save(&s, "x", &[10, 10], &seq(100, 1.0));
    save(&s, "y", &[10, 10], &seq(100, 1.0));
    // Either kind gives the same result for the same change.
    for (name, cache) in [("x", true), ("y", false)] {
        let mut b = begin(&s, cache);
        apply(&mut b, name, |v| v * 2.0 + 1.0);
        b.end().unwrap();
    }
    assert_eq!(load::<f64>(&s, "x"), load::<f64>(&s, "y"));
    // Interleaved: cache x2, writable +1, cache x3.
    for (cache, f) in [
        (true, (|v| v * 2.0) as fn(f64) -> f64),
        (false, |v| v + 1.0),
        (true, |v| v * 3.0),
    ] {
        let mut b = begin(&s, cache);
        apply(&mut b, "x", f);
        b.end().unwrap();
    }
    let want: Vec<f64> = seq(100, 1.0)
        .iter()
        .map(|v| ((v * 2.0 + 1.0) * 2.0 + 1.0) * 3.0)
        .collect();
    assert_eq!(load::<f64>(&s, "x"), want);
    // Cache x2, then a plain append, then a writable batch sees the appended rows.
    let mut b = begin(&s, true);
    apply(&mut b, "y", |v| v * 2.0);
    b.end().unwrap();
    let rows = to_bytes(&[0.5f64; 50]);
    s.append(
        "y",
        DType::F64,
        &Src::contiguous(&rows, &[5, 10], 8).unwrap(),
    )
    .unwrap();
    let mut b = begin(&s, false);
    let v = b.load("y").unwrap();
    assert_eq!(v.shape, vec![15, 10]);
    // SAFETY: the mapping is live until the batch ends.
    let first = unsafe { view_values::<f64>(&v) };
    first[0] = -1.0;
    b.end().unwrap();
    let (shape, y) = load_shaped::<f64>(&s, "y");
    assert_eq!((shape, y[0], y[1], y[149]), (vec![15, 10], -1.0, 6.0, 0.5));
}

#[test]
fn an_ended_batch_no_longer_holds_the_store_open() {
    let dir = TempDir::new("release");
    save(&writer(&dir), "w", &[2], &[1.0f64, 2.0]);
    for cache in [true, false] {
        let before = reader(&dir).info("w").unwrap().modify_time_us;
        wait_for_clock_past(before);
        let s = writer(&dir);
        let mut b = begin(&s, cache);
        apply(&mut b, "w", |v| v + 1.0);
        b.end().unwrap();
        // As npk_batch_end frees the batch: dropping the caller's handle closes the store
        // (writer lock released, deferred modify times written) though `b` lives on.
        drop(s);
        let reopened = Store::open(&*dir, numpack::OpenOptions::default());
        assert!(
            reopened.is_ok(),
            "the writer lock is still held by an ended batch: {:?}",
            reopened.err()
        );
        assert!(
            reader(&dir).info("w").unwrap().modify_time_us > before,
            "cache {cache}: the modify time reached metadata.npkm at close"
        );
        // The ended batch refuses further work instead of acting on a store it let go of.
        assert_eq!(b.load("w").unwrap_err().kind, ErrorKind::InvalidArgument);
        let one = to_bytes(&[0.0f64, 0.0]);
        let err = b
            .save("w", DType::F64, &Src::contiguous(&one, &[2], 8).unwrap())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{}", err.message);
        b.end().unwrap();
        drop((reopened, b));
    }
    assert_eq!(load::<f64>(&reader(&dir), "w"), vec![3.0, 4.0]);
}
