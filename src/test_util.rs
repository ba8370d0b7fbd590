//! Helpers shared by the unit tests: fresh directories and what they hold, a sample commit
//! record, and a tiny deterministic PRNG for the decoders' corruption loops.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::format::metadata::METADATA_FILE;
use crate::format::record::{Op, Record};

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory under the system temp dir, unique per process and call.
pub(crate) fn tmp(name: &str) -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("npk-unit-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The names in `dir`, sorted.
pub(crate) fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Transaction "t"'s record: staged files 1 and 2 become arrays a and b, staged file 3 the
/// catalogue, and array c's file goes.
pub(crate) fn record_t() -> Record {
    Record {
        txid: "t".into(),
        ops: vec![
            Op::Rename {
                from: ".npk-stage-t-1".into(),
                to: "data_a.npkd".into(),
            },
            Op::Rename {
                from: ".npk-stage-t-2".into(),
                to: "data_b.npkd".into(),
            },
            Op::Rename {
                from: ".npk-stage-t-3".into(),
                to: METADATA_FILE.into(),
            },
            Op::Remove {
                path: "data_c.npkd".into(),
            },
        ],
    }
}

/// Tiny deterministic PRNG (xorshift64) so the corruption loops need no extra crate.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
