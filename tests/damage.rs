//! Per-array damage stays per array (issue #15 point 3): a store numpack wrote with one odd
//! array (a name we would not create, a stale deletion bitmap, a short data file) opens; every
//! other array reads and writes as before; the odd one reads where its files have plain names,
//! otherwise reports NPK_CORRUPT naming it on access; its catalogue record is carried through
//! commits unchanged.

mod common;

use std::path::Path;

use common::{load, reader, save, writer, TempDir};
use numpack::internals::metadata::{self, ArrayMeta, Catalog, METADATA_FILE};
use numpack::layout::{Dst, Src};
use numpack::{DType, ErrorKind, OpenOptions, Store};

const UNSAFE: [&str; 5] = ["", ".", "..", "sub/x", "../out"];
const PLAIN_ODD: [&str; 2] = ["back\\slash", "tab\there"];

fn catalog(dir: &Path) -> Catalog {
    metadata::decode(&std::fs::read(dir.join(METADATA_FILE)).unwrap()).unwrap()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A store as numpack 0.5.0 can leave it: healthy "a" and "b"; "stale" had 10 rows, two
/// dropped, then was saved again with 15 (numpack keeps the bitmap); "short" lost bytes; odd
/// names with plain file names and unsafe ones (planted files prove they are never opened).
fn damaged_store(dir: &Path) {
    {
        let s = writer(dir);
        save::<i32>(&s, "a", &[3], &[1, 2, 3]);
        save::<f64>(&s, "b", &[2, 2], &[0.5, 1.5, 2.5, 3.5]);
        save::<i32>(&s, "stale", &[10], &(0..10).collect::<Vec<_>>());
        s.drop_rows("stale", &[0, 1]).unwrap();
        save::<i32>(&s, "short", &[4], &[4, 4, 4, 4]);
    }
    let mut c = catalog(dir);
    c.arrays.insert(
        "stale".into(),
        ArrayMeta::new("stale", DType::I32, vec![15], 7),
    );
    std::fs::write(
        dir.join("data_stale.npkd"),
        i32_bytes(&(100..115).collect::<Vec<_>>()),
    )
    .unwrap();
    std::fs::write(dir.join("data_short.npkd"), [4u8; 10]).unwrap();
    for (i, n) in PLAIN_ODD.iter().enumerate() {
        c.arrays
            .insert(n.to_string(), ArrayMeta::new(n, DType::I32, vec![2], 9));
        let v = [i as i32 * 10, i as i32 * 10 + 1];
        std::fs::write(dir.join(format!("data_{n}.npkd")), i32_bytes(&v)).unwrap();
    }
    for n in UNSAFE {
        c.arrays
            .insert(n.to_string(), ArrayMeta::new(n, DType::I32, vec![1], 11));
    }
    std::fs::write(dir.join("data_...npkd"), [9u8; 4]).unwrap();
    std::fs::write(dir.join(METADATA_FILE), metadata::encode(&c)).unwrap();
}

/// load, get_rows and view fail alike; so does info, but a writer's info reports the
/// catalogue without opening the file, so a short file shows when it is read.
fn load_err(s: &Store, name: &str) -> numpack::Error {
    let mut buf = vec![0u8; 1024];
    let mut dst = Dst::contiguous(&mut buf, &[1], 4).unwrap();
    let e = s.load(name, DType::I32, &mut dst).unwrap_err();
    let mut dst = Dst::contiguous(&mut buf, &[1], 4).unwrap();
    let g = s.get_rows(name, &[0], DType::I32, &mut dst).unwrap_err();
    assert_eq!(e.kind, g.kind, "{name:?}: {e} / {g}");
    let v = s.view(name).err().unwrap();
    assert_eq!(v.kind, e.kind, "{name:?}: {v}");
    if name != "short" || s.is_read_only() {
        let i = s.info(name).unwrap_err();
        assert_eq!(i.kind, e.kind, "{name:?}: {i}");
    }
    e
}

fn check_reads(s: &Store) {
    assert_eq!(load::<i32>(s, "a"), vec![1, 2, 3]);
    assert_eq!(load::<f64>(s, "b"), vec![0.5, 1.5, 2.5, 3.5]);
    check_odd(s);
    let names = s.list();
    assert_eq!(names.len(), 4 + PLAIN_ODD.len() + UNSAFE.len(), "{names:?}");
}

fn check_odd(s: &Store) {
    for (i, n) in PLAIN_ODD.iter().enumerate() {
        assert_eq!(
            load::<i32>(s, n),
            vec![i as i32 * 10, i as i32 * 10 + 1],
            "{n:?}"
        );
        assert!(s.has(n));
    }
    let e = load_err(s, "stale");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(
        e.message.contains("\"stale\"")
            && e.message.contains("stale")
            && e.message.contains("for 10 rows")
            && e.message.contains("has 15")
            && e.message.contains("npk check --repair"),
        "{e}"
    );
    let e = load_err(s, "short");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(
        e.message.contains("\"short\"") && e.message.contains("10 bytes"),
        "{e}"
    );
    for n in UNSAFE {
        let e = load_err(s, n);
        assert_eq!(e.kind, ErrorKind::Corrupt, "{n:?}: {e}");
        assert!(
            e.message.contains(&format!("array {n:?} cannot be read")),
            "{e}"
        );
    }
}

#[test]
fn a_store_with_damaged_arrays_opens_and_reads_the_others() {
    let dir = TempDir::new("damage-read");
    damaged_store(&dir);
    check_reads(&reader(&dir));
    check_reads(&writer(&dir));
}

#[test]
fn writes_to_healthy_arrays_carry_odd_entries_unchanged() {
    let dir = TempDir::new("damage-write");
    damaged_store(&dir);
    let before = catalog(&dir);
    let odd: Vec<&str> = UNSAFE
        .iter()
        .chain(PLAIN_ODD.iter())
        .copied()
        .chain(["stale", "short"])
        .collect();
    let s = writer(&dir);
    save::<i32>(&s, "c", &[2], &[5, 6]);
    s.append(
        "a",
        DType::I32,
        &Src::contiguous(&i32_bytes(&[4]), &[1], 4).unwrap(),
    )
    .unwrap();
    s.drop_rows("b", &[0]).unwrap();
    s.compact(None).unwrap();
    s.clone_array("a", "a2").unwrap();
    assert_eq!(load::<i32>(&s, "a2"), vec![1, 2, 3, 4]);
    assert_eq!(load::<f64>(&s, "b"), vec![2.5, 3.5]);
    let after = catalog(&dir);
    for n in &odd {
        assert_eq!(after.arrays[*n], before.arrays[*n], "{n:?} changed");
    }
    let bytes = std::fs::read(dir.join(METADATA_FILE)).unwrap();
    for n in &odd {
        let mut rec = Vec::new();
        metadata::encode_record(&before.arrays[*n], &mut rec);
        assert!(bytes.windows(rec.len()).any(|w| w == rec), "{n:?}");
    }
    // Writes to the odd arrays themselves are refused, and change nothing.
    let one = i32_bytes(&[1]);
    let src = Src::contiguous(&one, &[1], 4).unwrap();
    for n in ["stale", "short"] {
        for e in [
            s.append(n, DType::I32, &src).unwrap_err(),
            s.drop_rows(n, &[0]).unwrap_err(),
            s.replace_rows(n, &[0], DType::I32, &src).unwrap_err(),
            s.clone_array(n, "copy").unwrap_err(),
        ] {
            assert_eq!(e.kind, ErrorKind::Corrupt, "{n}: {e}");
            assert!(e.message.contains(&format!("{n:?}")), "{e}");
        }
    }
    // Compacting it (as compact(None) would) must not read through the stale bitmap.
    let e = s.compact(Some("stale")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    for n in UNSAFE.iter().chain(PLAIN_ODD.iter()) {
        for e in [
            s.append(n, DType::I32, &src).unwrap_err(),
            s.save(n, DType::I32, &src).unwrap_err(),
        ] {
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{n:?}: {e}");
            assert!(e.message.contains("numpack wrote it"), "{e}");
        }
    }
    for n in UNSAFE {
        assert_eq!(
            s.drop_arrays(&[n]).unwrap_err().kind,
            ErrorKind::InvalidArgument,
            "{n:?}"
        );
    }
    assert_eq!(catalog(&dir).arrays.keys().len(), after.arrays.keys().len());
    assert_eq!(std::fs::read(dir.join("data_...npkd")).unwrap(), [9u8; 4]);
    drop(s);
    let r = reader(&dir);
    check_odd(&r);
    assert_eq!(load::<i32>(&r, "a2"), vec![1, 2, 3, 4]);
}

#[test]
fn a_damaged_array_can_be_replaced_or_dropped() {
    let dir = TempDir::new("damage-replace");
    damaged_store(&dir);
    let s = writer(&dir);
    // Saving over the stale array replaces it whole and takes its bitmap away.
    save::<i32>(&s, "stale", &[2], &[7, 8]);
    assert_eq!(load::<i32>(&s, "stale"), vec![7, 8]);
    assert!(!dir.join("deleted_stale.npkb").exists());
    s.drop_arrays(&["short", PLAIN_ODD[0]]).unwrap();
    assert!(!dir.join("data_short.npkd").exists());
    assert!(!dir.join(format!("data_{}.npkd", PLAIN_ODD[0])).exists());
    drop(s);
    let r = Store::open(
        &dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(load::<i32>(&r, "stale"), vec![7, 8]);
    assert!(!r.has("short") && !r.has(PLAIN_ODD[0]));
}
