//! Sized arrays (`Store::create`) and block (hyperslab) I/O (`read_block`, `write_block`)
//! through the Rust core: every dtype and several ranks, strided buffers, dropped rows, empty
//! blocks, fill values, sparse files, segmented arrays, and each way a call can be refused
//! (kind, message naming the dimension, and nothing written).

mod common;

use std::os::unix::fs::MetadataExt;

use common::{
    fill_leaving, fingerprint, load, load_bytes, mount_tmpfs, pattern, reader, save,
    segmented_store, umount, wait_for_clock_past, writer, TempDir,
};
use numpack::layout::{Dst, Layout, Src};
use numpack::{DType, ErrorKind, OpenOptions, Store};

/// The error of a call, after checking its kind and that its message holds every `needles`.
fn expect_err<T>(r: numpack::Result<T>, want: ErrorKind, needles: &[&str]) {
    match r {
        Ok(_) => panic!("the call succeeded; {want:?} was expected"),
        Err(e) => {
            assert_eq!(e.kind, want, "{}", e.message);
            for n in needles {
                assert!(
                    e.message.contains(n),
                    "the message should name {n:?}: {}",
                    e.message
                );
            }
        }
    }
}

/// Byte offsets (from element 0) of every element of a buffer of `shape` with `strides`, in C
/// order: the reference the tests lay out strided buffers with.
fn offsets(shape: &[u64], strides: &[i64]) -> Vec<i64> {
    let n: u64 = shape.iter().product();
    (0..n)
        .map(|mut k| {
            let mut off = 0;
            for d in (0..shape.len()).rev() {
                off += (k % shape[d]) as i64 * strides[d];
                k /= shape[d];
            }
            off
        })
        .collect()
}

/// C-order indices (into the whole array) of the elements of a block, in the block's C order.
fn block_indices(shape: &[u64], offset: &[u64], count: &[u64]) -> Vec<usize> {
    let c_elem = |s: &[u64]| -> Vec<i64> {
        let mut st = vec![1i64; s.len()];
        for d in (0..s.len().saturating_sub(1)).rev() {
            st[d] = st[d + 1] * s[d + 1] as i64;
        }
        st
    };
    let start: i64 = offset
        .iter()
        .zip(c_elem(shape))
        .map(|(&o, s)| o as i64 * s)
        .sum();
    offsets(count, &c_elem(shape))
        .into_iter()
        .map(|o| (start + o) as usize)
        .collect()
}

/// The block of `full` (C-order bytes of an array of `shape`), C order.
fn block_of(full: &[u8], shape: &[u64], offset: &[u64], count: &[u64], item: usize) -> Vec<u8> {
    block_indices(shape, offset, count)
        .into_iter()
        .flat_map(|i| full[i * item..(i + 1) * item].to_vec())
        .collect()
}

/// Writes `block` (C order) into `full` at `offset`, as `write_block` should.
fn put_block(full: &mut [u8], shape: &[u64], offset: &[u64], count: &[u64], block: &[u8]) {
    let item = block.len() / count.iter().product::<u64>().max(1) as usize;
    for (k, i) in block_indices(shape, offset, count).into_iter().enumerate() {
        full[i * item..(i + 1) * item].copy_from_slice(&block[k * item..(k + 1) * item]);
    }
}

/// A buffer holding the C-order bytes `c` laid out with `strides`; returns it and the position
/// of element 0 in it.
fn lay_out(c: &[u8], shape: &[u64], strides: &[i64], item: usize) -> (Vec<u8>, usize) {
    let offs = offsets(shape, strides);
    let lo = offs.iter().copied().min().unwrap_or(0).min(0);
    let hi = offs.iter().copied().max().unwrap_or(0) + item as i64;
    let mut buf = vec![0xEEu8; (hi - lo) as usize];
    for (k, o) in offs.iter().enumerate() {
        let at = (o - lo) as usize;
        buf[at..at + item].copy_from_slice(&c[k * item..(k + 1) * item]);
    }
    (buf, (-lo) as usize)
}

/// The C-order bytes of a strided buffer (the inverse of `lay_out`).
fn gather(buf: &[u8], origin: usize, shape: &[u64], strides: &[i64], item: usize) -> Vec<u8> {
    offsets(shape, strides)
        .into_iter()
        .flat_map(|o| {
            let at = (origin as i64 + o) as usize;
            buf[at..at + item].to_vec()
        })
        .collect()
}

fn fortran_strides(shape: &[u64], item: usize) -> Vec<i64> {
    let mut acc = item as i64;
    shape
        .iter()
        .map(|&n| {
            let s = acc;
            acc *= n.max(1) as i64;
            s
        })
        .collect()
}

fn c_strides(shape: &[u64], item: usize) -> Vec<i64> {
    numpack::layout::c_strides(shape, item)
}

