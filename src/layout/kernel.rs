//! The one strided copy every layout conversion goes through: every element of an N-D index
//! space from one strided buffer to another. A Fortran or Julia buffer against the file's C order
//! is a transpose of the two dimensions with the smallest strides; walked element by element in
//! either buffer's order, the other side touches a new cache line (and, at 4096 doubles a column,
//! a new page) per element, which made a Fortran-order save cost 10x a C-order one. The copy
//! instead goes tile by tile, so both sides stay within a few cache lines and pages per tile.

/// One dimension after simplification: its length and its byte strides in source and
/// destination.
#[derive(Clone, Copy, Debug)]
struct Dim {
    n: usize,
    s: isize,
    d: isize,
}

/// Most dimensions a copy sees (NPK_MAX_DIMS, with one spare for callers that split one).
const MAX: usize = crate::format::MAX_DIMS + 1;

/// Copies the `item`-byte element at every index `i` of `shape` from `src + Σ i·ss` to
/// `dst + Σ i·ds`. `stream`: the destination is large and will not be read soon (a user's
/// buffer being filled), so whole lines may bypass the caches.
///
/// # Safety
/// For every index of `shape`, the `item` bytes at the source offset must be readable and those
/// at the destination offset writable, and the two regions must not overlap.
pub(crate) unsafe fn copy(
    src: *const u8,
    ss: &[i64],
    dst: *mut u8,
    ds: &[i64],
    shape: &[u64],
    item: usize,
    stream: bool,
) {
    debug_assert!(ss.len() == shape.len() && ds.len() == shape.len() && shape.len() <= MAX);
    if item == 0 || shape.contains(&0) {
        return;
    }
    let mut dims = [Dim { n: 0, s: 0, d: 0 }; MAX];
    let dims = simplified(&mut dims, ss, ds, shape);
    // SAFETY: forwarded from the caller; `simplify` keeps the set of offsets visited.
    unsafe { copy_dims(src, dst, dims, item, stream) }
}

/// Orders dimensions by destination stride, outermost first (the destination is then written
/// in order between tiles), and merges neighbours that are contiguous with each other on both
/// sides, so a C-order pair of buffers becomes one run and a Fortran 3-D array a 2-D transpose.
fn simplify(dims: &mut [Dim]) -> &[Dim] {
    dims.sort_by_key(|x| std::cmp::Reverse((x.d.unsigned_abs(), x.s.unsigned_abs())));
    let mut k = 0;
    for i in 0..dims.len() {
        let x = dims[i];
        if k > 0 {
            let o = &mut dims[k - 1];
            let n = x.n as isize;
            if o.s == x.s.wrapping_mul(n) && o.d == x.d.wrapping_mul(n) {
                *o = Dim {
                    n: o.n * x.n,
                    s: x.s,
                    d: x.d,
                };
                continue;
            }
        }
        dims[k] = x;
        k += 1;
    }
    &dims[..k]
}

/// # Safety
/// As `copy`, over `dims` (every length > 1).
unsafe fn copy_dims(src: *const u8, dst: *mut u8, dims: &[Dim], item: usize, stream: bool) {
    let Some(&last) = dims.last() else {
        // SAFETY: the single element is readable and writable (caller), regions disjoint.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, item) };
        return;
    };
    let outer_len = dims.len() - 1;
    let item_i = item as isize;
    if last.s == item_i && last.d == item_i {
        // Contiguous on both sides: one memcpy per run.
        let run = last.n * item;
        // SAFETY: each run is `last.n` elements of the caller's index space.
        return unsafe {
            for_outer(&dims[..outer_len], src, dst, |s, d| {
                std::ptr::copy_nonoverlapping(s, d, run)
            })
        };
    }
    let Some(a) = transposed(dims) else {
        // Both sides are innermost in the same dimension (a sliced or padded buffer): a
        // strided loop along it.
        // SAFETY: each call walks `last.n` elements of the caller's index space.
        return unsafe {
            for_outer(&dims[..outer_len], src, dst, |s, d| {
                line(item, s, last.s, d, last.d, last.n)
            })
        };
    };
    // A transpose of dimensions `a` (innermost in the source) and `last` (innermost in the
    // destination), looped over the others.
    let mut rest = [Dim { n: 0, s: 0, d: 0 }; MAX];
    let mut r = 0;
    for (i, &x) in dims[..outer_len].iter().enumerate() {
        if i != a {
            rest[r] = x;
            r += 1;
        }
    }
    let (pa, pb) = (dims[a], last);
    // SAFETY: each call covers the plane of dimensions a and b at one outer index.
    unsafe {
        for_outer(&rest[..r], src, dst, |s, d| {
            transpose(item, s, d, pa, pb, stream)
        })
    }
}

