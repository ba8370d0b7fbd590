//! Open modes (issue #11 points 3 and 4): in-place writers sharing a store (OpenOptions::shared,
//! C NPK_OPEN_SHARED), their exclusion of the structural writer, WrongMode for structural calls,
//! recovery at a shared open, modify times, and the lock opt-out.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{fingerprint, load, save, save_filled, to_bytes, writer, TempDir};
use numpack::batch::{CacheBatch, WritableBatch};
use numpack::internals::record::{Op, Record, COMMIT_FILE};
use numpack::layout::Src;
use numpack::{DType, ErrorKind, OpenOptions, Result, Store};

/// Tests here spawn processes while others hold writer locks: a child briefly inherits a lock's
/// descriptor between fork and exec (it is close-on-exec), which could make another test's open
/// see `Locked`. Run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_with(dir: &Path, shared: bool, locking: bool) -> Result<Store> {
    Store::open(
        dir,
        OpenOptions {
            shared,
            locking,
            ..Default::default()
        },
    )
}

fn shared(dir: &Path) -> Store {
    open_with(dir, true, true).unwrap()
}

fn structural(dir: &Path) -> Result<Store> {
    open_with(dir, false, true)
}

fn replace(s: &Store, name: &str, rows: std::ops::Range<i64>, cols: u64, value: f64) {
    let idx: Vec<i64> = rows.collect();
    let bytes = to_bytes(&vec![value; idx.len() * cols as usize]);
    let src = Src::contiguous(&bytes, &[idx.len() as u64, cols], 8).unwrap();
    s.replace_rows(name, &idx, DType::F64, &src).unwrap();
}

fn modify_time(dir: &Path, name: &str) -> u64 {
    common::reader(dir).info(name).unwrap().modify_time_us
}

/// A store with `u`, f64 (rows, 4), zeros, made by a structural writer that then closed.
fn store_with_u(name: &str, rows: u64) -> TempDir {
    let dir = TempDir::new(name);
    save_filled(&writer(&dir), "u", &[rows, 4], 0.0f64);
    dir
}

#[test]
fn shared_handles_in_one_process_write_disjoint_rows_together() {
    let _s = serial();
    let dir = store_with_u("shared-many", 12);
    let handles: Vec<Store> = (0..3).map(|_| shared(&dir)).collect();
    for (k, h) in handles.iter().enumerate() {
        let k = k as i64;
        replace(h, "u", 4 * k..4 * k + 4, 4, k as f64 + 1.0);
    }
    // Readers work as always, beside the in-place writers; they read the data files in place.
    let r = common::reader(&dir);
    let want: Vec<f64> = (0..12).flat_map(|r| [(r / 4 + 1) as f64; 4]).collect();
    assert_eq!(load::<f64>(&r, "u"), want);
    // Each in-place writer reads what the others wrote (one data file, written in place).
    for h in &handles {
        assert_eq!(load::<f64>(h, "u"), want);
    }
    drop(handles);
    assert_eq!(load::<f64>(&writer(&dir), "u"), want);
}

#[test]
fn the_structural_writer_and_in_place_writers_exclude_each_other() {
    let _s = serial();
    let dir = store_with_u("shared-excl", 4);
    let a = shared(&dir);
    let err = structural(&dir)
        .err()
        .expect("refused while an in-place writer is open");
    assert_eq!(err.kind, ErrorKind::Locked);
    assert!(
        err.message.contains("in-place writers (NPK_OPEN_SHARED)"),
        "{}",
        err.message
    );
    // Still refused while any one of several remains.
    let b = shared(&dir);
    drop(a);
    assert_eq!(structural(&dir).err().unwrap().kind, ErrorKind::Locked);
    drop(b);

    let w = structural(&dir).unwrap();
    let err = open_with(&dir, true, true)
        .err()
        .expect("refused beside the structural writer");
    assert_eq!(err.kind, ErrorKind::Locked);
    assert!(
        err.message.contains("locked by a structural writer")
            && err
                .message
                .contains(&format!("(pid {})", std::process::id())),
        "{}",
        err.message
    );
    drop(w);
    drop(shared(&dir));
}