fn read_block_bytes(s: &Store, name: &str, dtype: DType, offset: &[u64], count: &[u64]) -> Vec<u8> {
    let n = count.iter().product::<u64>() as usize * dtype.size();
    let mut out = vec![0u8; n];
    s.read_block(
        name,
        dtype,
        offset,
        &mut Dst::contiguous(&mut out, count, dtype.size()).unwrap(),
    )
    .unwrap();
    out
}

fn write_block_bytes(s: &Store, name: &str, dtype: DType, offset: &[u64], count: &[u64], b: &[u8]) {
    s.write_block(
        name,
        dtype,
        offset,
        &Src::contiguous(b, count, dtype.size()).unwrap(),
    )
    .unwrap();
}

fn rank32() -> Vec<u64> {
    let mut shape = vec![1u64; 29];
    shape.extend([3, 2, 4]);
    shape
}

/// A block: offset and count.
type BlockSpec = (Vec<u64>, Vec<u64>);

/// Per shape: blocks that take whole rows, part of rows, single elements and the whole array.
fn cases() -> Vec<(Vec<u64>, Vec<BlockSpec>)> {
    let r32 = rank32();
    let at = |tail: [u64; 3]| {
        let mut v = vec![0u64; 29];
        v.extend(tail);
        v
    };
    let mut count32 = vec![1u64; 29];
    count32.extend([2, 1, 3]);
    vec![
        (vec![], vec![(vec![], vec![])]),
        (
            vec![9],
            vec![(vec![2], vec![5]), (vec![8], vec![1]), (vec![0], vec![9])],
        ),
        (
            vec![7, 5],
            vec![
                (vec![2, 0], vec![3, 5]),
                (vec![1, 1], vec![4, 3]),
                (vec![6, 4], vec![1, 1]),
                (vec![0, 2], vec![7, 1]),
            ],
        ),
        (
            vec![4, 3, 5, 2],
            vec![
                (vec![1, 0, 0, 0], vec![2, 3, 5, 2]),
                (vec![0, 1, 2, 0], vec![4, 2, 3, 2]),
                (vec![1, 0, 1, 1], vec![3, 3, 2, 1]),
            ],
        ),
        (r32, vec![(at([0, 1, 1]), count32)]),
    ]
}

#[test]
fn every_dtype_and_rank_round_trips_blocks_in_a_created_array() {
    let dir = TempDir::new("roundtrip");
    let s = writer(&dir);
    for (di, &dtype) in DType::ALL.iter().enumerate() {
        let item = dtype.size();
        for (si, (shape, blocks)) in cases().into_iter().enumerate() {
            let name = format!("{dtype}_{si}");
            s.create(&name, dtype, &shape, None).unwrap();
            let n = shape.iter().product::<u64>() as usize * item;
            let mut want = vec![0u8; n];
            assert_eq!(
                load_bytes(&s, &name),
                want,
                "{name}: a created array reads as zeros"
            );
            for (bi, (offset, count)) in blocks.iter().enumerate() {
                let len = count.iter().product::<u64>() as usize * item;
                let values = pattern(dtype, len, di * 100 + si * 10 + bi);
                write_block_bytes(&s, &name, dtype, offset, count, &values);
                put_block(&mut want, &shape, offset, count, &values);
                assert_eq!(load_bytes(&s, &name), want, "{name} block {bi}");
                assert_eq!(read_block_bytes(&s, &name, dtype, offset, count), values);
            }
            // Every block again against the final content (each overlaps later writes).
            for (offset, count) in &blocks {
                assert_eq!(
                    read_block_bytes(&s, &name, dtype, offset, count),
                    block_of(&want, &shape, offset, count, item),
                    "{name} {offset:?} {count:?}"
                );
            }
        }
    }
    // A fresh reader sees the same: the writes went to the files.
    drop(s);
    let r = reader(&dir);
    let (shape, blocks) = cases().swap_remove(2);
    let (offset, count) = &blocks[1];
    let got = read_block_bytes(&r, "float64_2", DType::F64, offset, count);
    let full = load_bytes(&r, "float64_2");
    assert_eq!(got, block_of(&full, &shape, offset, count, 8));
    assert_ne!(got, vec![0u8; got.len()]);
}

