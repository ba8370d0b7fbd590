//! The store's operations through the safe Rust API, as a Rust caller of the core uses them
//! (`numpack::Store`; the C suites in c_tests/ cover the same ground through the ABI): round
//! trips, appends, row operations, drops, compaction, clones, the catalogue calls, readers and
//! refresh, read-only handles, and the error kind of each kind of bad call.

mod common;

use common::{
    file_names, fingerprint, load, load_bytes, load_shaped, pattern, reader, save, to_bytes,
    wait_for_clock_past, writer, TempDir,
};
use numpack::batch::{CacheBatch, WritableBatch};
use numpack::layout::{Dst, Layout, Src};
use numpack::{DType, ErrorKind, OpenOptions, Store};

fn kind<T>(r: numpack::Result<T>) -> ErrorKind {
    match r {
        Ok(_) => panic!("the call succeeded; an error was expected"),
        Err(e) => e.kind,
    }
}

/// The error of a call, after checking its kind and that its message names `needle`.
fn expect_err<T>(r: numpack::Result<T>, want: ErrorKind, needle: &str) {
    match r {
        Ok(_) => panic!("the call succeeded; {want:?} was expected"),
        Err(e) => {
            assert_eq!(e.kind, want, "{}", e.message);
            assert!(
                e.message.contains(needle),
                "the message should name {needle:?}: {}",
                e.message
            );
        }
    }
}

#[test]
fn every_dtype_and_rank_round_trips_and_survives_reopening() {
    let dir = TempDir::new("roundtrip");
    let mut rank32 = vec![1u64; 31];
    rank32.push(2);
    let shapes: Vec<Vec<u64>> = vec![
        vec![],
        vec![5],
        vec![0],
        vec![3, 4],
        vec![3, 0],
        vec![2, 0, 3],
        vec![2, 3, 2, 2],
        rank32,
    ];
    let s = writer(&dir);
    let mut saved = Vec::new();
    for (d, &dtype) in DType::ALL.iter().enumerate() {
        for (k, shape) in shapes.iter().enumerate() {
            let name = format!("{dtype}_{k}");
            let count: u64 = shape.iter().product();
            let bytes = pattern(dtype, count as usize * dtype.size(), d * 10 + k);
            s.save(
                &name,
                dtype,
                &Src::contiguous(&bytes, shape, dtype.size()).unwrap(),
            )
            .unwrap();
            let info = s.info(&name).unwrap();
            assert_eq!(
                (info.dtype, &info.shape, info.nbytes),
                (dtype, shape, bytes.len() as u64),
                "{name}"
            );
            assert!(!info.segmented);
            if let Some(&rows) = shape.first() {
                assert_eq!(info.physical_rows, rows, "{name}");
            }
            assert_eq!(load_bytes(&s, &name), bytes, "{name}");
            saved.push((name, bytes));
        }
    }
    drop(s);
    let r = reader(&dir);
    let mut names: Vec<String> = saved.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(r.list(), names);
    for (name, bytes) in &saved {
        assert_eq!(&load_bytes(&r, name), bytes, "{name} after reopening");
    }
    let one = [0u8; 1];
    assert_eq!(
        kind(Src::contiguous(&one, &[1; 33], 1)),
        ErrorKind::InvalidArgument,
        "33 dimensions are more than NumPy allows"
    );
}