#[test]
fn shared_with_read_only_or_create_is_refused() {
    let _s = serial();
    let dir = store_with_u("shared-flags", 2);
    for (read_only, create, named) in [
        (true, false, "NPK_OPEN_READ_ONLY"),
        (false, true, "NPK_OPEN_CREATE"),
    ] {
        let err = Store::open(
            &dir,
            OpenOptions {
                shared: true,
                read_only,
                create,
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(
            err.message.contains("NPK_OPEN_SHARED") && err.message.contains(named),
            "{}",
            err.message
        );
    }
    // A missing store cannot be opened shared (nothing is created).
    let missing = dir.join("missing");
    let err = open_with(&missing, true, true).err().unwrap();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(!missing.exists());
}

#[test]
fn every_structural_call_on_a_shared_handle_is_wrong_mode_and_writes_nothing() {
    let _s = serial();
    let dir = store_with_u("shared-wrong", 6);
    {
        // An array with a dropped row, for compaction and the writable batch.
        let w = writer(&dir);
        save(&w, "d", &[3], &[1i32, 2, 3]);
        w.drop_rows("d", &[1]).unwrap();
    }
    let s = shared(&dir);
    let before = fingerprint(&dir);
    let row = to_bytes(&[7.0f64; 4]);
    let one_row = Src::contiguous(&row, &[1, 4], 8).unwrap();
    type Call<'a> = Box<dyn Fn() -> Result<()> + 'a>;
    let calls: Vec<(&str, Call)> = vec![
        ("save", Box::new(|| s.save("n", DType::F64, &one_row))),
        (
            "create",
            Box::new(|| s.create("n", DType::F64, &[2, 4], None)),
        ),
        ("append", Box::new(|| s.append("u", DType::F64, &one_row))),
        ("drop", Box::new(|| s.drop_arrays(&["u"]))),
        ("drop_rows", Box::new(|| s.drop_rows("u", &[0]))),
        ("compact", Box::new(|| s.compact(Some("d")))),
        ("compact", Box::new(|| s.compact(None))),
        ("clone", Box::new(|| s.clone_array("u", "v"))),
        (
            "a cache batch",
            Box::new(|| CacheBatch::begin(&s, 64).map(drop)),
        ),
        (
            "compacting array \"d\"",
            Box::new(|| {
                let mut b = WritableBatch::begin(&s)?;
                b.load("d").map(drop)
            }),
        ),
    ];
    for (named, call) in &calls {
        let err = call()
            .err()
            .unwrap_or_else(|| panic!("{named} was allowed"));
        assert_eq!(err.kind, ErrorKind::WrongMode, "{named}: {}", err.message);
        assert!(
            err.message.starts_with(named) && err.message.contains("NPK_OPEN_SHARED"),
            "{named}: {}",
            err.message
        );
    }
    assert_eq!(fingerprint(&dir), before, "a refused call wrote something");
    // In-place writes stay allowed, including a writable batch on an array without dropped rows.
    let mut b = WritableBatch::begin(&s).unwrap();
    let v = b.load("u").unwrap();
    // SAFETY: the view maps u's 6 x 4 f64 values, writable, until the batch ends.
    unsafe { *(v.ptr as *mut f64) = 9.0 };
    b.end().unwrap();
    replace(&s, "u", 5..6, 4, 5.0);
    let two = to_bytes(&[6.0f64; 2]);
    let block = Src::contiguous(&two, &[1, 2], 8).unwrap();
    s.write_block("u", DType::F64, &[4, 1], &block).unwrap();
    drop(calls);
    drop(s);
    let got = load::<f64>(&common::reader(&dir), "u");
    assert_eq!((got[0], got[1], got[20]), (9.0, 0.0, 5.0));
    assert_eq!(got[16..20], [0.0, 6.0, 6.0, 0.0]);
}

/// The state a structural writer killed after deciding a commit leaves: the record on disk,
/// nothing applied, plus a staged leftover of another transaction and bytes an interrupted
/// append left past an array's end.
fn crashed_store() -> TempDir {
    let dir = store_with_u("shared-recover", 4);
    save(&writer(&dir), "b", &[2], &[1i64, 2]);
    let new_u = to_bytes(&[3.0f64; 16]);
    std::fs::write(dir.join(".npk-stage-dead-1"), &new_u).unwrap();
    // The catalogue the record installs: u's bytes replaced, everything else as it is.
    let meta = std::fs::read(dir.join("metadata.npkm")).unwrap();
    std::fs::write(dir.join(".npk-stage-dead-2"), &meta).unwrap();
    let record = Record {
        txid: "dead".into(),
        ops: vec![
            Op::Rename {
                from: ".npk-stage-dead-1".into(),
                to: "data_u.npkd".into(),
            },
            Op::Rename {
                from: ".npk-stage-dead-2".into(),
                to: "metadata.npkm".into(),
            },
        ],
    };
    std::fs::write(dir.join(COMMIT_FILE), record.encode()).unwrap();
    std::fs::write(dir.join(".npk-stage-other-1"), b"garbage").unwrap();
    let mut b = std::fs::read(dir.join("data_b.npkd")).unwrap();
    b.extend_from_slice(&[0xAB; 8]);
    std::fs::write(dir.join("data_b.npkd"), &b).unwrap();
    common::as_if_the_writer_died(&dir);
    dir
}

#[test]
fn the_first_shared_open_recovers_what_a_killed_structural_writer_left() {
    let _s = serial();
    let dir = crashed_store();
    let s = shared(&dir);
    assert!(!dir.join(COMMIT_FILE).exists(), "record rolled forward");
    assert_eq!(common::staged_files(&dir), Vec::<String>::new());
    assert_eq!(
        std::fs::metadata(dir.join("data_b.npkd")).unwrap().len(),
        16
    );
    assert_eq!(load::<f64>(&s, "u"), vec![3.0; 16]);
    // A second in-place writer joins without recovering (nothing left to do), and both write.
    let t = shared(&dir);
    replace(&t, "u", 0..1, 4, 1.0);
    assert_eq!(load::<f64>(&s, "u")[..5], [1.0, 1.0, 1.0, 1.0, 3.0]);
}

#[test]
fn shared_writers_raise_the_modify_times_of_what_they_wrote_at_close_and_refresh() {
    let _s = serial();
    let dir = store_with_u("shared-times", 4);
    save_filled(&writer(&dir), "v", &[4, 4], 0.0f64);
    let (u0, v0) = (modify_time(&dir, "u"), modify_time(&dir, "v"));
    let a = shared(&dir);
    let b = shared(&dir);
    common::wait_for_clock_past(u0.max(v0));
    replace(&a, "u", 0..1, 4, 1.0);
    // Not on disk until the writer closes or refreshes: a replacement is not a commit.
    assert_eq!(modify_time(&dir, "u"), u0);
    let ta = a.info("u").unwrap().modify_time_us;
    assert!(ta > u0);
    drop(a);
    assert_eq!(modify_time(&dir, "u"), ta, "a's close recorded u's time");
    assert_eq!(modify_time(&dir, "v"), v0, "v was not written");

    // b read the catalogue before a closed: merging must not put u's old time back.
    common::wait_for_clock_past(ta);
    replace(&b, "v", 1..2, 4, 2.0);
    let tb = b.info("v").unwrap().modify_time_us;
    b.refresh().unwrap();
    assert_eq!(modify_time(&dir, "v"), tb, "b's refresh recorded v's time");
    assert_eq!(modify_time(&dir, "u"), ta, "and kept a's time for u");
    assert_eq!(
        b.info("u").unwrap().modify_time_us,
        ta,
        "b now sees a's time"
    );
    drop(b);
    assert_eq!((modify_time(&dir, "u"), modify_time(&dir, "v")), (ta, tb));
    // Readers saw whole catalogues throughout; nothing staged is left.
    assert_eq!(common::staged_files(&dir), Vec::<String>::new());
}

#[test]
fn no_locking_takes_no_lock_for_either_kind_of_writer() {
    let _s = serial();
    let dir = store_with_u("nolock", 2);
    let w = structural(&dir).unwrap();
    // The user guarantees exclusion: the library does not check it.
    let unlocked = open_with(&dir, false, false).unwrap();
    let unlocked_shared = open_with(&dir, true, false).unwrap();
    replace(&unlocked_shared, "u", 0..1, 4, 4.0);
    drop((unlocked, unlocked_shared));
    drop(w);
    // A no-locking handle holds no lock: a structural writer opens beside it.
    let s = open_with(&dir, true, false).unwrap();
    let w = structural(&dir).unwrap();
    assert_eq!(load::<f64>(&w, "u")[..5], [4.0, 4.0, 4.0, 4.0, 0.0]);
    drop((s, w));
}

/// NPK_USE_FILE_LOCKING=FALSE does what the flag does. Set in a child (the `npk` inspector's
/// repair, which takes the structural writer lock), never in this process, whose other tests
/// rely on locking.
#[test]
fn the_environment_variable_turns_locking_off() {
    let _s = serial();
    let dir = store_with_u("nolock-env", 2);
    let w = structural(&dir).unwrap();
    // A leftover for the repair to sweep, so it needs the writer lock.
    let repair = |value: Option<&str>| {
        std::fs::write(dir.join(".npk-stage-dead-1"), b"junk").unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_npk"));
        cmd.args(["check", dir.to_str().unwrap(), "--repair"]);
        match value {
            Some(v) => cmd.env("NPK_USE_FILE_LOCKING", v),
            None => cmd.env_remove("NPK_USE_FILE_LOCKING"),
        };
        cmd.output().unwrap().status.code()
    };
    assert_eq!(repair(None), Some(2), "locked");
    assert_eq!(repair(Some("TRUE")), Some(2), "locked");
    assert!(dir.join(".npk-stage-dead-1").exists());
    for off in ["FALSE", "false", "0", "No", "OFF"] {
        assert_eq!(repair(Some(off)), Some(0), "{off} turns locking off");
        assert!(!dir.join(".npk-stage-dead-1").exists(), "{off}: swept");
    }
    drop(w);
}

const CHILD_DIR: &str = "NPK_MODES_CHILD_DIR";
const CHILD_K: &str = "NPK_MODES_CHILD_K";
const ROWS_EACH: i64 = 3;
const READY: &str = "npk-child-ready";

/// One in-place writer process: opens `u` shared, says "ready" on stdout, waits for a line on
/// stdin, writes its rows (k*3..k*3+3 = k+1), closes. Run without the variables it is its own
/// single-writer case on a fresh store.
#[test]
fn shared_writer_child() {
    let (dir, k) = match (std::env::var(CHILD_DIR), std::env::var(CHILD_K)) {
        (Ok(d), Ok(k)) => (std::path::PathBuf::from(d), k.parse::<i64>().unwrap()),
        _ => {
            let _s = serial();
            let d = store_with_u("shared-child", ROWS_EACH as u64);
            let s = shared(&d);
            replace(&s, "u", 0..ROWS_EACH, 4, 1.0);
            drop(s);
            assert_eq!(load::<f64>(&writer(&d), "u"), vec![1.0; 12]);
            return;
        }
    };
    let s = shared(&dir);
    println!("{READY}");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    replace(
        &s,
        "u",
        k * ROWS_EACH..(k + 1) * ROWS_EACH,
        4,
        k as f64 + 1.0,
    );
    drop(s);
}

#[test]
fn shared_writers_in_several_processes_coexist_and_lock_out_the_structural_writer() {
    let _s = serial();
    const K: i64 = 4;
    let dir = store_with_u("shared-procs", (K * ROWS_EACH) as u64);
    let t0 = modify_time(&dir, "u");
    let mut children: Vec<_> = (0..K)
        .map(|k| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "shared_writer_child", "--nocapture"])
                .args(["--test-threads", "1"])
                .env(CHILD_DIR, dir.path())
                .env(CHILD_K, k.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Every child holds its shared open at once. (libtest prints the test's name on the same
    // line first.) The readers stay open until the children exit, which print more.
    let mut outputs = Vec::new();
    for c in &mut children {
        let mut out = BufReader::new(c.stdout.take().unwrap()).lines();
        let ready = out.by_ref().map(|l| l.unwrap()).any(|l| l.ends_with(READY));
        assert!(ready, "a child ended without opening");
        outputs.push(out);
    }
    let err = structural(&dir)
        .err()
        .expect("refused while the children write");
    assert_eq!(err.kind, ErrorKind::Locked, "{}", err.message);
    assert!(err.message.contains("in-place writers"), "{}", err.message);
    common::wait_for_clock_past(t0);
    for c in &mut children {
        writeln!(c.stdin.take().unwrap(), "go").unwrap();
    }
    for (mut c, out) in children.into_iter().zip(outputs) {
        let rest: Vec<String> = out.map(|l| l.unwrap()).collect();
        assert!(c.wait().unwrap().success(), "{rest:?}");
    }
    let w = structural(&dir).unwrap();
    let want: Vec<f64> = (0..K * ROWS_EACH)
        .flat_map(|r| [(r / ROWS_EACH + 1) as f64; 4])
        .collect();
    assert_eq!(load::<f64>(&w, "u"), want);
    assert!(w.info("u").unwrap().modify_time_us > t0);
}

/// Openers arriving together: the first recovers, holding the writer range exclusively for the
/// while, and the others must wait for it (on the gate) instead of mistaking it for a structural
/// writer. Each round starts all threads' opens at once.
#[test]
fn in_place_writers_opening_together_all_get_in() {
    let _s = serial();
    const THREADS: usize = 6;
    const ROUNDS: usize = 40;
    let dir = store_with_u("shared-together", 4);
    let start = std::sync::Barrier::new(THREADS);
    let opened = std::sync::Barrier::new(THREADS);
    let refused = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for round in 0..ROUNDS {
                    start.wait();
                    let s = open_with(&dir, true, true);
                    // Every handle stays open until all of the round's opens are done.
                    opened.wait();
                    if let Err(e) = s {
                        refused.lock().unwrap().push(format!("round {round}: {e}"));
                    }
                }
            });
        }
    });
    let refused = refused.into_inner().unwrap();
    assert!(refused.is_empty(), "{} refused: {refused:?}", refused.len());
}
