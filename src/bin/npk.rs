//! `npk`: inspect and check a NumPack store from the shell.
//!
//!   npk ls STORE                        arrays with dtype, shape and size; the store's attributes
//!   npk info STORE NAME                 everything the catalogue says about one array, and its
//!                                       attributes
//!   npk dump STORE NAME [--rows A:B]    values, one logical row per line
//!   npk check STORE [--repair]          validate everything; exit 1 on any problem
//!   npk --version                       the library version it was built with
//!
//! Exit codes: 0 fine, 1 problems found (check) or the store is corrupt, 2 usage or I/O error.

use std::path::Path;
use std::process::ExitCode;

use numpack::internals::metadata::{self, METADATA_FILE};
use numpack::internals::names::{
    bitmap_file_name, data_file_name, readable_name, segment_manifest_name, validate_name,
};
use numpack::internals::record::{COMMIT_FILE, STAGE_PREFIX};
use numpack::internals::segments::parse_manifest;
use numpack::internals::{Bitmap, Txn};
use numpack::layout::{for_chunks, Dst};
use numpack::{ArrayInfo, AttrValue, DType, Error, ErrorKind, OpenOptions, Store};

const USAGE: &str = "usage: npk ls STORE | npk info STORE NAME | npk dump STORE NAME [--rows A:B] | npk check STORE [--repair] | npk --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match strs.as_slice() {
        ["ls", store] => open_ro(store).map(|s| ls(&s)),
        ["info", store, name] => open_ro(store).and_then(|s| info(&s, name)),
        ["dump", store, name] => open_ro(store).and_then(|s| dump(&s, name, None)),
        ["dump", store, name, "--rows", range] => {
            open_ro(store).and_then(|s| dump(&s, name, Some(range)))
        }
        ["check", store] => return check(Path::new(store), false),
        ["check", store, "--repair"] => return check(Path::new(store), true),
        ["--version"] | ["-V"] => {
            println!("npk {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("npk: {e}");
            ExitCode::from(if e.kind == ErrorKind::Corrupt { 1 } else { 2 })
        }
    }
}

fn open_ro(path: &str) -> Result<Store, Error> {
    Store::open(
        path,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    )
}

fn ls(s: &Store) {
    for name in s.list() {
        // A damaged array is listed with why it cannot be read (the others read as usual).
        let i = match s.info(&name) {
            Ok(i) => i,
            Err(e) => {
                println!("{}\tCORRUPT: {e}", shown(&name));
                continue;
            }
        };
        {
            let n = s.attr_keys(Some(&name)).map(|k| k.len()).unwrap_or(0);
            let name = shown(&name);
            let attrs = match n {
                0 => String::new(),
                1 => "\t1 attribute".into(),
                n => format!("\t{n} attributes"),
            };
            println!(
                "{name}\t{}\t{:?}\t{} bytes{attrs}",
                i.dtype.name(),
                i.shape,
                i.nbytes
            );
        }
    }
    print_attrs(s, None, "store attributes:");
}

/// An array name as `ls` prints it: as is, or escaped and quoted when it is one libnumpack
/// would not create (a control character would garble the listing).
fn shown(name: &str) -> String {
    match validate_name(name) {
        Ok(()) => name.to_string(),
        Err(_) => format!("{name:?}"),
    }
}

/// The attributes of `array` (None: the store's) under `title`, one per line; nothing when
/// there are none; a damaged attributes file is said so (on stderr, as the error it is).
fn print_attrs(s: &Store, array: Option<&str>, title: &str) {
    let keys = match s.attr_keys(array) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("npk: attributes: {e}");
            return;
        }
    };
    if keys.is_empty() {
        return;
    }
    println!("{title}");
    for k in keys {
        if let Ok(v) = s.attr_get(array, &k) {
            println!("  {k:?} = {}", show_attr(&v));
        }
    }
}

fn show_attr(v: &AttrValue) -> String {
    fn list<T: std::fmt::Debug>(v: &[T]) -> String {
        let shown: Vec<String> = v.iter().take(8).map(|x| format!("{x:?}")).collect();
        let more = if v.len() > 8 {
            format!(", ... ({} elements)", v.len())
        } else {
            String::new()
        };
        format!("[{}{more}]", shown.join(", "))
    }
    match v {
        AttrValue::Int64(n) => format!("{n} (int64)"),
        AttrValue::Float64(x) => format!("{x:?} (float64)"),
        AttrValue::Str(t) => format!("{t:?} (string)"),
        AttrValue::Int64s(n) => format!("{} (int64 vector)", list(n)),
        AttrValue::Float64s(x) => format!("{} (float64 vector)", list(x)),
    }
}

