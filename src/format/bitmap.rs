//! `deleted_<name>.npkb`, NumPack's deletion bitmap (format.md §3).
//!
//! Layout: `u64 total_rows`, `u64 deleted_count`, then ceil(total_rows / 64) little-endian u64
//! words; bit i of word i/64 is 1 when physical row i is alive. NumPack also reads a headerless
//! file (just the words), so we do too, but we always write the header.
//!
//! Every read maps logical (alive-only) row indices to physical ones, so `physical()` must be
//! fast on bitmaps of billions of rows. Alive counts are kept per block of 8 words: a binary
//! search over blocks and a popcount scan of at most 8 words answers it, at a memory cost of an
//! eighth of the bitmap itself.

use super::FormatError;

const HEADER_LEN: usize = 16;
const WORDS_PER_BLOCK: usize = 8;

/// Which physical rows of one array are alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    total_rows: u64,
    /// ceil(total_rows / 64) words; bits at or past total_rows are always 0.
    words: Vec<u64>,
    /// `block_alive[b]` = alive rows in `words[..b * WORDS_PER_BLOCK]`; one entry per block plus
    /// a leading 0, so the last entry is the total alive count.
    block_alive: Vec<u64>,
}

/// Bits of the last word that correspond to real rows.
fn last_word_mask(total_rows: u64) -> u64 {
    match total_rows % 64 {
        0 => u64::MAX,
        r => (1u64 << r) - 1,
    }
}

/// Position of the set bit of rank `rank` (0-based) in `w`. Caller ensures `rank < popcount`.
fn select_in_word(mut w: u64, rank: u32) -> u32 {
    for _ in 0..rank {
        w &= w - 1;
    }
    w.trailing_zeros()
}

fn word_count(total_rows: u64) -> Option<usize> {
    usize::try_from(total_rows.div_ceil(64)).ok()
}

impl Bitmap {
    pub fn all_alive(total_rows: u64) -> Bitmap {
        Bitmap::try_all_alive(total_rows).expect("bitmap row count exceeds the address space")
    }

    /// As `all_alive`, but None when the memory cannot be had. An array whose rows are zero
    /// bytes (shape (n, 0)) can claim any row count without any data behind it, and
    /// `Vec`'s infallible allocation would abort the process rather than fail.
    pub fn try_all_alive(total_rows: u64) -> Option<Bitmap> {
        let n = word_count(total_rows)?;
        let mut words = Vec::new();
        words.try_reserve_exact(n).ok()?;
        words.resize(n, u64::MAX);
        if let Some(last) = words.last_mut() {
            *last = last_word_mask(total_rows);
        }
        let mut b = Bitmap {
            total_rows,
            words,
            block_alive: Vec::new(),
        };
        b.block_alive
            .try_reserve_exact(n.div_ceil(WORDS_PER_BLOCK) + 1)
            .ok()?;
        b.block_alive.push(0);
        b.recount_from(0);
        Some(b)
    }

    fn from_words(total_rows: u64, words: Vec<u64>) -> Bitmap {
        let mut b = Bitmap {
            total_rows,
            words,
            block_alive: vec![0],
        };
        b.recount_from(0);
        b
    }

    /// Recomputes block counts for every block from the one holding `first_word` on; the
    /// counts before it are untouched by the change and stay valid.
    fn recount_from(&mut self, first_word: usize) {
        let first_block = (first_word / WORDS_PER_BLOCK).min(self.block_alive.len() - 1);
        self.block_alive.truncate(first_block + 1);
        let mut acc = self.block_alive[first_block];
        for chunk in self.words[first_block * WORDS_PER_BLOCK..].chunks(WORDS_PER_BLOCK) {
            acc += chunk.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
            self.block_alive.push(acc);
        }
    }

    /// The row count a headed bitmap file states for itself, when its size agrees with it:
    /// how a stale bitmap (written for an earlier shape of its array) is told from a damaged
    /// one. None for anything else.
    pub fn stated_rows(bytes: &[u8]) -> Option<u64> {
        let total = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let words = word_count(total)?.checked_mul(8)?.checked_add(HEADER_LEN)?;
        (words == bytes.len()).then_some(total)
    }