#[test]
fn strided_buffers_are_stored_in_c_order() {
    let dir = TempDir::new("strided");
    let s = writer(&dir);
    // A (3, 4) float64 array in Fortran order: element (r, c) = 10 r + c sits at c * 3 + r.
    let fortran: Vec<f64> = (0..12).map(|i| f64::from(10 * (i % 3) + i / 3)).collect();
    let bytes = to_bytes(&fortran);
    let src = Src::new(&bytes, 0, Layout::new(&[3, 4], Some(&[8, 24]), 8).unwrap()).unwrap();
    s.save("f", DType::F64, &src).unwrap();
    let c_order: Vec<f64> = (0..12).map(|i| f64::from(10 * (i / 4) + i % 4)).collect();
    assert_eq!(load::<f64>(&s, "f"), c_order);
    assert_eq!(
        std::fs::read(dir.join("data_f.npkd")).unwrap(),
        to_bytes(&c_order),
        "the file is C order, as NumPack writes it"
    );
    let mut back = vec![0u8; 96];
    s.load(
        "f",
        DType::F64,
        &mut Dst::new(
            &mut back,
            0,
            Layout::new(&[3, 4], Some(&[8, 24]), 8).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(back, bytes, "loaded back into a Fortran-order buffer");
}

#[test]
fn large_strided_saves_over_spares_of_any_size_store_exactly_their_bytes() {
    // Saves of a large Fortran-order array write through a mapping of the data file; over a
    // spare (the array's previous file) that is longer or shorter than the new array, the file
    // must end up exactly the new bytes. Narrow arrays (10 columns) take the staging path.
    let dir = TempDir::new("strided-spare");
    let s = writer(&dir);
    for (k, (rows, cols)) in [
        (600u64, 600u64),
        (512, 520),
        (700, 700),
        (40_000, 10),
        (30_000, 10),
    ]
    .into_iter()
    .enumerate()
    {
        let start = 1_000_000 * k as i64;
        let fortran: Vec<f64> = (0..rows * cols)
            .map(|i| (start + (cols * (i % rows) + i / rows) as i64) as f64)
            .collect();
        let bytes = to_bytes(&fortran);
        let layout = Layout::new(&[rows, cols], Some(&[8, 8 * rows as i64]), 8).unwrap();
        s.save("f", DType::F64, &Src::new(&bytes, 0, layout).unwrap())
            .unwrap();
        let c_order: Vec<f64> = (0..(rows * cols) as i64)
            .map(|i| (start + i) as f64)
            .collect();
        assert!(load::<f64>(&s, "f") == c_order, "{rows}x{cols}: content");
        assert!(
            std::fs::read(dir.join("data_f.npkd")).unwrap() == to_bytes(&c_order),
            "{rows}x{cols}: the file holds exactly the array, C order"
        );
    }
}

#[test]
fn strided_loads_match_the_c_order_content_with_and_without_dropped_rows() {
    // Large enough to cross the copy's tiles; loads straight from the file's mapping, and,
    // once rows are dropped, through the chunked path that skips them.
    let dir = TempDir::new("strided_load");
    let s = writer(&dir);
    let (rows, cols) = (70usize, 50usize);
    let c: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
    save(&s, "x", &[rows as u64, cols as u64], &c);
    let fortran = |rows: usize| {
        Layout::new(&[rows as u64, cols as u64], Some(&[4, 4 * rows as i64]), 4).unwrap()
    };
    let load_f = |rows: usize| {
        let mut out = vec![0u8; rows * cols * 4];
        s.load(
            "x",
            DType::F32,
            &mut Dst::new(&mut out, 0, fortran(rows)).unwrap(),
        )
        .unwrap();
        out.chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect::<Vec<f32>>()
    };
    let want = |kept: &[usize]| {
        let mut f = vec![0f32; kept.len() * cols];
        for (r, &k) in kept.iter().enumerate() {
            for col in 0..cols {
                f[col * kept.len() + r] = c[k * cols + col];
            }
        }
        f
    };
    let all: Vec<usize> = (0..rows).collect();
    assert_eq!(load_f(rows), want(&all));
    // Reversed rows: element 0 is the last row of the buffer.
    let mut out = vec![0u8; rows * cols * 4];
    let rev = Layout::new(
        &[rows as u64, cols as u64],
        Some(&[-(4 * cols as i64), 4]),
        4,
    )
    .unwrap();
    s.load(
        "x",
        DType::F32,
        &mut Dst::new(&mut out, (rows - 1) * cols * 4, rev).unwrap(),
    )
    .unwrap();
    let got: Vec<f32> = out
        .chunks(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let flipped: Vec<f32> = (0..rows)
        .rev()
        .flat_map(|r| c[r * cols..(r + 1) * cols].to_vec())
        .collect();
    assert_eq!(got, flipped);

    s.drop_rows("x", &[0, 33, 69]).unwrap();
    let kept: Vec<usize> = (0..rows).filter(|r| ![0, 33, 69].contains(r)).collect();
    assert_eq!(load_f(kept.len()), want(&kept));
}

#[test]
fn save_replaces_an_array_whatever_its_old_dtype_and_shape() {
    let dir = TempDir::new("replace");
    let s = writer(&dir);
    save(&s, "x", &[2, 2], &[1i32, 2, 3, 4]);
    let first = s.info("x").unwrap().modify_time_us;
    wait_for_clock_past(first);
    save(&s, "x", &[3], &[0.5f64, 1.5, 2.5]);
    let info = s.info("x").unwrap();
    assert_eq!((info.dtype, info.shape.clone()), (DType::F64, vec![3]));
    assert!(info.modify_time_us > first);
    assert_eq!(load::<f64>(&reader(&dir), "x"), vec![0.5, 1.5, 2.5]);
    assert_eq!(
        std::fs::metadata(dir.join("data_x.npkd")).unwrap().len(),
        24
    );
}

#[test]
fn append_adds_rows_and_refuses_what_does_not_fit() {
    let dir = TempDir::new("append");
    let s = writer(&dir);
    save(&s, "x", &[2, 3], &(0..6i64).collect::<Vec<_>>());
    let rows = to_bytes(&(6..12i64).collect::<Vec<_>>());
    s.append(
        "x",
        DType::I64,
        &Src::contiguous(&rows, &[2, 3], 8).unwrap(),
    )
    .unwrap();
    assert_eq!(
        load_shaped::<i64>(&s, "x"),
        (vec![4, 3], (0..12).collect::<Vec<_>>())
    );
    assert_eq!(load::<i64>(&reader(&dir), "x"), (0..12).collect::<Vec<_>>());

    let before = fingerprint(&dir);
    let f64_rows = to_bytes(&[0.0f64; 3]);
    expect_err(
        s.append(
            "x",
            DType::F64,
            &Src::contiguous(&f64_rows, &[1, 3], 8).unwrap(),
        ),
        ErrorKind::DtypeMismatch,
        "\"x\"",
    );
    let four = to_bytes(&[0i64; 4]);
    expect_err(
        s.append(
            "x",
            DType::I64,
            &Src::contiguous(&four, &[1, 4], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "\"x\"",
    );
    expect_err(
        s.append("x", DType::I64, &Src::contiguous(&four, &[], 8).unwrap()),
        ErrorKind::ShapeMismatch,
        "\"x\"",
    );
    expect_err(
        s.append(
            "nope",
            DType::I64,
            &Src::contiguous(&rows, &[2, 3], 8).unwrap(),
        ),
        ErrorKind::NotFound,
        "\"nope\"",
    );
    save(&s, "scalar", &[], &[7i64]);
    let before_scalar = fingerprint(&dir);
    expect_err(
        s.append(
            "scalar",
            DType::I64,
            &Src::contiguous(&four, &[1], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "0-d",
    );
    assert_eq!(
        fingerprint(&dir),
        before_scalar,
        "a refused append writes nothing"
    );
    assert_ne!(before, before_scalar);
    assert_eq!(load::<i64>(&s, "x"), (0..12).collect::<Vec<_>>());

    // An empty array grows by appending.
    save::<i64>(&s, "e", &[0, 3], &[]);
    s.append(
        "e",
        DType::I64,
        &Src::contiguous(&rows, &[2, 3], 8).unwrap(),
    )
    .unwrap();
    assert_eq!(
        load_shaped::<i64>(&s, "e"),
        (vec![2, 3], (6..12).collect::<Vec<_>>())
    );
}

/// A (5, 3) float32 array "grid" with element (r, c) = 10 r + c.
fn grid(s: &Store) -> Vec<f32> {
    let g: Vec<f32> = (0..15).map(|i| (10 * (i / 3) + i % 3) as f32).collect();
    save(s, "grid", &[5, 3], &g);
    g
}

fn get_rows<T: common::Elem>(s: &Store, name: &str, idx: &[i64], row_len: u64) -> Vec<T> {
    let mut out = vec![0u8; idx.len() * row_len as usize * T::DTYPE.size()];
    s.get_rows(
        name,
        idx,
        T::DTYPE,
        &mut Dst::contiguous(&mut out, &[idx.len() as u64, row_len], T::DTYPE.size()).unwrap(),
    )
    .unwrap();
    common::from_bytes(&out)
}

#[test]
fn replace_rows_and_get_rows_take_negative_and_repeated_indices() {
    let dir = TempDir::new("rows");
    let s = writer(&dir);
    let mut g = grid(&s);
    let repl = to_bytes(&[100f32, 101., 102., 103., 104., 105.]);
    s.replace_rows(
        "grid",
        &[0, -1],
        DType::F32,
        &Src::contiguous(&repl, &[2, 3], 4).unwrap(),
    )
    .unwrap();
    g[0..3].copy_from_slice(&[100., 101., 102.]);
    g[12..15].copy_from_slice(&[103., 104., 105.]);
    assert_eq!(load::<f32>(&s, "grid"), g);
    assert_eq!(
        load::<f32>(&reader(&dir), "grid"),
        g,
        "rows are replaced in the file at once"
    );
    let minus5 = to_bytes(&[-1f32, -2., -3.]);
    s.replace_rows(
        "grid",
        &[-5],
        DType::F32,
        &Src::contiguous(&minus5, &[1, 3], 4).unwrap(),
    )
    .unwrap();
    g[0..3].copy_from_slice(&[-1., -2., -3.]);

    let got = get_rows::<f32>(&s, "grid", &[-1, 0, 2, 2], 3);
    let want: Vec<f32> = [4, 0, 2, 2]
        .iter()
        .flat_map(|&r| g[r * 3..r * 3 + 3].to_vec())
        .collect();
    assert_eq!(got, want);
    assert!(get_rows::<f32>(&s, "grid", &[], 3).is_empty());
}

#[test]
fn row_calls_refuse_bad_indices_shapes_and_dtypes_and_write_nothing() {
    let dir = TempDir::new("badrows");
    let s = writer(&dir);
    let g = grid(&s);
    let before = fingerprint(&dir);
    let one = to_bytes(&[9f32; 3]);
    let one_row = || Src::contiguous(&one, &[1, 3], 4).unwrap();
    let two = to_bytes(&[9f32; 6]);
    for bad in [5, -6, i64::MAX, i64::MIN] {
        expect_err(
            s.replace_rows("grid", &[bad], DType::F32, &one_row()),
            ErrorKind::InvalidArgument,
            "out of range",
        );
        let mut out = [0u8; 12];
        expect_err(
            s.get_rows(
                "grid",
                &[bad],
                DType::F32,
                &mut Dst::contiguous(&mut out, &[1, 3], 4).unwrap(),
            ),
            ErrorKind::InvalidArgument,
            "\"grid\"",
        );
    }
    expect_err(
        s.replace_rows(
            "grid",
            &[1, 7],
            DType::F32,
            &Src::contiguous(&two, &[2, 3], 4).unwrap(),
        ),
        ErrorKind::InvalidArgument,
        "7",
    );
    let wrong_shape = to_bytes(&[9f32; 8]);
    expect_err(
        s.replace_rows(
            "grid",
            &[0, 1],
            DType::F32,
            &Src::contiguous(&wrong_shape, &[2, 4], 4).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "\"grid\"",
    );
    expect_err(
        s.replace_rows("grid", &[0, 1], DType::F32, &one_row()),
        ErrorKind::ShapeMismatch,
        "\"grid\"",
    );
    let ints = to_bytes(&[9i32; 3]);
    expect_err(
        s.replace_rows(
            "grid",
            &[0],
            DType::I32,
            &Src::contiguous(&ints, &[1, 3], 4).unwrap(),
        ),
        ErrorKind::DtypeMismatch,
        "float32",
    );
    let mut out = [0u8; 24];
    expect_err(
        s.get_rows(
            "grid",
            &[0],
            DType::F32,
            &mut Dst::contiguous(&mut out, &[2, 3], 4).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "\"grid\"",
    );
    expect_err(
        s.get_rows(
            "grid",
            &[0],
            DType::I32,
            &mut Dst::contiguous(&mut out, &[1, 3], 4).unwrap(),
        ),
        ErrorKind::DtypeMismatch,
        "\"grid\"",
    );
    expect_err(
        s.replace_rows("nope", &[0], DType::F32, &one_row()),
        ErrorKind::NotFound,
        "\"nope\"",
    );
    assert_eq!(load::<f32>(&s, "grid"), g);
    assert_eq!(
        fingerprint(&dir),
        before,
        "a refused row call writes nothing"
    );

    save(&s, "scalar", &[], &[1.0f64]);
    let d = to_bytes(&[2.0f64]);
    expect_err(
        s.replace_rows(
            "scalar",
            &[0],
            DType::F64,
            &Src::contiguous(&d, &[1], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "0-d",
    );
    let mut out = [0u8; 8];
    expect_err(
        s.get_rows(
            "scalar",
            &[0],
            DType::F64,
            &mut Dst::contiguous(&mut out, &[1], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "0-d",
    );
    expect_err(s.drop_rows("scalar", &[0]), ErrorKind::ShapeMismatch, "0-d");
}

#[test]
fn drop_arrays_removes_all_named_arrays_or_none() {
    let dir = TempDir::new("drop");
    let s = writer(&dir);
    for n in ["a", "b", "c", "d"] {
        save(&s, n, &[3], &[1i8, 2, 3]);
    }
    s.drop_arrays(&["a"]).unwrap();
    assert!(!s.has("a") && !dir.join("data_a.npkd").exists());
    s.drop_arrays(&["b", "c"]).unwrap();
    assert_eq!(s.list(), vec!["d"]);
    assert!(!dir.join("data_b.npkd").exists() && !dir.join("data_c.npkd").exists());

    let before = fingerprint(&dir);
    expect_err(
        s.drop_arrays(&["d", "missing"]),
        ErrorKind::NotFound,
        "\"missing\"",
    );
    expect_err(s.drop_arrays(&["d", "a"]), ErrorKind::NotFound, "\"a\"");
    assert!(s.has("d"));
    assert_eq!(
        fingerprint(&dir),
        before,
        "nothing dropped when one is missing"
    );

    s.drop_rows("d", &[0]).unwrap();
    assert!(dir.join("deleted_d.npkb").exists());
    s.drop_arrays(&["d"]).unwrap();
    assert!(!dir.join("data_d.npkd").exists() && !dir.join("deleted_d.npkb").exists());
    assert!(reader(&dir).list().is_empty());

    // A dropped name is free again, with nothing of the old array (its dropped rows neither).
    save(&s, "d", &[2], &[5i8, 6]);
    assert_eq!(load_shaped::<i8>(&s, "d"), (vec![2], vec![5, 6]));
}

/// Rows of a (rows, 2) int64 array "rows" with row r = (100 r, 100 r + 1).
fn rows_of(rs: &[i64]) -> Vec<i64> {
    rs.iter().flat_map(|&r| [100 * r, 100 * r + 1]).collect()
}

#[test]
fn drop_rows_shrinks_the_logical_array_and_renumbers_its_rows() {
    let dir = TempDir::new("droprows");
    let s = writer(&dir);
    save(&s, "rows", &[10, 2], &rows_of(&(0..10).collect::<Vec<_>>()));
    s.drop_rows("rows", &[1, -1, 3]).unwrap();
    let live = [0, 2, 4, 5, 6, 7, 8];
    assert_eq!(load_shaped::<i64>(&s, "rows"), (vec![7, 2], rows_of(&live)));
    let info = s.info("rows").unwrap();
    assert_eq!((info.physical_rows, info.nbytes), (10, 7 * 16));
    assert_eq!(
        std::fs::metadata(dir.join("data_rows.npkd")).unwrap().len(),
        160,
        "the data file keeps every row until compacted"
    );
    let mut physical = vec![0u8; 160];
    expect_err(
        s.load(
            "rows",
            DType::I64,
            &mut Dst::contiguous(&mut physical, &[10, 2], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "\"rows\"",
    );
    assert_eq!(
        get_rows::<i64>(&s, "rows", &[0, 1, -1, -7], 2),
        rows_of(&[0, 2, 8, 0])
    );
    let before = fingerprint(&dir);
    for bad in [7, -8] {
        expect_err(
            s.drop_rows("rows", &[bad]),
            ErrorKind::InvalidArgument,
            "out of range",
        );
    }
    expect_err(s.drop_rows("nope", &[0]), ErrorKind::NotFound, "\"nope\"");
    assert_eq!(fingerprint(&dir), before);

    // The next drop counts live rows only: logical 0 is physical 0, then logical 1 (named
    // twice, once from the end) is physical 4.
    s.drop_rows("rows", &[0]).unwrap();
    s.drop_rows("rows", &[1, 1, -5]).unwrap();
    assert_eq!(load::<i64>(&s, "rows"), rows_of(&[2, 5, 6, 7, 8]));
    // Replacing by logical index writes the live row.
    let nine = to_bytes(&[999i64, 998]);
    s.replace_rows(
        "rows",
        &[1],
        DType::I64,
        &Src::contiguous(&nine, &[1, 2], 8).unwrap(),
    )
    .unwrap();
    // Appended rows are alive; the dropped ones stay dropped.
    let more = to_bytes(&rows_of(&[10, 11]));
    s.append(
        "rows",
        DType::I64,
        &Src::contiguous(&more, &[2, 2], 8).unwrap(),
    )
    .unwrap();
    let mut want = rows_of(&[2, 5, 6, 7, 8, 10, 11]);
    want[2..4].copy_from_slice(&[999, 998]);
    assert_eq!(load_shaped::<i64>(&s, "rows"), (vec![7, 2], want.clone()));
    assert_eq!(s.info("rows").unwrap().physical_rows, 12);
    assert_eq!(
        load::<i64>(&reader(&dir), "rows"),
        want,
        "a fresh reader agrees"
    );

    s.compact(Some("rows")).unwrap();
    let info = s.info("rows").unwrap();
    assert_eq!((info.physical_rows, info.shape.clone()), (7, vec![7, 2]));
    assert!(!dir.join("deleted_rows.npkb").exists());
    assert_eq!(
        std::fs::read(dir.join("data_rows.npkd")).unwrap(),
        to_bytes(&want)
    );
    assert_eq!(load::<i64>(&reader(&dir), "rows"), want);
}

#[test]
fn a_dropped_row_in_the_last_partial_word_stays_dropped_after_an_append() {
    // NumPack rewrites the bitmap's last word as alive on append; that must not revive rows.
    let dir = TempDir::new("tail");
    let s = writer(&dir);
    save(&s, "t", &[70], &(0..70i16).collect::<Vec<_>>());
    s.drop_rows("t", &[69]).unwrap();
    s.drop_rows("t", &[65]).unwrap();
    let extra = to_bytes(&[70i16]);
    s.append("t", DType::I16, &Src::contiguous(&extra, &[1], 2).unwrap())
        .unwrap();
    let want: Vec<i16> = (0..=70).filter(|&r| r != 65 && r != 69).collect();
    assert_eq!(load::<i16>(&s, "t"), want);
    assert_eq!(load::<i16>(&reader(&dir), "t"), want);
}

#[test]
fn compact_all_rewrites_only_the_arrays_with_dropped_rows() {
    let dir = TempDir::new("compactall");
    let s = writer(&dir);
    for n in ["a", "b", "c"] {
        save(&s, n, &[4], &[10u32, 11, 12, 13]);
    }
    s.drop_rows("a", &[1]).unwrap();
    s.drop_rows("b", &[1]).unwrap();
    let untouched = s.info("c").unwrap().modify_time_us;
    let c_file = std::fs::read(dir.join("data_c.npkd")).unwrap();
    wait_for_clock_past(untouched);
    s.compact(None).unwrap();
    for n in ["a", "b"] {
        assert_eq!(s.info(n).unwrap().physical_rows, 3, "{n}");
        assert_eq!(load::<u32>(&s, n), vec![10, 12, 13], "{n}");
        assert!(!dir.join(format!("deleted_{n}.npkb")).exists());
    }
    assert_eq!(s.info("c").unwrap().modify_time_us, untouched);
    assert_eq!(std::fs::read(dir.join("data_c.npkd")).unwrap(), c_file);
    // Nothing left to compact: nothing is written, not even the same catalogue again.
    let before = fingerprint(&dir);
    s.compact(Some("a")).unwrap();
    s.compact(None).unwrap();
    assert_eq!(fingerprint(&dir), before, "compact after compacting");
    expect_err(s.compact(Some("nope")), ErrorKind::NotFound, "\"nope\"");
}

#[test]
fn clone_copies_the_live_rows_into_an_independent_array() {
    let dir = TempDir::new("clone");
    let s = writer(&dir);
    let g = grid(&s);
    s.clone_array("grid", "copy").unwrap();
    assert_eq!(load::<f32>(&s, "copy"), g);
    let z = to_bytes(&[42f32, 43., 44.]);
    s.replace_rows(
        "grid",
        &[0],
        DType::F32,
        &Src::contiguous(&z, &[1, 3], 4).unwrap(),
    )
    .unwrap();
    assert_eq!(
        load::<f32>(&s, "copy"),
        g,
        "the copy does not follow its source"
    );

    let before = fingerprint(&dir);
    expect_err(
        s.clone_array("grid", "copy"),
        ErrorKind::AlreadyExists,
        "\"copy\"",
    );
    expect_err(
        s.clone_array("grid", "grid"),
        ErrorKind::AlreadyExists,
        "\"grid\"",
    );
    expect_err(
        s.clone_array("missing", "target"),
        ErrorKind::NotFound,
        "\"missing\"",
    );
    assert!(!s.has("target"));
    assert_eq!(fingerprint(&dir), before);

    save(&s, "holes", &[6], &[0i32, 1, 2, 3, 4, 5]);
    s.drop_rows("holes", &[0, 3]).unwrap();
    s.clone_array("holes", "holes_copy").unwrap();
    let info = s.info("holes_copy").unwrap();
    assert_eq!((info.shape.clone(), info.physical_rows), (vec![4], 4));
    assert_eq!(load::<i32>(&s, "holes_copy"), vec![1, 2, 4, 5]);
    assert!(!dir.join("deleted_holes_copy.npkb").exists());
    assert!(
        dir.join("deleted_holes.npkb").exists(),
        "the source keeps its bitmap"
    );

    save(&s, "scalar", &[], &[3.5f64]);
    save::<u16>(&s, "empty", &[0, 4], &[]);
    s.clone_array("scalar", "scalar_copy").unwrap();
    s.clone_array("empty", "empty_copy").unwrap();
    assert_eq!(load_shaped::<f64>(&s, "scalar_copy"), (vec![], vec![3.5]));
    assert_eq!(load_shaped::<u16>(&s, "empty_copy"), (vec![0, 4], vec![]));
    assert_eq!(load::<i32>(&reader(&dir), "holes_copy"), vec![1, 2, 4, 5]);
}

#[test]
fn has_list_and_info_describe_the_logical_arrays() {
    let dir = TempDir::new("catalogue");
    let s = writer(&dir);
    assert!(s.list().is_empty());
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    for n in ["b", "a", "c"] {
        save(&s, n, &[4, 2], &[0u16; 8]);
    }
    assert_eq!(s.list(), vec!["a", "b", "c"], "sorted by name");
    assert!(s.has("a") && !s.has("zz") && !s.has("a/b"));
    s.drop_rows("b", &[0, 1]).unwrap();
    let info = s.info("b").unwrap();
    assert_eq!(
        (
            info.dtype,
            info.shape.clone(),
            info.nbytes,
            info.physical_rows
        ),
        (DType::U16, vec![2, 2], 8, 4)
    );
    assert!(
        info.modify_time_us >= t0,
        "a modify time in microseconds since the epoch"
    );
    expect_err(s.info("zz"), ErrorKind::NotFound, "\"zz\"");
    expect_err(s.info(""), ErrorKind::InvalidArgument, "empty");

    // A read-only view shows the same logical array: mapped when it can be, a copy of the live
    // rows when rows were dropped.
    let plain = s.view("a").unwrap();
    assert!(plain.is_mapped());
    assert_eq!(
        (plain.dtype, plain.shape.clone(), plain.len()),
        (DType::U16, vec![4, 2], 16)
    );
    let holes = s.view("b").unwrap();
    assert!(!holes.is_mapped());
    assert_eq!((holes.shape.clone(), holes.len()), (vec![2, 2], 8));
}

#[test]
fn a_reader_keeps_its_state_until_refresh_shows_the_writers_commits() {
    let dir = TempDir::new("refresh");
    let w = writer(&dir);
    save(&w, "old", &[2], &[1i32, 2]);
    let r = reader(&dir);
    save(&w, "new", &[3], &[7i32, 8, 9]);
    w.drop_arrays(&["old"]).unwrap();
    assert!(
        w.has("new") && !w.has("old"),
        "a writer sees its own commits at once"
    );
    assert!(!r.has("new"));
    assert_eq!(
        load::<i32>(&r, "old"),
        vec![1, 2],
        "until refresh, a reader reads the state it opened, even a dropped array"
    );
    r.refresh().unwrap();
    assert_eq!(r.list(), vec!["new"]);
    assert_eq!(load::<i32>(&r, "new"), vec![7, 8, 9]);
    w.refresh().unwrap();
    assert_eq!(w.list(), vec!["new"]);
}

#[test]
fn a_read_only_handle_refuses_every_write_and_writes_nothing() {
    let dir = TempDir::new("readonly");
    {
        let w = writer(&dir);
        save(&w, "x", &[2, 2], &[1i32, 2, 3, 4]);
        w.drop_rows("x", &[0]).unwrap();
    }
    let before = fingerprint(&dir);
    let r = reader(&dir);
    assert!(r.is_read_only());
    let row = to_bytes(&[5i32, 6]);
    let src = || Src::contiguous(&row, &[1, 2], 4).unwrap();
    let attempts: Vec<(&str, numpack::Result<()>)> = vec![
        ("save", r.save("y", DType::I32, &src())),
        ("append", r.append("x", DType::I32, &src())),
        (
            "replace_rows",
            r.replace_rows("x", &[0], DType::I32, &src()),
        ),
        ("drop_arrays", r.drop_arrays(&["x"])),
        ("drop_rows", r.drop_rows("x", &[0])),
        ("compact one", r.compact(Some("x"))),
        ("compact all", r.compact(None)),
        ("clone", r.clone_array("x", "y")),
        ("cache batch", CacheBatch::begin(&r, 0).map(drop)),
        ("writable batch", WritableBatch::begin(&r).map(drop)),
    ];
    for (what, result) in attempts {
        assert_eq!(kind(result), ErrorKind::ReadOnly, "{what}");
    }
    assert_eq!(load_shaped::<i32>(&r, "x"), (vec![1, 2], vec![3, 4]));
    drop(r);
    assert_eq!(fingerprint(&dir), before);
}

#[test]
fn open_says_why_it_cannot_open() {
    let dir = TempDir::new("open");
    let both = OpenOptions {
        create: true,
        read_only: true,
        ..Default::default()
    };
    assert_eq!(
        kind(Store::open(dir.join("s"), both)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Store::open(dir.join("missing"), OpenOptions::default())),
        ErrorKind::NotFound
    );
    // An existing directory that is not a store: refused, and left as it was.
    std::fs::create_dir(dir.join("plain")).unwrap();
    expect_err(
        Store::open(dir.join("plain"), OpenOptions::default()),
        ErrorKind::NotFound,
        "not a NumPack store",
    );
    assert!(
        file_names(&dir.join("plain")).is_empty(),
        "no lock file left behind"
    );
    std::fs::write(dir.join("file"), b"x").unwrap();
    assert_eq!(
        kind(Store::open(dir.join("file"), OpenOptions::default())),
        ErrorKind::InvalidArgument
    );

    // One writer at a time; readers alongside it.
    let store = dir.join("s");
    let w = writer(&store);
    assert_eq!(
        kind(Store::open(&store, OpenOptions::default())),
        ErrorKind::Locked
    );
    let r = reader(&store);
    drop(w);
    let w2 = writer(&store);
    drop((r, w2));
}

#[test]
fn bad_names_are_refused_before_any_file_is_touched() {
    let dir = TempDir::new("names");
    let s = writer(&dir);
    save(&s, "x", &[2], &[1u8, 2]);
    let long = "n".repeat(240);
    let before = fingerprint(&dir);
    let one = [0u8; 1];
    let src = || Src::contiguous(&one, &[1], 1).unwrap();
    for bad in [
        "",
        "a/b",
        "..",
        ".",
        "a\\b",
        "a\0b",
        "tab\there",
        long.as_str(),
    ] {
        let mut out = [0u8; 1];
        let calls: Vec<(&str, numpack::Result<()>)> = vec![
            ("save", s.save(bad, DType::U8, &src())),
            ("info", s.info(bad).map(drop)),
            (
                "load",
                s.load(
                    bad,
                    DType::U8,
                    &mut Dst::contiguous(&mut out, &[1], 1).unwrap(),
                ),
            ),
            ("append", s.append(bad, DType::U8, &src())),
            ("replace_rows", s.replace_rows(bad, &[0], DType::U8, &src())),
            (
                "get_rows",
                s.get_rows(
                    bad,
                    &[0],
                    DType::U8,
                    &mut Dst::contiguous(&mut out, &[1], 1).unwrap(),
                ),
            ),
            ("drop_arrays", s.drop_arrays(&["x", bad])),
            ("drop_rows", s.drop_rows(bad, &[0])),
            ("compact", s.compact(Some(bad))),
            ("clone from", s.clone_array(bad, "y")),
            ("clone to", s.clone_array("x", bad)),
            ("view", s.view(bad).map(drop)),
        ];
        for (what, result) in calls {
            assert_eq!(
                kind(result),
                ErrorKind::InvalidArgument,
                "{what} of {bad:?}"
            );
        }
        assert!(!s.has(bad));
    }
    assert_eq!(fingerprint(&dir), before);
    assert!(s.has("x"), "the all-or-nothing drop kept x");
    let longest = "n".repeat(239);
    save(&s, &longest, &[1], &[9u8]);
    assert_eq!(load::<u8>(&reader(&dir), &longest), vec![9]);
}

#[test]
fn loads_and_saves_refuse_buffers_that_do_not_match() {
    let dir = TempDir::new("mismatch");
    let s = writer(&dir);
    save(&s, "x", &[2, 3], &[1.0f64; 6]);
    let before = fingerprint(&dir);
    let mut out = vec![0u8; 48];
    expect_err(
        s.load(
            "x",
            DType::F32,
            &mut Dst::contiguous(&mut out, &[2, 6], 4).unwrap(),
        ),
        ErrorKind::DtypeMismatch,
        "float64",
    );
    expect_err(
        s.load(
            "x",
            DType::F64,
            &mut Dst::contiguous(&mut out, &[3, 2], 8).unwrap(),
        ),
        ErrorKind::ShapeMismatch,
        "[2, 3]",
    );
    expect_err(
        s.load(
            "nope",
            DType::F64,
            &mut Dst::contiguous(&mut out, &[2, 3], 8).unwrap(),
        ),
        ErrorKind::NotFound,
        "\"nope\"",
    );
    // A buffer whose item size is not the dtype's.
    let ints = to_bytes(&[0i32; 12]);
    expect_err(
        s.save(
            "x",
            DType::F64,
            &Src::contiguous(&ints, &[2, 6], 4).unwrap(),
        ),
        ErrorKind::InvalidArgument,
        "float64",
    );
    // Buffers too short for their shape cannot even be described.
    assert_eq!(
        kind(Src::contiguous(&ints[..40], &[2, 3], 8)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Dst::contiguous(&mut out[..40], &[2, 3], 8)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(fingerprint(&dir), before);
    assert_eq!(load::<f64>(&s, "x"), vec![1.0; 6]);
}

#[test]
fn compact_with_nothing_to_compact_writes_nothing() {
    let dir = TempDir::new("compactnoop");
    let s = writer(&dir);
    save(&s, "c", &[4], &[1u32, 2, 3, 4]);
    let before = fingerprint(&dir);
    s.compact(Some("c")).unwrap();
    assert_eq!(
        fingerprint(&dir),
        before,
        "compact of an array without dropped rows"
    );
    s.compact(None).unwrap();
    assert_eq!(
        fingerprint(&dir),
        before,
        "compact of a store with nothing to compact"
    );
}

#[test]
fn a_buffer_shorter_than_its_layout_cannot_be_described() {
    // Src and Dst come only from constructors that check the buffer holds every element the
    // layout reaches, so no call indexes past a caller's buffer.
    let short = [0u8; 8];
    let mut out = [0u8; 8];
    for strides in [None, Some(&[8i64, 24][..])] {
        let layout = || Layout::new(&[3, 4], strides, 8).unwrap();
        expect_err(
            Src::new(&short, 0, layout()),
            ErrorKind::InvalidArgument,
            "buffer of 8 bytes",
        );
        expect_err(
            Dst::new(&mut out, 0, layout()),
            ErrorKind::InvalidArgument,
            "buffer of 8 bytes",
        );
    }
    // Negative strides reach before element 0: `origin` must leave room for them.
    let reversed = || Layout::new(&[3], Some(&[-8]), 8).unwrap();
    let three = to_bytes(&[1.0f64, 2.0, 3.0]);
    assert_eq!(
        kind(Src::new(&three, 0, reversed())),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Src::new(&three, 24, reversed())),
        ErrorKind::InvalidArgument
    );
    let dir = TempDir::new("shortbuf");
    let s = writer(&dir);
    s.save("r", DType::F64, &Src::new(&three, 16, reversed()).unwrap())
        .unwrap();
    assert_eq!(load::<f64>(&s, "r"), vec![3.0, 2.0, 1.0]);
}

#[test]
fn a_destination_whose_item_size_is_not_the_dtypes_is_refused() {
    let dir = TempDir::new("dstitem");
    let s = writer(&dir);
    save(&s, "x", &[2], &[1.0f64, 2.0]);
    // Three bytes hold this layout of two 1-byte items, but not two float64 rows.
    let mut out = [0u8; 3];
    let mut dst = Dst::new(&mut out, 0, Layout::new(&[2], Some(&[2]), 1).unwrap()).unwrap();
    expect_err(
        s.load("x", DType::F64, &mut dst),
        ErrorKind::InvalidArgument,
        "item size 1",
    );
    expect_err(
        s.get_rows("x", &[1, 0], DType::F64, &mut dst),
        ErrorKind::InvalidArgument,
        "item size 1",
    );
    assert_eq!(out, [0; 3]);
}

/// Rows are copied out of the store's cached mapping of the data file, which faults (SIGBUS,
/// killing this test) where the file was cut short. A cut anywhere must make the next get
/// report the array corrupt, from a writer's and a reader's handle, into C-order and Fortran-order
/// buffers, with the mapping made and its pages touched before the cut: rows past the cut (whose
/// pages are gone) and rows before it (whose page survives) alike.
#[test]
fn a_data_file_cut_short_behind_the_store_makes_row_gets_corrupt() {
    let dir = TempDir::new("rows-cut-short");
    let s = writer(&dir);
    let values: Vec<f64> = (0..4000 * 4).map(|i| i as f64).collect();
    save(&s, "a", &[4000, 4], &values);
    let r = reader(&dir);
    let idx = [3999i64, 0, 1000];
    // Element (i, c) of a (3, 4) Fortran-order buffer sits at c * 3 + i.
    let fortran = Layout::new(&[3, 4], Some(&[8, 24]), 8).unwrap();
    let get = |h: &Store, idx: &[i64], c_order: bool| {
        let mut out = vec![0u8; idx.len() * 32];
        let layout = if c_order {
            Layout::new(&[idx.len() as u64, 4], None, 8).unwrap()
        } else {
            fortran.clone()
        };
        h.get_rows(
            "a",
            idx,
            DType::F64,
            &mut Dst::new(&mut out, 0, layout).unwrap(),
        )
        .map(|()| common::from_bytes::<f64>(&out))
    };
    for h in [&s, &r] {
        assert_eq!(
            get(h, &idx, true).unwrap()[..5],
            [15996., 15997., 15998., 15999., 0.]
        );
        assert_eq!(
            get(h, &idx, false).unwrap()[..4],
            [15996., 0., 4000., 15997.]
        );
    }
    // 2,000 rows and a half stay: row 1000 keeps its page, row 3999 loses it.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("data_a.npkd"))
        .unwrap();
    file.set_len(2000 * 32 + 16).unwrap();
    for h in [&s, &r] {
        for idx in [&idx[..], &[1000], &[0]] {
            for c_order in [true, false] {
                if idx.len() != 3 && !c_order {
                    continue;
                }
                let got = get(h, idx, c_order);
                let e = got.expect_err("a get from a truncated file succeeded");
                assert_eq!(e.kind, ErrorKind::Corrupt, "{}", e.message);
                assert!(
                    e.message.contains("data_a.npkd") && e.message.contains("truncated"),
                    "{}",
                    e.message
                );
            }
        }
    }
}

/// Rows of every width from 1 to 136 bytes (the gather loop has its own copy for common widths
/// and a general one for the rest), with and without dropped rows, by positive, negative and
/// repeated indices, come back as the rows of a full load.
#[test]
fn row_gets_of_every_row_width_match_the_loaded_rows() {
    let dir = TempDir::new("row-widths");
    let s = writer(&dir);
    let rows = 37u64;
    // In range with or without the two dropped rows.
    let idx = [0i64, 34, -1, 5, -35, 5, 20, -20];
    for width in 1..=136u64 {
        let values: Vec<u8> = (0..rows * width).map(|i| (i * 7 + width) as u8).collect();
        save(&s, "w", &[rows, width], &values);
        for dropped in [false, true] {
            if dropped {
                s.drop_rows("w", &[3, -2]).unwrap();
            }
            let full: Vec<u8> = load(&s, "w");
            let n = (full.len() as u64 / width) as i64;
            let want: Vec<u8> = idx
                .iter()
                .map(|&i| (i.rem_euclid(n) * width as i64) as usize)
                .flat_map(|at| full[at..at + width as usize].to_vec())
                .collect();
            assert_eq!(
                get_rows::<u8>(&s, "w", &idx, width),
                want,
                "width {width}, dropped {dropped}"
            );
        }
    }
}