#[test]
fn strided_fortran_and_reversed_buffers_read_and_write_blocks() {
    let dir = TempDir::new("strided");
    let s = writer(&dir);
    let shape = [6u64, 5, 4];
    let item = 4;
    let full: Vec<u8> = pattern(DType::I32, 120 * item, 3);
    s.save(
        "a",
        DType::I32,
        &Src::contiguous(&full, &shape, item).unwrap(),
    )
    .unwrap();
    let mut want = full.clone();
    for (offset, count) in [
        ([1u64, 0, 0], [4u64, 5, 4]), // whole rows
        ([0, 1, 1], [6, 3, 2]),       // part of each row
        ([2, 4, 0], [3, 1, 4]),
    ] {
        let c_rev = {
            let mut st = c_strides(&count, item);
            st[0] = -st[0];
            st
        };
        let mut fortran_rev = fortran_strides(&count, item);
        fortran_rev[1] = -fortran_rev[1];
        for strides in [fortran_strides(&count, item), c_rev, fortran_rev] {
            // Read into the strided buffer: its elements, gathered, are the block.
            let n = count.iter().product::<u64>() as usize * item;
            let (mut buf, origin) = lay_out(&vec![0u8; n], &count, &strides, item);
            let layout = Layout::new(&count, Some(&strides), item).unwrap();
            s.read_block(
                "a",
                DType::I32,
                &offset,
                &mut Dst::new(&mut buf, origin, layout.clone()).unwrap(),
            )
            .unwrap();
            assert_eq!(
                gather(&buf, origin, &count, &strides, item),
                block_of(&want, &shape, &offset, &count, item),
                "read {offset:?} {count:?} with strides {strides:?}"
            );
            // Write new values from a buffer of the same layout.
            let values = pattern(
                DType::I32,
                n,
                strides[0].unsigned_abs() as usize + offset[1] as usize,
            );
            let (src, origin) = lay_out(&values, &count, &strides, item);
            s.write_block(
                "a",
                DType::I32,
                &offset,
                &Src::new(&src, origin, layout).unwrap(),
            )
            .unwrap();
            put_block(&mut want, &shape, &offset, &count, &values);
            assert_eq!(
                load_bytes(&s, "a"),
                want,
                "write {offset:?} {count:?} {strides:?}"
            );
        }
    }
}

#[test]
fn blocks_larger_than_the_copy_chunk_go_through_in_pieces() {
    // 2200 x 1024 float64 is 17.6 MB: strided buffers are copied through 8 MiB chunks.
    let dir = TempDir::new("chunks");
    let s = writer(&dir);
    let shape = [2200u64, 1024];
    s.create("big", DType::F64, &shape, None).unwrap();
    let mut want = vec![0u8; 2200 * 1024 * 8];
    for (offset, count) in [([5u64, 0u64], [2100u64, 1024u64]), ([7, 3], [2150, 1000])] {
        let n = (count[0] * count[1]) as usize * 8;
        let values = pattern(DType::F64, n, offset[1] as usize);
        let strides = fortran_strides(&count, 8);
        let layout = Layout::new(&count, Some(&strides), 8).unwrap();
        let (src, origin) = lay_out(&values, &count, &strides, 8);
        s.write_block(
            "big",
            DType::F64,
            &offset,
            &Src::new(&src, origin, layout.clone()).unwrap(),
        )
        .unwrap();
        put_block(&mut want, &shape, &offset, &count, &values);
        let mut back = vec![0u8; src.len()];
        s.read_block(
            "big",
            DType::F64,
            &offset,
            &mut Dst::new(&mut back, origin, layout).unwrap(),
        )
        .unwrap();
        assert_eq!(gather(&back, origin, &count, &strides, 8), values);
    }
    assert!(
        load_bytes(&s, "big") == want,
        "the whole array after two chunked writes"
    );
}

#[test]
fn blocks_number_rows_logically_across_dropped_rows() {
    let dir = TempDir::new("dropped");
    let s = writer(&dir);
    // 10 x 3 int32, element (r, c) = 10 r + c; rows 2, 5 and 6 dropped: live rows 0 1 3 4 7 8 9.
    let values: Vec<i32> = (0..10)
        .flat_map(|r| (0..3).map(move |c| 10 * r + c))
        .collect();
    save(&s, "x", &[10, 3], &values);
    s.drop_rows("x", &[2, 5, 6]).unwrap();
    let i32s = |b: Vec<u8>| common::from_bytes::<i32>(&b);

    let got = i32s(read_block_bytes(&s, "x", DType::I32, &[1, 0], &[4, 3]));
    assert_eq!(got, [10, 11, 12, 30, 31, 32, 40, 41, 42, 70, 71, 72]);
    let got = i32s(read_block_bytes(&s, "x", DType::I32, &[2, 1], &[3, 2]));
    assert_eq!(got, [31, 32, 41, 42, 71, 72]);
    // Into a reversed buffer, across the gap.
    let layout = Layout::new(&[3, 3], Some(&[-12, 4]), 4).unwrap();
    let mut buf = vec![0u8; 36];
    s.read_block(
        "x",
        DType::I32,
        &[3, 0],
        &mut Dst::new(&mut buf, 24, layout).unwrap(),
    )
    .unwrap();
    assert_eq!(i32s(buf), [80, 81, 82, 70, 71, 72, 40, 41, 42]);

    // The logical shape bounds the block: 7 live rows, not 10 physical.
    expect_err(
        s.read_block(
            "x",
            DType::I32,
            &[5, 0],
            &mut Dst::contiguous(&mut [0u8; 36], &[3, 3], 4).unwrap(),
        ),
        ErrorKind::InvalidArgument,
        &["dimension 0: offset 5 + count 3 exceeds 7"],
    );

    // A write across the gap lands on live rows 4, 7 and 8; the dropped rows keep their bytes.
    let new: Vec<i32> = (0..6).map(|i| -1 - i).collect();
    write_block_bytes(
        &s,
        "x",
        DType::I32,
        &[3, 1],
        &[3, 2],
        &common::to_bytes(&new),
    );
    assert_eq!(
        load::<i32>(&s, "x"),
        [0, 1, 2, 10, 11, 12, 30, 31, 32, 40, -1, -2, 70, -3, -4, 80, -5, -6, 90, 91, 92]
    );
    let raw = std::fs::read(dir.join("data_x.npkd")).unwrap();
    let physical = common::from_bytes::<i32>(&raw);
    assert_eq!(&physical[6..9], &[20, 21, 22]);
    assert_eq!(&physical[15..21], &[50, 51, 52, 60, 61, 62]);
}

