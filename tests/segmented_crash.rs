//! Appends to a numpack 0.7.0 segmented array killed with SIGKILL at arbitrary instants: a
//! child process (this test binary, re-run on this one test) appends back to back, each
//! append filling the last segment or adding segment files (40-byte segments of 3 rows) and
//! committing manifest and catalogue together; the parent kills it once it reported a given
//! number of appends done (a sign of progress, not a timer), so the kill lands in the middle of
//! whatever append runs then. Every observation must be a state the appends passed through:
//! element (r, c) is 10 * r + c for every row, in a store that opens read-only without
//! recovery, and after a writer's open and close no staged file or record is left, the last
//! segment is exactly as long as the manifest says (an interrupted append's bytes cut off, as
//! numpack 0.7.0 maps whole segment files), and the segment folder holds only listed files.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{load, reader, segmented_store, TempDir};
use numpack::internals::segments::parse_manifest;
use numpack::layout::Src;
use numpack::{DType, OpenOptions, Store};

const CHILD_DIR: &str = "NPK_SEG_CRASH_DIR";

fn rows_from(first: u64, n: u64) -> Vec<u8> {
    (first..first + n)
        .flat_map(|r| (0..3).map(move |c| 10 * r as i32 + c))
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// The child: appends forever, 1 to 5 rows each (from the row count, so the history is fixed),
/// printing "done" after each.
fn child(dir: &str) {
    use std::io::Write;
    let s = Store::open(Path::new(dir), OpenOptions::default()).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        let rows = s.info("x").unwrap().shape[0];
        let n = 1 + rows % 5;
        let bytes = rows_from(rows, n);
        s.append(
            "x",
            DType::I32,
            &Src::contiguous(&bytes, &[n, 3], 4).unwrap(),
        )
        .unwrap();
        writeln!(out, "done").unwrap();
        out.flush().unwrap();
    }
}

fn check_values(values: &[i32], what: &str) {
    for (i, v) in values.iter().enumerate() {
        let (r, c) = (i / 3, i % 3);
        assert_eq!(*v, 10 * r as i32 + c as i32, "{what}: row {r} col {c}");
    }
}

#[test]
fn killed_segmented_appends_leave_a_state_they_passed_through() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        return child(&dir);
    }
    let dir = TempDir::new("segcrash");
    segmented_store(&dir, &[3, 1]);
    let exe = std::env::current_exe().unwrap();
    let mut last_rows = 4u64;
    for trial in 0..40u64 {
        let mut child = Command::new(&exe)
            .args([
                "killed_segmented_appends_leave_a_state_they_passed_through",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.as_os_str())
            .env("NUMPACK_SEGMENT_TARGET_BYTES", "40")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after 1 to 6 appends returned, in the middle of the next ones.
        let wait_for = 1 + trial % 6;
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut done = 0;
        while done < wait_for {
            let line = lines.next().expect("the child died").unwrap();
            done += u64::from(line.trim() == "done");
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let what = format!("trial {trial}");
        let r = reader(&dir);
        let rows = r.info("x").unwrap().shape[0];
        assert!(
            rows > last_rows,
            "{what}: {rows} rows after {done} appends returned (had {last_rows})"
        );
        check_values(&load::<i32>(&r, "x"), &what);
        drop(r);
        let w = Store::open(&dir, OpenOptions::default()).unwrap();
        assert_eq!(w.info("x").unwrap().shape[0], rows, "{what}: recovery");
        drop(w);
        let manifest = std::fs::read_to_string(dir.join("data_x.npkseg")).unwrap();
        let segs = parse_manifest(&manifest, "x").unwrap();
        assert_eq!(segs.iter().map(|s| s.rows).sum::<u64>(), rows, "{what}");
        let last = segs.last().unwrap();
        assert_eq!(
            std::fs::metadata(dir.join(&last.file)).unwrap().len(),
            last.bytes,
            "{what}: the last segment is trimmed to the manifest"
        );
        for e in std::fs::read_dir(dir.join("data_x_segments")).unwrap() {
            let name = format!(
                "data_x_segments/{}",
                e.unwrap().file_name().to_string_lossy()
            );
            assert!(
                segs.iter().any(|s| s.file == name),
                "{what}: {name} is not in the manifest"
            );
        }
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".npk-stage") && name != ".npk.commit",
                "{what}: {name} left after a writer's close"
            );
        }
        check_values(&load::<i32>(&reader(&dir), "x"), &what);
        last_rows = rows;
    }
}