fn info(s: &Store, name: &str) -> Result<(), Error> {
    let i = s.info(name)?;
    println!("name:          {name}");
    println!(
        "dtype:         {} (code {})",
        i.dtype.name(),
        i.dtype.code()
    );
    println!("shape:         {:?}", i.shape);
    println!("bytes:         {}", i.nbytes);
    println!("physical rows: {}", i.physical_rows);
    if !i.shape.is_empty() {
        println!("dropped rows:  {}", i.physical_rows - i.shape[0]);
    }
    println!("modified:      {} us since the epoch", i.modify_time_us);
    println!(
        "stored as:     {}",
        if i.segmented {
            "segments (numpack 0.7.0)"
        } else {
            "one data file"
        }
    );
    print_attrs(s, Some(name), "attributes:");
    Ok(())
}

/// Python-style `A:B` over `n` rows (either end may be empty or negative).
fn parse_range(range: &str, n: u64) -> Result<(u64, u64), Error> {
    let bad = || Error::invalid(format!("--rows wants A:B, got {range:?}"));
    let (a, b) = range.split_once(':').ok_or_else(bad)?;
    let end = |t: &str, default: u64| -> Result<u64, Error> {
        if t.is_empty() {
            return Ok(default);
        }
        let v: i64 = t.parse().map_err(|_| bad())?;
        Ok(if v < 0 {
            n.saturating_sub(v.unsigned_abs())
        } else {
            (v as u64).min(n)
        })
    };
    let (lo, hi) = (end(a, 0)?, end(b, n)?);
    Ok((lo, hi.max(lo)))
}

fn dump(s: &Store, name: &str, range: Option<&str>) -> Result<(), Error> {
    let i = s.info(name)?;
    let item = i.dtype.size();
    if i.shape.is_empty() {
        let mut buf = vec![0u8; item];
        s.load(name, i.dtype, &mut Dst::contiguous(&mut buf, &[], item)?)?;
        println!("{}", format_value(i.dtype, &buf));
        return Ok(());
    }
    let rows = i.shape[0];
    let (lo, hi) = match range {
        Some(r) => parse_range(r, rows)?,
        None => (0, rows),
    };
    let row_bytes = i.shape[1..].iter().product::<u64>() * item as u64;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    use std::io::Write;
    let mut printed = lo;
    for_row_chunks(s, name, &i, lo, hi - lo, |buf| {
        for row in buf.chunks(row_bytes.max(1) as usize) {
            let vals: Vec<String> = row.chunks(item).map(|v| format_value(i.dtype, v)).collect();
            let _ = writeln!(out, "{printed}: {}", vals.join(" "));
            printed += 1;
        }
    })
}

/// Reads `count` logical rows of an array from row `first` on, in chunks that keep memory use
/// bounded, and hands each chunk (whole rows, C order) to `f`.
fn for_row_chunks(
    s: &Store,
    name: &str,
    i: &ArrayInfo,
    first: u64,
    count: u64,
    mut f: impl FnMut(&[u8]),
) -> Result<(), Error> {
    let item = i.dtype.size();
    let row_bytes = i.shape[1..].iter().product::<u64>() * item as u64;
    // Rows of zero bytes still need a buffer row to carry their index through `get_rows`.
    for_chunks(count, row_bytes.max(1), |at, chunk| {
        let n = chunk.len() as u64 / row_bytes.max(1);
        let idx: Vec<i64> = (first + at..first + at + n).map(|r| r as i64).collect();
        let mut shape = i.shape.clone();
        shape[0] = n;
        let bytes = &mut chunk[..(n * row_bytes) as usize];
        s.get_rows(
            name,
            &idx,
            i.dtype,
            &mut Dst::contiguous(bytes, &shape, item)?,
        )?;
        f(bytes);
        Ok(())
    })
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = (bits >> 10) & 0x1f;
    let frac = (bits & 0x3ff) as f32;
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e as i32 - 15),
    }
}