#[test]
fn empty_blocks_do_nothing_but_their_bounds_are_checked() {
    let dir = TempDir::new("empty");
    let s = writer(&dir);
    save(&s, "x", &[4, 3], &[1.5f64; 12]);
    drop(s);
    let s = writer(&dir);
    let before = fingerprint(&dir);
    let time = s.info("x").unwrap().modify_time_us;
    for (offset, count) in [
        ([4u64, 0u64], [0u64, 3u64]),
        ([0, 3], [4, 0]),
        ([2, 1], [0, 0]),
    ] {
        s.write_block(
            "x",
            DType::F64,
            &offset,
            &Src::contiguous(&[], &count, 8).unwrap(),
        )
        .unwrap();
        s.read_block(
            "x",
            DType::F64,
            &offset,
            &mut Dst::contiguous(&mut [], &count, 8).unwrap(),
        )
        .unwrap();
    }
    assert_eq!(
        s.info("x").unwrap().modify_time_us,
        time,
        "writing nothing is no change"
    );
    drop(s);
    assert_eq!(fingerprint(&dir), before);
    let s = writer(&dir);
    expect_err(
        s.write_block(
            "x",
            DType::F64,
            &[5, 0],
            &Src::contiguous(&[], &[0, 3], 8).unwrap(),
        ),
        ErrorKind::InvalidArgument,
        &["dimension 0: offset 5 + count 0 exceeds 4"],
    );
}

/// Every refused block call: its kind, its message, and a directory left exactly as it was.
#[test]
fn bad_blocks_are_refused_naming_the_dimension_and_write_nothing() {
    let dir = TempDir::new("errors");
    let s = writer(&dir);
    save(&s, "x", &[4, 3], &[7i32; 12]);
    save(&s, "z", &[], &[5i32]);
    drop(s);
    let s = writer(&dir);
    let before = fingerprint(&dir);
    let row = [0u8; 24];
    let src = |count: &[u64]| {
        Src::contiguous(&row[..count.iter().product::<u64>() as usize * 4], count, 4).unwrap()
    };
    let w = |offset: &[u64], count: &[u64]| s.write_block("x", DType::I32, offset, &src(count));
    expect_err(
        w(&[0, 1], &[2, 3]),
        ErrorKind::InvalidArgument,
        &[
            "\"x\"",
            "dimension 1: offset 1 + count 3 exceeds 3",
            "[4, 3]",
        ],
    );
    expect_err(
        w(&[3, 0], &[2, 3]),
        ErrorKind::InvalidArgument,
        &["dimension 0: offset 3 + count 2 exceeds 4"],
    );
    expect_err(
        w(&[u64::MAX, 0], &[1, 3]),
        ErrorKind::InvalidArgument,
        &["dimension 0: offset 18446744073709551615 + count 1 overflows"],
    );
    expect_err(
        w(&[0, u64::MAX - 1], &[1, 2]),
        ErrorKind::InvalidArgument,
        &["dimension 1:", "overflows"],
    );
    expect_err(
        w(&[0, 0, 0], &[1, 3, 1]),
        ErrorKind::InvalidArgument,
        &["rank 2", "rank 3"],
    );
    expect_err(
        w(&[0], &[1, 3]),
        ErrorKind::InvalidArgument,
        &["offset has 1 entries, the count 2"],
    );
    expect_err(
        s.write_block("z", DType::I32, &[0], &src(&[1])),
        ErrorKind::InvalidArgument,
        &["rank 0", "rank 1"],
    );
    expect_err(
        s.write_block("x", DType::F32, &[0, 0], &src(&[1, 3])),
        ErrorKind::DtypeMismatch,
        &["int32", "float32"],
    );
    expect_err(
        s.write_block("x", DType::I64, &[0, 0], &src(&[1, 3])),
        ErrorKind::InvalidArgument,
        &["item size 4"],
    );
    expect_err(
        s.write_block("nope", DType::I32, &[0, 0], &src(&[1, 3])),
        ErrorKind::NotFound,
        &["\"nope\""],
    );
    expect_err(
        s.write_block("../x", DType::I32, &[0, 0], &src(&[1, 3])),
        ErrorKind::InvalidArgument,
        &[],
    );
    // Reads refuse the same blocks.
    let mut out = [0u8; 24];
    let mut r = |offset: &[u64], count: &[u64]| {
        let n = count.iter().product::<u64>() as usize * 4;
        s.read_block(
            "x",
            DType::I32,
            offset,
            &mut Dst::contiguous(&mut out[..n], count, 4).unwrap(),
        )
    };
    expect_err(
        r(&[1, 2], &[1, 2]),
        ErrorKind::InvalidArgument,
        &["dimension 1: offset 2 + count 2 exceeds 3"],
    );
    expect_err(
        r(&[0], &[2]),
        ErrorKind::InvalidArgument,
        &["rank 2", "rank 1"],
    );
    assert_eq!(out, [0u8; 24], "a refused read leaves the buffer alone");
    drop(s);
    assert_eq!(fingerprint(&dir), before, "a refused call writes nothing");

    // A read-only handle reads blocks and refuses to write them.
    let ro = reader(&dir);
    assert_eq!(
        common::from_bytes::<i32>(&read_block_bytes(&ro, "x", DType::I32, &[3, 2], &[1, 1])),
        [7]
    );
    expect_err(
        ro.write_block("x", DType::I32, &[0, 0], &src(&[1, 3])),
        ErrorKind::ReadOnly,
        &["read-only"],
    );
    assert_eq!(fingerprint(&dir), before);
}

