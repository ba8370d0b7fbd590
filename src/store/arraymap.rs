//! The arrays of a snapshot, in name order, shared between commits. A commit changes a few
//! arrays of a catalogue that may hold 100,000, and the snapshot it replaces stays alive in
//! readers' hands: copying the map per commit made filling a store O(n²) (issue #14). Here the
//! entries are `Arc`'d and grouped in sorted chunks of at most `CHUNK_MAX`, themselves `Arc`'d
//! under one `Arc`'d vector, so a clone is one reference count and a change copies the chunk
//! vector's pointers (n / 64 or so) and one chunk (at most 128 pointers), never an entry it does
//! not change. Each chunk caches its records encoded as `metadata.npkm` holds them, so writing
//! the catalogue costs one `memcpy` per chunk plus re-encoding the chunks a commit changed.
//!
//! Why not a persistent B-tree or HAMT (`im`, `rpds`): with two levels the pointer copy per
//! change is ~1/1000 of the catalogue bytes the same commit must write anyway (measured in
//! benches/bench_many), and chunks give the encoded catalogue in a few large pieces, which a
//! per-node tree would not without the same caching on top; no such crate is vendored either.

use std::sync::{Arc, OnceLock};

use super::snapshot::ArrayState;
use crate::format::metadata;

/// A chunk that grows past this is split in two halves.
const CHUNK_MAX: usize = 128;
/// A chunk that shrinks below this is merged into a neighbour (when the two fit in one).
const CHUNK_MIN: usize = CHUNK_MAX / 4;

#[derive(Clone, Debug, Default)]
pub struct ArrayMap {
    chunks: Arc<Vec<Arc<Chunk>>>,
    len: usize,
}

/// Entries in name order; never empty inside a map.
#[derive(Clone, Debug, Default)]
struct Chunk {
    entries: Vec<Arc<ArrayState>>,
    /// The chunk's records encoded, filled on first need; reset by every change.
    encoded: OnceLock<Encoded>,
}

#[derive(Clone, Debug)]
struct Encoded {
    bytes: Vec<u8>,
    total_size: u64,
}

impl Chunk {
    fn new(entries: Vec<Arc<ArrayState>>) -> Chunk {
        Chunk {
            entries,
            encoded: OnceLock::new(),
        }
    }

    fn last_name(&self) -> &str {
        self.entries.last().map_or("", |e| e.meta.name.as_str())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|e| e.meta.name.as_str().cmp(name))
    }

    fn encoded(&self) -> &Encoded {
        self.encoded.get_or_init(|| {
            let len = self.entries.iter().map(|e| metadata::record_len(&e.meta));
            let mut bytes = Vec::with_capacity(len.sum());
            let mut total_size = 0u64;
            for e in &self.entries {
                metadata::encode_record(&e.meta, &mut bytes);
                total_size = total_size.saturating_add(e.meta.size_bytes);
            }
            Encoded { bytes, total_size }
        })
    }

    /// The entries, for a change: the cached encoding no longer holds.
    fn entries_mut(&mut self) -> &mut Vec<Arc<ArrayState>> {
        self.encoded = OnceLock::new();
        &mut self.entries
    }
}

impl ArrayMap {
    /// The chunk that holds `name`, or would: the first whose last name is not below it (the
    /// last chunk for a name past every other).
    fn chunk_of(&self, name: &str) -> usize {
        let i = self.chunks.partition_point(|c| c.last_name() < name);
        i.min(self.chunks.len().saturating_sub(1))
    }

    fn locate(&self, name: &str) -> Option<(usize, usize)> {
        let c = self.chunk_of(name);
        let chunk = self.chunks.get(c)?;
        chunk.find(name).ok().map(|i| (c, i))
    }

    /// The entry itself, shared with every snapshot that did not change it.
    pub fn get_arc(&self, name: &str) -> Option<&Arc<ArrayState>> {
        self.locate(name).map(|(c, i)| &self.chunks[c].entries[i])
    }

    pub fn get(&self, name: &str) -> Option<&ArrayState> {
        self.get_arc(name).map(|e| &**e)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.locate(name).is_some()
    }

