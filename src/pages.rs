//! Buffers the library hands out (cache-batch arrays, copied views): anonymous mappings, so
//! they start on a page boundary (copies from the page cache run at full speed) and so they
//! can be retired into tombstones. A caller may
//! still hold a view of a buffer the batch evicted (memory limit) or replaced (a save from
//! another buffer). Retiring returns the pages to the system but keeps the address range
//! reserved and inaccessible until the batch ends, so a stale read or write faults at once
//! instead of touching recycled memory, and a save from a stale pointer is recognised exactly:
//! no other allocation can be given those addresses meanwhile.

use std::ptr::NonNull;

use crate::error::{Error, ErrorKind, Result};

fn page_len(len: usize) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    len.div_ceil(page) * page
}

const HUGE_PAGE: usize = 2 << 20;

/// A large buffer on a 2 MiB boundary, asking for transparent huge pages (this kernel grants
/// them on request): a fresh 40 MB buffer is then zeroed and populated several times faster
/// than 10,000 separate 4 KiB pages. Returns MAP_FAILED on failure.
fn huge_mapping(map_len: usize) -> *mut libc::c_void {
    // SAFETY: a fresh private anonymous reservation; we then unmap only its unaligned head and
    // tail, which belong to it, and advise on the aligned middle we keep.
    unsafe {
        let raw = libc::mmap(
            std::ptr::null_mut(),
            map_len + HUGE_PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if raw == libc::MAP_FAILED {
            return raw;
        }
        let start = (raw as usize).next_multiple_of(HUGE_PAGE);
        let head = start - raw as usize;
        if head > 0 {
            libc::munmap(raw, head);
        }
        let tail = HUGE_PAGE - head;
        if tail > 0 {
            libc::munmap((start + map_len) as *mut libc::c_void, tail);
        }
        let ptr = start as *mut libc::c_void;
        // Advice only: without huge pages or MADV_POPULATE_WRITE the buffer still works.
        libc::madvise(ptr, map_len, libc::MADV_HUGEPAGE);
        libc::madvise(ptr, map_len, libc::MADV_POPULATE_WRITE);
        ptr
    }
}

pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
    map_len: usize,
}

// SAFETY: PageBuf owns its mapping exclusively, like Vec<u8>.
unsafe impl Send for PageBuf {}
// SAFETY: through &PageBuf only shared slices and const pointers are handed out, like &Vec<u8>.
unsafe impl Sync for PageBuf {}

impl PageBuf {
    pub fn zeroed(len: usize) -> Result<PageBuf> {
        if len == 0 {
            return Ok(PageBuf {
                ptr: NonNull::dangling(),
                len: 0,
                map_len: 0,
            });
        }
        let map_len = page_len(len);
        let ptr = if map_len >= HUGE_PAGE {
            huge_mapping(map_len)
        } else {
            // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
            // Populated up front: the buffer is about to be filled whole, and one kernel pass
            // costs far less than a page fault per 4 KiB.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                    -1,
                    0,
                )
            }
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::new(
                ErrorKind::OutOfMemory,
                format!("cannot allocate {len} bytes for the batch cache"),
            ));
        }
        Ok(PageBuf {
            ptr: NonNull::new(ptr.cast()).expect("mmap never returns NULL on success"),
            len,
            map_len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping holds `len` initialised (zero-filled) bytes, or len is 0.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Frees the memory, keeping the addresses reserved and inaccessible.
    pub fn retire(self) -> Tombstone {
        let stone = Tombstone {
            ptr: self.ptr,
            map_len: self.map_len,
        };
        if self.map_len != 0 {
            // SAFETY: the range is our own mapping; discarding its pages and protecting it
            // affects no other memory. The caller's stale views now fault instead of reading.
            unsafe {
                libc::madvise(self.ptr.as_ptr().cast(), self.map_len, libc::MADV_DONTNEED);
                libc::mprotect(self.ptr.as_ptr().cast(), self.map_len, libc::PROT_NONE);
            }
        }
        std::mem::forget(self);
        stone
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if self.map_len != 0 {
            // SAFETY: our own mapping, unmapped once.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.map_len) };
        }
    }
}

/// The reserved address range of a retired buffer.
pub struct Tombstone {
    ptr: NonNull<u8>,
    map_len: usize,
}

// SAFETY: a Tombstone owns an inaccessible reservation; nothing is shared through it.
unsafe impl Send for Tombstone {}

impl Tombstone {
    /// True when `[start, start + len)` touches this reservation.
    pub fn overlaps(&self, start: *const u8, len: usize) -> bool {
        let (lo, hi) = (
            self.ptr.as_ptr() as usize,
            self.ptr.as_ptr() as usize + self.map_len,
        );
        let (s, e) = (start as usize, start as usize + len.max(1));
        self.map_len != 0 && s < hi && lo < e
    }
}

impl Drop for Tombstone {
    fn drop(&mut self) {
        if self.map_len != 0 {
            // SAFETY: the reservation made by PageBuf, released once.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.map_len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_buffer_frees_its_pages_and_is_recognised() {
        let mut b = PageBuf::zeroed(10_000).unwrap();
        b.as_mut_slice()[9_999] = 7;
        let p = b.as_ptr();
        assert_eq!(p as usize % 4096, 0);
        let stone = b.retire();
        assert!(stone.overlaps(p, 1));
        // SAFETY: only the address is computed, nothing is dereferenced.
        assert!(stone.overlaps(unsafe { p.add(9_999) }, 8));
        assert!(!stone.overlaps(unsafe { p.add(12_288) }, 8));
        let other = PageBuf::zeroed(10_000).unwrap();
        assert!(
            !stone.overlaps(other.as_ptr(), other.len()),
            "reserved addresses are not reused"
        );
    }
}