#[test]
fn block_writes_are_refused_while_a_batch_is_open() {
    let dir = TempDir::new("busy");
    let s = writer(&dir);
    save(&s, "x", &[2, 2], &[1u8; 4]);
    let batch = numpack::batch::CacheBatch::begin(&s, 0).unwrap();
    expect_err(
        s.write_block(
            "x",
            DType::U8,
            &[0, 0],
            &Src::contiguous(&[9u8; 2], &[1, 2], 1).unwrap(),
        ),
        ErrorKind::Busy,
        &["batch"],
    );
    expect_err(
        s.create("y", DType::U8, &[3], None),
        ErrorKind::Busy,
        &["batch"],
    );
    batch.abort();
    assert_eq!(load::<u8>(&s, "x"), [1; 4]);
    assert!(!s.has("y"));
}

#[test]
fn block_writes_set_the_modify_time_as_row_replacement_does() {
    let dir = TempDir::new("mtime");
    let s = writer(&dir);
    s.create("u", DType::F32, &[8, 2], None).unwrap();
    let t0 = s.info("u").unwrap().modify_time_us;
    wait_for_clock_past(t0);
    write_block_bytes(
        &s,
        "u",
        DType::F32,
        &[2, 0],
        &[2, 2],
        &common::to_bytes(&[1f32, 2., 3., 4.]),
    );
    let t1 = s.info("u").unwrap().modify_time_us;
    assert!(t1 > t0);
    // Not a commit: the catalogue on disk still has the creation time until close.
    assert_eq!(reader(&dir).info("u").unwrap().modify_time_us, t0);
    drop(s);
    assert_eq!(reader(&dir).info("u").unwrap().modify_time_us, t1);
}

/// Small blocks of whole rows are copied out of the store's mapping of the data file, which
/// faults (SIGBUS, killing this test) where the file was cut short; large ones are preaded. Both
/// must report the truncation, from a writer's and a reader's handle, with the mapping made and
/// its pages touched before the cut.
#[test]
fn a_data_file_cut_short_behind_the_store_makes_block_reads_corrupt() {
    let dir = TempDir::new("cut-short");
    let s = writer(&dir);
    let values: Vec<f64> = (0..2000 * 16).map(|i| i as f64).collect();
    save(&s, "a", &[2000, 16], &values);
    let r = reader(&dir);
    // 10 rows (1,280 bytes) go through the mapping, 1,000 rows (128,000 bytes) through pread.
    let blocks = [([1500u64, 0u64], [10u64, 16u64]), ([900, 0], [1000, 16])];
    for h in [&s, &r] {
        for (offset, count) in &blocks {
            let got = read_block_bytes(h, "a", DType::F64, offset, count);
            let first = (offset[0] * 16) as usize;
            assert_eq!(got[..8], values[first].to_ne_bytes(), "before the cut");
        }
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("data_a.npkd"))
        .unwrap();
    file.set_len(1000 * 16 * 8).unwrap();
    for h in [&s, &r] {
        for (offset, count) in &blocks {
            let mut out = vec![0u8; (count[0] * count[1] * 8) as usize];
            let got = h.read_block(
                "a",
                DType::F64,
                offset,
                &mut Dst::contiguous(&mut out, count, 8).unwrap(),
            );
            expect_err(got, ErrorKind::Corrupt, &["data_a.npkd", "truncated"]);
        }
    }
}