    /// A changeable entry: copies its chunk and the entry itself if another snapshot shares them.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ArrayState> {
        let (c, i) = self.locate(name)?;
        let chunk = Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[c]);
        Some(Arc::make_mut(&mut chunk.entries_mut()[i]))
    }

    /// Adds or replaces the array `name` (which must be `state.meta.name`); returns the entry it
    /// replaced.
    pub fn insert(&mut self, name: impl AsRef<str>, state: ArrayState) -> Option<Arc<ArrayState>> {
        debug_assert_eq!(name.as_ref(), state.meta.name);
        self.insert_arc(Arc::new(state))
    }

    pub fn insert_arc(&mut self, state: Arc<ArrayState>) -> Option<Arc<ArrayState>> {
        let chunks = Arc::make_mut(&mut self.chunks);
        if chunks.is_empty() {
            chunks.push(Arc::new(Chunk::new(vec![state])));
            self.len = 1;
            return None;
        }
        let c = chunks
            .partition_point(|ch| ch.last_name() < state.meta.name.as_str())
            .min(chunks.len() - 1);
        let chunk = Arc::make_mut(&mut chunks[c]);
        match chunk.find(&state.meta.name) {
            Ok(i) => Some(std::mem::replace(&mut chunk.entries_mut()[i], state)),
            Err(i) => {
                chunk.entries_mut().insert(i, state);
                self.len += 1;
                if chunk.entries.len() > CHUNK_MAX {
                    let upper = chunk.entries_mut().split_off(CHUNK_MAX / 2);
                    chunks.insert(c + 1, Arc::new(Chunk::new(upper)));
                }
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Arc<ArrayState>> {
        let (c, i) = self.locate(name)?;
        let chunks = Arc::make_mut(&mut self.chunks);
        let chunk = Arc::make_mut(&mut chunks[c]);
        let gone = chunk.entries_mut().remove(i);
        self.len -= 1;
        let left = chunk.entries.len();
        if left == 0 {
            chunks.remove(c);
        } else if left < CHUNK_MIN {
            // Keep chunks from thinning out after many drops: fold into the smaller neighbour.
            let size = |i: usize| (i, chunks[i].entries.len());
            let before = c.checked_sub(1).map(size);
            let after = (c + 1 < chunks.len()).then(|| size(c + 1));
            let smaller = match (before, after) {
                (Some(b), Some(a)) => Some(if b.1 <= a.1 { b } else { a }),
                (b, a) => b.or(a),
            };
            if let Some((n, len)) = smaller.filter(|&(_, len)| len + left <= CHUNK_MAX) {
                debug_assert!(len > 0);
                let (lo, hi) = (c.min(n), c.max(n));
                let upper = chunks.remove(hi);
                let lower = Arc::make_mut(&mut chunks[lo]);
                lower.entries_mut().extend(upper.entries.iter().cloned());
            }
        }
        Some(gone)
    }

    /// (name, state) in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &ArrayState)> + '_ {
        self.values().map(|s| (&s.meta.name, s))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + '_ {
        self.values().map(|s| &s.meta.name)
    }

    pub fn values(&self) -> Values<'_> {
        Values {
            chunks: self.chunks.iter(),
            entries: [].iter(),
            left: self.len,
        }
    }

    /// `metadata.npkm` for these arrays, byte for byte what `metadata::encode` makes of the same
    /// catalogue: the header, then each chunk's cached records.
    pub fn encode(&self) -> Vec<u8> {
        let (mut len, mut total_size) = (metadata::HEADER_LEN, 0u64);
        for c in self.chunks.iter() {
            let e = c.encoded();
            len += e.bytes.len();
            total_size = total_size.saturating_add(e.total_size);
        }
        let mut out = Vec::with_capacity(len);
        metadata::encode_header(total_size, self.len, &mut out);
        for c in self.chunks.iter() {
            out.extend_from_slice(&c.encoded().bytes);
        }
        out
    }
}

