//! The commit protocol and the store's reliability model (design.md, "Reliability model"),
//! through the public API: recovery from every on-disk state a crash can leave, read-only opens
//! of a crashed store, interrupted appends, failed commits, readers racing a writer, the writer
//! lock and durable mode.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{
    file_names, fill_leaving, filled, fingerprint, from_bytes, load_shaped, mount_tmpfs, reader,
    save_filled, umount, writer, TempDir,
};
use numpack::batch::CacheBatch;
use numpack::internals::metadata::{self, ArrayMeta, Catalog, METADATA_FILE};
use numpack::internals::record::{Op, Record, COMMIT_FILE, SPARE_PREFIX, STAGE_PREFIX};
use numpack::internals::{self as commit, Txn};
use numpack::layout::{Dst, Layout, Src};
use numpack::{DType, ErrorKind, OpenOptions, Store};

const COMMIT_TMP: &str = ".npk.commit.tmp";

// ---- helpers -----------------------------------------------------------------------------------

/// Staged files, commit record and its temp file: what a finished commit never leaves behind.
fn protocol_leftovers(dir: &Path) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(STAGE_PREFIX) || n == COMMIT_FILE || n == COMMIT_TMP)
        .collect()
}

/// `fingerprint` without the writer's spares (`.npk-spare-*`): files of no committed state,
/// which the writer overwrites before a commit's decision (its spare catalogue) and removes at
/// close, and a writer's open sweeps.
fn store_fingerprint(dir: &Path) -> common::Fingerprint {
    let mut f = fingerprint(dir);
    f.retain(|name, _| !name.starts_with(SPARE_PREFIX));
    f
}

/// The arrays a store should show: name → (shape, every element's value).
type Expect = Vec<(&'static str, Vec<u64>, i32)>;

fn assert_state(s: &Store, want: &Expect, what: &str) {
    let mut names: Vec<String> = want.iter().map(|(n, _, _)| n.to_string()).collect();
    names.sort();
    assert_eq!(s.list(), names, "{what}: array list");
    for (name, shape, value) in want {
        let (got_shape, values) = load_shaped::<i32>(s, name);
        assert_eq!(&got_shape, shape, "{what}: shape of {name}");
        assert!(
            values.iter().all(|v| v == value),
            "{what}: values of {name}: want all {value}, got {values:?}"
        );
        // The zero-copy path reads the same file the loader does.
        let view = s.view(name).unwrap();
        let bytes = unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) };
        assert_eq!(bytes, filled(*value, shape), "{what}: view of {name}");
    }
}

// ---- 2. recovery from every intermediate state of a multi-file commit ---------------------------

fn old_state() -> Expect {
    vec![("a", vec![4], 1), ("b", vec![2, 3], 2), ("c", vec![3], 3)]
}

/// "save a and b with new contents (new shapes) + drop c".
fn new_state() -> Expect {
    vec![("a", vec![7], 10), ("b", vec![3, 2, 2], 20)]
}

/// Operations in the record of that commit: three renames, one removal, three files moved aside
/// and removed.
const RECORD_OPS: usize = 7;

#[derive(Clone, Copy, Debug, PartialEq)]
enum CrashPoint {
    /// Staged data files written, the catalogue not staged yet, no record.
    StagedDataOnly,
    /// Every file staged (catalogue included), no record.
    StagedAll,
    /// `.npk.commit.tmp` half written.
    TmpRecordPartial,
    /// `.npk.commit.tmp` complete but not renamed.
    TmpRecordComplete,
    /// `.npk.commit` in place, the first `n` operations applied (renames, then removals).
    Decided(usize),
}

impl CrashPoint {
    fn decided(self) -> bool {
        matches!(self, CrashPoint::Decided(_))
    }
}

/// Builds a store in the on-disk state a crash at `point` leaves. The record and the staged
/// files are the real code's: `Txn` stages and commits, and its apply step is made to fail on
/// the very first rename (the target is briefly a non-empty directory), which leaves exactly
/// "decided, nothing applied" on disk. Earlier and later states are derived from that one by
/// the same file operations the protocol performs.
fn build_crash_state(point: CrashPoint) -> (TempDir, Record) {
    let dir = TempDir::new("crash");
    {
        let s = writer(&dir);
        for (name, shape, v) in old_state() {
            save_filled(&s, name, &shape, v);
        }
    }
    let old_a = std::fs::read(dir.join("data_a.npkd")).unwrap();

    let mut txn = Txn::new(&dir, false);
    let new = new_state();
    for (name, shape, v) in &new {
        let (f, _) = txn.stage(&format!("data_{name}.npkd")).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&filled(*v, shape), 0).unwrap();
    }
    // What `retire` schedules for replaced and dropped arrays; the two replaced ones are
    // filtered out by the commit (their rename replaces them).
    txn.remove("data_a.npkd");
    txn.remove("data_b.npkd");
    txn.remove("data_c.npkd");
    let mut catalog = Catalog {
        version: 1,
        arrays: BTreeMap::new(),
    };
    for (name, shape, _) in &new {
        catalog.arrays.insert(
            name.to_string(),
            ArrayMeta::new(name, DType::I32, shape.clone(), 1_700_000_000_000_000),
        );
    }
    let meta_bytes = metadata::encode(&catalog);

    // Block the first rename: the commit decides, then fails to apply.
    std::fs::remove_file(dir.join("data_a.npkd")).unwrap();
    std::fs::create_dir(dir.join("data_a.npkd")).unwrap();
    std::fs::write(dir.join("data_a.npkd").join("block"), b"x").unwrap();
    txn.commit(&meta_bytes).unwrap();
    assert!(
        txn.is_unfinished(),
        "the failure must come after the decision"
    );
    drop(txn); // decided: dropping must not remove the staged files the record names
    std::fs::remove_dir_all(dir.join("data_a.npkd")).unwrap();
    std::fs::write(dir.join("data_a.npkd"), &old_a).unwrap();

    let record = commit::read_record(&dir).unwrap().expect("record on disk");
    // The order the protocol promises: data renames, the catalogue last, then removals; a
    // file replaced by a rename is not also removed, it is moved aside (so the rename lands on
    // a free name) and that is removed last.
    let kinds: Vec<(String, String)> = record
        .ops
        .iter()
        .map(|op| match op {
            Op::Rename { from, to } | Op::RenameKeepingOld { from, to, .. } => {
                assert!(from.starts_with(STAGE_PREFIX), "{from}");
                ("rename".to_string(), to.clone())
            }
            Op::Remove { path } if path.starts_with(SPARE_PREFIX) => {
                ("remove".to_string(), "(moved aside)".to_string())
            }
            Op::Remove { path } => ("remove".to_string(), path.clone()),
            Op::RemoveDir { path } => ("rmdir".to_string(), path.clone()),
        })
        .collect();
    let expect_kinds: Vec<(String, String)> = [
        ("rename", "data_a.npkd"),
        ("rename", "data_b.npkd"),
        ("rename", METADATA_FILE),
        ("remove", "data_c.npkd"),
        ("remove", "(moved aside)"),
        ("remove", "(moved aside)"),
        ("remove", "(moved aside)"),
    ]
    .iter()
    .map(|(k, p)| (k.to_string(), p.to_string()))
    .collect();
    assert_eq!(kinds, expect_kinds);

    // Each staged file holds what its target will hold.
    for op in &record.ops {
        if let Op::Rename { from, to } | Op::RenameKeepingOld { from, to, .. } = op {
            let staged = std::fs::read(dir.join(from)).unwrap();
            if to == METADATA_FILE {
                assert_eq!(staged, meta_bytes);
            }
        }
    }

    match point {
        CrashPoint::StagedDataOnly | CrashPoint::StagedAll => {
            std::fs::remove_file(dir.join(COMMIT_FILE)).unwrap();
            if point == CrashPoint::StagedDataOnly {
                let (Op::Rename { from, .. } | Op::RenameKeepingOld { from, .. }) = &record.ops[2]
                else {
                    unreachable!()
                };
                std::fs::remove_file(dir.join(from)).unwrap();
            }
        }
        CrashPoint::TmpRecordComplete => {
            std::fs::rename(dir.join(COMMIT_FILE), dir.join(COMMIT_TMP)).unwrap();
        }
        CrashPoint::TmpRecordPartial => {
            let bytes = std::fs::read(dir.join(COMMIT_FILE)).unwrap();
            std::fs::write(dir.join(COMMIT_TMP), &bytes[..bytes.len() / 2]).unwrap();
            std::fs::remove_file(dir.join(COMMIT_FILE)).unwrap();
        }
        CrashPoint::Decided(n) => {
            for op in &record.ops[..n] {
                match op {
                    Op::Rename { from, to } => {
                        std::fs::rename(dir.join(from), dir.join(to)).unwrap()
                    }
                    Op::RenameKeepingOld { from, to, keep } => {
                        if dir.join(to).exists() {
                            std::fs::rename(dir.join(to), dir.join(keep)).unwrap();
                        }
                        std::fs::rename(dir.join(from), dir.join(to)).unwrap()
                    }
                    Op::Remove { path } => std::fs::remove_file(dir.join(path)).unwrap(),
                    Op::RemoveDir { path } => std::fs::remove_dir(dir.join(path)).unwrap(),
                }
            }
        }
    }
    (dir, record)
}

