//! `npk_batch`: both batch modes behind one handle, ended by `npk_batch_end` or `npk_batch_abort`.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use parking_lot::Mutex;

use crate::batch::{Batch, BatchView, CacheBatch, WritableBatch};
use crate::error::{Error, ErrorKind, Result};
use crate::ffi::args::{dtype_arg, out, slice_arg, str_arg, typed_src};
use crate::ffi::sized::{caller_size, write_prefix};
use crate::ffi::store::{fill_view, npk_store, store_arg};
use crate::ffi::types::*;
use crate::ffi::{guard, npk_status};
use crate::format::DType;

/// An open batch on one store. One batch per store at a time. Use a batch from one thread at a
/// time (calls from several threads are serialised, never corrupt, but views are not
/// synchronised for you), except that `npk_batch_end` and `npk_batch_abort` free it: they must
/// not run while another call on it is in progress, and a freed handle must not be used again,
/// not even ended or aborted again (its memory may already belong to the next batch, so the
/// library cannot tell). While it is open,
/// plain writes on its store return NPK_BUSY and plain reads see the last committed state (a
/// writable batch writes in place, so its changes are visible to readers of the same files at
/// once). The store handle may be closed before the batch ends; the batch keeps the store open
/// until then.
pub struct npk_batch {
    batch: Mutex<Batch>,
    /// A writable batch's views, for loads and own-view saves that need no lock.
    known: Known,
}

impl npk_batch {
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, Batch> {
        self.batch.lock()
    }
}

/// The views of a writable batch's mapped arrays, each published once and unchanged while the
/// handle lives: a mapping stays for the whole batch, and only end or abort, which must not run
/// beside another call on the handle, frees the handle and them. The usual loop (load, change
/// a few rows, save the view back) then costs a lookup, not the mutex's two atomic
/// read-modify-writes (~100 ns on the dev VM, more than the loop's arithmetic). A cache batch
/// publishes nothing: its views can move (eviction, saves from other buffers).
struct Known {
    slots: [AtomicPtr<KnownView>; KNOWN_SLOTS],
}

/// Arrays past this many take the locked path, which is equally correct.
const KNOWN_SLOTS: usize = 8;

struct KnownView {
    name: Box<[u8]>,
    dtype: DType,
    shape: Vec<u64>,
    view: npk_view,
}

impl Known {
    fn new() -> Known {
        Known {
            slots: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
        }
    }

    fn find(&self, name: &[u8]) -> Option<&KnownView> {
        for slot in &self.slots {
            let p = slot.load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            // SAFETY: a published KnownView, never changed or freed before the handle drops.
            let k = unsafe { &*p };
            if *k.name == *name {
                return Some(k);
            }
        }
        None
    }

    /// Called with the batch mutex held, so publishers never race for a slot.
    fn publish(&self, name: &str, view: &BatchView) {
        if self.find(name.as_bytes()).is_some() {
            return;
        }
        let Some(slot) = self
            .slots
            .iter()
            .find(|s| s.load(Ordering::Acquire).is_null())
        else {
            return;
        };
        // SAFETY: npk_view is plain data; all-zero is valid, fields are set just below.
        let mut v: npk_view = unsafe { std::mem::zeroed() };
        fill_view(
            &mut v,
            view.ptr.cast(),
            view.dtype,
            &view.shape,
            view.writable,
        );
        v.struct_size = size_of::<npk_view>() as u32;
        let k = Box::new(KnownView {
            name: name.as_bytes().into(),
            dtype: view.dtype,
            shape: view.shape.clone(),
            view: v,
        });
        slot.store(Box::into_raw(k), Ordering::Release);
    }
}