/// The states in name order; knows its length, so collecting allocates once.
pub struct Values<'a> {
    chunks: std::slice::Iter<'a, Arc<Chunk>>,
    entries: std::slice::Iter<'a, Arc<ArrayState>>,
    left: usize,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a ArrayState;

    fn next(&mut self) -> Option<&'a ArrayState> {
        loop {
            if let Some(e) = self.entries.next() {
                self.left -= 1;
                return Some(e);
            }
            self.entries = self.chunks.next()?.entries.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Values<'_> {}

impl FromIterator<(String, ArrayState)> for ArrayMap {
    /// Any order; a name given twice keeps its last state.
    fn from_iter<I: IntoIterator<Item = (String, ArrayState)>>(iter: I) -> ArrayMap {
        let mut all: Vec<Arc<ArrayState>> = iter
            .into_iter()
            .map(|(name, s)| {
                debug_assert_eq!(name, s.meta.name);
                Arc::new(s)
            })
            .collect();
        all.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        // After a stable sort the last of equal names is the latest given.
        let mut unique: Vec<Arc<ArrayState>> = Vec::with_capacity(all.len());
        for s in all {
            match unique.last_mut() {
                Some(prev) if prev.meta.name == s.meta.name => *prev = s,
                _ => unique.push(s),
            }
        }
        let len = unique.len();
        let chunks = unique
            .chunks(CHUNK_MAX / 2)
            .map(|c| Arc::new(Chunk::new(c.to_vec())))
            .collect();
        ArrayMap {
            chunks: Arc::new(chunks),
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::format::metadata::{ArrayMeta, Catalog};
    use crate::format::DType;
    use crate::store::snapshot::{DataFiles, MapSlot};
    use crate::test_util::XorShift;

    fn state(name: &str, rows: u64, time: u64) -> ArrayState {
        ArrayState {
            meta: ArrayMeta::new(name, DType::F32, vec![rows, 2], time),
            damage: None,
            bitmap: None,
            data: DataFiles::Single {
                path: PathBuf::from("/dev/null"),
                file: crate::store::files::DataFile::lazy(crate::store::files::Source::writer(
                    std::path::Path::new("/dev"),
                )),
            },
            map: MapSlot::default(),
        }
    }

    fn catalog(model: &BTreeMap<String, ArrayMeta>) -> Catalog {
        Catalog {
            version: 1,
            arrays: model.clone(),
        }
    }

    fn check(map: &ArrayMap, model: &BTreeMap<String, ArrayMeta>) {
        assert_eq!((map.len, map.values().len()), (model.len(), model.len()));
        let names: Vec<&String> = map.keys().collect();
        assert_eq!(names, model.keys().collect::<Vec<_>>());
        for (name, meta) in model {
            assert_eq!(&map.get(name).unwrap().meta, meta);
        }
        assert_eq!(map.encode(), metadata::encode(&catalog(model)));
        for c in map.chunks.iter() {
            assert!(!c.entries.is_empty() && c.entries.len() <= CHUNK_MAX);
        }
    }

    /// Random inserts, replacements, removals and in-place time changes, against a BTreeMap of
    /// metadata: same entries, same order, and the incrementally encoded catalogue is exactly
    /// the one `metadata::encode` writes (the bytes numpack reads), after every step.
    #[test]
    fn random_operations_match_a_btreemap_and_its_encoding() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        for round in 0..6 {
            let (mut map, mut model) = (ArrayMap::default(), BTreeMap::new());
            let mut snapshots = Vec::new();
            let keyspace = [10u64, 300, 2000][round % 3];
            for step in 0..3000 {
                let name = format!("a{}", rng.next() % keyspace);
                match rng.next() % 8 {
                    0..=3 => {
                        let st = state(&name, rng.next() % 9, step);
                        model.insert(name.clone(), st.meta.clone());
                        map.insert(&name, st);
                    }
                    4 | 5 => {
                        assert_eq!(
                            map.remove(&name).map(|s| s.meta.clone()),
                            model.remove(&name)
                        );
                    }
                    6 => {
                        if let Some(st) = map.get_mut(&name) {
                            st.meta.modify_time_us = step + 1_000_000;
                            model.get_mut(&name).unwrap().modify_time_us = step + 1_000_000;
                        } else {
                            assert!(!model.contains_key(&name));
                        }
                    }
                    _ => {
                        // Older snapshots must keep what they held.
                        snapshots.push((map.clone(), model.clone()));
                    }
                }
                if step % 97 == 0 {
                    check(&map, &model);
                }
            }
            check(&map, &model);
            for (m, model) in &snapshots {
                check(m, model);
            }
            // Unsorted input (reversed) collects into the same map.
            let mut all: Vec<&ArrayState> = map.values().collect();
            all.reverse();
            let rebuilt: ArrayMap = all
                .into_iter()
                .map(|s| (s.meta.name.clone(), s.clone()))
                .collect();
            check(&rebuilt, &model);
        }
    }

    /// A change to one array copies neither the other entries nor the chunks they sit in: the
    /// map before and after share them (the same allocations).
    #[test]
    fn a_change_shares_every_untouched_entry_and_chunk() {
        let map: ArrayMap = (0..10_000)
            .map(|i| {
                let n = format!("x{i:05}");
                (n.clone(), state(&n, 1, 1))
            })
            .collect();
        let mut next = map.clone();
        next.insert("x05000", state("x05000", 2, 2));
        next.insert("y", state("y", 2, 2));
        next.remove("x00007");
        next.get_mut("x09999").unwrap().meta.modify_time_us = 3;
        let shared_chunks = map
            .chunks
            .iter()
            .filter(|c| next.chunks.iter().any(|d| Arc::ptr_eq(c, d)))
            .count();
        assert!(
            shared_chunks + 3 >= map.chunks.len(),
            "{shared_chunks} of {} chunks shared",
            map.chunks.len()
        );
        for name in ["x00000", "x00006", "x00008", "x04999", "x05001", "x09998"] {
            assert!(Arc::ptr_eq(
                map.get_arc(name).unwrap(),
                next.get_arc(name).unwrap()
            ));
        }
        for name in ["x05000", "x09999"] {
            assert!(!Arc::ptr_eq(
                map.get_arc(name).unwrap(),
                next.get_arc(name).unwrap()
            ));
        }
        assert_eq!(map.get("x09999").unwrap().meta.modify_time_us, 1);
        assert_eq!(map.get("x05000").unwrap().meta.shape, vec![1, 2]);
        assert!(map.contains_key("x00007") && !next.contains_key("x00007"));
        assert_eq!((map.len, next.len), (10_000, 10_000));
    }

    /// Through the store: a save, an append, a row drop and a whole-array drop each publish a
    /// snapshot that holds the very entries of the arrays they did not touch, and the catalogue
    /// on disk is what `metadata::encode` writes for the new state.
    #[test]
    fn commits_share_the_untouched_entries_of_the_snapshot_before() {
        use crate::layout::Src;
        use crate::store::{OpenOptions, Store};
        let dir = crate::test_util::tmp("arraymap-commits");
        let opts = OpenOptions {
            create: true,
            ..OpenOptions::default()
        };
        let store = Store::open(&dir, opts).unwrap();
        let bytes = [7u8; 16];
        let src = Src::contiguous(&bytes, &[4], 4).unwrap();
        for i in 0..300 {
            store.save(&format!("a{i:03}"), DType::F32, &src).unwrap();
        }
        let changes: [&dyn Fn(); 4] = [
            &|| store.save("a150", DType::F32, &src).unwrap(),
            &|| store.append("a151", DType::F32, &src).unwrap(),
            &|| store.drop_rows("a152", &[0]).unwrap(),
            &|| store.drop_arrays(&["a153"]).unwrap(),
        ];
        for (k, change) in changes.iter().enumerate() {
            let before = store.snapshot();
            change();
            let after = store.snapshot();
            let touched = format!("a{:03}", 150 + k);
            for (name, _) in before.arrays.iter().filter(|(n, _)| **n != touched) {
                assert!(
                    Arc::ptr_eq(
                        before.arrays.get_arc(name).unwrap(),
                        after.arrays.get_arc(name).unwrap()
                    ),
                    "{name} was copied by the change to {touched}"
                );
            }
            let disk = std::fs::read(dir.join(metadata::METADATA_FILE)).unwrap();
            assert_eq!(disk, metadata::encode(&after.catalog()));
        }
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