/// The dimension innermost in the source (smallest stride) when it is not the destination's
/// innermost one (the last of `dims`): the copy is then a transpose of the two.
fn transposed(dims: &[Dim]) -> Option<usize> {
    let outer_len = dims.len().checked_sub(1)?;
    let a = (0..dims.len())
        .rev()
        .min_by_key(|&i| dims[i].s.unsigned_abs())
        .unwrap_or(outer_len);
    (a != outer_len && dims[a].s.unsigned_abs() < dims[outer_len].s.unsigned_abs()).then_some(a)
}

/// The dimensions of a copy that move anything (length above 1), in `dims`, then `simplify`d:
/// what both `copy` and `tiles` decide on. `shape.len() <= MAX`.
fn simplified<'a>(dims: &'a mut [Dim; MAX], ss: &[i64], ds: &[i64], shape: &[u64]) -> &'a [Dim] {
    let mut k = 0;
    for ((&n, &s), &d) in shape.iter().zip(ss).zip(ds) {
        if n > 1 {
            dims[k] = Dim {
                n: n as usize,
                s: s as isize,
                d: d as isize,
            };
            k += 1;
        }
    }
    simplify(&mut dims[..k])
}

/// Whether `copy` with these arguments transposes whole register tiles through an L1 buffer
/// (both dimensions of the plane long, contiguous on their own side, an item size with a
/// register transpose, destination rows of whole 16-byte stores): the case where its `stream`
/// stores write every destination line whole.
pub(crate) fn tiles(ss: &[i64], ds: &[i64], shape: &[u64], item: usize) -> bool {
    if item == 0 || shape.contains(&0) || shape.len() > MAX {
        return false;
    }
    let mut dims = [Dim { n: 0, s: 0, d: 0 }; MAX];
    let dims = simplified(&mut dims, ss, ds, shape);
    let Some(a) = transposed(dims) else {
        return false;
    };
    let (pa, pb, t) = (dims[a], dims[dims.len() - 1], tile_edge(item));
    cfg!(target_arch = "x86_64")
        && matches!(item, 1 | 2 | 4 | 8 | 16)
        && pa.d.unsigned_abs() % 16 == 0
        && pa.s == item as isize
        && pb.d == item as isize
        && pa.n >= t
        && pb.n >= t
}

/// Calls `f` at every index of `dims` (outermost first) with the source and destination
/// pointers of that index.
///
/// # Safety
/// Every pointer handed to `f` must be in bounds of the caller's buffers (offsets within them).
unsafe fn for_outer(
    dims: &[Dim],
    src: *const u8,
    dst: *mut u8,
    mut f: impl FnMut(*const u8, *mut u8),
) {
    let mut idx = [0usize; MAX];
    let (mut s, mut d) = (src, dst);
    loop {
        f(s, d);
        let mut k = dims.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < dims[k].n {
                s = s.wrapping_offset(dims[k].s);
                d = d.wrapping_offset(dims[k].d);
                break;
            }
            idx[k] = 0;
            s = s.wrapping_offset(-dims[k].s * (dims[k].n as isize - 1));
            d = d.wrapping_offset(-dims[k].d * (dims[k].n as isize - 1));
        }
    }
}

/// One strided line of `n` elements.
///
/// # Safety
/// Every element of the line is in bounds on both sides, regions disjoint.
unsafe fn line(item: usize, s: *const u8, ss: isize, d: *mut u8, ds: isize, n: usize) {
    unsafe fn go<const N: usize>(s: *const u8, ss: isize, d: *mut u8, ds: isize, n: usize) {
        for i in 0..n as isize {
            // SAFETY: in bounds (caller).
            unsafe { put::<N>(s.offset(i * ss), d.offset(i * ds)) }
        }
    }
    unsafe fn go_any(s: *const u8, ss: isize, d: *mut u8, ds: isize, n: usize, item: usize) {
        for i in 0..n as isize {
            // SAFETY: in bounds (caller).
            unsafe { std::ptr::copy_nonoverlapping(s.offset(i * ss), d.offset(i * ds), item) }
        }
    }
    // SAFETY: forwarded.
    unsafe {
        match item {
            1 => go::<1>(s, ss, d, ds, n),
            2 => go::<2>(s, ss, d, ds, n),
            4 => go::<4>(s, ss, d, ds, n),
            8 => go::<8>(s, ss, d, ds, n),
            16 => go::<16>(s, ss, d, ds, n),
            _ => go_any(s, ss, d, ds, n, item),
        }
    }
}

/// Moves one element of `N` bytes.
///
/// # Safety
/// `s` readable and `d` writable for `N` bytes.
#[inline(always)]
unsafe fn put<const N: usize>(s: *const u8, d: *mut u8) {
    // SAFETY: forwarded; unaligned accesses, as strides need not be multiples of the item.
    unsafe {
        d.cast::<[u8; N]>()
            .write_unaligned(s.cast::<[u8; N]>().read_unaligned())
    }
}

