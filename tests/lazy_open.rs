//! Readers of stores too large to open every data file at open (more than 4,096 arrays) open an
//! array's file on first use. What they must still guarantee: every call sees one whole commit,
//! never an older one than before; a file opened after the writer moved on is never taken for
//! the snapshot's (inode reuse included); and the handle moves to a newer commit only when that
//! shows nothing different from what it has shown, else NPK_BUSY until a refresh.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{from_bytes, reader, to_bytes, writer, TempDir};
use numpack::layout::{Dst, Src};
use numpack::{DType, ErrorKind, Store};

const ARRAYS: u64 = 5000;

fn name(i: u64) -> String {
    format!("a{i:04}")
}

/// Array i at version v: shape [2 + v % 3], every element i * 100 + v.
fn values(i: u64, v: u64) -> (Vec<u64>, Vec<i32>) {
    let n = 2 + v % 3;
    (vec![n], vec![(i * 100 + v) as i32; n as usize])
}

/// Every array at version 0, written as NumPack lays a store out.
fn build(dir: &Path) {
    use numpack::internals::metadata::{self, ArrayMeta, Catalog};
    let mut catalog = Catalog {
        version: 1,
        arrays: Default::default(),
    };
    for i in 0..ARRAYS {
        let (shape, vals) = values(i, 0);
        std::fs::write(dir.join(format!("data_{}.npkd", name(i))), to_bytes(&vals)).unwrap();
        catalog
            .arrays
            .insert(name(i), ArrayMeta::new(&name(i), DType::I32, shape, 1));
    }
    std::fs::write(dir.join("metadata.npkm"), metadata::encode(&catalog)).unwrap();
}

fn save_version(s: &Store, i: u64, v: u64) {
    let (shape, vals) = values(i, v);
    let bytes = to_bytes(&vals);
    s.save(
        &name(i),
        DType::I32,
        &Src::contiguous(&bytes, &shape, 4).unwrap(),
    )
    .unwrap();
}

/// The version of array i as the handle shows it (info, then a load of that shape), checking
/// that shape and values are of one version.
fn version(s: &Store, i: u64) -> Result<u64, numpack::Error> {
    let info = s.info(&name(i))?;
    let mut bytes = vec![0u8; info.nbytes as usize];
    s.load(
        &name(i),
        DType::I32,
        &mut Dst::contiguous(&mut bytes, &info.shape, 4).unwrap(),
    )?;
    let vals: Vec<i32> = from_bytes(&bytes);
    let v = (vals[0] as u64).wrapping_sub(i * 100);
    assert_eq!((info.shape, vals), values(i, v), "array {i} mixes versions");
    Ok(v)
}

#[test]
fn a_reader_moves_to_a_new_commit_only_when_it_shows_the_same() {
    let dir = TempDir::new("lazy-move");
    build(&dir);
    let r = reader(&dir);
    assert_eq!(version(&r, 1).unwrap(), 0);
    let w = writer(&dir);
    // Array 2 changes, array 1 (shown) does not: the handle can move on.
    save_version(&w, 2, 1);
    assert_eq!(version(&r, 2).unwrap(), 1);
    assert_eq!(version(&r, 1).unwrap(), 0);
    // Array 1, which the handle showed, changes with array 3: array 3 cannot be read from the
    // handle's commit any more, and the new one would show another array 1.
    save_version(&w, 1, 2);
    save_version(&w, 3, 2);
    let e = version(&r, 3).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Busy, "{e}");
    assert!(e.message.contains("npk_refresh"), "{e}");
    assert_eq!(
        version(&r, 1).unwrap(),
        0,
        "the handle still shows its commit"
    );
    r.refresh().unwrap();
    assert_eq!(version(&r, 3).unwrap(), 2);
    assert_eq!(version(&r, 1).unwrap(), 2);
}

#[test]
fn a_reader_that_listed_the_names_does_not_move_to_other_names() {
    let dir = TempDir::new("lazy-names");
    build(&dir);
    let r = reader(&dir);
    assert_eq!(r.list().len() as u64, ARRAYS);
    let w = writer(&dir);
    save_version(&w, ARRAYS + 1, 0);
    let e = version(&r, 5).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Busy, "{e}");
    // One that did not list them moves on.
    let fresh = reader(&dir);
    save_version(&w, ARRAYS + 2, 0);
    assert_eq!(version(&fresh, 5).unwrap(), 0);
    assert!(fresh.has(&name(ARRAYS + 2)));
}

/// ext4 gives a new file the inode number of one deleted a moment ago: a reader opening
/// `data_a0007.npkd` late must not take the newest file for the one its snapshot named (its
/// shape would not match the bytes), however the numbers fall.
#[test]
fn inode_reuse_cannot_make_a_late_open_mix_commits() {
    let dir = TempDir::new("lazy-inode");
    build(&dir);
    let r = reader(&dir);
    assert_eq!(version(&r, 8).unwrap(), 0);
    let w = writer(&dir);
    let ino = || {
        std::fs::metadata(dir.join("data_a0007.npkd"))
            .unwrap()
            .ino()
    };
    let first = ino();
    let mut v = 1;
    loop {
        save_version(&w, 7, v);
        if ino() == first || v == 20 {
            break;
        }
        v += 1;
    }
    eprintln!("inode reused after {v} saves: {}", ino() == first);
    assert_eq!(
        version(&r, 7).unwrap(),
        v,
        "the handle moved to the newest commit"
    );
    assert_eq!(version(&r, 8).unwrap(), 0);
}