#[test]
fn recovery_from_every_crash_point_of_a_multi_file_commit() {
    let mut points = vec![
        CrashPoint::StagedDataOnly,
        CrashPoint::StagedAll,
        CrashPoint::TmpRecordPartial,
        CrashPoint::TmpRecordComplete,
    ];
    points.extend((0..=RECORD_OPS).map(CrashPoint::Decided));
    for point in points {
        let what = format!("{point:?}");
        let (dir, record) = build_crash_state(point);
        let want = if point.decided() {
            new_state()
        } else {
            old_state()
        };

        // A read-only open first: a whole state, and not one byte of the directory changes.
        let before = fingerprint(&dir);
        {
            let r = reader(&dir);
            assert_state(&r, &want, &format!("{what}, read-only"));
            r.refresh().unwrap();
            assert_state(&r, &want, &format!("{what}, read-only after refresh"));
        }
        assert_eq!(
            fingerprint(&dir),
            before,
            "{what}: a read-only open modified the store"
        );

        // A writer open recovers: the same state, and nothing of the protocol left behind.
        {
            let w = writer(&dir);
            assert_state(&w, &want, &format!("{what}, writer"));
            assert_eq!(protocol_leftovers(&dir), Vec::<String>::new(), "{what}");
            let mut files = vec![".npk.lock", "data_a.npkd", "data_b.npkd", METADATA_FILE];
            if !point.decided() {
                files.push("data_c.npkd");
            }
            files.sort();
            assert_eq!(file_names(&dir), files, "{what}: files after recovery");
            for (name, shape, v) in &want {
                assert_eq!(
                    std::fs::read(dir.join(format!("data_{name}.npkd"))).unwrap(),
                    filled(*v, shape),
                    "{what}: data file of {name} after recovery"
                );
            }
            // The recovered store keeps working.
            save_filled(&w, "z", &[2], 5);
        }
        let mut want_after = want.clone();
        want_after.push(("z", vec![2], 5));
        let r = reader(&dir);
        assert_state(&r, &want_after, &format!("{what}, reopened"));
        drop(r);
        // Whatever the record staged is gone once rolled forward or swept.
        for op in &record.ops {
            if let Op::Rename { from, .. } | Op::RenameKeepingOld { from, .. } = op {
                assert!(!dir.join(from).exists(), "{what}: {from} left behind");
            }
        }
    }
}

#[test]
fn writer_recovery_is_idempotent_when_interrupted_and_repeated() {
    // A crash during recovery itself leaves a partly applied record again: every such state
    // must still roll forward on the next open. Applying by hand up to each point and then
    // recovering twice (the second call has nothing left to do) covers that.
    for n in 0..=RECORD_OPS {
        let (dir, _) = build_crash_state(CrashPoint::Decided(n));
        assert!(
            commit::recover(&dir).unwrap(),
            "a record was rolled forward"
        );
        let snapshot = fingerprint(&dir);
        assert!(
            !commit::recover(&dir).unwrap(),
            "nothing left to roll forward"
        );
        assert_eq!(
            fingerprint(&dir),
            snapshot,
            "a second recovery changes nothing"
        );
        assert_state(&reader(&dir), &new_state(), &format!("Decided({n})"));
    }
}

#[test]
fn a_reader_of_a_crashed_store_survives_a_writer_recovering_it() {
    for n in [0, 2] {
        let (dir, _) = build_crash_state(CrashPoint::Decided(n));
        let r = reader(&dir);
        assert_state(&r, &new_state(), "reader before the writer");
        // The reader's snapshot points at staged files; a writer recovering renames them away.
        // The reader follows (without and with an explicit refresh) and sees the same state.
        let w = writer(&dir);
        assert_state(&w, &new_state(), "writer");
        assert_state(&r, &new_state(), "reader after the writer recovered");
        r.refresh().unwrap();
        assert_state(&r, &new_state(), "reader refreshed");
        drop(w);
        drop(r);
    }
}

