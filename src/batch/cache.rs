//! The cache batch (NumPack's `batch_mode`). Loads read an array once into an aligned buffer
//! and hand out its address; saves either mark that buffer changed (the view's own pointer) or
//! copy the caller's buffer at once (ADIOS2 users find deferred reads of their buffers
//! error-prone, so we never read a caller's buffer after the call). Only arrays passed to
//! `save` are written at `end`, all in one commit. Past the soft memory limit, changed arrays
//! are written to staged files (part of the coming commit, invisible until then) and dropped
//! from memory; unchanged ones are just dropped.

use std::collections::HashMap;
use std::sync::Arc;

use crate::attrs::{Attributes, Value};

use crate::batch::{open_store, src_ptr, BatchView};
use crate::error::{Error, IoContext, Result};
use crate::format::names::data_file_name;
use crate::format::DType;
use crate::layout::{Dst, Src};
use crate::pages::{PageBuf, Tombstone};
use crate::store::commit::Txn;
use crate::store::fsutil;
use crate::store::snapshot::ArrayState;
use crate::store::{check_itemsize, check_name, data, BatchOpen, Store};

enum Content {
    Memory(PageBuf),
    /// Written to the transaction's staged file for the array (this state, ready for the
    /// commit); re-read on the next load.
    Spilled(ArrayState),
}

struct Entry {
    dtype: DType,
    shape: Vec<u64>,
    content: Content,
    /// Saved in this batch: written at `end`.
    changed: bool,
    /// For eviction under the memory limit: lower is older.
    last_use: u64,
}

impl Entry {
    fn bytes(&self) -> u64 {
        match &self.content {
            Content::Memory(b) => b.len() as u64,
            Content::Spilled(_) => 0,
        }
    }
}

pub struct CacheBatch {
    /// None once ended, so an ended batch does not keep the store open.
    store: Option<Store>,
    limit_bytes: u64,
    entries: HashMap<String, Entry>,
    txn: Txn,
    clock: u64,
    /// Buffers whose views the caller may still hold; kept reserved until the batch ends.
    tombstones: Vec<Tombstone>,
    /// The store's batch flag while the batch is open; dropped last, after the staged files and
    /// buffers, however the batch ends.
    open: Option<BatchOpen>,
    /// The attributes as this batch changed them (None: unchanged), committed at `end`.
    attrs: Option<Box<Attributes>>,
}

impl CacheBatch {
    /// `memory_limit_mb` 0 means no limit.
    pub fn begin(store: &Store, memory_limit_mb: u64) -> Result<CacheBatch> {
        store.refuse_shared("a cache batch")?;
        let open = store.begin_batch()?;
        Ok(CacheBatch {
            store: Some(store.clone()),
            limit_bytes: memory_limit_mb.saturating_mul(1 << 20),
            entries: HashMap::new(),
            txn: store.txn(),
            clock: 0,
            tombstones: Vec::new(),
            open: Some(open),
            attrs: None,
        })
    }

    /// Bytes of array data held in memory now.
    pub fn cached_bytes(&self) -> u64 {
        self.entries.values().map(Entry::bytes).sum()
    }