#[test]
fn created_arrays_are_sparse_and_read_zeros_until_written() {
    let dir = TempDir::new("sparse");
    let s = writer(&dir);
    // 1 GiB of float64.
    s.create("u", DType::F64, &[1 << 17, 1024], None).unwrap();
    let file = dir.join("data_u.npkd");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.len(), 1 << 30);
    assert!(
        meta.blocks() * 512 < 1 << 20,
        "a created array takes no space: {} blocks of 512 bytes",
        meta.blocks()
    );
    let info = s.info("u").unwrap();
    assert_eq!((info.shape, info.nbytes), (vec![1 << 17, 1024], 1 << 30));
    assert_eq!(
        read_block_bytes(&s, "u", DType::F64, &[70_000, 5], &[3, 7]),
        vec![0u8; 168]
    );

    // A row slab written in the middle takes its own space, no more, and the rest stays zero.
    let slab: Vec<f64> = (0..100 * 1024).map(|i| i as f64 + 0.5).collect();
    write_block_bytes(
        &s,
        "u",
        DType::F64,
        &[50_000, 0],
        &[100, 1024],
        &common::to_bytes(&slab),
    );
    let blocks = std::fs::metadata(&file).unwrap().blocks() * 512;
    assert!(
        blocks < 4 << 20,
        "{blocks} bytes allocated for an 800 KiB slab"
    );
    let back = read_block_bytes(&s, "u", DType::F64, &[49_999, 0], &[102, 1024]);
    let back = common::from_bytes::<f64>(&back);
    assert!(back[..1024].iter().all(|&v| v == 0.0));
    assert_eq!(&back[1024..101 * 1024], &slab[..]);
    assert!(back[101 * 1024..].iter().all(|&v| v == 0.0));

    // A column block (short runs) into the still sparse file, and back.
    let col: Vec<f64> = (0..300).map(|i| -(i as f64)).collect();
    write_block_bytes(
        &s,
        "u",
        DType::F64,
        &[1000, 10],
        &[100, 3],
        &common::to_bytes(&col),
    );
    assert_eq!(
        common::from_bytes::<f64>(&read_block_bytes(
            &s,
            "u",
            DType::F64,
            &[1000, 10],
            &[100, 3]
        )),
        col
    );
    drop(s);
    // The store is a plain one: a reader after reopening sees the same.
    let r = reader(&dir);
    let got = common::from_bytes::<f64>(&read_block_bytes(
        &r,
        "u",
        DType::F64,
        &[50_099, 1020],
        &[1, 4],
    ));
    assert_eq!(got, slab[99 * 1024 + 1020..]);
}

#[test]
fn fill_values_fill_every_element_of_every_dtype() {
    let dir = TempDir::new("fill");
    let s = writer(&dir);
    for (d, &dtype) in DType::ALL.iter().enumerate() {
        let mut value = pattern(dtype, dtype.size(), d + 1);
        if value.iter().all(|&b| b == 0) {
            value[0] = 1;
        }
        for (k, shape) in [vec![], vec![5], vec![3, 0, 2], vec![4, 3, 2]]
            .into_iter()
            .enumerate()
        {
            let name = format!("{dtype}_{k}");
            s.create(&name, dtype, &shape, Some(&value)).unwrap();
            let n = shape.iter().product::<u64>() as usize;
            assert_eq!(load_bytes(&s, &name), value.repeat(n), "{name}");
        }
    }
    // More than one copy chunk (8 MiB) of fill, as u8.
    s.create("many", DType::U8, &[9 << 20], Some(&[0xAB]))
        .unwrap();
    let all = load_bytes(&s, "many");
    assert!(all.len() == 9 << 20 && all.iter().all(|&b| b == 0xAB));
    // An all-zero fill (even a float's +0.0) is the sparse file; -0.0 is written.
    s.create("zero", DType::F64, &[1 << 20], Some(&0f64.to_le_bytes()))
        .unwrap();
    assert!(
        std::fs::metadata(dir.join("data_zero.npkd"))
            .unwrap()
            .blocks()
            * 512
            < 1 << 20
    );
    s.create("negzero", DType::F64, &[3], Some(&(-0f64).to_le_bytes()))
        .unwrap();
    assert!(load::<f64>(&s, "negzero")
        .iter()
        .all(|v| v.is_sign_negative()));
}