fn format_value(d: DType, b: &[u8]) -> String {
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(b.try_into().expect("item size"))
        };
    }
    match d {
        DType::Bool => (if b[0] != 0 { "true" } else { "false" }).into(),
        DType::U8 => b[0].to_string(),
        DType::U16 => le!(u16).to_string(),
        DType::U32 => le!(u32).to_string(),
        DType::U64 => le!(u64).to_string(),
        DType::I8 => (b[0] as i8).to_string(),
        DType::I16 => le!(i16).to_string(),
        DType::I32 => le!(i32).to_string(),
        DType::I64 => le!(i64).to_string(),
        DType::F16 => f16_to_f32(le!(u16)).to_string(),
        DType::F32 => le!(f32).to_string(),
        DType::F64 => le!(f64).to_string(),
        DType::Complex64 => {
            let (re, im) = b.split_at(4);
            let (re, im) = (
                f32::from_le_bytes(re.try_into().unwrap()),
                f32::from_le_bytes(im.try_into().unwrap()),
            );
            format!("{re}{im:+}j")
        }
        DType::Complex128 => {
            let (re, im) = b.split_at(8);
            let (re, im) = (
                f64::from_le_bytes(re.try_into().unwrap()),
                f64::from_le_bytes(im.try_into().unwrap()),
            );
            format!("{re}{im:+}j")
        }
    }
}

/// Leftovers of interrupted writes that a writer open would repair, and unreferenced files.
struct Findings {
    problems: Vec<String>,
    repairable: Vec<String>,
    notes: Vec<String>,
    /// Bitmap files a repair removes: stale ones (see `stale_bitmap`).
    stale_bitmaps: Vec<String>,
}

/// A bitmap numpack 0.5.0 left when the array was saved again after rows were dropped: it is
/// for another row count than the catalogue's (its own header says which). The save meant every
/// row of the new data file, so removing the bitmap is the repair. Some(message) for one.
fn stale_bitmap(dir: &Path, name: &str, shape: &[u64]) -> Option<String> {
    let rows = *shape.first()?;
    let path = dir.join(bitmap_file_name(name));
    let bytes = std::fs::read(&path).ok()?;
    let stated = Bitmap::stated_rows(&bytes)?;
    (stated != rows).then(|| {
        format!(
            "{}: stale deletion bitmap of array {name:?}: it is for {stated} rows, the array has {rows} (numpack 0.5.0 keeps it when an array is saved again after rows were dropped); --repair removes it, so all {rows} rows are read, as the save meant",
            path.display()
        )
    })
}

fn inspect(dir: &Path, s: &Store) -> Findings {
    let mut f = Findings {
        problems: Vec::new(),
        repairable: Vec::new(),
        notes: Vec::new(),
        stale_bitmaps: Vec::new(),
    };
    if let Err(e) = s.attr_keys(None) {
        f.problems.push(e.message);
    }
    // The catalogue as the store read it (it opened), for the shapes of damaged arrays.
    let catalog = std::fs::read(dir.join(METADATA_FILE))
        .ok()
        .and_then(|b| metadata::decode(&b).ok())
        .unwrap_or_default();
    let names = s.list();
    for name in &names {
        if readable_name(name).is_ok() {
            if let Err(e) = validate_name(name) {
                f.notes.push(format!(
                    "array {name:?}: a name libnumpack would not create ({e}); it reads, writes to it are refused (NPK_INVALID_ARGUMENT), it can be dropped"
                ));
            }
        }
        let stale = catalog
            .arrays
            .get(name)
            .filter(|_| readable_name(name).is_ok())
            .and_then(|m| stale_bitmap(dir, name, &m.shape));
        if let Some(stale) = stale {
            f.repairable.push(stale);
            f.stale_bitmaps.push(bitmap_file_name(name));
            continue;
        }
        if let Err(e) = read_all(s, name) {
            f.problems.push(e.message);
        }
        let data = dir.join(data_file_name(name));
        if let (Ok(meta), Ok(i)) = (std::fs::symlink_metadata(&data), s.info(name)) {
            let want =
                i.physical_rows * i.shape.iter().skip(1).product::<u64>() * i.dtype.size() as u64;
            let want = if i.shape.is_empty() {
                i.dtype.size() as u64
            } else {
                want
            };
            if !i.segmented && meta.len() > want {
                f.repairable.push(format!(
                    "{}: {} bytes past the end of array {name:?} (an interrupted append)",
                    data.display(),
                    meta.len() - want
                ));
            }
        }
        if let Some(past) = past_last_segment(dir, name) {
            f.repairable.push(past);
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return f;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file == COMMIT_FILE {
            f.repairable.push(format!(
                "{}: a decided commit not yet fully applied",
                entry.path().display()
            ));
        } else if file.starts_with(STAGE_PREFIX) || file == ".npk.commit.tmp" {
            f.repairable.push(format!(
                "{}: left by an interrupted write",
                entry.path().display()
            ));
        } else if (file.starts_with("data_") && file.ends_with(".npkd"))
            || (file.starts_with("deleted_") && file.ends_with(".npkb"))
        {
            let known = names
                .iter()
                .any(|n| file == data_file_name(n) || file == bitmap_file_name(n));
            if !known {
                f.notes.push(format!(
                    "{}: not referenced by the catalogue",
                    entry.path().display()
                ));
            }
        }
    }
    f
}

/// Reads every logical row, so unreadable or truncated data shows up.
fn read_all(s: &Store, name: &str) -> Result<(), Error> {
    let i = s.info(name)?;
    let item = i.dtype.size();
    if i.shape.is_empty() {
        let mut buf = vec![0u8; item];
        return s.load(name, i.dtype, &mut Dst::contiguous(&mut buf, &[], item)?);
    }
    for_row_chunks(s, name, &i, 0, i.shape[0], |_| {})
}

/// Bytes past the end of a segmented array's last segment (an interrupted append), which
/// numpack 0.7.0 would read as rows, since it maps whole segment files.
fn past_last_segment(dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(segment_manifest_name(name))).ok()?;
    let last = parse_manifest(&text, name).ok()?.pop()?;
    let path = dir.join(&last.file);
    let len = std::fs::symlink_metadata(&path).ok()?.len();
    (len > last.bytes).then(|| {
        format!(
            "{}: {} bytes past the end of array {name:?}'s last segment (an interrupted append)",
            path.display(),
            len - last.bytes
        )
    })
}