/// Tile edge in elements of the strided fallback: a tile row spans at least a cache line on
/// both sides, and a tile stays well inside L1.
fn tile_edge(item: usize) -> usize {
    if item <= 4 {
        64
    } else {
        (256 / item).max(8)
    }
}

/// Copies the plane of dimensions `a` (small source stride) and `b` (small destination stride).
/// `stream`: the destination is written with non-temporal stores where it can be, so a large
/// destination does not first read every cache line it overwrites.
///
/// # Safety
/// Every element of the plane is in bounds on both sides, regions disjoint.
unsafe fn transpose(item: usize, s: *const u8, d: *mut u8, a: Dim, b: Dim, stream: bool) {
    let t = tile_edge(item);
    if a.s == item as isize && b.d == item as isize && a.n >= t && b.n >= t {
        // SAFETY: forwarded; the strides are the ones `transpose_buffered` requires.
        unsafe {
            match item {
                1 => return transpose_buffered::<1, 64>(s, d, a, b, stream),
                2 => return transpose_buffered::<2, 64>(s, d, a, b, stream),
                4 => return transpose_buffered::<4, 64>(s, d, a, b, stream),
                8 => return transpose_buffered::<8, 32>(s, d, a, b, stream),
                16 => return transpose_buffered::<16, 16>(s, d, a, b, stream),
                _ => {}
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    if a.s == item as isize && b.d == item as isize {
        // SAFETY: forwarded; the strides are the ones `narrow` and `narrow_lines` require.
        unsafe {
            if stream && a.n < b.n && a.d.unsigned_abs() % 64 == 0 && (d as usize) % item == 0 {
                match item {
                    2 => return narrow_lines::<2>(s, d, a, b),
                    4 => return narrow_lines::<4>(s, d, a, b),
                    8 => return narrow_lines::<8>(s, d, a, b),
                    _ => {}
                }
            }
            match item {
                2 => return narrow::<2>(s, d, a, b),
                4 => return narrow::<4>(s, d, a, b),
                8 => return narrow::<8>(s, d, a, b),
                _ => {}
            }
        }
    }
    // A narrow plane (a few columns of a tall array) gets tiles as long as a square one is
    // large, so each destination row is still written in long runs.
    let (ta, tb) = if a.n < t {
        (a.n, (t * t / a.n).min(4096))
    } else if b.n < t {
        ((t * t / b.n).min(4096), b.n)
    } else {
        (t, t)
    };
    for b0 in (0..b.n).step_by(tb) {
        let nb = tb.min(b.n - b0);
        for a0 in (0..a.n).step_by(ta) {
            let na = ta.min(a.n - a0);
            let off_s = a0 as isize * a.s + b0 as isize * b.s;
            let off_d = a0 as isize * a.d + b0 as isize * b.d;
            // SAFETY: the tile is part of the plane (caller).
            unsafe {
                tile(
                    item,
                    s.wrapping_offset(off_s),
                    d.wrapping_offset(off_d),
                    na,
                    nb,
                    a,
                    b,
                )
            };
        }
    }
}

/// A plane too short along `a` for tiles (the ten columns of a tall array, one of them shorter
/// than a tile edge), contiguous along `a` in the source and along `b` in the destination:
/// register squares straight from the source, walking the long dimension outermost so that both
/// sides advance through memory together; the items left over at the edges one by one. Plain
/// stores: non-temporal ones into ten columns at once, each line filled 16 bytes at a time,
/// made a 1M x 10 float32 load 3x slower (8.3 -> 22 ms CPU).
///
/// # Safety
/// As `transpose`; `a.s` and `b.d` equal `N`, which has a register transpose.
#[cfg(target_arch = "x86_64")]
unsafe fn narrow<const N: usize>(s: *const u8, d: *mut u8, a: Dim, b: Dim) {
    let k = simd::per_register(N);
    let (ra, rb) = (a.n - a.n % k, b.n - b.n % k);
    let src = |i: usize, j: usize| s.wrapping_offset(j as isize * b.s + (i * N) as isize);
    let dst = |i: usize, j: usize| d.wrapping_offset(i as isize * a.d + (j * N) as isize);
    // SAFETY: every (i, j) below is an element of the plane (caller); squares cover k x k
    // elements within ra x rb.
    unsafe {
        let square =
            |i: usize, j: usize| simd::square::<N>(|q| src(i, j + q), |m| dst(i + m, j), false);
        if a.n <= b.n {
            for j in (0..rb).step_by(k) {
                for i in (0..ra).step_by(k) {
                    square(i, j);
                }
            }
        } else {
            for i in (0..ra).step_by(k) {
                for j in (0..rb).step_by(k) {
                    square(i, j);
                }
            }
        }
        for i in ra..a.n {
            for j in 0..b.n {
                put::<N>(src(i, j), dst(i, j));
            }
        }
        for i in 0..ra {
            for j in rb..b.n {
                put::<N>(src(i, j), dst(i, j));
            }
        }
    }
}

/// One tile of `na` x `nb` elements: rows along `a`, each written contiguously along `b`.
///
/// # Safety
/// As `transpose`, for the tile.
unsafe fn tile(item: usize, s: *const u8, d: *mut u8, na: usize, nb: usize, a: Dim, b: Dim) {
    unsafe fn go<const N: usize>(s: *const u8, d: *mut u8, na: usize, nb: usize, a: Dim, b: Dim) {
        for i in 0..na as isize {
            let (si, di) = (s.wrapping_offset(i * a.s), d.wrapping_offset(i * a.d));
            for j in 0..nb as isize {
                // SAFETY: in the tile (caller).
                unsafe { put::<N>(si.offset(j * b.s), di.offset(j * b.d)) }
            }
        }
    }
    // SAFETY: forwarded.
    unsafe {
        match item {
            1 => go::<1>(s, d, na, nb, a, b),
            2 => go::<2>(s, d, na, nb, a, b),
            4 => go::<4>(s, d, na, nb, a, b),
            8 => go::<8>(s, d, na, nb, a, b),
            16 => go::<16>(s, d, na, nb, a, b),
            _ => {
                for i in 0..na as isize {
                    for j in 0..nb as isize {
                        let o_s = i * a.s + j * b.s;
                        let o_d = i * a.d + j * b.d;
                        // SAFETY: in the tile (caller).
                        std::ptr::copy_nonoverlapping(s.offset(o_s), d.offset(o_d), item)
                    }
                }
            }
        }
    }
}

/// Scratch space of one tile, aligned so its rows start on cache lines.
#[repr(C, align(64))]
struct TileBuf([u8; TILE_BUF]);
const TILE_BUF: usize = 16 << 10;

/// Destination bytes per column of one `narrow_lines` block: whole cache lines.
const LINES_BYTES: usize = 256;

/// `narrow` into a large destination whose long dimension `b` is contiguous (a tall array of
/// ten columns loaded into a column-major buffer): blocks of rows are transposed into an L1
/// buffer, then each column's part (`LINES_BYTES`, whole lines) goes out with non-temporal
/// stores in one burst. Written 16 bytes per column at a time, every destination line was read
/// before being overwritten (plain stores) or left ten write-combining lines half filled at once
/// (non-temporal ones, 3x slower still); rows before the first line boundary and after the last
/// whole block take `narrow`.
///
/// # Safety
/// As `narrow`; `a.n < b.n`, `a.d` a multiple of 64 (every column starts at the same offset in
/// a line) and `d` a multiple of `N`.
#[cfg(target_arch = "x86_64")]
unsafe fn narrow_lines<const N: usize>(s: *const u8, d: *mut u8, a: Dim, b: Dim) {
    let rows = LINES_BYTES / N;
    debug_assert!(a.n * LINES_BYTES <= TILE_BUF && a.d % 64 == 0 && d as usize % N == 0);
    let head = ((64 - d as usize % 64) % 64 / N).min(b.n);
    let body = (b.n - head) / rows * rows;
    let part = |n: usize| Dim { n, ..b };
    let mut buf = TileBuf([0; TILE_BUF]);
    let buf = buf.0.as_mut_ptr();
    let in_buf = Dim {
        d: LINES_BYTES as isize,
        ..a
    };
    // SAFETY: the head, the blocks and the tail partition the plane's rows (caller); a block is
    // `rows` rows of `a.n` items, `a.n * LINES_BYTES` bytes in `buf`; destination column parts
    // start on a line boundary (`head`, `a.d`) and are 16-byte multiples.
    unsafe {
        narrow::<N>(s, d, a, part(head));
        for j0 in (head..head + body).step_by(rows) {
            let bs = s.wrapping_offset(j0 as isize * b.s);
            narrow::<N>(bs, buf, in_buf, part(rows));
            for i in 0..a.n {
                let from = buf.add(i * LINES_BYTES);
                let to = d.wrapping_offset(i as isize * a.d + (j0 * N) as isize);
                simd::stream_run(from, to, LINES_BYTES);
            }
        }
        let tail = head + body;
        narrow::<N>(
            s.wrapping_offset(tail as isize * b.s),
            d.wrapping_add(tail * N),
            a,
            part(b.n - tail),
        );
    }
    simd::fence();
}

/// The plane of dimensions `a` and `b` when `a` is contiguous in the source and `b` in the
/// destination (whole Fortran, Julia or C buffers), in tiles of T x T elements. Each tile's T
/// source runs are first copied into `buf`: read side by side, the runs of a 4096-column matrix
/// (power-of-two strides) would all fall in the same few cache sets and evict each other before
/// each line is used up. The tile is then transposed out of L1 into the destination in blocks of
/// one vector register per row (`Block`), each destination row written in one run.
///
/// # Safety
/// As `transpose`; `a.s` and `b.d` equal `N`, and T x T items fit in a `TileBuf`.
unsafe fn transpose_buffered<const N: usize, const T: usize>(
    s: *const u8,
    d: *mut u8,
    a: Dim,
    b: Dim,
    stream: bool,
) {
    debug_assert!(T * T * N <= TILE_BUF && a.s == N as isize && b.d == N as isize);
    let mut buf = TileBuf([0; TILE_BUF]);
    let buf = buf.0.as_mut_ptr();
    // Non-temporal stores need 16-byte aligned destination rows.
    let stream = stream && (d as usize | a.d.unsigned_abs()) % 16 == 0;
    for b0 in (0..b.n).step_by(T) {
        let nb = T.min(b.n - b0);
        for a0 in (0..a.n).step_by(T) {
            let na = T.min(a.n - a0);
            let ts = s.wrapping_offset(a0 as isize * a.s + b0 as isize * b.s);
            let td = d.wrapping_offset(a0 as isize * a.d + b0 as isize * b.d);
            // SAFETY: the tile's runs lie within the plane (caller); `buf` holds T x T items,
            // run j of the tile at row j.
            unsafe {
                if na == T && nb == T {
                    for j in 0..T {
                        let from = ts.offset(j as isize * b.s);
                        std::ptr::copy_nonoverlapping(from, buf.add(j * T * N), T * N);
                    }
                    Block::<N>::tile::<T>(buf, td, a.d, stream);
                } else {
                    for j in 0..nb {
                        let from = ts.offset(j as isize * b.s);
                        std::ptr::copy_nonoverlapping(from, buf.add(j * T * N), na * N);
                    }
                    for i in 0..na {
                        let di = td.offset(i as isize * a.d);
                        for j in 0..nb {
                            put::<N>(buf.add((j * T + i) * N), di.add(j * N));
                        }
                    }
                }
            }
        }
    }
    if stream {
        simd::fence();
    }
}

/// Transposes whole tiles out of a `TileBuf` for one item size.
struct Block<const N: usize>;

impl<const N: usize> Block<N> {
    /// Writes the T x T tile in `buf` (run j at row j, T items a row) to `d`, row i at
    /// `d + i * row`.
    ///
    /// # Safety
    /// `d` writable for the tile; with `stream`, `d` and `row` are multiples of 16.
    #[inline(always)]
    unsafe fn tile<const T: usize>(buf: *const u8, d: *mut u8, row: isize, stream: bool) {
        // SAFETY: forwarded.
        unsafe {
            #[cfg(target_arch = "x86_64")]
            if simd::tile::<N, T>(buf, d, row, stream) {
                return;
            }
            let _ = stream;
            for i in 0..T {
                let di = d.offset(i as isize * row);
                for j in 0..T {
                    put::<N>(buf.add((j * T + i) * N), di.add(j * N));
                }
            }
        }
    }
}

/// SSE2 (every x86-64 CPU has it) register transposes: one 16-byte register holds a run of
/// 16 / N items, and a square of as many registers is transposed with unpack instructions.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    pub(super) fn fence() {
        // SAFETY: SSE2 is part of x86-64.
        unsafe { _mm_sfence() }
    }

    /// Copies `len` bytes (a multiple of 16) from `s` to `d` with non-temporal stores.
    ///
    /// # Safety
    /// `s` readable and `d` writable for `len` bytes, `d` 16-byte aligned.
    #[inline(always)]
    pub(super) unsafe fn stream_run(s: *const u8, d: *mut u8, len: usize) {
        // SAFETY: forwarded.
        unsafe {
            for o in (0..len).step_by(16) {
                store(d.add(o), load(s.add(o)), true);
            }
        }
    }

    /// Stores one register at `p`.
    ///
    /// # Safety
    /// `p` writable for 16 bytes; 16-byte aligned when `stream`.
    #[inline(always)]
    unsafe fn store(p: *mut u8, v: __m128i, stream: bool) {
        // SAFETY: forwarded.
        unsafe {
            if stream {
                _mm_stream_si128(p.cast(), v)
            } else {
                _mm_storeu_si128(p.cast(), v)
            }
        }
    }

    #[inline(always)]
    unsafe fn load(p: *const u8) -> __m128i {
        // SAFETY: the caller's buffer holds 16 bytes at `p`.
        unsafe { _mm_loadu_si128(p.cast()) }
    }

    /// Items per register for the item sizes with a register transpose (0 for the others).
    pub(super) const fn per_register(n: usize) -> usize {
        match n {
            2 | 4 | 8 | 16 => 16 / n,
            _ => 0,
        }
    }

    /// One square of K = `per_register(N)` registers: run k (K items, 16 bytes) read at
    /// `run(k)`, transposed, and its row m (item m of every run) stored at `row(m)`.
    ///
    /// # Safety
    /// N has a register transpose; every `run(k)` readable and `row(m)` writable for 16 bytes,
    /// and 16-byte aligned when `stream`.
    #[inline(always)]
    pub(super) unsafe fn square<const N: usize>(
        run: impl Fn(usize) -> *const u8,
        row: impl Fn(usize) -> *mut u8,
        stream: bool,
    ) {
        // SAFETY: forwarded.
        unsafe {
            let put = |m: usize, v: __m128i| store(row(m), v, stream);
            match N {
                16 => put(0, load(run(0))),
                8 => {
                    let (c0, c1) = (load(run(0)), load(run(1)));
                    put(0, _mm_unpacklo_epi64(c0, c1));
                    put(1, _mm_unpackhi_epi64(c0, c1));
                }
                4 => {
                    let (c0, c1, c2, c3) = (load(run(0)), load(run(1)), load(run(2)), load(run(3)));
                    let t0 = _mm_unpacklo_epi32(c0, c1);
                    let t1 = _mm_unpackhi_epi32(c0, c1);
                    let t2 = _mm_unpacklo_epi32(c2, c3);
                    let t3 = _mm_unpackhi_epi32(c2, c3);
                    put(0, _mm_unpacklo_epi64(t0, t2));
                    put(1, _mm_unpackhi_epi64(t0, t2));
                    put(2, _mm_unpacklo_epi64(t1, t3));
                    put(3, _mm_unpackhi_epi64(t1, t3));
                }
                2 => {
                    let c: [__m128i; 8] = std::array::from_fn(|k| load(run(k)));
                    let a0 = _mm_unpacklo_epi16(c[0], c[1]);
                    let a1 = _mm_unpackhi_epi16(c[0], c[1]);
                    let a2 = _mm_unpacklo_epi16(c[2], c[3]);
                    let a3 = _mm_unpackhi_epi16(c[2], c[3]);
                    let a4 = _mm_unpacklo_epi16(c[4], c[5]);
                    let a5 = _mm_unpackhi_epi16(c[4], c[5]);
                    let a6 = _mm_unpacklo_epi16(c[6], c[7]);
                    let a7 = _mm_unpackhi_epi16(c[6], c[7]);
                    let b0 = _mm_unpacklo_epi32(a0, a2);
                    let b1 = _mm_unpackhi_epi32(a0, a2);
                    let b2 = _mm_unpacklo_epi32(a1, a3);
                    let b3 = _mm_unpackhi_epi32(a1, a3);
                    let b4 = _mm_unpacklo_epi32(a4, a6);
                    let b5 = _mm_unpackhi_epi32(a4, a6);
                    let b6 = _mm_unpacklo_epi32(a5, a7);
                    let b7 = _mm_unpackhi_epi32(a5, a7);
                    put(0, _mm_unpacklo_epi64(b0, b4));
                    put(1, _mm_unpackhi_epi64(b0, b4));
                    put(2, _mm_unpacklo_epi64(b1, b5));
                    put(3, _mm_unpackhi_epi64(b1, b5));
                    put(4, _mm_unpacklo_epi64(b2, b6));
                    put(5, _mm_unpackhi_epi64(b2, b6));
                    put(6, _mm_unpacklo_epi64(b3, b7));
                    put(7, _mm_unpackhi_epi64(b3, b7));
                }
                _ => unreachable!("no register transpose for {N}-byte items"),
            }
        }
    }

    /// The whole tile for item sizes with a register transpose; false for the others.
    ///
    /// # Safety
    /// As `Block::tile`.
    #[inline(always)]
    pub(super) unsafe fn tile<const N: usize, const T: usize>(
        buf: *const u8,
        d: *mut u8,
        row: isize,
        stream: bool,
    ) -> bool {
        let k = per_register(N);
        if k == 0 {
            return false;
        }
        // SAFETY: run j + q holds T items from `buf + (j + q) * T * N`, and row i + m of the
        // tile T items at `d + (i + m) * row` (caller); i and j stay K short of T.
        unsafe {
            for i in (0..T).step_by(k) {
                for j in (0..T).step_by(k) {
                    square::<N>(
                        |q| buf.add(((j + q) * T + i) * N),
                        |m| d.offset((i + m) as isize * row).add(j * N),
                        stream,
                    );
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check_len, Dst, Layout, Src, STREAM_BYTES};

    /// xorshift64*: deterministic cases without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// A buffer layout for `shape`: its dimensions in a random memory order (C, Fortran or
    /// shuffled), each optionally sliced (a step over a larger buffer), padded or reversed.
    /// Returns the strides, the byte offset of element 0 and the buffer length.
    fn random_layout(rng: &mut Rng, shape: &[u64], item: usize) -> (Vec<i64>, usize, usize) {
        let rank = shape.len();
        let mut order: Vec<usize> = (0..rank).collect();
        match rng.below(3) {
            0 => {}
            1 => order.reverse(),
            _ => {
                for i in (1..rank).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
            }
        }
        let mut strides = vec![0i64; rank];
        let mut acc = item as i64 * if rng.below(4) == 0 { 2 } else { 1 };
        for &d in order.iter().rev() {
            let step = if rng.below(5) == 0 {
                1 + rng.below(3) as i64
            } else {
                1
            };
            strides[d] = acc * step;
            let pad = if rng.below(6) == 0 { item as i64 } else { 0 };
            acc = acc * step * shape[d].max(1) as i64 + pad;
        }
        for s in strides.iter_mut() {
            if rng.below(4) == 0 {
                *s = -*s;
            }
        }
        // Element 0 sits as far into the buffer as the negative strides reach back.
        let (lo, hi) = Layout::new(shape, Some(&strides), item)
            .unwrap()
            .extent()
            .unwrap();
        (strides, (-lo) as usize, (hi - lo) as usize)
    }

    /// Byte offset of the element with C-order number `k`, relative to element 0.
    fn offset(shape: &[u64], strides: &[i64], mut k: u64) -> i64 {
        let mut off = 0;
        for d in (0..shape.len()).rev() {
            off += (k % shape[d]) as i64 * strides[d];
            k /= shape[d];
        }
        off
    }

    fn random_shape(rng: &mut Rng) -> Vec<u64> {
        let rank = rng.below(6) as usize;
        let big = rng.below(4) == 0; // enough to cross several tiles in the last two dims
        (0..rank)
            .map(|i| match rng.below(10) {
                0 => 0,
                1 => 1,
                _ if big && i + 2 >= rank => 1 + rng.below(150),
                _ => 1 + rng.below(7),
            })
            .collect()
    }

    /// Gathers rows `first..first + n` and scatters fresh bytes back over them, checking both
    /// against an element-by-element copy (and that scatter touches no other byte).
    fn check_rows(rng: &mut Rng, layout: &Layout, origin: usize, len: usize, first: u64, n: u64) {
        let (shape, strides, item) = (&layout.shape, &layout.strides, layout.itemsize);
        let per_row = layout.row_bytes() / item as u64;
        let what = format!("shape {shape:?} strides {strides:?} item {item}, rows {first}+{n}");
        let element =
            |k: u64| (origin as i64 + offset(shape, strides, first * per_row + k)) as usize;

        let buf = rng.bytes(len);
        let src = Src::new(&buf, origin, layout.clone()).unwrap();
        let mut out = vec![0u8; (n * layout.row_bytes()) as usize];
        src.gather_rows(first, &mut out);
        let mut want = vec![0u8; out.len()];
        for k in 0..n * per_row {
            let (off, at) = (element(k), k as usize * item);
            want[at..at + item].copy_from_slice(&buf[off..off + item]);
        }
        assert!(out == want, "gather, {what}");

        let input = rng.bytes(out.len());
        let mut got = buf.clone();
        Dst::new(&mut got, origin, layout.clone())
            .unwrap()
            .scatter_rows(first, &input);
        let mut want = buf;
        for k in 0..n * per_row {
            let (off, at) = (element(k), k as usize * item);
            want[off..off + item].copy_from_slice(&input[at..at + item]);
        }
        assert!(got == want, "scatter, {what}");
    }

    #[test]
    fn gather_and_scatter_match_an_element_by_element_copy() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let shape = random_shape(&mut rng);
            let item = [1, 2, 3, 4, 8, 12, 16][rng.below(7) as usize];
            let (strides, origin, len) = random_layout(&mut rng, &shape, item);
            let layout = Layout::new(&shape, Some(&strides), item).unwrap();
            check_len(len, &layout, origin).unwrap();
            let rows = layout.rows();
            let first = if rows > 0 { rng.below(rows) } else { 0 };
            let n = if rows > 0 {
                1 + rng.below(rows - first)
            } else {
                0
            };
            check_rows(&mut rng, &layout, origin, len, first, n);
        }
    }

    fn fortran(shape: &[u64], item: usize) -> Vec<i64> {
        let mut acc = item as i64;
        shape
            .iter()
            .map(|&n| {
                let s = acc;
                acc *= n as i64;
                s
            })
            .collect()
    }

    #[test]
    fn transposes_whole_and_partial_tiles_of_every_item_size() {
        // Sizes around the tile edges (16..64 elements), a 3-D Fortran array (its first two
        // dimensions merge) and a 4096-column matrix (power-of-two strides).
        let mut rng = Rng(7);
        for item in [1usize, 2, 4, 8, 16, 5] {
            for shape in [
                vec![67u64, 131],
                vec![64, 64],
                vec![256, 3],
                vec![3, 300],
                vec![33, 17, 65],
                vec![40, 4096],
            ] {
                let layout = Layout::new(&shape, Some(&fortran(&shape, item)), item).unwrap();
                let len = layout.byte_len() as usize;
                check_rows(&mut rng, &layout, 0, len, 0, layout.rows());
                check_rows(&mut rng, &layout, 0, len, 1, layout.rows() - 2);
            }
        }
    }

    #[test]
    fn large_destinations_take_the_streaming_path_and_stay_exact() {
        // Over STREAM_BYTES, aligned (non-temporal stores) and misaligned by one item (not).
        let mut rng = Rng(11);
        for (item, rows) in [(8usize, 1100u64), (4, 2200), (2, 4200), (16, 600)] {
            let shape = [rows, 1000];
            let layout = Layout::new(&shape, Some(&fortran(&shape, item)), item).unwrap();
            assert!(layout.byte_len() >= STREAM_BYTES);
            let len = layout.byte_len() as usize;
            for origin in [0, item] {
                let mut input = rng.bytes(len);
                let mut big = vec![0u8; len + origin];
                Dst::new(&mut big, origin, layout.clone())
                    .unwrap()
                    .scatter_rows(0, &input);
                let mut back = vec![0u8; len];
                Src::new(&big, origin, layout.clone())
                    .unwrap()
                    .gather_rows(0, &mut back);
                assert!(back == input, "item {item} origin {origin}");
                // Spot-check the layout itself, not only the round trip.
                let k = 777 * 1000 % (rows * 1000) + 5;
                let off = origin + offset(&shape, &layout.strides, k) as usize;
                let at = k as usize * item;
                assert_eq!(big[off..off + item], input[at..at + item]);
                input.clear();
            }
        }
    }

    #[test]
    fn large_narrow_destinations_are_filled_exactly_line_by_line() {
        // A tall array of a few columns loaded into a large column-major buffer: blocks of
        // whole destination lines (narrow_lines), with the rows before the first line boundary
        // (origins off the line) and after the last whole block; columns of a stride that is no
        // line multiple take the plain path.
        let mut rng = Rng(12);
        for (item, cols, pad) in [(4usize, 10u64, 0u64), (2, 3, 0), (8, 13, 0), (4, 10, 1)] {
            let rows = (STREAM_BYTES / (cols * item as u64)).next_multiple_of(16) + 16 + pad;
            let shape = [rows, cols];
            let layout = Layout::new(&shape, Some(&fortran(&shape, item)), item).unwrap();
            let len = layout.byte_len() as usize;
            for origin in [0, item, 64 - item, 3 * item] {
                let input = rng.bytes(len);
                let mut big = vec![0u8; len + origin];
                Dst::new(&mut big, origin, layout.clone())
                    .unwrap()
                    .scatter_rows(0, &input);
                let want_at = |k: usize| {
                    let (r, c) = (k / cols as usize, k % cols as usize);
                    origin + (c * rows as usize + r) * item
                };
                let ok = (0..len / item)
                    .all(|k| big[want_at(k)..want_at(k) + item] == input[k * item..(k + 1) * item]);
                assert!(ok, "item {item} cols {cols} pad {pad} origin {origin}");
            }
        }
    }

    #[test]
    fn tiles_names_the_copies_that_stream_whole_lines() {
        // What `tiles` says decides whether a save writes through a mapping with non-temporal
        // stores, which only whole tiles make into whole-line writes.
        let c = |shape: &[u64], item: usize| crate::layout::c_strides(shape, item);
        let tiles = |shape: &[u64], src: &[i64], item: usize| {
            super::tiles(src, &c(shape, item), shape, item)
        };
        let want = cfg!(target_arch = "x86_64");
        assert_eq!(tiles(&[64, 64], &fortran(&[64, 64], 8), 8), want);
        assert_eq!(tiles(&[64, 3, 96], &fortran(&[64, 3, 96], 4), 4), want);
        assert!(
            !tiles(&[3, 64, 96], &fortran(&[3, 64, 96], 4), 4),
            "a 3-long plane"
        );
        assert!(
            !tiles(&[64, 64], &c(&[64, 64], 8), 8),
            "C order is no transpose"
        );
        assert!(
            !tiles(&[100_000, 10], &fortran(&[100_000, 10], 4), 4),
            "a narrow plane"
        );
        assert!(
            !tiles(&[100, 65], &fortran(&[100, 65], 4), 4),
            "rows of 260 bytes"
        );
        assert!(
            !tiles(&[64, 64], &fortran(&[64, 64], 3), 3),
            "no register transpose"
        );
        assert!(!tiles(&[0, 64], &[8, 0], 8), "nothing to copy");
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn rows_outside_the_layout_panic_instead_of_leaving_the_buffer() {
        let buf = [0u8; 8];
        let src = Src::contiguous(&buf, &[4, 2], 1).unwrap();
        let mut out = [0u8; 4];
        src.gather_rows(3, &mut out);
    }
}