#[test]
fn create_is_one_commit_and_refuses_what_save_refuses() {
    let dir = TempDir::new("create");
    let s = writer(&dir);
    save(&s, "x", &[2], &[1i16, 2]);
    s.create("y", DType::I16, &[3, 4], None).unwrap();
    // Committed: another handle sees it at once, and after a reopen.
    assert_eq!(reader(&dir).info("y").unwrap().shape, vec![3, 4]);
    assert_eq!(
        std::fs::metadata(dir.join("data_y.npkd")).unwrap().len(),
        24
    );
    assert!(common::staged_files(&dir).is_empty());
    drop(s);
    let s = writer(&dir);
    let before = fingerprint(&dir);
    expect_err(
        s.create("x", DType::I16, &[5], None),
        ErrorKind::AlreadyExists,
        &["\"x\"", "drop it first"],
    );
    expect_err(
        s.create("bad/name", DType::I16, &[5], None),
        ErrorKind::InvalidArgument,
        &[],
    );
    expect_err(
        s.create("w", DType::I16, &[1 << 62, 2], None),
        ErrorKind::InvalidArgument,
        &["too large"],
    );
    expect_err(
        s.create("w", DType::U8, &[1; 33], None),
        ErrorKind::InvalidArgument,
        &["rank 33"],
    );
    expect_err(
        s.create("w", DType::I16, &[5], Some(&[1, 2, 3])),
        ErrorKind::InvalidArgument,
        &["fill value", "3 bytes", "int16", "2"],
    );
    expect_err(
        s.create("w", DType::Bool, &[5], Some(&[2])),
        ErrorKind::InvalidArgument,
        &["bool", "0 or 1"],
    );
    drop(s);
    assert_eq!(fingerprint(&dir), before, "a refused create writes nothing");
    expect_err(
        reader(&dir).create("w", DType::U8, &[1], None),
        ErrorKind::ReadOnly,
        &[],
    );
    // A dropped name can be created again; it does not see the old array's bytes.
    let s = writer(&dir);
    s.drop_arrays(&["x"]).unwrap();
    s.create("x", DType::I16, &[2], None).unwrap();
    assert_eq!(load::<i16>(&s, "x"), [0, 0]);
}

#[test]
fn recreating_a_large_array_does_not_reuse_its_old_bytes() {
    // Saving over a large array keeps its old file as a spare for the next save of that name;
    // create must not hand those bytes out as the new array's content.
    let dir = TempDir::new("spare");
    let s = writer(&dir);
    let n = 1 << 18; // 2 MiB of f64: spares are kept from 1 MiB up.
    save(&s, "x", &[n], &vec![3.0f64; n as usize]);
    save(&s, "x", &[n], &vec![4.0f64; n as usize]);
    s.drop_arrays(&["x"]).unwrap();
    s.create("x", DType::F64, &[n], None).unwrap();
    assert!(load::<f64>(&s, "x").iter().all(|&v| v == 0.0));
}

#[test]
fn segmented_arrays_read_and_write_blocks() {
    let dir = TempDir::new("segmented");
    let mut values = segmented_store(&dir, &[3, 1, 4]);
    let s = Store::open(&dir, OpenOptions::default()).unwrap();
    // Rows 2..6 straddle three segments; columns 1..3 make short runs.
    let got = common::from_bytes::<i32>(&read_block_bytes(&s, "x", DType::I32, &[2, 1], &[4, 2]));
    assert_eq!(got, [21, 22, 31, 32, 41, 42, 51, 52]);
    let got = common::from_bytes::<i32>(&read_block_bytes(&s, "x", DType::I32, &[1, 0], &[6, 3]));
    assert_eq!(got, values[3..21]);
    // Whole rows 2..5 across three segments, written in place.
    let block: Vec<i32> = (0..9).map(|v| -v).collect();
    write_block_bytes(
        &s,
        "x",
        DType::I32,
        &[2, 0],
        &[3, 3],
        &common::to_bytes(&block),
    );
    values[6..15].copy_from_slice(&block);
    assert_eq!(load::<i32>(&s, "x"), values);
    assert!(s.info("x").unwrap().segmented);
}