/// Removes `files` (stale bitmaps) in one commit that rewrites the catalogue unchanged: the
/// removal is atomic and recovered like any other. The caller holds the writer's lock.
fn remove_stale_bitmaps(dir: &Path, files: &[String]) -> Result<(), Error> {
    if files.is_empty() {
        return Ok(());
    }
    let catalogue = std::fs::read(dir.join(METADATA_FILE)).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("cannot read {}: {e}", dir.join(METADATA_FILE).display()),
        )
    })?;
    let mut txn = Txn::new(dir, true);
    for f in files {
        txn.remove(f);
    }
    txn.commit(&catalogue)
}

fn check(dir: &Path, repair: bool) -> ExitCode {
    let store = match Store::open(
        dir,
        OpenOptions {
            read_only: true,
            ..Default::default()
        },
    ) {
        Ok(s) => s,
        Err(e) if e.kind == ErrorKind::Corrupt => {
            println!("CORRUPT {e}");
            println!(
                "npk check: {} is corrupt; nothing was changed",
                dir.display()
            );
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("npk check: {e}");
            return ExitCode::from(2);
        }
    };
    let mut found = inspect(dir, &store);
    drop(store);
    // One array's damage is that array's: what can be repaired is repaired all the same.
    if repair && !found.repairable.is_empty() {
        // A writer open completes decided commits, sweeps staging files and trims appends;
        // under its lock, stale bitmaps are removed in a commit of the same catalogue.
        match Store::open(dir, OpenOptions::default()).and_then(|writer| {
            remove_stale_bitmaps(dir, &found.stale_bitmaps)?;
            drop(writer);
            Store::open(
                dir,
                OpenOptions {
                    read_only: true,
                    ..Default::default()
                },
            )
        }) {
            Ok(again) => {
                for r in &found.repairable {
                    println!("REPAIRED {r}");
                }
                found = inspect(dir, &again);
            }
            Err(e) => {
                eprintln!("npk check: cannot repair: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for p in &found.problems {
        println!("CORRUPT {p}");
    }
    for r in &found.repairable {
        println!("REPAIRABLE {r} (run `npk check --repair`)");
    }
    for n in &found.notes {
        println!("NOTE {n}");
    }
    let bad = found.problems.len() + found.repairable.len();
    if bad == 0 {
        println!("npk check: {} is healthy", dir.display());
        ExitCode::SUCCESS
    } else {
        println!("npk check: {bad} problem(s) in {}", dir.display());
        ExitCode::from(1)
    }
}