impl Drop for Known {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            let p = *slot.get_mut();
            if !p.is_null() {
                // SAFETY: made by Box::into_raw in publish, freed once, here.
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

/// The bytes of a C string argument, for matching published names (valid UTF-8 by then).
fn name_bytes<'a>(name: *const c_char) -> Option<&'a [u8]> {
    if name.is_null() {
        return None;
    }
    // SAFETY: non-NULL; the C contract is a NUL-terminated string that outlives the call.
    Some(unsafe { CStr::from_ptr(name) }.to_bytes())
}

/// The handle behind a pointer; invalid argument for NULL, the one misuse that can be detected.
pub(crate) fn batch_arg<'a>(p: *const npk_batch) -> Result<&'a npk_batch> {
    if p.is_null() {
        return Err(Error::invalid("batch handle is NULL"));
    }
    // SAFETY: non-NULL; the C contract is a handle from a batch begin that npk_batch_end or
    // npk_batch_abort has not freed.
    Ok(unsafe { &*p })
}

fn begin(
    store: *mut npk_store,
    out_batch: *mut *mut npk_batch,
    make: impl FnOnce(&crate::Store) -> Result<Batch>,
) -> npk_status {
    guard(|| {
        let s = store_arg(store)?;
        let slot = out(out_batch, "out_batch")?;
        let batch = make(s)?;
        *slot = Box::into_raw(Box::new(npk_batch {
            batch: Mutex::new(batch),
            known: Known::new(),
        }));
        Ok(())
    })
}

/// Begins a cache batch (NumPack's `batch_mode()`): `npk_batch_load` reads an array once into
/// memory and returns a writable view of it; `npk_batch_save` puts an array into the cache
/// (a new shape or dtype is fine). Only arrays passed to `npk_batch_save` are written, all in
/// one commit at `npk_batch_end`: arrays changed through a view but never saved are not.
/// `memory_limit_mb` (0 = none) is soft: past it, the least recently used other arrays leave
/// memory (changed ones are first written to staged files, invisible until the commit) and are
/// read again on their next load, which invalidates their earlier views. An invalidated view's
/// memory is made inaccessible (touching it faults at once rather than reading recycled memory)
/// and saving from it returns NPK_INVALID_ARGUMENT.
/// NPK_BUSY if a batch is already open on the store; NPK_READ_ONLY on a read-only handle.
#[no_mangle]
pub extern "C" fn npk_batch_begin(
    store: *mut npk_store,
    memory_limit_mb: u64,
    out_batch: *mut *mut npk_batch,
) -> npk_status {
    begin(store, out_batch, |s| {
        CacheBatch::begin(s, memory_limit_mb).map(Batch::Cache)
    })
}

/// Begins a writable batch (NumPack's `writable_batch_mode()`): `npk_batch_load` maps the
/// array's data file shared and writable and returns a view into the mapping (no copy: the
/// library allocates no memory for the array). The view's pages are the file's page cache, so the
/// process's resident size (RSS) counts each page of the array the program touches (scaling a
/// whole array in place adds its full size to RSS), while its anonymous memory does not grow. These are
/// shared file pages: the kernel can drop clean ones and write dirty ones back to the file to
/// reclaim them, so they never need swap. Writes through a view go to the file in place (not
/// atomic: a crash may leave part of them). Shapes and dtypes cannot change. An array with dropped rows
/// is compacted (one commit) when first loaded, so a view never shows a dropped row. The handle
/// keeps the mapping after the batch, so the next writable batch on the same file maps nothing
/// (views are still invalid after end or abort); it goes when the array gets a new file (a
/// save, a compaction) or is dropped, and at npk_close.
/// If another program truncates a mapped data file, touching the lost pages raises SIGBUS
/// (a mapping cannot report it otherwise); `npk_batch_save` and `npk_batch_end` check first and
/// return NPK_CORRUPT naming the file, also when it was removed or replaced, rather than report
/// writes that went nowhere as saved.
#[no_mangle]
pub extern "C" fn npk_writable_batch_begin(
    store: *mut npk_store,
    out_batch: *mut *mut npk_batch,
) -> npk_status {
    begin(store, out_batch, |s| {
        WritableBatch::begin(s).map(Batch::Writable)
    })
}

/// Fills `*out_view` with the array's memory inside the batch (see npk_view for its lifetime:
/// until the batch ends or aborts, or, in a cache batch, until the array is saved from another
/// buffer or evicted under the memory limit). A second load of the same name returns the same
/// pointer without touching the disk. NPK_NOT_FOUND for a missing array. Set
/// `out_view->struct_size` first (NPK_VIEW_INIT).
#[no_mangle]
pub extern "C" fn npk_batch_load(
    batch: *mut npk_batch,
    name: *const c_char,
    out_view: *mut npk_view,
) -> npk_status {
    guard(|| {
        let b = batch_arg(batch)?;
        if let Some(k) = name_bytes(name).and_then(|n| b.known.find(n)) {
            let size = caller_size(out_view, "out_view")?;
            write_prefix(out_view, size, &k.view);
            return Ok(());
        }
        let name = str_arg(name, "name")?;
        let size = caller_size(out_view, "out_view")?;
        let mut locked = b.batch.lock();
        let view = locked.load(name)?;
        if matches!(*locked, Batch::Writable(_)) {
            b.known.publish(name, &view);
        }
        drop(locked);
        // SAFETY: npk_view is plain data; all-zero is valid, fields are set just below.
        let mut v: npk_view = unsafe { std::mem::zeroed() };
        fill_view(
            &mut v,
            view.ptr.cast(),
            view.dtype,
            &view.shape,
            view.writable,
        );
        write_prefix(out_view, size, &v);
        Ok(())
    })
}

/// Saves an array in the batch. Cache batch: passing a view's own `data` (same dtype and shape,
/// strides NULL or C order) marks it changed without a copy; any other buffer is copied before
/// the call returns, and its shape and dtype may differ from the stored array's (appending rows
/// by saving a longer array is fine); earlier views of that array become invalid. Writable batch:
/// the array must exist (NPK_NOT_FOUND otherwise: a writable batch creates no array) and is
/// mapped first if it was not loaded yet, as `npk_batch_load` would; the view's own pointer is a
/// no-op; another buffer of the same dtype and shape is copied into the mapping; a different
/// shape (NPK_SHAPE_MISMATCH) or dtype (NPK_DTYPE_MISMATCH) is refused.
#[no_mangle]
pub extern "C" fn npk_batch_save(
    batch: *mut npk_batch,
    name: *const c_char,
    dtype: npk_dtype,
    ndim: u32,
    shape: *const u64,
    data: *const c_void,
    strides: *const i64,
) -> npk_status {
    guard(|| {
        let b = batch_arg(batch)?;
        // The view's own pointer saved back in C order is a writable batch's no-op.
        if let Some(k) = name_bytes(name).and_then(|n| b.known.find(n)) {
            let own = strides.is_null()
                && !data.is_null()
                && std::ptr::eq(data, k.view.data)
                && dtype_arg(dtype).ok() == Some(k.dtype)
                && ndim as usize == k.shape.len()
                && slice_arg(shape, ndim as u64, "shape").ok() == Some(&k.shape[..]);
            if own {
                return Ok(());
            }
        }
        let name = str_arg(name, "name")?;
        let (dtype, src) = typed_src(dtype, ndim, shape, data, strides)?;
        b.batch.lock().save(name, dtype, &src)
    })
}

/// Ends the batch. Cache batch: writes every saved array and commits them together (after a
/// crash at any instant a reopen shows all of them new or all old). Writable batch: checks every
/// mapped file, msyncs the arrays' bytes synchronously on a durable store (otherwise nothing
/// needs flushing: the mapping is the file's page cache, which the kernel writes back as it
/// would a write()), and records modify times in the handle's
/// catalogue (written to metadata.npkm with the next commit or at npk_close); it writes
/// no file, so it fails only if msync does or a mapped file was truncated, removed or replaced
/// behind the store's back (NPK_CORRUPT: those writes are lost; npk_batch_abort ends the batch).
/// On success the handle is freed and every view is invalid; NPK_OK also when the commit was
/// decided but applying it failed (readers already see the new arrays; the store's next write or
/// next writer open completes it). NPK_NOT_DURABLE (durable store, fsync after the decision
/// failed): the arrays are committed and visible but not confirmed durable; the batch is over and
/// the handle freed, as on NPK_OK. On any other failure nothing new is committed, the handle stays
/// open with its contents, and the caller may retry or abort.
#[no_mangle]
pub extern "C" fn npk_batch_end(batch: *mut npk_batch) -> npk_status {
    guard(|| {
        let result = batch_arg(batch)?.batch.lock().end();
        if matches!(&result, Err(e) if e.kind != ErrorKind::NotDurable) {
            return result;
        }
        // SAFETY: a handle from a batch begin, not freed and not in use by another call (the C
        // contract); it ended (committed, durably or not), so it is freed here, once.
        drop(unsafe { Box::from_raw(batch) });
        result
    })
}

/// Discards the batch and frees the handle (NULL is fine). A cache batch leaves the store
/// exactly as it was; a writable batch records no modify times, but writes already made through
/// its views are in the files and stay there.
#[no_mangle]
pub extern "C" fn npk_batch_abort(batch: *mut npk_batch) -> npk_status {
    guard(|| {
        if !batch.is_null() {
            // SAFETY: a handle from a batch begin, not freed and not in use by another call (the
            // C contract); the caller gives up ownership here.
            let h = unsafe { Box::from_raw(batch) };
            h.batch.into_inner().abort();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::{NPK_NOT_DURABLE, NPK_OK};
    use crate::ffi::store::{npk_append, npk_close, npk_load, npk_open, npk_save};
    use crate::store::fsutil::fail_points::FSYNC_DIR_FAILS;
    use crate::test_util::tmp;
    use std::ffi::CString;

    /// Threads sharing one writable batch (allowed: calls are serialised) while views are being
    /// published: every load of a name gets the one mapping, and saving it back is fine.
    #[test]
    fn threads_loading_one_writable_batch_get_one_view_per_array() {
        let dir = CString::new(tmp("wb-threads").to_str().unwrap()).unwrap();
        let mut s: *mut npk_store = std::ptr::null_mut();
        assert_eq!(npk_open(dir.as_ptr(), NPK_OPEN_CREATE, &mut s), NPK_OK);
        let names = [c"a", c"b", c"c"];
        let shape = [64u64, 8];
        let data = vec![1.0f64; 64 * 8];
        for n in names {
            let st = npk_save(
                s,
                n.as_ptr(),
                NPK_FLOAT64,
                2,
                shape.as_ptr(),
                data.as_ptr().cast(),
                std::ptr::null(),
            );
            assert_eq!(st, NPK_OK);
        }
        let mut b: *mut npk_batch = std::ptr::null_mut();
        assert_eq!(npk_writable_batch_begin(s, &mut b), NPK_OK);
        let shared = b as usize;
        let seen: Vec<Vec<usize>> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    sc.spawn(move || {
                        let b = shared as *mut npk_batch;
                        let mut ptrs = vec![0usize; names.len()];
                        for i in 0..300 {
                            let k = (i + t) % names.len();
                            // SAFETY: npk_view is plain data; all-zero is valid.
                            let mut v: npk_view = unsafe { std::mem::zeroed() };
                            v.struct_size = size_of::<npk_view>() as u32;
                            assert_eq!(npk_batch_load(b, names[k].as_ptr(), &mut v), NPK_OK);
                            assert!(ptrs[k] == 0 || ptrs[k] == v.data as usize);
                            ptrs[k] = v.data as usize;
                            assert_eq!(v.shape[..2], shape);
                            let st = npk_batch_save(
                                b,
                                names[k].as_ptr(),
                                NPK_FLOAT64,
                                2,
                                shape.as_ptr(),
                                v.data,
                                std::ptr::null(),
                            );
                            assert_eq!(st, NPK_OK);
                        }
                        ptrs
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for other in &seen[1..] {
            assert_eq!(other, &seen[0]);
        }
        // Another shape is still refused after the lock-free path knows the array.
        let wrong = [32u64, 16];
        let st = npk_batch_save(
            b,
            c"a".as_ptr(),
            NPK_FLOAT64,
            2,
            wrong.as_ptr(),
            seen[0][0] as *const c_void,
            std::ptr::null(),
        );
        assert_eq!(st, crate::ffi::status::NPK_SHAPE_MISMATCH);
        assert_eq!(npk_batch_end(b), NPK_OK);
        assert_eq!(npk_close(s), NPK_OK);
    }

    /// NPK_NOT_DURABLE is a commit that happened: the rows and arrays are there, and a batch that
    /// ends so is over (its handle freed, so the store takes plain writes again).
    #[test]
    fn a_commit_whose_fsync_fails_after_the_decision_is_not_durable_and_done() {
        let dir = CString::new(tmp("not-durable").to_str().unwrap()).unwrap();
        let mut s: *mut npk_store = std::ptr::null_mut();
        assert_eq!(
            npk_open(dir.as_ptr(), NPK_OPEN_CREATE | NPK_OPEN_DURABLE, &mut s),
            NPK_OK
        );
        let name = c"a";
        let row_shape = [1u64, 2];
        let row = [1.0f64, 2.0];
        let put = |shape: &[u64; 2], data: &[f64]| {
            npk_save(
                s,
                name.as_ptr(),
                NPK_FLOAT64,
                2,
                shape.as_ptr(),
                data.as_ptr().cast(),
                std::ptr::null(),
            )
        };
        assert_eq!(put(&row_shape, &row), NPK_OK);

        FSYNC_DIR_FAILS.set(true);
        let st = npk_append(
            s,
            name.as_ptr(),
            NPK_FLOAT64,
            2,
            row_shape.as_ptr(),
            row.as_ptr().cast(),
            std::ptr::null(),
        );
        FSYNC_DIR_FAILS.set(false);
        assert_eq!(st, NPK_NOT_DURABLE);
        let mut back = [0.0f64; 4];
        let two_rows = [2u64, 2];
        assert_eq!(
            npk_load(
                s,
                name.as_ptr(),
                NPK_FLOAT64,
                2,
                two_rows.as_ptr(),
                back.as_mut_ptr().cast(),
                std::ptr::null()
            ),
            NPK_OK
        );
        assert_eq!(back, [1.0, 2.0, 1.0, 2.0]);

        let mut b: *mut npk_batch = std::ptr::null_mut();
        assert_eq!(npk_batch_begin(s, 0, &mut b), NPK_OK);
        let new = [5.0f64, 6.0];
        assert_eq!(
            npk_batch_save(
                b,
                name.as_ptr(),
                NPK_FLOAT64,
                2,
                row_shape.as_ptr(),
                new.as_ptr().cast(),
                std::ptr::null()
            ),
            NPK_OK
        );
        FSYNC_DIR_FAILS.set(true);
        let st = npk_batch_end(b);
        FSYNC_DIR_FAILS.set(false);
        assert_eq!(st, NPK_NOT_DURABLE);
        // The batch is over: a plain write is no longer NPK_BUSY.
        assert_eq!(put(&row_shape, &new), NPK_OK);
        let mut one = [0.0f64; 2];
        assert_eq!(
            npk_load(
                s,
                name.as_ptr(),
                NPK_FLOAT64,
                2,
                row_shape.as_ptr(),
                one.as_mut_ptr().cast(),
                std::ptr::null()
            ),
            NPK_OK
        );
        assert_eq!(one, new);
        assert_eq!(npk_close(s), NPK_OK);
    }
}