    /// physical_rows = the array's shape[0] from metadata. The file must be the headed or the
    /// headerless form for exactly that many rows and have no bits set past the last row. The
    /// header's deleted count is not trusted (see below). Never panics.
    pub fn decode(bytes: &[u8], physical_rows: u64) -> Result<Bitmap, FormatError> {
        let err = |msg: String| FormatError::new(format!("corrupt deletion bitmap: {msg}"));
        let n_words = word_count(physical_rows).and_then(|n| n.checked_mul(8));
        let headed = n_words.and_then(|n| n.checked_add(HEADER_LEN));
        let (header, body) = if Some(bytes.len()) == headed {
            let (h, body) = bytes.split_at(HEADER_LEN);
            (Some(h), body)
        } else if Some(bytes.len()) == n_words {
            (None, bytes)
        } else {
            let show =
                |n: Option<usize>| n.map_or("an impossible size".to_string(), |n| n.to_string());
            return Err(err(format!(
                "file is {} bytes, but for {physical_rows} rows it must be {} bytes (or {} without the 16-byte header)",
                bytes.len(),
                show(headed),
                show(n_words)
            )));
        };

        let words: Vec<u64> = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        if let Some(&last) = words.last() {
            let stray = last & !last_word_mask(physical_rows);
            if stray != 0 {
                let first = (words.len() as u64 - 1) * 64 + u64::from(stray.trailing_zeros());
                return Err(err(format!(
                    "bit for row {first} is set, but the array has only {physical_rows} rows (bits past the last row must be 0)"
                )));
            }
        }
        let bitmap = Bitmap::from_words(physical_rows, words);

        if let Some(h) = header {
            let total = u64::from_le_bytes(h[0..8].try_into().unwrap_or([0; 8]));
            let deleted = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
            if total != physical_rows {
                return Err(err(format!(
                    "header says {total} rows, but the metadata shape has {physical_rows}"
                )));
            }
            // numpack 0.5.0's append after a drop in the last partial word sets the row's bit
            // again but keeps the old count, so its own stores disagree here. The bits are what
            // numpack's load follows; the count is derived, and we rewrite it correctly.
            let _ = deleted;
        }
        Ok(bitmap)
    }