#[test]
fn a_corrupt_commit_record_is_reported_and_nothing_is_touched() {
    let (dir, _) = build_crash_state(CrashPoint::Decided(1));
    let mut bytes = std::fs::read(dir.join(COMMIT_FILE)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(dir.join(COMMIT_FILE), &bytes).unwrap();
    let before = fingerprint(&dir);
    let ro = Store::open(
        &dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    );
    assert_eq!(ro.err().unwrap().kind, ErrorKind::Corrupt);
    let w = Store::open(&dir, OpenOptions::default());
    assert_eq!(w.err().unwrap().kind, ErrorKind::Corrupt);
    // The writer took its lock (the lock file's content is its pid) but must not sweep staged
    // files a decided record may still need, nor apply anything.
    let mut after = fingerprint(&dir);
    after.remove(".npk.lock");
    let mut before_no_lock = before;
    before_no_lock.remove(".npk.lock");
    assert_eq!(after, before_no_lock);
}

/// A record with a valid checksum whose result is not a whole store: the catalogue it installs
/// still names a file it removes (found by an independent test run: the writer open deleted the
/// file, then reported the store corrupt). Recovery must check the result first and refuse
/// with the directory untouched, for every way a record can take a named file away.
#[test]
fn a_record_inconsistent_with_its_catalogue_is_refused_before_anything_is_applied() {
    type Ops = fn(&str) -> Vec<Op>;
    let cases: [(&str, Ops); 3] = [
        ("removes a named file", |staged_meta| {
            vec![
                Op::Rename {
                    from: staged_meta.into(),
                    to: METADATA_FILE.into(),
                },
                Op::Remove {
                    path: "data_a.npkd".into(),
                },
            ]
        }),
        ("removes a file it renamed in", |staged_meta| {
            vec![
                Op::Rename {
                    from: format!("{STAGE_PREFIX}t-1"),
                    to: "data_b.npkd".into(),
                },
                Op::Rename {
                    from: staged_meta.into(),
                    to: METADATA_FILE.into(),
                },
                Op::Remove {
                    path: "data_b.npkd".into(),
                },
            ]
        }),
        ("renames a file over the record", |staged_meta| {
            vec![
                Op::Rename {
                    from: format!("{STAGE_PREFIX}t-1"),
                    to: COMMIT_FILE.into(),
                },
                Op::Rename {
                    from: staged_meta.into(),
                    to: METADATA_FILE.into(),
                },
            ]
        }),
    ];
    for (what, ops) in cases {
        let dir = TempDir::new("inconsistent-record");
        {
            let s = writer(&dir);
            save_filled(&s, "a", &[3], 1);
            save_filled(&s, "b", &[2], 2);
        }
        let staged_meta = format!("{STAGE_PREFIX}t-2");
        std::fs::copy(dir.join(METADATA_FILE), dir.join(&staged_meta)).unwrap();
        std::fs::write(dir.join(format!("{STAGE_PREFIX}t-1")), filled(7, &[2])).unwrap();
        let record = Record {
            txid: "t".into(),
            ops: ops(&staged_meta),
        };
        std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
        let before = fingerprint(&dir);
        let e = Store::open(&dir, OpenOptions::default()).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{what}: {e}");
        let mut after = fingerprint(&dir);
        // The lock file's content is the pid of the writer that last took the lock.
        after.remove(".npk.lock");
        let mut want = before;
        want.remove(".npk.lock");
        assert_eq!(after, want, "{what}: the refused open changed the store");
    }
}

/// Calls that change nothing write nothing: dropping no rows used to commit a deletion bitmap
/// that deleted nothing (while dropping no arrays was refused). Both are refused alike now, and
/// replacing no rows succeeds without touching the modify time that close would write.
#[test]
fn empty_drops_are_refused_and_empty_replacements_write_nothing() {
    let dir = TempDir::new("empty-calls");
    let w = writer(&dir);
    save_filled(&w, "a", &[3, 2], 1);
    let time = w.info("a").unwrap().modify_time_us;
    let before = store_fingerprint(&dir);
    let e = w.drop_rows("a", &[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    let e = w.drop_arrays(&[]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    w.replace_rows(
        "a",
        &[],
        DType::I32,
        &Src::contiguous(&[], &[0, 2], 4).unwrap(),
    )
    .unwrap();
    assert_eq!(w.info("a").unwrap().modify_time_us, time);
    drop(w);
    assert_eq!(
        store_fingerprint(&dir),
        before,
        "a call that changed nothing wrote"
    );
    assert_state(&writer(&dir), &vec![("a", vec![3, 2], 1)], "after no-ops");
}

// ---- 3. interrupted append ----------------------------------------------------------------------

#[test]
fn interrupted_append_is_ignored_by_readers_and_trimmed_by_the_writer() {
    let dir = TempDir::new("append");
    {
        let s = writer(&dir);
        save_filled(&s, "a", &[3, 2], 7);
        save_filled(&s, "b", &[2], 8);
    }
    // A faithful interrupted append: the real append writes the rows in place, then commits the
    // catalogue; a crash between the two leaves the old catalogue with the longer file.
    let old_meta = std::fs::read(dir.join(METADATA_FILE)).unwrap();
    {
        let s = writer(&dir);
        let rows = filled(9, &[4, 2]);
        s.append(
            "a",
            DType::I32,
            &Src::contiguous(&rows, &[4, 2], 4).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(dir.join(METADATA_FILE), &old_meta).unwrap();
    assert_eq!(
        std::fs::metadata(dir.join("data_a.npkd")).unwrap().len(),
        7 * 8
    );
    // And some garbage past the end of another array.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("data_b.npkd"))
            .unwrap();
        f.write_all(&[0xAB; 5]).unwrap();
    }
    common::as_if_the_writer_died(&dir);

    let want: Expect = vec![("a", vec![3, 2], 7), ("b", vec![2], 8)];
    let before = fingerprint(&dir);
    {
        let r = reader(&dir);
        assert_state(&r, &want, "reader");
        // Row reads near the end must not see the bytes past it either.
        let mut out = vec![0u8; 8];
        r.get_rows(
            "a",
            &[-1],
            DType::I32,
            &mut Dst::contiguous(&mut out, &[1, 2], 4).unwrap(),
        )
        .unwrap();
        assert_eq!(from_bytes::<i32>(&out), vec![7, 7]);
    }
    assert_eq!(fingerprint(&dir), before, "a reader must not trim");

    let w = writer(&dir);
    assert_eq!(
        std::fs::metadata(dir.join("data_a.npkd")).unwrap().len(),
        3 * 8
    );
    assert_eq!(
        std::fs::metadata(dir.join("data_b.npkd")).unwrap().len(),
        2 * 4
    );
    assert_state(&w, &want, "writer");
    // Appending after the trim lands right after the real end.
    let rows = filled(7, &[1, 2]);
    w.append(
        "a",
        DType::I32,
        &Src::contiguous(&rows, &[1, 2], 4).unwrap(),
    )
    .unwrap();
    drop(w);
    assert_state(
        &reader(&dir),
        &vec![("a", vec![4, 2], 7), ("b", vec![2], 8)],
        "after a new append",
    );
}

// ---- 4. abandoned and failed commits ------------------------------------------------------------

#[test]
fn a_txn_dropped_without_commit_removes_its_staged_files() {
    let dir = TempDir::new("txn-drop");
    {
        let s = writer(&dir);
        save_filled(&s, "a", &[2], 1);
    }
    let before = fingerprint(&dir);
    let staged: Vec<PathBuf> = {
        let mut txn = Txn::new(&dir, false);
        let (_, p1) = txn.stage("data_a.npkd").unwrap();
        let (_, p2) = txn.stage("data_n.npkd").unwrap();
        // Restaging a target discards the earlier staged file at once.
        let (_, p3) = txn.stage("data_n.npkd").unwrap();
        assert!(!p2.exists());
        assert_eq!(txn.staged_path("data_n.npkd"), Some(p3.clone()));
        txn.remove("data_a.npkd");
        assert!(p1.exists() && p3.exists());
        vec![p1, p2, p3]
    };
    for p in &staged {
        assert!(!p.exists(), "{} survived the drop", p.display());
    }
    assert_eq!(fingerprint(&dir), before);
    assert_state(&writer(&dir), &vec![("a", vec![2], 1)], "after drop");
}

#[test]
fn a_commit_failing_before_its_decision_keeps_the_previous_state() {
    let dir = TempDir::new("fail-tmp");
    let w = writer(&dir);
    save_filled(&w, "a", &[3], 1);
    save_filled(&w, "b", &[2], 2);
    let want: Expect = vec![("a", vec![3], 1), ("b", vec![2], 2)];
    // The record's temp name is taken by a directory: writing the record fails, which is the
    // last step before the decision.
    std::fs::create_dir(dir.join(COMMIT_TMP)).unwrap();
    std::fs::write(dir.join(COMMIT_TMP).join("x"), b"x").unwrap();
    let before = store_fingerprint(&dir);

    let e = w
        .save(
            "a",
            DType::I32,
            &Src::contiguous(&filled(5, &[9]), &[9], 4).unwrap(),
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io, "{e}");
    // Structural changes of existing arrays need a record too (a new array's save, a clone to
    // a new name and a plain drop do not: see the test after this one).
    assert!(w.drop_rows("b", &[0]).is_err());
    {
        let mut b = CacheBatch::begin(&w, 0).unwrap();
        let bytes = filled(6, &[4]);
        b.save("a", DType::I32, &Src::contiguous(&bytes, &[4], 4).unwrap())
            .unwrap();
        b.save("b", DType::I32, &Src::contiguous(&bytes, &[4], 4).unwrap())
            .unwrap();
        assert!(b.end().is_err());
        b.abort();
    }
    assert_eq!(
        store_fingerprint(&dir),
        before,
        "a failed commit left files behind"
    );
    assert_state(&w, &want, "writer after failures");
    assert_state(&reader(&dir), &want, "reader after failures");

    // With the obstacle gone the same handle commits again.
    std::fs::remove_dir_all(dir.join(COMMIT_TMP)).unwrap();
    save_filled(&w, "a", &[9], 5);
    drop(w);
    assert_state(
        &writer(&dir),
        &vec![("a", vec![9], 5), ("b", vec![2], 2)],
        "after a retry",
    );
}

/// A save of a new array, a clone to a new name and a drop of an array without deleted rows
/// commit by the catalogue alone: they succeed while no commit record can be written (its temp
/// name is a directory), each leaves no file of the protocol behind, and a reader sees them.
#[test]
fn new_arrays_and_plain_drops_commit_without_a_record() {
    let dir = TempDir::new("no-record");
    let w = writer(&dir);
    save_filled(&w, "a", &[3], 1);
    save_filled(&w, "b", &[2], 2);
    std::fs::create_dir(dir.join(COMMIT_TMP)).unwrap();
    std::fs::write(dir.join(COMMIT_TMP).join("x"), b"x").unwrap();
    save_filled(&w, "n", &[4], 7);
    w.clone_array("a", "c").unwrap();
    w.drop_arrays(&["b"]).unwrap();
    let want: Expect = vec![("a", vec![3], 1), ("c", vec![3], 1), ("n", vec![4], 7)];
    assert_state(&w, &want, "writer");
    assert_state(&reader(&dir), &want, "reader");
    assert!(!dir.join("data_b.npkd").exists(), "the drop left its file");
    assert!(!dir.join(COMMIT_FILE).exists());
    // A save over an existing array still needs its record, and fails leaving no file.
    let before = store_fingerprint(&dir);
    assert!(w
        .save(
            "n",
            DType::I32,
            &Src::contiguous(&filled(3, &[2]), &[2], 4).unwrap()
        )
        .is_err());
    assert_eq!(store_fingerprint(&dir), before);
    assert_state(&w, &want, "after the failed save over");
    std::fs::remove_dir_all(dir.join(COMMIT_TMP)).unwrap();
    drop(w);
    assert_state(&writer(&dir), &want, "reopened");
}

/// Files a crash left under a new array's names belong to no state: the array's save replaces
/// them, never applies them (a leftover deletion bitmap would hide its rows) and never writes
/// into them (an old snapshot may still map an orphan).
#[test]
fn leftovers_under_a_new_arrays_names_do_not_leak_into_it() {
    use std::io::Read;
    let dir = TempDir::new("orphans");
    let w = writer(&dir);
    save_filled(&w, "a", &[4], 1);
    w.drop_rows("a", &[0, 2]).unwrap();
    let bitmap = std::fs::read(dir.join("deleted_a.npkb")).unwrap();
    // An orphan data file and bitmap, as a crash before a new array's commit leaves them.
    std::fs::write(dir.join("deleted_z.npkb"), &bitmap).unwrap();
    std::fs::write(dir.join("data_z.npkd"), filled(99, &[4])).unwrap();
    let mut orphan = std::fs::File::open(dir.join("data_z.npkd")).unwrap();
    save_filled(&w, "z", &[4], 5);
    let want: Expect = vec![("a", vec![2], 1), ("z", vec![4], 5)];
    assert_state(&w, &want, "writer");
    assert_state(&reader(&dir), &want, "reader");
    assert!(!dir.join("deleted_z.npkb").exists());
    let mut old = Vec::new();
    orphan.read_to_end(&mut old).unwrap();
    assert_eq!(old, filled(99, &[4]), "the orphan was written into");
    drop(w);
    assert_state(&writer(&dir), &want, "reopened");
}

/// A cache batch that spilled new arrays to their own names and is aborted leaves no file (a
/// failing save's own case is a unit test in `store::commit`, with a failing fsync).
#[test]
fn an_aborted_batch_of_new_arrays_leaves_no_file() {
    let dir = TempDir::new("new-fails");
    let w = writer(&dir);
    save_filled(&w, "a", &[3], 1);
    let want: Expect = vec![("a", vec![3], 1)];
    let before = store_fingerprint(&dir);
    // Two arrays of 1.2 MB under a 1 MB limit: the first is spilled when the second comes.
    {
        let mut b = CacheBatch::begin(&w, 1).unwrap();
        let big = filled(3, &[300_000]);
        b.save(
            "m",
            DType::I32,
            &Src::contiguous(&big, &[300_000], 4).unwrap(),
        )
        .unwrap();
        b.save(
            "k",
            DType::I32,
            &Src::contiguous(&big, &[300_000], 4).unwrap(),
        )
        .unwrap();
        assert!(dir.join("data_m.npkd").exists(), "the batch did not spill");
        b.abort();
    }
    assert_eq!(store_fingerprint(&dir), before);
    assert_state(&w, &want, "after the aborted batch");
}

#[test]
fn a_full_disk_at_any_step_before_the_decision_keeps_the_previous_state() {
    let mnt = TempDir::new("enospc");
    if !mount_tmpfs(&mnt, 1024) {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let dir = mnt.join("store");
    let result = std::panic::catch_unwind(|| {
        let w = writer(&dir);
        save_filled(&w, "a", &[3], 1);
        save_filled(&w, "b", &[2], 2);
        let want: Expect = vec![("a", vec![3], 1), ("b", vec![2], 2)];
        // A save of a one-page array needs two pages: staged data and the commit record; the
        // catalogue is written over the writer's spare catalogue, in the page it has. A new
        // writer has no spare yet and needs a third page for it. With fewer free the save fails
        // at each of those steps in turn.
        let fails_at_each_step = |w: &Store, pages: u64| {
            for free in 0..pages {
                fill_leaving(&mnt, free);
                let before = store_fingerprint(&dir);
                let e = w
                    .save(
                        "a",
                        DType::I32,
                        &Src::contiguous(&filled(4, &[1000]), &[1000], 4).unwrap(),
                    )
                    .unwrap_err();
                assert_eq!(e.kind, ErrorKind::Io, "{free} pages free: {e}");
                assert!(e.message.contains("errno 28"), "{e}");
                assert_eq!(store_fingerprint(&dir), before, "{free} pages free");
                assert_state(w, &want, &format!("writer, {free} pages free"));
                assert_state(&reader(&dir), &want, &format!("reader, {free} free"));
                std::fs::remove_file(mnt.join("filler")).unwrap();
            }
        };
        fails_at_each_step(&w, 2);
        drop(w);
        let w = writer(&dir);
        fails_at_each_step(&w, 3);
        fill_leaving(&mnt, 3);
        save_filled(&w, "a", &[1000], 4);
        std::fs::remove_file(mnt.join("filler")).unwrap();
        drop(w);
        assert_state(
            &writer(&dir),
            &vec![("a", vec![1000], 4), ("b", vec![2], 2)],
            "after the disk had room",
        );
    });
    umount(&mnt);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// Every array's (logical shape, values): the state a user sees.
type State = BTreeMap<String, (Vec<u64>, Vec<i32>)>;

fn state_of(s: &Store) -> State {
    s.list()
        .into_iter()
        .map(|n| {
            let v = load_shaped::<i32>(s, &n);
            (n, v)
        })
        .collect()
}

/// Name → content of the store's regular files, leaving out what only the writer itself uses
/// (its lock file and spare files, which a failed overwrite may have written into).
fn file_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    file_names(dir)
        .into_iter()
        .filter(|n| !n.starts_with(".npk-spare-") && n != ".npk.lock")
        .filter(|n| dir.join(n).is_file())
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

/// Runs `op` with 0, 1, 2, ... pages left free on the tmpfs holding the store until it
/// succeeds. Each failure must be an I/O error saying ENOSPC that leaves every file and what
/// the writer and a new reader see exactly as before. Returns the number of failures.
fn sweep_free_space(
    mnt: &Path,
    dir: &Path,
    w: &Store,
    what: &str,
    op: impl FnMut(&Store) -> numpack::Result<()>,
) -> usize {
    sweep_free_space_by(mnt, dir, w, what, 1, op)
}

/// `sweep_free_space` with `step` more pages free each time.
fn sweep_free_space_by(
    mnt: &Path,
    dir: &Path,
    w: &Store,
    what: &str,
    step: u64,
    mut op: impl FnMut(&Store) -> numpack::Result<()>,
) -> usize {
    for free in (0..256).map(|i| i * step) {
        let before_files = file_contents(dir);
        let before = state_of(w);
        fill_leaving(mnt, free);
        let r = op(w);
        std::fs::remove_file(mnt.join("filler")).unwrap();
        let Err(e) = r else {
            return free as usize;
        };
        assert_eq!(e.kind, ErrorKind::Io, "{what}, {free} pages free: {e}");
        assert!(e.message.contains("errno 28"), "{what}: {e}");
        assert_eq!(
            protocol_leftovers(dir),
            Vec::<String>::new(),
            "{what}, {free} free"
        );
        assert!(
            file_contents(dir) == before_files,
            "{what}, {free} pages free: files changed"
        );
        assert_eq!(state_of(w), before, "{what}, {free} pages free: writer");
        assert_eq!(
            state_of(&reader(dir)),
            before,
            "{what}, {free} free: reader"
        );
    }
    panic!("{what} never succeeded");
}

fn i32_seq(start: i32, n: usize) -> Vec<u8> {
    (start..start + n as i32)
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[test]
fn a_full_disk_during_any_structural_change_keeps_the_previous_state() {
    let mnt = TempDir::new("enospc-ops");
    if !mount_tmpfs(&mnt, 2048) {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let dir = mnt.join("store");
    let result = std::panic::catch_unwind(|| {
        let w = writer(&dir);
        // 3,000 x 2 int32 = 6 pages per array.
        let (rows, cols) = (3000u64, 2u64);
        let seq = |start| i32_seq(start, (rows * cols) as usize);
        let sv = |s: &Store, name: &str, start: i32| {
            s.save(
                name,
                DType::I32,
                &Src::contiguous(&seq(start), &[rows, cols], 4).unwrap(),
            )
        };
        sv(&w, "a", 0).unwrap();
        sv(&w, "b", 100_000).unwrap();
        let mut failures = Vec::new();

        failures.push(sweep_free_space(
            &mnt,
            &dir,
            &w,
            "save of a new array",
            |s| sv(s, "c", 200_000),
        ));
        failures.push(sweep_free_space(&mnt, &dir, &w, "overwriting save", |s| {
            sv(s, "a", 7)
        }));
        let more = i32_seq(-5000, 2000 * 2);
        failures.push(sweep_free_space(&mnt, &dir, &w, "append", |s| {
            s.append(
                "b",
                DType::I32,
                &Src::contiguous(&more, &[2000, 2], 4).unwrap(),
            )
        }));
        failures.push(sweep_free_space(&mnt, &dir, &w, "drop rows", |s| {
            s.drop_rows("b", &[0, 5, -1])
        }));
        failures.push(sweep_free_space(&mnt, &dir, &w, "compact", |s| {
            s.compact(Some("b"))
        }));
        failures.push(sweep_free_space(&mnt, &dir, &w, "clone", |s| {
            s.clone_array("c", "d")
        }));

        // A cache batch changing three arrays: the failed end keeps the batch for a retry.
        let mut batch = CacheBatch::begin(&w, 0).unwrap();
        let x = seq(300_000);
        for name in ["a", "c", "e"] {
            batch
                .save(
                    name,
                    DType::I32,
                    &Src::contiguous(&x, &[rows, cols], 4).unwrap(),
                )
                .unwrap();
        }
        failures.push(sweep_free_space(
            &mnt,
            &dir,
            &w,
            "cache-batch commit",
            |_| batch.end(),
        ));

        for (what, n) in [
            "save",
            "overwrite",
            "append",
            "drop rows",
            "compact",
            "clone",
            "batch",
        ]
        .iter()
        .zip(&failures)
        {
            assert!(
                *n >= 1,
                "{what} needed no free space at all: the sweep tested nothing"
            );
        }
        let mut b_rows = from_bytes::<i32>(&seq(100_000));
        b_rows.extend(from_bytes::<i32>(&more));
        // drop_rows(0, 5, last) of 5,000 rows of 2
        let mut b_live = Vec::new();
        for (i, r) in b_rows.chunks(2).enumerate() {
            if i != 0 && i != 5 && i != 4999 {
                b_live.extend_from_slice(r);
            }
        }
        let want: State = [
            ("a", from_bytes::<i32>(&x), rows),
            ("b", b_live, 4997),
            ("c", from_bytes::<i32>(&x), rows),
            ("d", from_bytes::<i32>(&seq(200_000)), rows),
            ("e", from_bytes::<i32>(&x), rows),
        ]
        .into_iter()
        .map(|(n, v, r)| (n.to_string(), (vec![r, cols], v)))
        .collect();
        assert!(state_of(&w) == want, "writer after the sweeps");
        drop(batch);
        drop(w);
        assert!(state_of(&writer(&dir)) == want, "reopened after the sweeps");
        eprintln!("ENOSPC failures before success: {failures:?}");
    });
    umount(&mnt);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn a_full_disk_during_a_strided_save_through_a_mapping_is_an_io_error_not_sigbus() {
    // Large Fortran-order saves transpose straight into a shared mapping of the data file. A
    // store into a mapped hole on a full disk raises SIGBUS (this test process would die); the
    // blocks are allocated first, so a full disk is an ENOSPC error leaving the store as it was.
    let mnt = TempDir::new("enospc-mapped");
    if !mount_tmpfs(&mnt, 12 * 1024) {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let dir = mnt.join("store");
    let result = std::panic::catch_unwind(|| {
        let w = writer(&dir);
        // (rows, 512) int32 in Fortran order, element (r, c) = start + 512 r + c: 1 MiB at 512
        // rows, long enough on both sides for whole tiles.
        let fortran = |rows: u64, start: i32| -> Vec<u8> {
            (0..rows * 512)
                .map(|k| start + (512 * (k % rows) + k / rows) as i32)
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
        let sv = |s: &Store, name: &str, rows: u64, start: i32| {
            let bytes = fortran(rows, start);
            let layout = Layout::new(&[rows, 512], Some(&[4, 4 * rows as i64]), 4).unwrap();
            s.save(name, DType::I32, &Src::new(&bytes, 0, layout).unwrap())
        };
        let want = |rows: u64, start: i32| -> (Vec<u64>, Vec<i32>) {
            (
                vec![rows, 512],
                (0..(rows * 512) as i32).map(|k| start + k).collect(),
            )
        };
        sv(&w, "a", 512, 0).unwrap();
        let new = sweep_free_space_by(&mnt, &dir, &w, "strided save of a new array", 32, |s| {
            sv(s, "c", 512, 1_000_000)
        });
        // The first overwrite keeps a's old file as a spare; the second writes into that spare
        // and must grow it (1 -> 1.5 MiB).
        sv(&w, "a", 512, 7).unwrap();
        let over = sweep_free_space_by(&mnt, &dir, &w, "strided save over a spare", 32, |s| {
            sv(s, "a", 768, 3_000_000)
        });
        assert!(
            new >= 1 && over >= 1,
            "a sweep needed no free space: {new} {over}"
        );
        let expect: State = [
            ("a".to_string(), want(768, 3_000_000)),
            ("c".to_string(), want(512, 1_000_000)),
        ]
        .into_iter()
        .collect();
        assert!(state_of(&w) == expect, "writer after the sweeps");
        drop(w);
        assert!(
            state_of(&reader(&dir)) == expect,
            "reopened after the sweeps"
        );
    });
    umount(&mnt);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

// ---- 5. readers racing a writer -----------------------------------------------------------------

fn x_shape(v: i32) -> Vec<u64> {
    vec![1 + (v % 7) as u64, 3]
}

fn y_shape(v: i32) -> Vec<u64> {
    vec![2 + (v % 5) as u64]
}

/// Commits x and y together (one cache batch, one commit), both filled with `v`.
fn commit_xy(w: &Store, v: i32) {
    let mut b = CacheBatch::begin(w, 0).unwrap();
    let (xs, ys) = (x_shape(v), y_shape(v));
    let (xb, yb) = (filled(v, &xs), filled(v, &ys));
    b.save("x", DType::I32, &Src::contiguous(&xb, &xs, 4).unwrap())
        .unwrap();
    b.save("y", DType::I32, &Src::contiguous(&yb, &ys, 4).unwrap())
        .unwrap();
    b.end().unwrap();
}

/// Reads `name` through a view (shape and bytes from one snapshot) and checks it is internally
/// consistent; returns its v.
fn check_view(s: &Store, name: &str, shape_of: fn(i32) -> Vec<u64>) -> i32 {
    let view = s.view(name).unwrap_or_else(|e| panic!("view {name}: {e}"));
    assert_eq!(view.dtype, DType::I32);
    let bytes = unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) };
    let values = from_bytes::<i32>(bytes);
    let v = values[0];
    assert!(
        values.iter().all(|&e| e == v),
        "{name}: mixed values {values:?}"
    );
    assert_eq!(
        view.shape,
        shape_of(v),
        "{name}: shape does not match v={v}"
    );
    v
}

/// Loads `name` with info + load into a buffer of that shape; checks consistency, returns v.
fn check_load(s: &Store, name: &str, shape_of: fn(i32) -> Vec<u64>) -> i32 {
    let info = s.info(name).unwrap();
    let mut bytes = vec![0u8; info.nbytes as usize];
    s.load(
        name,
        DType::I32,
        &mut Dst::contiguous(&mut bytes, &info.shape, 4).unwrap(),
    )
    .unwrap_or_else(|e| panic!("load {name} with the shape info gave: {e}"));
    let values = from_bytes::<i32>(&bytes);
    let v = values[0];
    assert!(
        values.iter().all(|&e| e == v),
        "{name}: mixed values {values:?}"
    );
    assert_eq!(
        info.shape,
        shape_of(v),
        "{name}: shape does not match v={v}"
    );
    v
}

/// How long a race may run before it fails instead of hanging. A race ends on progress, not on
/// time, so only a stuck side ever gets here.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// How many commits a writer makes while readers race it (the readers read all along), and how
/// many rounds of each reader must span the end of one. The commits are about what the earlier
/// fixed two-second runs made on an idle machine: a busy one now takes longer, not fewer.
const RACE_COMMITS: i32 = 600;
const RACE_ROUNDS: u64 = 200;

/// Raises the flag when dropped: however one side of a race ends (done, or failing an
/// assertion), the others stop too instead of waiting for it.
struct RaiseOnDrop<'a>(&'a AtomicBool);

impl Drop for RaiseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `step(1)`, `step(2)`, ... as the writer on this thread while each of `readers` runs its
/// round over and over on a thread of its own, and returns the number of steps made. It ends on
/// progress, never on a timer (a loaded machine only makes it slower): once the writer made
/// `min_steps` steps and every reader made `min_raced` rounds that raced it, that is, during
/// which a step completed. A failing step or round ends the race and fails the test.
fn race(
    mut step: impl FnMut(i32),
    readers: &mut [&mut (dyn FnMut() + Send)],
    min_steps: i32,
    min_raced: u64,
) -> i32 {
    let steps = AtomicI32::new(0);
    let stop = AtomicBool::new(false);
    let raced: Vec<AtomicU64> = readers.iter().map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|scope| {
        for (round, raced) in readers.iter_mut().zip(&raced) {
            let (steps, stop) = (&steps, &stop);
            scope.spawn(move || {
                let _stop = RaiseOnDrop(stop);
                while !stop.load(Ordering::Acquire) {
                    let before = steps.load(Ordering::Acquire);
                    round();
                    if steps.load(Ordering::Acquire) != before {
                        raced.fetch_add(1, Ordering::Release);
                    }
                }
            });
        }
        let _stop = RaiseOnDrop(&stop);
        let start = Instant::now();
        let mut v = 0;
        while !stop.load(Ordering::Acquire) {
            let raced: Vec<u64> = raced.iter().map(|r| r.load(Ordering::Acquire)).collect();
            if v >= min_steps && raced.iter().all(|&r| r >= min_raced) {
                break;
            }
            assert!(
                start.elapsed() < HANG_GUARD,
                "the race did not finish within {HANG_GUARD:?}: the writer made {v} steps (want \
                 {min_steps}), the readers raced it in {raced:?} rounds (want {min_raced} each)"
            );
            v += 1;
            step(v);
            steps.store(v, Ordering::Release);
        }
        let raced: Vec<u64> = raced.iter().map(|r| r.load(Ordering::Acquire)).collect();
        eprintln!("{v} writer steps, reader rounds that raced them: {raced:?}");
        v
    })
}

#[test]
fn readers_see_whole_commits_while_a_writer_commits() {
    let dir = TempDir::new("race");
    let w = writer(&dir);
    commit_xy(&w, 0);
    let dir: &Path = &dir;
    // Fresh read-only opens: every array read is a whole, consistent version.
    let mut fresh = || {
        let r = reader(dir);
        check_view(&r, "x", x_shape);
        check_view(&r, "y", y_shape);
    };
    // One read-only handle refreshed between reads; versions never go backwards.
    let r = reader(dir);
    let mut last = 0;
    let mut refreshed = move || {
        r.refresh().unwrap();
        let x = check_view(&r, "x", x_shape);
        assert!(x >= last, "x went back from {last} to {x}");
        last = x;
    };
    let commits = race(
        |v| commit_xy(&w, v),
        &mut [&mut fresh, &mut refreshed],
        RACE_COMMITS,
        RACE_ROUNDS,
    );
    let r = reader(dir);
    assert_eq!(check_view(&r, "x", x_shape), commits);
    assert_eq!(check_view(&r, "y", y_shape), commits);
    assert_eq!(protocol_leftovers(dir), Vec::<String>::new());
}

/// Arrays no commit of `readers_see_whole_commits_in_a_store_of_thousands_of_arrays` changes
/// (half of them re-saved with the same content), named around x and y so that those sit among
/// them in the catalogue.
const FILLERS: usize = 3000;

fn filler(i: usize) -> (String, [i32; 2]) {
    let name = if i % 2 == 0 {
        format!("f{i:04}")
    } else {
        format!("z{i:04}")
    };
    (name, [i as i32, -(i as i32)])
}

/// Every filler is listed (no more, no fewer arrays than the fillers, x and y, besides the
/// coming and going m*), and those whose index is `offset` modulo `every` hold their content.
fn check_fillers(s: &Store, every: usize, offset: usize) {
    let listed = s.list().into_iter().filter(|n| !n.starts_with('m')).count();
    assert_eq!(listed, FILLERS + 2, "arrays listed besides m*");
    for i in (offset..FILLERS).step_by(every) {
        let (name, want) = filler(i);
        let (shape, got) = load_shaped::<i32>(s, &name);
        assert_eq!((shape, &got[..]), (vec![2], &want[..]), "filler {name}");
    }
}

/// The race above in a store of 3,000 more arrays (issue #14): a commit shares the entries it
/// does not change with the snapshots readers hold, and each step here also re-saves one filler
/// (its entry replaced, its neighbours shared) and creates or drops 150 more arrays among them.
/// Fresh opens and a refreshed handle see x and y from one commit, versions never going back,
/// and every filler listed with its content (a rotating sample of them per round).
///
/// The writer waits before each step until every reader began a new round: a load of 3,000
/// arrays outlasts a commit, and a reader retries a load that a commit overlapped, so a writer
/// committing back to back starves readers (each gives up after 10 s with Busy; measured here
/// without the wait). Steps still overlap the readers' loads, which is the race to check.
#[test]
fn readers_see_whole_commits_in_a_store_of_thousands_of_arrays() {
    let dir = TempDir::new("race-many");
    let w = writer(&dir);
    let mut b = CacheBatch::begin(&w, 0).unwrap();
    for i in 0..FILLERS {
        let (name, v) = filler(i);
        let bytes: Vec<u8> = v.iter().flat_map(|e| e.to_le_bytes()).collect();
        b.save(
            &name,
            DType::I32,
            &Src::contiguous(&bytes, &[2], 4).unwrap(),
        )
        .unwrap();
    }
    b.end().unwrap();
    commit_xy(&w, 0);
    let dir: &Path = &dir;
    let began: [AtomicU64; 2] = Default::default();
    let mut seen = [0u64; 2];
    let mut round = 0;
    let mut fresh = || {
        began[0].fetch_add(1, Ordering::Release);
        let r = reader(dir);
        let (x, y) = (check_view(&r, "x", x_shape), check_view(&r, "y", y_shape));
        assert_eq!(x, y, "x and y from different commits");
        round += 1;
        check_fillers(&r, 97, round % 97);
    };
    let r = reader(dir);
    let (mut last, mut rounds) = (0, 0);
    let began_refresh = &began[1];
    let mut refreshed = move || {
        began_refresh.fetch_add(1, Ordering::Release);
        r.refresh().unwrap();
        let x = check_view(&r, "x", x_shape);
        assert!(x >= last, "x went back from {last} to {x}");
        last = x;
        rounds += 1;
        check_fillers(&r, 89, rounds % 89);
    };
    let commits = race(
        |v| {
            let waiting = Instant::now();
            for (b, seen) in began.iter().zip(&mut seen) {
                while b.load(Ordering::Acquire) == *seen {
                    assert!(waiting.elapsed() < HANG_GUARD, "a reader made no new round");
                    std::thread::yield_now();
                }
                *seen = b.load(Ordering::Acquire);
            }
            let mut b = CacheBatch::begin(&w, 0).unwrap();
            let (xs, ys) = (x_shape(v), y_shape(v));
            let (xb, yb) = (filled(v, &xs), filled(v, &ys));
            b.save("x", DType::I32, &Src::contiguous(&xb, &xs, 4).unwrap())
                .unwrap();
            b.save("y", DType::I32, &Src::contiguous(&yb, &ys, 4).unwrap())
                .unwrap();
            let (name, same) = filler(v as usize * 7 % FILLERS);
            let bytes: Vec<u8> = same.iter().flat_map(|e| e.to_le_bytes()).collect();
            b.save(
                &name,
                DType::I32,
                &Src::contiguous(&bytes, &[2], 4).unwrap(),
            )
            .unwrap();
            b.end().unwrap();
            // Arrays that come and go together between the fillers, so that the catalogue's
            // groups of entries split and merge around them; readers count them out.
            let group: Vec<String> = (0..150).map(|i| format!("m{i:03}")).collect();
            if v % 2 == 1 {
                let mut b = CacheBatch::begin(&w, 0).unwrap();
                let one = filled(v, &[1]);
                for name in &group {
                    b.save(name, DType::I32, &Src::contiguous(&one, &[1], 4).unwrap())
                        .unwrap();
                }
                b.end().unwrap();
            } else {
                let names: Vec<&str> = group.iter().map(String::as_str).collect();
                w.drop_arrays(&names).unwrap();
            }
        },
        &mut [&mut fresh, &mut refreshed],
        // A round costs a load of the whole store: fewer of them than for two arrays.
        RACE_COMMITS / 12,
        RACE_ROUNDS / 5,
    );
    let r = reader(dir);
    assert_eq!(check_view(&r, "x", x_shape), commits);
    check_fillers(&r, 1, 0);
    assert_eq!(protocol_leftovers(dir), Vec::<String>::new());
}

/// Appends commit only the catalogue, which the writer swaps in with an exchange, then keeps
/// the old one as its spare and overwrites it at the next append (unless a reader holds it).
/// Readers opening and refreshing all along see whole states: row i holds i, the row count
/// never goes back, and a catalogue read while it was overwritten is never taken (see the
/// reader's second read in `snapshot::load_with`; a unit test there forces that interleaving).
#[test]
fn readers_see_whole_catalogues_while_appends_swap_them_in() {
    let dir = TempDir::new("race-append");
    let w = writer(&dir);
    save_filled(&w, "x", &[1, 2], 0i32);
    let dir: &Path = &dir;
    let check = |r: &Store| -> u64 {
        let info = r.info("x").unwrap();
        let mut bytes = vec![0u8; info.nbytes as usize];
        r.load(
            "x",
            DType::I32,
            &mut Dst::contiguous(&mut bytes, &info.shape, 4).unwrap(),
        )
        .unwrap_or_else(|e| panic!("load x of shape {:?}: {e}", info.shape));
        let values = from_bytes::<i32>(&bytes);
        for (i, pair) in values.chunks(2).enumerate() {
            assert_eq!(pair, [i as i32, i as i32], "row {i} of {:?}", info.shape);
        }
        info.shape[0]
    };
    let mut fresh = || {
        check(&reader(dir));
    };
    let r = reader(dir);
    let mut last = 0;
    let mut refreshed = move || {
        r.refresh().unwrap();
        let rows = check(&r);
        assert!(rows >= last, "x went back from {last} to {rows} rows");
        last = rows;
    };
    let appends = race(
        |v| {
            let row = filled(v, &[1, 2]);
            w.append("x", DType::I32, &Src::contiguous(&row, &[1, 2], 4).unwrap())
                .unwrap();
        },
        &mut [&mut fresh, &mut refreshed],
        RACE_COMMITS,
        RACE_ROUNDS,
    );
    assert_eq!(check(&reader(dir)), appends as u64 + 1);
    drop(w);
    let left: Vec<String> = file_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(".npk-") || n == COMMIT_FILE)
        .collect();
    assert_eq!(left, Vec::<String>::new(), "a closed writer left its spare");
}

/// Two arrays committed together are read from one commit by a freshly opened reader, as the
/// design promises ("they always see a whole committed state").
#[test]
fn a_reader_sees_arrays_committed_together_from_the_same_commit() {
    let dir = TempDir::new("race-pair");
    let w = writer(&dir);
    commit_xy(&w, 0);
    let mut mixed = Vec::new();
    let mut rounds = 0;
    race(
        |v| commit_xy(&w, v),
        &mut [&mut || {
            let r = reader(&dir);
            let x = check_view(&r, "x", x_shape);
            let y = check_view(&r, "y", y_shape);
            rounds += 1;
            if x != y {
                mixed.push((x, y));
            }
        }],
        RACE_COMMITS,
        RACE_ROUNDS,
    );
    assert!(
        mixed.is_empty(),
        "{} of {rounds} fresh read-only opens showed x and y from different commits, e.g. {:?}",
        mixed.len(),
        &mixed[..mixed.len().min(5)]
    );
}

/// info, then load into a buffer of the shape info gave: must not fail with a shape mismatch
/// because the handle silently moved to a newer commit in between.
#[test]
fn info_then_load_on_a_reader_is_consistent_under_a_writer() {
    let dir = TempDir::new("race-info");
    let w = writer(&dir);
    commit_xy(&w, 0);
    race(
        |v| commit_xy(&w, v),
        &mut [&mut || {
            check_load(&reader(&dir), "x", x_shape);
        }],
        RACE_COMMITS,
        RACE_ROUNDS,
    );
}

#[test]
fn an_open_view_keeps_its_bytes_while_the_writer_replaces_the_array() {
    let dir = TempDir::new("view");
    let w = writer(&dir);
    save_filled(&w, "x", &[64, 16], 1);
    save_filled(&w, "keep", &[8], 2);
    let r = reader(&dir);
    let rv = r.view("x").unwrap();
    let wv = w.view("x").unwrap();
    assert!(rv.is_mapped() && wv.is_mapped());
    let expect = filled(1, &[64, 16]);
    race(
        |v| {
            // Same shape, a new shape, a drop and a re-create, a compaction: none is in place.
            save_filled(&w, "x", &[64, 16], v + 1);
            save_filled(&w, "x", &[3, 5], v + 1);
            w.drop_arrays(&["x"]).unwrap();
            save_filled(&w, "x", &[64, 16], v + 1);
            w.drop_rows("x", &[0]).unwrap();
            w.compact(Some("x")).unwrap();
        },
        &mut [&mut || {
            for v in [&rv, &wv] {
                let b = unsafe { std::slice::from_raw_parts(v.as_ptr(), v.len()) };
                assert_eq!(b, &expect[..], "an open view changed");
            }
        }],
        RACE_COMMITS / 6,
        RACE_ROUNDS,
    );
    let (shape, values) = load_shaped::<i32>(&w, "x");
    assert_eq!(shape, vec![63, 16]);
    assert!(values.iter().all(|&e| e == values[0]) && values[0] > 1);
    drop((rv, wv));
}

// ---- 6. the writer lock -------------------------------------------------------------------------

#[test]
fn one_writer_at_a_time_and_readers_alongside() {
    let dir = TempDir::new("lock");
    let w1 = writer(&dir);
    save_filled(&w1, "a", &[2], 1);
    let second = Store::open(&dir, OpenOptions::default());
    let e = second.err().expect("a second writer must be refused");
    assert_eq!(e.kind, ErrorKind::Locked, "{e}");
    assert!(e.message.contains(&std::process::id().to_string()), "{e}");
    // Also with create and durable, and from another thread.
    let d = dir.to_path_buf();
    let e = std::thread::spawn(move || {
        Store::open(
            &d,
            OpenOptions {
                create: true,
                durable: true,
                ..Default::default()
            },
        )
        .err()
        .unwrap()
        .kind
    })
    .join()
    .unwrap();
    assert_eq!(e, ErrorKind::Locked);

    let r = reader(&dir);
    assert_state(&r, &vec![("a", vec![2], 1)], "reader alongside the writer");
    assert_eq!(r.drop_arrays(&["a"]).unwrap_err().kind, ErrorKind::ReadOnly);
    // A clone of the writer handle shares its lock; the lock goes with the last clone.
    let w1b = w1.clone();
    drop(w1);
    assert_eq!(
        Store::open(&dir, OpenOptions::default())
            .err()
            .unwrap()
            .kind,
        ErrorKind::Locked
    );
    save_filled(&w1b, "b", &[1], 2);
    drop(w1b);
    let w2 = Store::open(&dir, OpenOptions::default()).unwrap();
    assert_state(
        &w2,
        &vec![("a", vec![2], 1), ("b", vec![1], 2)],
        "second writer",
    );
    r.refresh().unwrap();
    assert_state(
        &r,
        &vec![("a", vec![2], 1), ("b", vec![1], 2)],
        "reader after refresh",
    );
    drop(w2);
}

// ---- 7. durable mode ----------------------------------------------------------------------------

#[test]
fn durable_mode_supports_every_operation() {
    let dir = TempDir::new("durable");
    let opts = OpenOptions {
        create: true,
        durable: true,
        ..Default::default()
    };
    {
        let s = Store::open(&dir, opts).unwrap();
        save_filled(&s, "a", &[4, 2], 1);
        save_filled(&s, "b", &[3], 2);
        save_filled(&s, "c", &[], 3);
        let rows = filled(5, &[2, 2]);
        s.append(
            "a",
            DType::I32,
            &Src::contiguous(&rows, &[2, 2], 4).unwrap(),
        )
        .unwrap();
        let rep = filled(9, &[1, 2]);
        s.replace_rows(
            "a",
            &[0],
            DType::I32,
            &Src::contiguous(&rep, &[1, 2], 4).unwrap(),
        )
        .unwrap();
        s.drop_rows("a", &[1, -1]).unwrap();
        // Append with a bitmap: a multi-file commit.
        s.append(
            "a",
            DType::I32,
            &Src::contiguous(&rows[..8], &[1, 2], 4).unwrap(),
        )
        .unwrap();
        s.clone_array("a", "a2").unwrap();
        s.compact(None).unwrap();
        s.drop_arrays(&["b"]).unwrap();
        {
            let mut batch = CacheBatch::begin(&s, 0).unwrap();
            let bytes = filled(6, &[2]);
            batch
                .save("d", DType::I32, &Src::contiguous(&bytes, &[2], 4).unwrap())
                .unwrap();
            batch.end().unwrap();
        }
        assert_eq!(protocol_leftovers(&dir), Vec::<String>::new());
    }
    let s = Store::open(&dir, opts).unwrap();
    // a: rows 9 9 | 1 1 | 1 1 | 1 1 | 5 5 | 5 5 | 5 5, with rows 1 and 5 dropped, then compacted.
    let want_a = vec![9, 9, 1, 1, 1, 1, 5, 5, 5, 5];
    for name in ["a", "a2"] {
        let (shape, values) = load_shaped::<i32>(&s, name);
        assert_eq!(shape, vec![5, 2], "{name}");
        assert_eq!(values, want_a, "{name}");
    }
    assert!(
        !dir.join("deleted_a.npkb").exists(),
        "compaction removes the bitmap"
    );
    assert_eq!(load_shaped::<i32>(&s, "c"), (vec![], vec![3]));
    assert_eq!(load_shaped::<i32>(&s, "d"), (vec![2], vec![6, 6]));
    assert!(!s.has("b") && !dir.join("data_b.npkd").exists());
    assert_eq!(s.list(), vec!["a", "a2", "c", "d"]);
    drop(s);
}

// ---- failures after the decision ----------------------------------------------------------------

/// A (4,) int32 array `s` stored as numpack 0.7.0 segments ([1, 1, 1, 1]... as two segments),
/// beside a plain array `a`, with a stray file in the segment folder.
fn segmented_store_with_stray_file(dir: &Path) {
    std::fs::create_dir_all(dir.join("data_s_segments")).unwrap();
    let mut segs = Vec::new();
    for i in 0..2 {
        let file = format!("data_s_segments/seg_{i:06}.npkd");
        std::fs::write(dir.join(&file), filled(4, &[2])).unwrap();
        segs.push(format!("{{\"file\":\"{file}\",\"rows\":2,\"bytes\":8}}"));
    }
    std::fs::write(
        dir.join("data_s.npkseg"),
        format!("{{\"version\":1,\"segments\":[{}]}}", segs.join(",")),
    )
    .unwrap();
    std::fs::write(dir.join("data_s_segments").join("notes.txt"), b"mine").unwrap();
    let mut meta = ArrayMeta::new("s", DType::I32, vec![4], 1);
    meta.data_file = "data_s.npkseg".into();
    let mut catalog = Catalog::default();
    catalog.arrays.insert("s".into(), meta);
    catalog
        .arrays
        .insert("a".into(), ArrayMeta::new("a", DType::I32, vec![2], 1));
    std::fs::write(dir.join("data_a.npkd"), filled(1, &[2])).unwrap();
    std::fs::write(dir.join(METADATA_FILE), metadata::encode(&catalog)).unwrap();
}

/// Dropping a segmented array whose folder holds a file NumPack did not list: the commit is
/// decided and its catalogue already renamed when removing the folder fails (ENOTEMPTY). The
/// call reports an error, the handle keeps its old snapshot, and its next commit publishes a
/// catalogue built from that stale snapshot, naming files the first commit deleted.
#[test]
fn a_failure_after_the_decision_does_not_corrupt_later_commits() {
    let dir = TempDir::new("stale");
    segmented_store_with_stray_file(&dir);
    let w = writer(&dir);
    assert_state(&w, &vec![("a", vec![2], 1), ("s", vec![4], 4)], "segmented");
    let dropped = w.drop_arrays(&["s"]);
    // Whatever the call returned, the handle must agree with the catalogue on disk.
    let on_disk: Vec<String> = metadata::decode(&std::fs::read(dir.join(METADATA_FILE)).unwrap())
        .unwrap()
        .arrays
        .into_keys()
        .collect();
    let handle = w.list();
    save_filled(&w, "b", &[1], 2);
    drop(w);
    let r = Store::open(
        &dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    );
    let r = r.unwrap_or_else(|e| {
        panic!(
            "the store no longer opens: {e} (drop returned {dropped:?}; the handle then listed \
             {handle:?}, the catalogue on disk {on_disk:?})"
        )
    });
    assert_eq!(handle, on_disk);
    assert!(r.has("a") && r.has("b"));
}

/// The same failure makes every later writer open fail until someone removes the stray file.
#[test]
fn a_foreign_file_in_a_segment_folder_does_not_lock_writers_out() {
    let dir = TempDir::new("stray");
    segmented_store_with_stray_file(&dir);
    {
        let w = writer(&dir);
        let _ = w.compact(Some("s"));
    }
    let w = Store::open(&dir, OpenOptions::default());
    let w = w.unwrap_or_else(|e| panic!("a writer can no longer open the store: {e}"));
    let (shape, values) = load_shaped::<i32>(&w, "s");
    assert_eq!((shape, values), (vec![4], vec![4; 4]));
    drop(w);
}

/// A commit that fails after its decision has happened: it returns Ok (an error would make an
/// append caller retry and duplicate its rows), the handle and readers show the new state at
/// once, the handle's next write completes it, and a failed call before that point still leaves
/// the store as it was. The appended rows are never cut off.
#[test]
fn a_commit_decided_but_not_applied_returns_ok_and_is_completed_by_the_next_write() {
    let dir = TempDir::new("append-undo");
    let w = writer(&dir);
    save_filled(&w, "a", &[4], 1);
    w.drop_rows("a", &[0]).unwrap();
    // Block the first rename of the next commit (the new bitmap) after the handle read it.
    std::fs::remove_file(dir.join("deleted_a.npkb")).unwrap();
    std::fs::create_dir(dir.join("deleted_a.npkb")).unwrap();
    std::fs::write(dir.join("deleted_a.npkb").join("x"), b"").unwrap();
    let rows = filled(1, &[2]);
    w.append("a", DType::I32, &Src::contiguous(&rows, &[2], 4).unwrap())
        .unwrap();
    assert!(
        dir.join(COMMIT_FILE).exists(),
        "the record awaits completion"
    );
    assert_eq!(load_shaped::<i32>(&w, "a"), (vec![5], vec![1; 5]));
    assert_eq!(
        load_shaped::<i32>(&reader(&dir), "a"),
        (vec![5], vec![1; 5])
    );
    // While the obstacle stays, completing fails, so the next write fails before it starts.
    let before = fingerprint(&dir);
    assert!(w
        .save("b", DType::I32, &Src::contiguous(&rows, &[2], 4).unwrap())
        .is_err());
    assert_eq!(fingerprint(&dir), before);
    std::fs::remove_dir_all(dir.join("deleted_a.npkb")).unwrap();
    save_filled(&w, "b", &[2], 2);
    assert_eq!(protocol_leftovers(&dir), Vec::<String>::new());
    drop(w);
    let w = writer(&dir);
    assert_state(
        &w,
        &vec![("a", vec![5], 1), ("b", vec![2], 2)],
        "after completion",
    );
    drop(w);
}

/// The same for a cache batch: its end returns Ok and the batch is over.
#[test]
fn a_batch_end_decided_but_not_applied_returns_ok() {
    let dir = TempDir::new("batch-deferred");
    let w = writer(&dir);
    save_filled(&w, "a", &[3], 1);
    std::fs::remove_file(dir.join("data_a.npkd")).unwrap();
    std::fs::create_dir(dir.join("data_a.npkd")).unwrap();
    std::fs::write(dir.join("data_a.npkd").join("x"), b"").unwrap();
    let mut b = CacheBatch::begin(&w, 0).unwrap();
    let bytes = filled(7, &[2]);
    b.save("a", DType::I32, &Src::contiguous(&bytes, &[2], 4).unwrap())
        .unwrap();
    b.save("c", DType::I32, &Src::contiguous(&bytes, &[2], 4).unwrap())
        .unwrap();
    b.end().unwrap();
    drop(b);
    assert!(
        dir.join(COMMIT_FILE).exists(),
        "the record awaits completion"
    );
    let want: Expect = vec![("a", vec![2], 7), ("c", vec![2], 7)];
    assert_state(&w, &want, "writer after a deferred batch end");
    assert_state(&reader(&dir), &want, "reader after a deferred batch end");
    std::fs::remove_dir_all(dir.join("data_a.npkd")).unwrap();
    drop(w);
    assert_state(&writer(&dir), &want, "after recovery");
    assert_eq!(protocol_leftovers(&dir), Vec::<String>::new());
}

// ---- file identity ------------------------------------------------------------------------------

/// A reader's snapshot identifies files by (device, inode). A filesystem may give a new file
/// the inode number of one deleted a moment ago (ext4 does, at once), so after a few saves the
/// reader takes the newest file for the one its snapshot saw: it reads another commit's bytes
/// under its old shape. Shrunk across a page boundary, the mapped view faults (SIGBUS, the
/// process dies); here the array stays within one page and the view shows zeros past the
/// file's end, and a load fails with "a data file shrank".
#[test]
fn a_stale_reader_never_reads_another_commits_file() {
    let dir = TempDir::new("inode");
    let w = writer(&dir);
    save_filled(&w, "y", &[5], 1);
    let r = reader(&dir);
    let ino = || std::fs::metadata(dir.join("data_y.npkd")).unwrap().ino();
    let first = ino();
    // Save new, shorter versions until the file system hands out the first inode again.
    let mut v = 2;
    loop {
        save_filled(&w, "y", &[2 + (v % 2) as u64], v);
        if ino() == first || v == 20 {
            break;
        }
        v += 1;
    }
    eprintln!("inode reused after {} saves: {}", v - 1, ino() == first);
    let new_shape = vec![2 + (v % 2) as u64];

    let view = r.view("y").unwrap();
    let got = (
        view.shape.clone(),
        from_bytes::<i32>(unsafe { std::slice::from_raw_parts(view.as_ptr(), view.len()) }),
    );
    assert!(
        got == (vec![5], vec![1; 5]) || got == (new_shape.clone(), vec![v; new_shape[0] as usize]),
        "the view mixes commits: {got:?}"
    );
    let mut out = vec![0u8; 20];
    match r.load(
        "y",
        DType::I32,
        &mut Dst::contiguous(&mut out, &[5], 4).unwrap(),
    ) {
        Ok(()) => assert_eq!(from_bytes::<i32>(&out), vec![1; 5]),
        Err(e) => assert_eq!(e.kind, ErrorKind::ShapeMismatch, "{e}"),
    }
    drop(w);
}
