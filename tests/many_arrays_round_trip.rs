//! A store of 100,000 arrays (issue #14) through the commit path: filled in cache batches of
//! 10,000, then changed by single saves, an append, a row drop and a drop, each one commit of the
//! whole catalogue; every array reads back from a fresh read-only handle and from a fresh writer,
//! and the catalogue on disk is exactly what `metadata::encode` writes for those arrays (the
//! commits encode it from per-chunk caches). tests/interop/test_many_arrays.py has numpack read
//! such a store; tests/many_arrays.rs runs one under a 1,024-descriptor limit. Not timed:
//! benches/bench_many measures the cost.

mod common;

use common::{load, save, writer, TempDir};
use numpack::batch::CacheBatch;
use numpack::internals::metadata::{self, ArrayMeta, Catalog};
use numpack::layout::Src;
use numpack::{DType, Store};

const N: u32 = 100_000;
/// Arrays per cache batch while filling: one commit each.
const PER_BATCH: u32 = 10_000;

fn name(i: u32) -> String {
    format!("a{i:06}")
}

/// Array i's content: four int32 that no other array shares.
fn content(i: u32) -> Vec<i32> {
    let i = i as i32;
    vec![i, -i, i.wrapping_mul(7919), 1 - i]
}

fn bytes(values: &[i32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The names, shapes and dtypes the store should hold, as a catalogue (times from disk).
fn expected(store: &Store, shapes: &[(String, Vec<u64>)]) -> Catalog {
    let mut cat = Catalog {
        version: 1,
        ..Default::default()
    };
    for (n, shape) in shapes {
        let time = store.info(n).unwrap().modify_time_us;
        cat.arrays.insert(
            n.clone(),
            ArrayMeta::new(n, DType::I32, shape.clone(), time),
        );
    }
    cat
}

/// Every array reads back with its content (row drops applied), and the list is in order.
fn check_all(store: &Store, want: &[(String, Vec<i32>)]) {
    let names = store.list();
    assert_eq!(names.len(), want.len());
    for ((n, values), listed) in want.iter().zip(&names) {
        assert_eq!(n, listed);
        assert_eq!(&load::<i32>(store, n), values, "array {n}");
    }
}

#[test]
fn a_hundred_thousand_arrays_round_trip() {
    let dir = TempDir::new("many-round-trip");
    let store = writer(&dir);
    for first in (0..N).step_by(PER_BATCH as usize) {
        let mut batch = CacheBatch::begin(&store, 0).unwrap();
        for i in first..first + PER_BATCH {
            let b = bytes(&content(i));
            batch
                .save(&name(i), DType::I32, &Src::contiguous(&b, &[4], 4).unwrap())
                .unwrap();
        }
        batch.end().unwrap();
    }

    // Single commits into the full store: each rewrites the 100,000-entry catalogue.
    let mut want: Vec<(String, Vec<i32>)> = (0..N).map(|i| (name(i), content(i))).collect();
    save(&store, "a050000", &[3], &[5, 6, 7]);
    want[50_000].1 = vec![5, 6, 7];
    save(&store, "new", &[2], &[-1, -2]);
    want.push(("new".into(), vec![-1, -2]));
    let rows = bytes(&[8, 9]);
    store
        .append(
            "a099999",
            DType::I32,
            &Src::contiguous(&rows, &[2], 4).unwrap(),
        )
        .unwrap();
    want[99_999].1.extend([8, 9]);
    store.drop_rows("a000001", &[0, 2]).unwrap();
    want[1].1 = vec![-1, 0];
    store.drop_arrays(&["a012345"]).unwrap();
    want.remove(12_345);
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let mut shapes: Vec<(String, Vec<u64>)> = want
        .iter()
        .map(|(n, v)| (n.clone(), vec![v.len() as u64]))
        .collect();
    // The catalogue keeps a1's physical shape: its dropped rows are still in its data file.
    shapes.iter_mut().find(|(n, _)| n == "a000001").unwrap().1 = vec![4];

    let on_disk = std::fs::read(dir.join(metadata::METADATA_FILE)).unwrap();
    assert_eq!(on_disk, metadata::encode(&expected(&store, &shapes)));
    drop(store);

    let r = common::reader(&dir);
    check_all(&r, &want);
    drop(r);
    let w = writer(&dir);
    check_all(&w, &want);
    // A writer reopened on the big store still commits, and nothing else changes.
    save(&w, "a000000", &[1], &[42]);
    assert_eq!(load::<i32>(&w, "a000000"), vec![42]);
    assert_eq!(w.list().len(), want.len());
    assert_eq!(
        load::<i32>(&w, "a099999"),
        vec![99_999, -99_999, 791_892_081, -99_998, 8, 9]
    );
}
