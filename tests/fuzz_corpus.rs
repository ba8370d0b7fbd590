//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) and every crash reproducer
//! (`fuzz/regressions/<target>/`) through the same harness bodies the cargo-fuzz targets run
//! (`fuzz/harness.rs`), under plain `cargo test`. See fuzz/README.md.
//!
//! `NPK_BLESS=1 cargo test --test fuzz_corpus` rewrites the seeds this library makes into
//! fuzz/corpus/ (those from numpack 0.5.0 come from fuzz/seeds_numpack.py).

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every input file of a target, from the seed corpus and the regressions, sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Runs one input; true when it got past the first layer (decoded, or a store opened).
fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "metadata" => harness::metadata(data),
        "bitmap" => harness::bitmap(data),
        "manifest" => harness::manifest(data),
        "attributes" => harness::attributes(data),
        "store_dir" => {
            let o = harness::store_dir(data);
            o.read_only_opened || o.writer_opened
        }
        "one_array" => {
            harness::one_array(data);
            true
        }
        _ => unreachable!("unknown target {target}"),
    }
}

fn replay(target: &str) -> (usize, usize) {
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "no corpus files for fuzz target {target} in {}",
        fuzz_dir().display()
    );
    let mut deep = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let r = std::panic::catch_unwind(|| run(target, &data));
        match r {
            Ok(d) => deep += usize::from(d),
            Err(_) => panic!("fuzz target {target} fails on {}", f.display()),
        }
    }
    (files.len(), deep)
}

#[test]
fn metadata_corpus_replays() {
    let (n, decoded) = replay("metadata");
    assert!(decoded >= 3, "only {decoded} of {n} metadata inputs decode");
}

#[test]
fn bitmap_corpus_replays() {
    let (n, decoded) = replay("bitmap");
    assert!(decoded >= 2, "only {decoded} of {n} bitmap inputs decode");
}

#[test]
fn manifest_corpus_replays() {
    let (n, parsed) = replay("manifest");
    assert!(parsed >= 1, "only {parsed} of {n} manifests parse");
}

#[test]
fn attributes_corpus_replays() {
    let (n, parsed) = replay("attributes");
    assert!(parsed >= 1, "only {parsed} of {n} attribute files parse");
}

/// Whatever attributes.json holds, the store opens and its arrays load.
#[test]
fn hostile_attribute_files_cost_only_the_attributes() {
    let seeds = harness::library_seeds();
    let hostile: Vec<_> = seeds
        .iter()
        .filter(|(t, n, _)| *t == "store_dir" && n.starts_with("lib_attrs_hostile_"))
        .collect();
    assert!(hostile.len() >= 7);
    for (_, name, data) in hostile {
        let o = harness::store_dir(data);
        assert!(o.read_only_opened && o.writer_opened, "{name}: {o:?}");
        assert!(o.arrays_loaded >= 1, "{name}: {o:?}");
    }
}

#[test]
fn store_dir_corpus_replays_and_reaches_the_data() {
    let files = inputs("store_dir");
    assert!(!files.is_empty(), "no store_dir corpus");
    let (mut opened, mut written, mut loaded) = (0, 0, 0);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let o = std::panic::catch_unwind(|| harness::store_dir(&data))
            .unwrap_or_else(|_| panic!("fuzz target store_dir fails on {}", f.display()));
        opened += usize::from(o.read_only_opened);
        written += usize::from(o.writer_opened);
        loaded += o.arrays_loaded;
    }
    assert!(
        opened >= 3 && written >= 3 && loaded >= 6,
        "the store_dir corpus barely gets in: {opened} read-only opens, {written} writer opens, \
         {loaded} arrays loaded, of {} inputs",
        files.len()
    );
}