    /// Always the headed form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 8 * self.words.len());
        out.extend_from_slice(&self.total_rows.to_le_bytes());
        out.extend_from_slice(&self.deleted_count().to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    pub fn alive_rows(&self) -> u64 {
        self.block_alive.last().copied().unwrap_or(0)
    }

    pub fn deleted_count(&self) -> u64 {
        self.total_rows - self.alive_rows()
    }

    pub fn has_deleted(&self) -> bool {
        self.deleted_count() != 0
    }

    /// False for rows past the end.
    pub fn is_alive(&self, physical: u64) -> bool {
        physical < self.total_rows
            && (self.words[(physical / 64) as usize] >> (physical % 64)) & 1 == 1
    }

    /// Mark physical rows dead (already-dead rows are fine). Caller ensures each is below
    /// total_rows; rows past the end are ignored rather than growing the bitmap.
    pub fn drop_physical(&mut self, rows: &[u64]) {
        let mut first_changed = usize::MAX;
        for &row in rows {
            if row < self.total_rows {
                let w = (row / 64) as usize;
                self.words[w] &= !(1u64 << (row % 64));
                first_changed = first_changed.min(w);
            }
        }
        if first_changed != usize::MAX {
            self.recount_from(first_changed);
        }
    }

    /// Extend to `new_total` rows, the new ones alive; a smaller `new_total` does nothing.
    ///
    /// NumPack rewrites the whole last partial word as alive on append, resurrecting rows
    /// dropped there; only bits for rows at or past the old total are set here.
    pub fn grow(&mut self, new_total: u64) {
        self.try_grow(new_total)
            .expect("bitmap row count exceeds the address space")
    }

    /// As `grow`, but None (and the bitmap unchanged) when the memory cannot be had.
    pub fn try_grow(&mut self, new_total: u64) -> Option<()> {
        if new_total <= self.total_rows {
            return Some(());
        }
        let old_total = self.total_rows;
        let old_last_word = (old_total / 64) as usize;
        let n = word_count(new_total)?;
        self.words
            .try_reserve_exact(n.saturating_sub(self.words.len()))
            .ok()?;
        let blocks = n.div_ceil(WORDS_PER_BLOCK) + 1;
        self.block_alive
            .try_reserve_exact(blocks.saturating_sub(self.block_alive.len()))
            .ok()?;
        self.words.resize(n, 0);
        let (first_word, last_word) = (old_last_word, n - 1);
        for w in first_word..=last_word {
            let start = w as u64 * 64;
            let mut mask = u64::MAX;
            if start < old_total {
                mask &= !last_word_mask(old_total);
            }
            if w == last_word {
                mask &= last_word_mask(new_total);
            }
            self.words[w] |= mask;
        }
        self.total_rows = new_total;
        self.recount_from(first_word);
        Some(())
    }

    /// Logical (alive-only) index -> physical row; None if logical >= alive_rows().
    pub fn physical(&self, logical: u64) -> Option<u64> {
        if logical >= self.alive_rows() {
            return None;
        }
        if !self.has_deleted() {
            return Some(logical);
        }
        // First block whose cumulative count passes `logical`; it holds the wanted row.
        let block = self.block_alive[1..].partition_point(|&c| c <= logical);
        let mut rank = logical - self.block_alive[block];
        let first = block * WORDS_PER_BLOCK;
        for (i, &w) in self.words[first..].iter().take(WORDS_PER_BLOCK).enumerate() {
            let c = u64::from(w.count_ones());
            if rank < c {
                let bit = select_in_word(w, rank as u32);
                return Some((first + i) as u64 * 64 + u64::from(bit));
            }
            rank -= c;
        }
        None
    }

    /// Maximal runs of consecutive alive physical rows, in order: (first_physical_row, len).
    pub fn alive_runs(&self) -> Vec<(u64, u64)> {
        if !self.has_deleted() {
            return if self.total_rows == 0 {
                Vec::new()
            } else {
                vec![(0, self.total_rows)]
            };
        }
        let mut runs = Vec::new();
        let mut open: Option<u64> = None;
        for (i, &w) in self.words.iter().enumerate() {
            let base = i as u64 * 64;
            // Whole words that neither start nor end a run cost one comparison.
            match (w, open) {
                (u64::MAX, Some(_)) | (0, None) => continue,
                (u64::MAX, None) => {
                    open = Some(base);
                    continue;
                }
                (0, Some(start)) => {
                    runs.push((start, base - start));
                    open = None;
                    continue;
                }
                _ => {}
            }
            let mut bit = 0u32;
            while bit < 64 {
                let rest = w >> bit;
                match open {
                    Some(start) => {
                        let ones = rest.trailing_ones();
                        if bit + ones >= 64 {
                            break;
                        }
                        bit += ones;
                        runs.push((start, base + u64::from(bit) - start));
                        open = None;
                    }
                    None => {
                        if rest == 0 {
                            break;
                        }
                        bit += rest.trailing_zeros();
                        open = Some(base + u64::from(bit));
                    }
                }
            }
        }
        if let Some(start) = open {
            runs.push((start, self.total_rows - start));
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::XorShift;

    /// numpack 0.5.0: an int64 array of 70 rows after `drop('a', [1, 2, 65])`.
    const REAL_DROPPED: &[u8] = b"\
        \x46\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\
        \xf9\xff\xff\xff\xff\xff\xff\xff\x3d\x00\x00\x00\x00\x00\x00\x00";

    /// Reference model: one bool per row.
    fn naive_runs(alive: &[bool]) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < alive.len() {
            if alive[i] {
                let s = i;
                while i < alive.len() && alive[i] {
                    i += 1;
                }
                runs.push((s as u64, (i - s) as u64));
            } else {
                i += 1;
            }
        }
        runs
    }

    fn check_against(b: &Bitmap, alive: &[bool]) {
        let phys: Vec<u64> = (0..alive.len() as u64)
            .filter(|&i| alive[i as usize])
            .collect();
        assert_eq!(b.total_rows(), alive.len() as u64);
        assert_eq!(b.alive_rows(), phys.len() as u64);
        assert_eq!(b.deleted_count(), (alive.len() - phys.len()) as u64);
        assert_eq!(b.has_deleted(), phys.len() < alive.len());
        for (i, &a) in alive.iter().enumerate() {
            assert_eq!(b.is_alive(i as u64), a, "row {i}");
        }
        assert!(!b.is_alive(alive.len() as u64));
        for (l, &p) in phys.iter().enumerate() {
            assert_eq!(b.physical(l as u64), Some(p), "logical {l}");
        }
        assert_eq!(b.physical(phys.len() as u64), None);
        assert_eq!(b.physical(u64::MAX), None);
        assert_eq!(b.alive_runs(), naive_runs(alive));
        let enc = b.encode();
        assert_eq!(enc.len(), 16 + 8 * alive.len().div_ceil(64));
        assert_eq!(&Bitmap::decode(&enc, alive.len() as u64).unwrap(), b);
        assert_eq!(&Bitmap::decode(&enc[16..], alive.len() as u64).unwrap(), b);
    }

    const SIZES: [u64; 12] = [0, 1, 2, 63, 64, 65, 127, 128, 129, 511, 513, 1000];

    #[test]
    fn huge_row_counts_fail_instead_of_aborting() {
        // Found by fuzz/ (store_dir): drop_rows on a (2^54, 0)-shaped array.
        for n in [1u64 << 54, u64::MAX] {
            assert!(Bitmap::try_all_alive(n).is_none(), "{n} rows");
            let mut b = Bitmap::all_alive(3);
            b.drop_physical(&[1]);
            let before = b.clone();
            assert!(b.try_grow(n).is_none(), "grow to {n} rows");
            assert_eq!(b, before);
        }
        assert_eq!(Bitmap::try_all_alive(70), Some(Bitmap::all_alive(70)));
        let mut b = Bitmap::all_alive(10);
        assert_eq!(b.try_grow(100), Some(()));
        assert_eq!(b, Bitmap::all_alive(100));
    }

    #[test]
    fn all_alive_sizes() {
        for n in SIZES {
            let b = Bitmap::all_alive(n);
            check_against(&b, &vec![true; n as usize]);
            assert_eq!(b.alive_runs(), if n == 0 { vec![] } else { vec![(0, n)] });
        }
    }

    #[test]
    fn decodes_real_numpack_bitmap() {
        let b = Bitmap::decode(REAL_DROPPED, 70).unwrap();
        let mut alive = vec![true; 70];
        for r in [1, 2, 65] {
            alive[r] = false;
        }
        check_against(&b, &alive);
        assert_eq!(b.alive_runs(), [(0, 1), (3, 62), (66, 4)]);
        assert_eq!(b.encode(), REAL_DROPPED);
    }

    #[test]
    fn decodes_headerless_form() {
        let b = Bitmap::decode(&REAL_DROPPED[16..], 70).unwrap();
        assert_eq!(b, Bitmap::decode(REAL_DROPPED, 70).unwrap());
        assert_eq!(b.encode(), REAL_DROPPED);
        assert_eq!(Bitmap::decode(&[], 0).unwrap(), Bitmap::all_alive(0));
        assert_eq!(Bitmap::decode(&[0; 16], 0).unwrap(), Bitmap::all_alive(0));
    }

    #[test]
    fn rejects_bad_sizes() {
        for len in [0, 8, 15, 17, 24, 31, 33, 40] {
            let e = Bitmap::decode(&vec![0u8; len], 70).unwrap_err().0;
            assert!(e.contains(&format!("file is {len} bytes")), "{e}");
            assert!(e.contains("must be 32 bytes (or 16 without"), "{e}");
        }
        let e = Bitmap::decode(REAL_DROPPED, u64::MAX).unwrap_err().0;
        assert!(e.contains("18446744073709551615 rows"), "{e}");
        assert!(Bitmap::decode(REAL_DROPPED, 64).is_err());
        assert!(Bitmap::decode(REAL_DROPPED, 129).is_err());
    }

    #[test]
    fn rejects_header_mismatches() {
        // Same word count (2) but the header disagrees with the metadata's row count.
        let e = Bitmap::decode(REAL_DROPPED, 71).unwrap_err().0;
        assert!(
            e.contains("header says 70 rows") && e.contains("has 71"),
            "{e}"
        );
    }

    #[test]
    fn the_bits_win_over_a_stale_deleted_count() {
        // What numpack 0.5.0 writes after appending behind a drop in the last partial word.
        let mut b = REAL_DROPPED.to_vec();
        b[8] = 4;
        let bitmap = Bitmap::decode(&b, 70).unwrap();
        assert_eq!(bitmap.deleted_count(), 3);
        assert_eq!(&bitmap.encode()[8..16], &3u64.to_le_bytes());
    }

    #[test]
    fn rejects_bits_past_the_end() {
        let mut b = REAL_DROPPED.to_vec();
        b[24] |= 0x40; // row 70 of 70
        let e = Bitmap::decode(&b, 70).unwrap_err().0;
        assert!(
            e.contains("row 70 is set") && e.contains("only 70 rows"),
            "{e}"
        );
        let e = Bitmap::decode(&b[16..], 70).unwrap_err().0;
        assert!(e.contains("row 70 is set"), "{e}");
        let e = Bitmap::decode(&u64::MAX.to_le_bytes(), 1).unwrap_err().0;
        assert!(e.contains("row 1 is set"), "{e}");
    }

    #[test]
    fn grow_after_drop_in_last_partial_word_keeps_the_row_dead() {
        let mut b = Bitmap::all_alive(70);
        b.drop_physical(&[65, 3]);
        b.grow(100);
        let mut alive = vec![true; 100];
        alive[65] = false;
        alive[3] = false;
        check_against(&b, &alive);

        // Growth that stays within one word.
        let mut b = Bitmap::all_alive(10);
        b.drop_physical(&[9, 0]);
        b.grow(20);
        let mut alive = vec![true; 20];
        alive[9] = false;
        alive[0] = false;
        check_against(&b, &alive);

        // Growth from an exact word boundary and from nothing.
        let mut b = Bitmap::all_alive(64);
        b.drop_physical(&[63]);
        b.grow(64 * 20 + 3);
        let mut alive = vec![true; 64 * 20 + 3];
        alive[63] = false;
        check_against(&b, &alive);
        let mut b = Bitmap::all_alive(0);
        b.grow(5);
        check_against(&b, &[true; 5]);

        // Shrinking is not growth.
        b.grow(2);
        assert_eq!(b.total_rows(), 5);
    }

    #[test]
    fn drop_is_idempotent_and_ignores_rows_past_the_end() {
        let mut b = Bitmap::all_alive(65);
        b.drop_physical(&[64, 64, 0, 65, u64::MAX]);
        b.drop_physical(&[0]);
        let mut alive = vec![true; 65];
        alive[0] = false;
        alive[64] = false;
        check_against(&b, &alive);
        b.drop_physical(&(0..65).collect::<Vec<_>>());
        check_against(&b, &[false; 65]);
        assert_eq!(b.alive_runs(), []);
    }

    #[test]
    fn random_patterns_match_naive_model() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for &n in SIZES.iter().chain(&[4097, 5000]) {
            for pattern in 0..8 {
                let mut alive = vec![true; n as usize];
                let mut b = Bitmap::all_alive(n);
                let mut drops = Vec::new();
                for (i, a) in alive.iter_mut().enumerate() {
                    let dead = match pattern {
                        0 => rng.next() % 2 == 0,
                        1 => rng.next() % 50 == 0,
                        2 => rng.next() % 50 != 0,
                        // Long runs, so whole-word fast paths are exercised.
                        3 => (i / 100) % 2 == 0,
                        4 => (i / 64) % 3 == 1,
                        5 => i % 64 == 63 || i % 64 == 0,
                        6 => true,
                        _ => i + 1 == n as usize,
                    };
                    if dead {
                        *a = false;
                        drops.push(i as u64);
                    }
                }
                // Drop in a few batches, in shuffled order, to exercise incremental recounts.
                for i in (1..drops.len()).rev() {
                    let j = (rng.next() % (i as u64 + 1)) as usize;
                    drops.swap(i, j);
                }
                for chunk in drops.chunks(drops.len() / 3 + 1) {
                    b.drop_physical(chunk);
                }
                check_against(&b, &alive);

                let extra = rng.next() % 200;
                b.grow(n + extra);
                alive.resize((n + extra) as usize, true);
                check_against(&b, &alive);
            }
        }
    }

    #[test]
    fn physical_is_fast_on_large_bitmaps() {
        let n = 10_000_000u64;
        let mut b = Bitmap::all_alive(n);
        b.drop_physical(&(0..n).step_by(3).collect::<Vec<_>>());
        // Alive rows are 1, 2, 4, 5, 7, 8, ...: logical l maps to l + l/2 + 1.
        for l in (0..b.alive_rows()).step_by(9973) {
            assert_eq!(b.physical(l), Some(l + l / 2 + 1));
        }
        assert_eq!(b.alive_runs().len() as u64, n / 3);
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..5000 {
            let len = (rng.next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Mostly row counts whose headed or headerless size matches, so the deeper checks
            // run too.
            let words = (len / 8) as u64;
            let w = if rng.next() % 2 == 0 {
                words
            } else {
                words.saturating_sub(2)
            };
            let rows = match rng.next() % 4 {
                0 => rng.next() % 300,
                1 => rng.next(),
                _ => (w * 64).saturating_sub(rng.next() % 64),
            };
            if let Ok(b) = Bitmap::decode(&bytes, rows) {
                assert_eq!(b.total_rows(), rows);
                let _ = b.alive_runs();
                let _ = b.physical(rng.next() % (rows + 1));
            }
        }
    }
}