#[test]
fn durable_stores_write_blocks_too() {
    let dir = TempDir::new("durable");
    let s = Store::open(
        &dir,
        OpenOptions {
            create: true,
            durable: true,
            ..Default::default()
        },
    )
    .unwrap();
    s.create("d", DType::U16, &[6, 4], Some(&[1, 0])).unwrap();
    let block = common::to_bytes(&[9u16, 8, 7, 6]);
    write_block_bytes(&s, "d", DType::U16, &[1, 0], &[1, 4], &block);
    write_block_bytes(&s, "d", DType::U16, &[2, 1], &[2, 2], &block);
    let got = load::<u16>(&s, "d");
    assert_eq!(&got[..12], &[1, 1, 1, 1, 9, 8, 7, 6, 1, 9, 8, 1]);
    assert_eq!(&got[12..], &[1, 7, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
}

/// A created array is sparse, so its disk space is taken as it is written: on a full disk every
/// way of writing it must report the error (NPK_IO, errno 28), never fault (SIGBUS, as a store
/// through a mapping into a hole would).
#[test]
fn writing_a_sparse_array_on_a_full_disk_is_an_error_not_a_fault() {
    let mnt = TempDir::new("full");
    if !mount_tmpfs(&mnt, 1024) {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let dir = mnt.join("store");
    let result = std::panic::catch_unwind(|| {
        let s = writer(&dir);
        // 16 MiB on a 1 MiB file system: fine while it stays sparse.
        s.create("u", DType::U8, &[4096, 4096], None).unwrap();
        fill_leaving(&mnt, 0);
        let full = |r: numpack::Result<()>, what: &str| {
            let e = r.expect_err(what);
            assert_eq!(e.kind, ErrorKind::Io, "{what}: {e}");
            assert!(e.message.contains("errno 28"), "{what}: {e}");
        };
        let rows = vec![7u8; 4 * 4096];
        full(
            s.write_block(
                "u",
                DType::U8,
                &[100, 0],
                &Src::contiguous(&rows, &[4, 4096], 1).unwrap(),
            ),
            "write_block of whole rows",
        );
        full(
            s.write_block(
                "u",
                DType::U8,
                &[200, 8],
                &Src::contiguous(&rows[..400], &[100, 4], 1).unwrap(),
            ),
            "write_block of part of rows",
        );
        full(
            s.replace_rows(
                "u",
                &[300],
                DType::U8,
                &Src::contiguous(&rows[..4096], &[1, 4096], 1).unwrap(),
            ),
            "replace_rows",
        );
        let mut batch = numpack::batch::WritableBatch::begin(&s).unwrap();
        full(batch.load("u").map(|_| ()), "writable batch load");
        batch.abort();
        // With room again, the same writes land.
        std::fs::remove_file(mnt.join("filler")).unwrap();
        s.write_block(
            "u",
            DType::U8,
            &[200, 8],
            &Src::contiguous(&rows[..400], &[100, 4], 1).unwrap(),
        )
        .unwrap();
        assert_eq!(
            read_block_bytes(&s, "u", DType::U8, &[299, 8], &[1, 4]),
            [7; 4]
        );
    });
    umount(&mnt);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// Block reads share the handle with a thread writing blocks and committing: reads hold the
/// snapshot's lock for their duration, writes and commits take it to publish, and neither may
/// stall the other or let a read see anything but bytes that were written. Ends on progress
/// (writes done and every reader past 300 reads), with a hang guard.
#[test]
fn block_reads_race_block_writes_and_commits_on_one_handle() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = TempDir::new("race");
    let s = writer(&dir);
    s.create("u", DType::U8, &[64, 512], None).unwrap();
    let done = AtomicBool::new(false);
    let reads = [AtomicU64::new(0), AtomicU64::new(0)];
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for (t, count) in reads.iter().enumerate() {
            let (s, done) = (&s, &done);
            scope.spawn(move || {
                let mut out = vec![0u8; 8 * 100];
                let mut i = t as u64;
                while !done.load(Ordering::Acquire) || count.load(Ordering::Relaxed) < 300 {
                    assert!(start.elapsed().as_secs() < 120, "reader {t} stalled");
                    let row = (i * 7) % 57;
                    let col = (i * 13) % 412;
                    s.read_block(
                        "u",
                        DType::U8,
                        &[row, col],
                        &mut Dst::contiguous(&mut out, &[8, 100], 1).unwrap(),
                    )
                    .unwrap();
                    // Row r only ever holds 0 or a byte written for row r: (k % 251) + 1 with
                    // k % 64 == r.
                    for (j, line) in out.chunks(100).enumerate() {
                        let r = row + j as u64;
                        for &b in line {
                            assert!(
                                b == 0 || (0..40u64).any(|q| ((q * 64 + r) % 251 + 1) as u8 == b),
                                "row {r} holds {b}"
                            );
                        }
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        for k in 0..2560u64 {
            let row = vec![((k % 251) + 1) as u8; 512];
            s.write_block(
                "u",
                DType::U8,
                &[k % 64, 0],
                &Src::contiguous(&row, &[1, 512], 1).unwrap(),
            )
            .unwrap();
            if k % 64 == 0 {
                save(&s, "other", &[2], &[k, k]);
            }
        }
        done.store(true, Ordering::Release);
    });
    // Every row ends with its last write: k = 2496 + r.
    let all = load_bytes(&s, "u");
    for (r, line) in all.chunks(512).enumerate() {
        let want = ((2496 + r as u64) % 251 + 1) as u8;
        assert!(line.iter().all(|&b| b == want), "row {r}");
    }
}
