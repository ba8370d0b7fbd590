//! Attributes through the Rust API: every type round trips through the file, they are committed
//! with array changes (a cache batch's at its end, nothing on abort), go with a dropped array,
//! are copied by clone, are read whole by readers racing a writer, and a damaged file costs the
//! attributes, never the arrays.

mod common;

use common::{load, reader, save, seq, staged_files, writer, TempDir};
use numpack::batch::CacheBatch;
use numpack::layout::Src;
use numpack::{AttrValue as V, DType, ErrorKind, Store};

const FILE: &str = "attributes.json";

fn values() -> Vec<(&'static str, V)> {
    vec![
        ("step", V::Int64(-42)),
        ("time", V::Float64(2.5)),
        ("nan", V::Float64(f64::NAN)),
        ("units", V::Str("m/s²".into())),
        ("empty", V::Str(String::new())),
        ("iv", V::Int64s(vec![1, i64::MAX, i64::MIN])),
        ("fv", V::Float64s(vec![1.0, -0.0, f64::INFINITY])),
        ("ie", V::Int64s(vec![])),
        ("fe", V::Float64s(vec![])),
    ]
}

fn same(a: &V, b: &V) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[test]
fn every_type_round_trips_on_the_store_and_on_arrays() {
    let dir = TempDir::new("attrs-types");
    let s = writer(&dir);
    save(&s, "x", &[3], &seq(3, 1.0));
    for (k, v) in values() {
        s.attr_set(None, k, v.clone()).unwrap();
        s.attr_set(Some("x"), k, v).unwrap();
    }
    let mut keys: Vec<String> = values().iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    drop(s);
    let r = reader(&dir);
    for owner in [None, Some("x")] {
        assert_eq!(r.attr_keys(owner).unwrap(), keys);
        for (k, v) in values() {
            assert!(same(&r.attr_get(owner, k).unwrap(), &v), "{k}");
        }
    }
    assert_eq!(
        r.attr_get(None, "nope").unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        r.attr_get(Some("y"), "step").unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        r.attr_set(None, "a", V::Int64(1)).unwrap_err().kind,
        ErrorKind::ReadOnly
    );
    let s = writer(&dir);
    for (k, _) in values() {
        s.attr_delete(None, k).unwrap();
        s.attr_delete(Some("x"), k).unwrap();
    }
    assert_eq!(
        s.attr_delete(None, "step").unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(
        !dir.path().join(FILE).exists(),
        "no attributes, no file: a store that never had any looks as before"
    );
    assert!(staged_files(&dir).is_empty());
}

#[test]
fn limits_fail_cleanly_and_change_nothing() {
    let dir = TempDir::new("attrs-limits");
    let s = writer(&dir);
    s.attr_set(None, "keep", V::Int64(1)).unwrap();
    let before = std::fs::read(dir.path().join(FILE)).unwrap();
    let e = s.attr_set(None, &"k".repeat(256), V::Int64(1)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let e = s
        .attr_set(None, "big", V::Str("x".repeat(65537)))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("65536"), "{e}");
    assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), before);
    assert!(staged_files(&dir).is_empty());
}

