//! A store of 100,000 arrays under a descriptor limit of 1,024 (issue #14 point 3): opens,
//! reads, views, saves, appends, row drops, both batches and readers racing a writer, in a child
//! process whose soft and hard RLIMIT_NOFILE are lowered to 1,024 before anything is opened.
//! Before data files were opened on first use, a handle held one descriptor per array, so such
//! a store could not even be opened.
//!
//! The only test in this file: it re-runs its own test binary as the child, and no other test
//! may hold a writer's lock descriptor while the child is forked.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{from_bytes, reader, to_bytes, writer, TempDir};
use numpack::batch::{CacheBatch, WritableBatch};
use numpack::layout::{Dst, Src};
use numpack::{DType, ErrorKind, Store};

const ARRAYS: u64 = 100_000;
const LIMIT: u64 = 1024;
const CHILD: &str = "NPK_MANY_ARRAYS_CHILD";

fn name(i: u64) -> String {
    format!("a{i:06}")
}

/// Array i at version v: shape [2 + v % 3], every element i * 100 + v.
fn values(i: u64, v: u64) -> (Vec<u64>, Vec<i32>) {
    let n = 2 + v % 3;
    (vec![n], vec![(i * 100 + v) as i32; n as usize])
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

/// Reads array i (info, then a load of that shape) and returns its version, checking that shape
/// and every value belong to that one version.
fn read_version(s: &Store, i: u64) -> Result<u64, numpack::Error> {
    let info = s.info(&name(i))?;
    let mut bytes = vec![0u8; info.nbytes as usize];
    s.load(
        &name(i),
        DType::I32,
        &mut Dst::contiguous(&mut bytes, &info.shape, 4).unwrap(),
    )?;
    let vals: Vec<i32> = from_bytes(&bytes);
    let v = (vals[0] as u64).wrapping_sub(i * 100);
    assert!(v < 100, "array {i}: value {} is no version of it", vals[0]);
    assert_eq!(
        (info.shape.clone(), vals),
        values(i, v),
        "array {i} mixes versions"
    );
    Ok(v)
}

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn assert_under_limit(what: &str) {
    let n = open_descriptors();
    assert!(
        n < LIMIT,
        "{what}: {n} descriptors open, the limit is {LIMIT}"
    );
}

#[test]
fn a_store_of_100000_arrays_works_under_a_1024_descriptor_limit() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_store_of_100000_arrays_works_under_a_1024_descriptor_limit",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!("{log}");
    assert!(out.status.success(), "the child failed: {:?}", out.status);
    assert!(log.contains("child: done"), "the child ran no test");
}

fn lower_limit() {
    let lim = libc::rlimit {
        rlim_cur: LIMIT,
        rlim_max: LIMIT,
    };
    // SAFETY: setrlimit reads the struct; lowering both limits is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut now) }, 0);
    assert_eq!((now.rlim_cur, now.rlim_max), (LIMIT, LIMIT));
}

fn child() {
    lower_limit();
    let start = Instant::now();
    let dir = TempDir::new("many");
    build(&dir);
    eprintln!("child: built {ARRAYS} arrays in {:?}", start.elapsed());
    reads_and_views(&dir);
    eprintln!("child: reads and views at {:?}", start.elapsed());
    writes_and_batches(&dir);
    eprintln!("child: writes and batches at {:?}", start.elapsed());
    readers_race_a_writer(&dir);
    eprintln!("child: readers raced a writer at {:?}", start.elapsed());
    eprintln!("child: done");
}

/// All arrays at version 0, written as NumPack lays them out (a catalogue and a data file per
/// array): a cache batch of 100,000 arrays is quadratic in the commit's staging list today
/// (`Txn::stage` scans it), and the batches below cover the commit path.
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
    let w = writer(dir);
    assert_under_limit("a writer open");
    assert_eq!(w.list().len() as u64, ARRAYS);
}

fn reads_and_views(dir: &Path) {
    let r = reader(dir);
    assert_under_limit("a read-only open");
    // More arrays than the limit, twice over: files are closed and opened again as needed.
    for round in 0..2 {
        for i in (round..ARRAYS).step_by(37) {
            assert_eq!(read_version(&r, i).unwrap(), 0);
        }
        assert_under_limit("reads of 2,700 arrays");
    }
    // Views are mappings: 1,500 of them live at once need no descriptor each.
    let views: Vec<_> = (0..1500u64)
        .map(|k| (k * 61, r.view(&name(k * 61)).unwrap()))
        .collect();
    assert_under_limit("1,500 open views");
    for (i, v) in &views {
        assert!(v.is_mapped());
        let vals: Vec<i32> = from_bytes(unsafe { std::slice::from_raw_parts(v.as_ptr(), v.len()) });
        assert_eq!((v.shape.clone(), vals), values(*i, 0));
    }
    drop(views);
    // get_rows and blocks go through the same files.
    let mut out = vec![0u8; 4];
    for i in (5..ARRAYS).step_by(97) {
        r.get_rows(
            &name(i),
            &[-1],
            DType::I32,
            &mut Dst::contiguous(&mut out, &[1], 4).unwrap(),
        )
        .unwrap();
        assert_eq!(from_bytes::<i32>(&out), vec![(i * 100) as i32]);
    }
    assert_under_limit("row reads");
}