    fn store(&self) -> Result<&Store> {
        open_store(&self.store)
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    pub fn load(&mut self, name: &str) -> Result<BatchView> {
        check_name(name)?;
        let store = self.store()?.clone();
        let now = self.tick();
        if !self.entries.contains_key(name) {
            let info = store.info(name)?;
            let mut buf = PageBuf::zeroed(info.nbytes as usize)?;
            let mut dst = Dst::contiguous(buf.as_mut_slice(), &info.shape, info.dtype.size())?;
            store.load(name, info.dtype, &mut dst)?;
            self.entries.insert(
                name.to_string(),
                Entry {
                    dtype: info.dtype,
                    shape: info.shape,
                    content: Content::Memory(buf),
                    changed: false,
                    last_use: now,
                },
            );
        }
        let entry = self.entries.get_mut(name).expect("inserted above");
        entry.last_use = now;
        if let Content::Spilled(state) = &entry.content {
            let mut buf = PageBuf::zeroed(state.meta.size_bytes as usize)?;
            data::open_reader(state)?.read_at(buf.as_mut_slice(), 0)?;
            entry.content = Content::Memory(buf);
        }
        let view = view_of(entry);
        self.enforce_limit(name)?;
        Ok(view)
    }

    pub fn save(&mut self, name: &str, dtype: DType, src: &Src) -> Result<()> {
        check_name(name)?;
        check_itemsize(dtype, &src.layout)?;
        self.store()?;
        let (start, len) = (src.data.as_ptr(), src.data.len());
        if self.tombstones.iter().any(|t| t.overlaps(start, len)) {
            return Err(Error::invalid(format!(
                "the buffer saved as {name:?} is a view this batch invalidated (evicted under the memory limit or replaced by a later save); load the array again"
            )));
        }
        let now = self.tick();
        let own = self.entries.get(name).and_then(|e| match &e.content {
            Content::Memory(b) if !b.is_empty() => Some((b.as_ptr(), e.dtype, e.shape.clone())),
            _ => None,
        });
        let same_view = own.is_some_and(|(ptr, d, shape)| {
            ptr == src_ptr(src)
                && d == dtype
                && shape == src.layout.shape
                && src.layout.is_c_contiguous()
        });
        if !same_view {
            // Copy now: the caller may reuse its buffer the moment we return. The source may be
            // our own old buffer, so the old entry is replaced only after the copy.
            let mut buf = PageBuf::zeroed(src.layout.byte_len() as usize)?;
            match src.as_c_bytes() {
                Some(bytes) => buf.as_mut_slice().copy_from_slice(bytes),
                None => src.gather_rows(0, buf.as_mut_slice()),
            }
            self.txn.unstage(&data_file_name(name));
            let old = self.entries.insert(
                name.to_string(),
                Entry {
                    dtype,
                    shape: src.layout.shape.clone(),
                    content: Content::Memory(buf),
                    changed: true,
                    last_use: now,
                },
            );
            self.bury(old.map(|e| e.content));
        } else {
            let e = self.entries.get_mut(name).expect("own view exists");
            e.changed = true;
            e.last_use = now;
        }
        self.enforce_limit(name)
    }

    /// Spills or evicts the least recently used arrays other than `keep` until under the limit.
    fn enforce_limit(&mut self, keep: &str) -> Result<()> {
        if self.limit_bytes == 0 {
            return Ok(());
        }
        let store = self.store()?.clone();
        while self.cached_bytes() > self.limit_bytes {
            let victim = self
                .entries
                .iter()
                .filter(|(n, e)| n.as_str() != keep && e.bytes() > 0)
                .min_by_key(|(_, e)| e.last_use)
                .map(|(n, _)| n.clone());
            let Some(victim) = victim else { break };
            let entry = self.entries.get_mut(&victim).expect("found above");
            if entry.changed {
                let Content::Memory(buf) = &entry.content else {
                    unreachable!()
                };
                let current = store.snapshot();
                let state = store.stage_array(
                    &mut self.txn,
                    &current,
                    &victim,
                    entry.dtype,
                    &entry.shape,
                    |file, path| {
                        fsutil::write_all_at(file, buf.as_slice(), 0).ctx(format_args!(
                            "cannot spill array {victim:?} to {}",
                            path.display()
                        ))
                    },
                )?;
                let old = std::mem::replace(&mut entry.content, Content::Spilled(state));
                self.bury(Some(old));
            } else {
                let old = self.entries.remove(&victim).map(|e| e.content);
                self.bury(old);
            }
        }
        Ok(())
    }

    /// Retires a buffer the caller may still hold a view of.
    fn bury(&mut self, content: Option<Content>) {
        if let Some(Content::Memory(buf)) = content {
            self.tombstones.push(buf.retire());
        }
    }

    /// Writes every changed array and commits them together. On failure nothing is visible,
    /// and the batch (with its memory and spilled files) stays usable for a retry or an abort.
    pub fn end(&mut self) -> Result<()> {
        if self.open.is_none() {
            return Ok(());
        }
        if self.entries.values().all(|e| !e.changed) && self.attrs.is_none() {
            self.finish();
            return Ok(());
        }
        let result = self.write_and_commit();
        // Decided means committed, even if applying it reported an error: never commit twice.
        if result.is_ok() || self.txn.is_decided() {
            self.finish();
        } else {
            // Files written from memory are written again by a retry; left staged they would
            // hold on to the space a full disk needs back. Spilled arrays keep theirs: it is
            // the only copy of their contents.
            for (name, entry) in &self.entries {
                if entry.changed && matches!(entry.content, Content::Memory(_)) {
                    self.txn.unstage(&data_file_name(name));
                }
            }
        }
        result
    }

    fn write_and_commit(&mut self) -> Result<()> {
        let store = self.store()?.clone();
        let w = store.batch_writer()?;
        let current = store.snapshot();
        let mut next = (*current).clone();
        let now = fsutil::now_micros();
        for (name, entry) in self.entries.iter().filter(|(_, e)| e.changed) {
            let state = match &entry.content {
                // numpack 0.7.0's segments stay segments, as its own save would write them.
                Content::Memory(buf)
                    if store.saves_as_segments(&current, name, entry.dtype, &entry.shape) =>
                {
                    store.stage_segments(
                        &mut self.txn,
                        &current,
                        name,
                        entry.dtype,
                        &entry.shape,
                        buf.as_slice(),
                    )?
                }
                Content::Memory(buf) => store.stage_array(
                    &mut self.txn,
                    &current,
                    name,
                    entry.dtype,
                    &entry.shape,
                    |file, path| {
                        fsutil::write_all_at(file, buf.as_slice(), 0).ctx(format_args!(
                            "cannot write array {name:?} to {}",
                            path.display()
                        ))
                    },
                )?,
                Content::Spilled(state) => {
                    let mut state = state.clone();
                    state.meta.modify_time_us = now;
                    state
                }
            };
            next.arrays.insert(name.clone(), state);
        }
        if let Some(attrs) = &self.attrs {
            next.attrs = Arc::new((**attrs).clone());
        }
        store.commit_with(&w, &mut self.txn, next)
    }

    /// Sets an attribute of the store (`array` None) or of an array of the store or of this
    /// batch; it becomes visible at `end`, in the batch's commit.
    pub fn attr_set(&mut self, array: Option<&str>, key: &str, value: Value) -> Result<()> {
        self.attr_change(array, |a| a.set(array, key, value))
    }

    /// Deletes an attribute, at `end` like `attr_set`.
    pub fn attr_delete(&mut self, array: Option<&str>, key: &str) -> Result<()> {
        self.attr_change(array, |a| a.delete(array, key))
    }

    /// An attribute as this batch sees it: its own changes over the store's.
    pub fn attr_get(&self, array: Option<&str>, key: &str) -> Result<Value> {
        let store = self.store()?;
        self.check_owner(store, array)?;
        match &self.attrs {
            Some(a) => a.get(array, key).cloned(),
            None => store.snapshot().attrs.get(array, key).cloned(),
        }
    }

    fn check_owner(&self, store: &Store, array: Option<&str>) -> Result<()> {
        match array {
            Some(a) if self.entries.get(a).is_some_and(|e| e.changed) => check_name(a),
            _ => store.check_attr_owner(array),
        }
    }

    fn attr_change(
        &mut self,
        array: Option<&str>,
        change: impl FnOnce(&mut Attributes) -> Result<()>,
    ) -> Result<()> {
        let store = self.store()?.clone();
        self.check_owner(&store, array)?;
        let mut attrs = match &self.attrs {
            Some(a) => (**a).clone(),
            None => (*store.snapshot().attrs).clone(),
        };
        change(&mut attrs)?;
        self.attrs = Some(Box::new(attrs));
        Ok(())
    }

    fn finish(&mut self) {
        self.attrs = None;
        self.entries.clear();
        self.tombstones.clear();
        self.store = None;
        self.open = None;
    }

    /// Discards every change: dropping the batch removes its staged files (the transaction)
    /// and clears the store's batch flag.
    pub fn abort(self) {
        drop(self);
    }
}

fn view_of(entry: &mut Entry) -> BatchView {
    let ptr = match &mut entry.content {
        Content::Memory(b) if !b.is_empty() => b.as_mut_ptr(),
        _ => std::ptr::null_mut(),
    };
    BatchView {
        ptr,
        dtype: entry.dtype,
        shape: entry.shape.clone(),
        writable: true,
    }
}
