//! The `npk` inspector, run as a user would run it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{save, writer, TempDir};
use numpack::layout::Src;
use numpack::{DType, OpenOptions, Store};

/// Tests here fork `npk` while others open writers: a child briefly inherits the writer lock's
/// descriptor between fork and exec (it is close-on-exec), so one test's fork could make
/// another's writer open see `locked`. Run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn npk(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_npk"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// x: int32 (4, 2) = 10*r + c, with row 1 dropped; h: float16 scalar 1.5; z: complex64 [1+2j].
fn sample(dir: &Path) {
    let s = writer(dir);
    let x: Vec<i32> = (0..4)
        .flat_map(|r| (0..2).map(move |c| 10 * r + c))
        .collect();
    save(&s, "x", &[4, 2], &x);
    s.drop_rows("x", &[1]).unwrap();
    s.save(
        "h",
        DType::F16,
        &Src::contiguous(&0x3e00u16.to_le_bytes(), &[], 2).unwrap(),
    )
    .unwrap();
    let z = common::to_bytes(&[1.0f32, 2.0]);
    s.save(
        "z",
        DType::Complex64,
        &Src::contiguous(&z, &[1], 8).unwrap(),
    )
    .unwrap();
}

#[test]
fn ls_info_and_dump_show_the_logical_arrays() {
    let _serial = serial();
    let dir = TempDir::new("show");
    sample(&dir);
    let d = dir.to_str().unwrap();
    let (code, out, _) = npk(&["ls", d]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "h\tfloat16\t[]\t2 bytes\nx\tint32\t[3, 2]\t24 bytes\nz\tcomplex64\t[1]\t8 bytes\n"
    );
    let (code, out, _) = npk(&["info", d, "x"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("shape:         [3, 2]") && out.contains("dropped rows:  1"),
        "{out}"
    );
    let (code, out, _) = npk(&["dump", d, "x"]);
    assert_eq!((code, out.as_str()), (0, "0: 0 1\n1: 20 21\n2: 30 31\n"));
    let (_, out, _) = npk(&["dump", d, "x", "--rows", "-2:"]);
    assert_eq!(out, "1: 20 21\n2: 30 31\n");
    assert_eq!(npk(&["dump", d, "h"]).1, "1.5\n");
    assert_eq!(npk(&["dump", d, "z"]).1, "0: 1+2j\n");
    let (code, _, err) = npk(&["dump", d, "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"nope\" not found"), "{err}");
    assert_eq!(npk(&["dump", d, "x", "--rows", "a:b"]).0, 2);
    assert_eq!(npk(&["frobnicate"]).0, 2);
}

#[test]
fn check_reports_leftovers_and_repairs_only_when_asked() {
    let _serial = serial();
    let dir = TempDir::new("check");
    sample(&dir);
    let d = dir.to_str().unwrap();
    assert_eq!(npk(&["check", d]).0, 0);
    // An interrupted append and a stray staging file.
    let data = dir.join("data_x.npkd");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes.extend_from_slice(&[7; 8]);
    std::fs::write(&data, &bytes).unwrap();
    std::fs::write(dir.join(".npk-stage-dead-1"), b"junk").unwrap();
    common::as_if_the_writer_died(&dir);
    let (code, out, _) = npk(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("8 bytes past the end of array \"x\"") && out.contains(".npk-stage-dead-1"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&data).unwrap().len(),
        40,
        "check without --repair changes nothing"
    );
    let (code, out, _) = npk(&["check", d, "--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("REPAIRED") && out.contains("healthy"), "{out}");
    assert_eq!(std::fs::read(&data).unwrap().len(), 32);
    assert!(!dir.join(".npk-stage-dead-1").exists());
}

#[test]
fn repair_needs_the_writer_lock() {
    let _serial = serial();
    let dir = TempDir::new("locked");
    sample(&dir);
    std::fs::write(dir.join(".npk-stage-dead-1"), b"junk").unwrap();
    let writer = Store::open(&dir, OpenOptions::default()).unwrap();
    // Our writer open already swept it; plant another while the lock is held.
    std::fs::write(dir.join(".npk-stage-dead-2"), b"junk").unwrap();
    let (code, _, err) = npk(&["check", dir.to_str().unwrap(), "--repair"]);
    assert_eq!(code, 2);
    assert!(err.contains("locked"), "{err}");
    assert!(dir.join(".npk-stage-dead-2").exists());
    drop(writer);
}

#[test]
fn check_flags_corruption_and_never_writes() {
    let _serial = serial();
    let dir = TempDir::new("corrupt");
    sample(&dir);
    let d = dir.to_str().unwrap();
    std::fs::write(dir.join("data_z.npkd"), [0u8; 3]).unwrap();
    for args in [vec!["check", d], vec!["check", d, "--repair"]] {
        let (code, out, _) = npk(&args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("CORRUPT") && out.contains("data_z.npkd"),
            "{out}"
        );
    }
    assert_eq!(
        std::fs::read(dir.join("data_z.npkd")).unwrap(),
        vec![0u8; 3]
    );
}

/// Packagers and users ask a tool its version; it answers on stdout with exit 0.
#[test]
fn version_prints_the_crate_version() {
    let _serial = serial();
    for flag in ["--version", "-V"] {
        let (code, out, _) = npk(&[flag]);
        assert_eq!(code, 0, "{flag}");
        assert_eq!(
            out,
            format!("npk {}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
}

#[test]
fn ls_info_and_check_show_attributes() {
    let _serial = serial();
    let dir = TempDir::new("attrs");
    sample(&dir);
    {
        let s = writer(&dir);
        s.attr_set(None, "step", numpack::AttrValue::Int64(100))
            .unwrap();
        s.attr_set(Some("x"), "units", numpack::AttrValue::Str("K".into()))
            .unwrap();
        s.attr_set(Some("x"), "v", numpack::AttrValue::Float64s(vec![1.0, 2.5]))
            .unwrap();
    }
    let d = dir.to_str().unwrap();
    let (code, out, _) = npk(&["ls", d]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "h\tfloat16\t[]\t2 bytes\nx\tint32\t[3, 2]\t24 bytes\t2 attributes\nz\tcomplex64\t[1]\t8 bytes\n\
         store attributes:\n  \"step\" = 100 (int64)\n"
    );
    let (_, out, _) = npk(&["info", d, "x"]);
    assert!(
        out.ends_with(
            "attributes:\n  \"units\" = \"K\" (string)\n  \"v\" = [1.0, 2.5] (float64 vector)\n"
        ),
        "{out}"
    );
    assert_eq!(npk(&["check", d]).0, 0);
    std::fs::write(dir.join("attributes.json"), b"{\"format\"").unwrap();
    let (code, out, err) = npk(&["ls", d]);
    assert_eq!(code, 0, "the arrays are still listed");
    assert!(out.starts_with("h\tfloat16"), "{out}");
    assert!(err.contains("attributes.json"), "{err}");
    let (code, out, _) = npk(&["check", d]);
    assert_eq!(code, 1);
    assert!(
        out.contains("CORRUPT") && out.contains("attributes.json"),
        "{out}"
    );
}

/// An interrupted append to a numpack 0.7.0 segmented array leaves bytes past its last
/// segment, which 0.7.0 would read as rows: check reports them, --repair cuts them off.
#[test]
fn check_reports_and_repairs_bytes_past_the_last_segment() {
    let _serial = serial();
    let dir = TempDir::new("check-seg");
    let values = common::segmented_store(&dir, &[3, 1]);
    let d = dir.to_str().unwrap();
    assert_eq!(npk(&["check", d]).0, 0);
    let last = dir.join("data_x_segments/seg_000001.npkd");
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[7; 12]);
    std::fs::write(&last, &bytes).unwrap();
    let (code, out, _) = npk(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("12 bytes past the end of array \"x\"'s last segment"),
        "{out}"
    );
    let (code, out, _) = npk(&["check", d, "--repair"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read(&last).unwrap().len(), 12);
    let r = common::reader(&dir);
    assert_eq!(common::load::<i32>(&r, "x"), values);
}

/// A store numpack 0.5.0 can leave: "stale" had 10 rows, 2 dropped, then was saved again with
/// 15 (its bitmap kept); ".." and "a\\b" are names numpack accepts and we would not create.
#[test]
fn check_reports_damaged_arrays_and_repairs_a_stale_bitmap() {
    use numpack::internals::metadata::{self, ArrayMeta, METADATA_FILE};
    let _serial = serial();
    let dir = TempDir::new("damaged");
    {
        let s = writer(&dir);
        save::<i32>(&s, "ok", &[2], &[1, 2]);
        save::<i32>(&s, "stale", &[10], &(0..10).collect::<Vec<_>>());
        s.drop_rows("stale", &[0, 1]).unwrap();
    }
    let meta = dir.join(METADATA_FILE);
    let mut c = metadata::decode(&std::fs::read(&meta).unwrap()).unwrap();
    c.arrays.insert(
        "stale".into(),
        ArrayMeta::new("stale", DType::I32, vec![15], 1),
    );
    for n in ["..", "a\\b"] {
        c.arrays
            .insert(n.into(), ArrayMeta::new(n, DType::I32, vec![1], 1));
    }
    std::fs::write(&meta, metadata::encode(&c)).unwrap();
    let rows: Vec<i32> = (100..115).collect();
    std::fs::write(dir.join("data_stale.npkd"), common::to_bytes(&rows)).unwrap();
    std::fs::write(dir.join("data_a\\b.npkd"), common::to_bytes(&[5i32])).unwrap();
    let d = dir.to_str().unwrap();

    let (code, out, _) = npk(&["ls", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok\tint32\t[2]")
            && out.contains("\"a\\\\b\"\tint32\t[1]")
            && out.contains("\"..\"\tCORRUPT: array \"..\" cannot be read")
            && out.contains("stale\tCORRUPT: array \"stale\": its deletion bitmap"),
        "{out}"
    );
    let (code, out, _) = npk(&["check", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("REPAIRABLE")
            && out.contains(
                "stale deletion bitmap of array \"stale\": it is for 10 rows, the array has 15"
            )
            && out.contains("CORRUPT array \"..\" cannot be read")
            && out.contains("NOTE array \"a\\\\b\": a name libnumpack would not create"),
        "{out}"
    );
    assert!(
        dir.join("deleted_stale.npkb").exists(),
        "check alone changes nothing"
    );
    let (code, out, _) = npk(&["check", d, "--repair"]);
    // ".." stays (only numpack can drop it), so the store still has a problem.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("REPAIRED") && !out.contains("REPAIRABLE"),
        "{out}"
    );
    assert!(!dir.join("deleted_stale.npkb").exists());
    let r = common::reader(&dir);
    assert_eq!(common::load::<i32>(&r, "stale"), rows);
    assert_eq!(common::load::<i32>(&r, "ok"), vec![1, 2]);
    assert_eq!(common::load::<i32>(&r, "a\\b"), vec![5]);
    let after = metadata::decode(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(after, c, "the repair commits the catalogue unchanged");
}