fn writes_and_batches(dir: &Path) {
    let w = writer(dir);
    // Reads from the writer handle, then saves, appends and row drops between them.
    for i in (3..ARRAYS).step_by(53) {
        assert_eq!(read_version(&w, i).unwrap(), 0);
    }
    for i in 0..20 {
        save_version(&w, i, 1);
    }
    for i in 20..30 {
        let row = to_bytes(&[(i * 100) as i32]);
        w.append(
            &name(i),
            DType::I32,
            &Src::contiguous(&row, &[1], 4).unwrap(),
        )
        .unwrap();
        w.drop_rows(&name(i), &[0]).unwrap();
        assert_eq!(read_version(&w, i).unwrap(), 0);
    }
    assert_under_limit("saves, appends and row drops");
    // A writable batch over more arrays than the limit.
    let mut b = WritableBatch::begin(&w).unwrap();
    let picked: Vec<u64> = (100..ARRAYS).step_by(61).take(1500).collect();
    for &i in &picked {
        let v = b.load(&name(i)).unwrap();
        // SAFETY: the batch's view of array i: 2 int32 elements, writable.
        let vals = unsafe { std::slice::from_raw_parts_mut(v.ptr as *mut i32, 2) };
        vals.copy_from_slice(&[(i * 100 + 3) as i32; 2]);
    }
    assert_under_limit("a writable batch of 1,500 arrays");
    b.end().unwrap();
    // A cache batch that rewrites 1,500 arrays.
    let mut b = CacheBatch::begin(&w, 0).unwrap();
    for &i in &picked {
        let (shape, vals) = values(i, 4);
        let bytes = to_bytes(&vals);
        b.save(
            &name(i),
            DType::I32,
            &Src::contiguous(&bytes, &shape, 4).unwrap(),
        )
        .unwrap();
    }
    b.end().unwrap();
    assert_under_limit("a cache batch of 1,500 arrays");
    drop(w);
    let r = reader(dir);
    for i in 0..20 {
        assert_eq!(read_version(&r, i).unwrap(), 1);
    }
    for &i in &picked {
        assert_eq!(read_version(&r, i).unwrap(), 4);
    }
    assert_eq!(read_version(&r, 7777).unwrap(), 0);
}

/// A writer saves new versions of the first 200 arrays while a read-only handle reads arrays
/// all over the store (more than the limit per round): every read is one whole version and
/// never older than one the handle showed before; when the handle cannot go on showing one
/// commit it says so (Busy) and a refresh carries on.
fn readers_race_a_writer(dir: &Path) {
    let w = writer(dir);
    let commits = AtomicU64::new(0);
    let began = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let guard = Instant::now();
    std::thread::scope(|scope| {
        let reading = scope.spawn(|| {
            let r = reader(dir);
            let (mut rounds, mut busy) = (0u64, 0u64);
            let mut seen = vec![0u64; 200];
            let mut raced = 0;
            while raced < 3 {
                began.fetch_add(1, Ordering::Release);
                let before = commits.load(Ordering::Acquire);
                r.refresh().unwrap();
                for k in 0..1100u64 {
                    let i = if k % 2 == 0 {
                        k / 2 % 200
                    } else {
                        200 + k * 89 % (ARRAYS - 200)
                    };
                    match read_version(&r, i) {
                        Ok(v) if i < 200 => {
                            assert!(v >= seen[i as usize], "array {i} went back");
                            seen[i as usize] = v;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind == ErrorKind::Busy => {
                            busy += 1;
                            break;
                        }
                        Err(e) => panic!("array {i}: {e}"),
                    }
                }
                rounds += 1;
                if commits.load(Ordering::Acquire) != before {
                    raced += 1;
                }
                assert!(guard.elapsed() < Duration::from_secs(300), "reader stuck");
            }
            stop.store(true, Ordering::Release);
            eprintln!("child: reader made {rounds} rounds ({busy} ended by Busy)");
        });
        // One commit (a cache batch) per version; versions 5 to 99 are far more than needed.
        // A commit once the reader began a new round (a catalogue of 100,000 arrays takes a
        // while to read: committing without pause could keep a reader re-reading it).
        let (mut v, mut seen) = (5, 0);
        while !stop.load(Ordering::Acquire) {
            if began.load(Ordering::Acquire) == seen {
                std::thread::yield_now();
                continue;
            }
            seen = began.load(Ordering::Acquire);
            assert!(v < 100, "the reader did not race 3 commits in 95");
            let mut b = CacheBatch::begin(&w, 0).unwrap();
            for i in 0..200 {
                let (shape, vals) = values(i, v);
                let bytes = to_bytes(&vals);
                b.save(
                    &name(i),
                    DType::I32,
                    &Src::contiguous(&bytes, &shape, 4).unwrap(),
                )
                .unwrap();
            }
            b.end().unwrap();
            commits.fetch_add(1, Ordering::Release);
            v += 1;
            assert!(guard.elapsed() < Duration::from_secs(300), "writer stuck");
        }
        reading.join().unwrap();
    });
    assert_under_limit("readers racing a writer");
}