fn save_f64(b: &mut CacheBatch, name: &str, v: &[f64]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    b.save(
        name,
        DType::F64,
        &Src::contiguous(&bytes, &[v.len() as u64], 8).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_cache_batch_commits_attributes_with_its_arrays_at_end_and_abort_drops_them() {
    let dir = TempDir::new("attrs-batch");
    let s = writer(&dir);
    save(&s, "x", &[2], &[0.0, 0.0]);
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    save_f64(&mut b, "x", &[1.0, 1.0]);
    save_f64(&mut b, "new", &[7.0]);
    b.attr_set(None, "step", V::Int64(1)).unwrap();
    b.attr_set(Some("new"), "units", V::Str("K".into()))
        .unwrap();
    assert!(same(&b.attr_get(None, "step").unwrap(), &V::Int64(1)));
    // Nothing is visible before the end.
    let r = reader(&dir);
    assert_eq!(
        r.attr_get(None, "step").unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(!dir.path().join(FILE).exists());
    b.end().unwrap();
    let r = reader(&dir);
    assert_eq!(load::<f64>(&r, "x"), vec![1.0, 1.0]);
    assert!(same(&r.attr_get(None, "step").unwrap(), &V::Int64(1)));
    assert!(same(
        &r.attr_get(Some("new"), "units").unwrap(),
        &V::Str("K".into())
    ));
    // A batch that only changes attributes commits too; an aborted one changes nothing.
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    b.attr_delete(None, "step").unwrap();
    b.end().unwrap();
    assert!(s.attr_keys(None).unwrap().is_empty());
    let mut b = CacheBatch::begin(&s, 0).unwrap();
    save_f64(&mut b, "x", &[2.0, 2.0]);
    b.attr_set(None, "step", V::Int64(2)).unwrap();
    b.abort();
    assert!(s.attr_keys(None).unwrap().is_empty());
    assert_eq!(load::<f64>(&s, "x"), vec![1.0, 1.0]);
    assert!(staged_files(&dir).is_empty());
}

#[test]
fn drop_removes_an_arrays_attributes_clone_copies_them_save_keeps_them() {
    let dir = TempDir::new("attrs-drop");
    let s = writer(&dir);
    save(&s, "x", &[2], &[1.0, 2.0]);
    s.attr_set(Some("x"), "units", V::Str("K".into())).unwrap();
    s.clone_array("x", "y").unwrap();
    assert!(same(
        &s.attr_get(Some("y"), "units").unwrap(),
        &V::Str("K".into())
    ));
    save(&s, "x", &[3], &[1.0, 2.0, 3.0]);
    assert_eq!(s.attr_keys(Some("x")).unwrap(), vec!["units"]);
    s.drop_arrays(&["x"]).unwrap();
    save(&s, "x", &[1], &[0.0]);
    assert!(
        s.attr_keys(Some("x")).unwrap().is_empty(),
        "a new array of a dropped one's name starts without attributes"
    );
    let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
    assert!(text.contains("\"y\"") && !text.contains("\"x\""), "{text}");
    drop(s);
    assert_eq!(reader(&dir).attr_keys(Some("y")).unwrap(), vec!["units"]);
}

#[test]
fn a_damaged_file_costs_the_attributes_not_the_arrays() {
    let dir = TempDir::new("attrs-corrupt");
    let s = writer(&dir);
    save(&s, "x", &[2], &[1.0, 2.0]);
    s.attr_set(None, "a", V::Int64(1)).unwrap();
    drop(s);
    let bad: &[&[u8]] = &[
        b"{\"format\": \"libnumpack-attributes\", \"ver",
        b"{\"format\": \"libnumpack-attributes\", \"version\": 1, \"store\": {\"a\": 1, \"a\": 2}, \"arrays\": {}}",
        b"\xff\xfe",
        &[b'['; 1 << 16],
    ];
    for bytes in bad {
        std::fs::write(dir.path().join(FILE), bytes).unwrap();
        let r = reader(&dir);
        assert_eq!(load::<f64>(&r, "x"), vec![1.0, 2.0]);
        let e = r.attr_keys(None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt);
        assert!(e.message.contains(FILE), "{e}");
        drop(r);
        let s = writer(&dir);
        assert_eq!(
            s.attr_set(None, "b", V::Int64(1)).unwrap_err().kind,
            ErrorKind::Corrupt
        );
        // Array changes still commit, and leave the damaged file for the user to repair.
        save(&s, "x", &[2], &[3.0, 4.0]);
        s.drop_arrays(&["x"]).unwrap();
        save(&s, "x", &[2], &[1.0, 2.0]);
        assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), *bytes);
    }
}

/// A writer alternates a cache batch that sets x = [2k, 2k] and the attribute step = 2k with an
/// attribute-only commit of step = 2k + 1. Every commit's pair has step == x or step == x + 1;
/// a reader that paired the attributes of one commit with the arrays of another would see step
/// == x - 1 or step == x + 2.
#[test]
fn readers_see_attributes_of_the_same_commit_as_the_arrays() {
    let dir = TempDir::new("attrs-race");
    let s = writer(&dir);
    save(&s, "x", &[2], &[0.0, 0.0]);
    s.attr_set(None, "step", V::Int64(0)).unwrap();
    let path = dir.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (path, stop, rounds) = (path.clone(), stop.clone(), rounds.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    let r = Store::open(
                        &path,
                        numpack::OpenOptions {
                            read_only: true,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                    let x = load::<f64>(&r, "x")[0] as i64;
                    let V::Int64(step) = r.attr_get(None, "step").unwrap() else {
                        panic!("step is an int64")
                    };
                    // Attribute-only commits set step to x + 1; batches set both to k.
                    assert!(step == x || step == x + 1, "x {x} with step {step}");
                    rounds.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
            })
        })
        .collect();
    for k in 1..=60i64 {
        let seen = rounds.load(std::sync::atomic::Ordering::Acquire);
        let mut b = CacheBatch::begin(&s, 0).unwrap();
        save_f64(&mut b, "x", &[(2 * k) as f64; 2]);
        b.attr_set(None, "step", V::Int64(2 * k)).unwrap();
        b.end().unwrap();
        s.attr_set(None, "step", V::Int64(2 * k + 1)).unwrap();
        // Let the readers make progress between commits (a sign, not a sleep); a reader that
        // failed ends, and its panic is reported by the join below.
        while rounds.load(std::sync::atomic::Ordering::Acquire) == seen
            && k % 10 == 0
            && !readers.iter().any(|r| r.is_finished())
        {
            std::thread::yield_now();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert!(rounds.load(std::sync::atomic::Ordering::Acquire) > 0);
}
