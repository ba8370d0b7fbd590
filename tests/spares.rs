//! Saves of large arrays keep the replaced file as a spare and overwrite it next time, for
//! speed; these tests pin down that this never costs a reader its data or a crash its state.

mod common;

use std::os::unix::fs::FileExt;

use common::{
    filled, load_bytes, names_starting, reader, save_filled, staged_files, writer, TempDir,
};
use numpack::internals::record::{Op, Record, CATALOGUE_SPARE_PREFIX, COMMIT_FILE, SPARE_PREFIX};
use numpack::internals::{self as commit, metadata};
use numpack::{OpenOptions, Store};

const N: u64 = 400_000; // 3.2 MB of f64: above the spare threshold

fn bytes(v: f64) -> Vec<u8> {
    filled(v, &[N])
}

fn save(s: &Store, v: f64) {
    save_filled(s, "x", &[N], v);
}

fn load(s: &Store) -> Vec<u8> {
    load_bytes(s, "x")
}

/// The data files kept as spares (not the writer's spare catalogue).
fn spares(dir: &std::path::Path) -> Vec<String> {
    let mut names = names_starting(dir, SPARE_PREFIX);
    names.retain(|n| !n.starts_with(CATALOGUE_SPARE_PREFIX));
    names
}

fn inode(p: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().ino()
}

#[test]
fn the_replaced_file_is_reused_only_when_nobody_holds_it() {
    let dir = TempDir::new("reuse");
    let w = writer(&dir);
    save(&w, 1.0);
    let first = inode(&dir.join("data_x.npkd"));
    save(&w, 2.0);
    assert_eq!(
        spares(&dir).len(),
        1,
        "the first version is kept as a spare"
    );
    save(&w, 3.0);
    assert_eq!(
        inode(&dir.join("data_x.npkd")),
        first,
        "the spare was overwritten and renamed back"
    );

    // A reader holding the current version: the next save must not reuse it afterwards.
    let r = reader(&dir);
    let held = inode(&dir.join("data_x.npkd"));
    save(&w, 4.0); // current (held by r) becomes the spare
    save(&w, 5.0); // must not overwrite it: r still has it open
    assert_ne!(inode(&dir.join("data_x.npkd")), held);
    assert_eq!(
        load(&r),
        bytes(3.0),
        "the reader keeps its snapshot's values"
    );
    let view = r.view("x").unwrap();
    drop(r);
    save(&w, 6.0);
    save(&w, 7.0);
    // SAFETY: the view maps N f64 until dropped.
    let seen = unsafe { std::slice::from_raw_parts(view.as_ptr(), N as usize * 8) };
    assert_eq!(
        seen,
        bytes(3.0).as_slice(),
        "a mapped view is never overwritten either"
    );
    drop(view);
    assert_eq!(load(&w), bytes(7.0));
    drop(w);
    assert!(
        spares(&dir).is_empty(),
        "spares are removed when the writer closes"
    );
}

#[test]
fn a_crash_at_any_step_of_a_keep_old_rename_recovers_the_new_state() {
    for step in 0..=2 {
        let dir = TempDir::new(&format!("crash{step}"));
        let w = writer(&dir);
        save(&w, 1.0);
        drop(w);
        // Stage a save of 2.0 with a kept old file, decided but not applied.
        let mut txn = commit::Txn::new(&dir, false);
        let (f, _) = txn.stage("data_x.npkd").unwrap();
        f.write_all_at(&bytes(2.0), 0).unwrap();
        txn.keep_old("data_x.npkd");
        // Build the record as the commit would, then simulate the crash by applying a prefix.
        let mut catalog =
            metadata::decode(&std::fs::read(dir.join(metadata::METADATA_FILE)).unwrap()).unwrap();
        catalog.arrays.get_mut("x").unwrap().modify_time_us += 1;
        let meta = metadata::encode(&catalog);
        let (mf, mp) = txn.stage("metadata.npkm").unwrap();
        mf.write_all_at(&meta, 0).unwrap();
        let staged_meta = mp.file_name().unwrap().to_string_lossy().into_owned();
        let (from, keep) = (
            staged_files(&dir)
                .into_iter()
                .find(|n| *n != staged_meta)
                .unwrap(),
            txn.kept()[0]
                .1
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
        let record = Record {
            txid: "t".into(),
            ops: vec![
                Op::RenameKeepingOld {
                    from: from.clone(),
                    to: "data_x.npkd".into(),
                    keep: keep.clone(),
                },
                Op::Rename {
                    from: staged_meta,
                    to: "metadata.npkm".into(),
                },
            ],
        };
        std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
        std::mem::forget(txn); // the "crashed" process never cleans up
        if step >= 1 {
            std::fs::rename(dir.join("data_x.npkd"), dir.join(&keep)).unwrap();
        }
        if step >= 2 {
            std::fs::rename(dir.join(&from), dir.join("data_x.npkd")).unwrap();
        }
        let r = reader(&dir);
        assert_eq!(load(&r), bytes(2.0), "reader, step {step}");
        drop(r);
        let w = Store::open(&dir, OpenOptions::default()).unwrap();
        assert_eq!(load(&w), bytes(2.0), "writer, step {step}");
        assert!(
            spares(&dir).is_empty(),
            "a crashed writer's spares are swept, step {step}"
        );
        drop(w);
    }
}