/// The seeds this library writes (as in the corpus) still run, and reach what they were made
/// for: each store opens, each catalogue, bitmap and manifest decodes.
#[test]
fn library_seeds_reach_deep() {
    for (target, name, data) in harness::library_seeds() {
        let deep = run(target, &data);
        // Hostile seeds are there to be refused; whether a reader opens is not the point.
        let hostile = name == "lib_hostile_record"
            || (target == "attributes" && name.starts_with("hostile_"));
        assert!(deep || hostile, "seed {target}/{name}");
    }
}

/// The archive format round-trips, so seeds mean what they say.
#[test]
fn archive_round_trip() {
    use harness::Entry;
    let entries = vec![
        Entry::File("metadata.npkm".into(), vec![1, 2, 3]),
        Entry::Summed(".npk.commit".into(), vec![4]),
        Entry::Link("data_a.npkd".into(), 1),
        Entry::Dir("data_q_segments".into()),
        Entry::File("data_q_segments/s.npkd".into(), vec![]),
    ];
    let bytes = harness::write_archive(&entries);
    let back = harness::parse_archive(&bytes);
    assert_eq!(format!("{back:?}"), format!("{entries:?}"));
    // Names that would leave the store are dropped by the harness itself.
    let evil = harness::write_archive(&[Entry::File("../x".into(), vec![1])]);
    assert!(harness::parse_archive(&evil).is_empty());
}

/// Every seed this library makes is in the committed corpus, so the fuzzer starts from the
/// current format. `NPK_BLESS=1 cargo test --test fuzz_corpus` rewrites them after a change.
#[test]
fn library_seeds_are_in_the_corpus() {
    let bless = std::env::var_os("NPK_BLESS").is_some();
    let mut missing = Vec::new();
    for (target, name, data) in harness::library_seeds() {
        let path = fuzz_dir().join("corpus").join(target).join(&name);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
        } else if !path.is_file() {
            missing.push(format!("{target}/{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "seeds missing from fuzz/corpus (rerun with NPK_BLESS=1): {missing:?}"
    );
}

/// Whatever one array's files hold, the other arrays stay readable (issue #15 point 3): the
/// seed corpus of `one_array`, then random damage of each kind (xorshift, fixed seed): random
/// bytes, the intact file cut short or with bytes flipped, names built from random characters
/// (control characters, '/', '\\', '.' and NUL among them).
#[test]
fn one_damaged_array_leaves_the_others_readable() {
    let (n, _) = replay("one_array");
    assert!(n >= 4, "one_array corpus has {n} inputs");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet: &[u8] = b"ab./\\\0\n\t\x7f \x1b";
    let (mut read, mut refused) = (0, 0);
    for i in 0..240u64 {
        let mode = (i % 4) as u8;
        let len = (next() % 64) as usize;
        let rest: Vec<u8> = match mode {
            2 => (0..len % 6)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect(),
            // The real 6-row data file or 6-row bitmap, flipped or cut: mostly near-valid.
            0 | 1 => {
                let mut b: Vec<u8> = if mode == 0 {
                    [10i32, 11, 12, 13, 14, 15]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect()
                } else {
                    let mut h = 6u64.to_le_bytes().to_vec();
                    h.extend_from_slice(&1u64.to_le_bytes());
                    h.extend_from_slice(&0b11_1011u64.to_le_bytes());
                    h
                };
                match next() % 3 {
                    0 => b.truncate(len.min(b.len())),
                    1 => {
                        let at = (next() % b.len() as u64) as usize;
                        b[at] ^= 1 << (next() % 8);
                    }
                    _ => b = (0..len).map(|_| next() as u8).collect(),
                }
                b
            }
            _ => vec![next() as u8],
        };
        let mut input = vec![mode];
        input.extend_from_slice(&rest);
        let o = std::panic::catch_unwind(|| harness::one_array(&input))
            .unwrap_or_else(|_| panic!("one_array fails on input {input:?}"));
        if o.victim_read {
            read += 1;
        } else {
            refused += 1;
        }
    }
    // Both outcomes occur, so the damage is neither always fatal to the array nor ignored.
    assert!(
        read >= 20 && refused >= 20,
        "{read} read, {refused} refused"
    );
}
