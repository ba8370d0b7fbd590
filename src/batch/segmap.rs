//! One contiguous mapping of a segmented array (numpack 0.7.0), for a writable batch's view or a
//! read view: one address range is reserved (an inaccessible anonymous mapping of the total
//! size), then each segment file is mapped shared with MAP_FIXED over its part of that range,
//! side by side, so the caller gets one pointer to the whole array as for a single file, and
//! writes land in the segment files themselves.
//!
//! Side by side only works when every segment but the last is a whole number of pages: a
//! file's mapping starts on a page boundary. numpack 0.7.0 fills a segment to
//! floor(target / row bytes) rows, so its segments are page multiples exactly when the row size
//! divides the target (256 MiB unless NUMPACK_SEGMENT_TARGET_BYTES says otherwise): any row of a
//! power-of-two size, not a row of 3 float32. Other arrays are consolidated by the caller.

use crate::error::{Error, Result};
use crate::store::snapshot::SegmentFile;
use std::os::unix::io::AsRawFd;

pub(crate) struct SegmentedMap {
    base: *mut u8,
    reserved: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; the pointer is only handed
// out as the batch view's address, as a single file's MmapRaw is.
unsafe impl Send for SegmentedMap {}
// SAFETY: as above; nothing here is mutated through &self.
unsafe impl Sync for SegmentedMap {}

pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

/// Whether the segments can be mapped side by side (see the module comment).
pub(crate) fn side_by_side(segs: &[SegmentFile]) -> bool {
    let page = page_size();
    let n = segs.len();
    segs.iter()
        .take(n.saturating_sub(1))
        .all(|s| s.segment.bytes % page == 0)
}

impl SegmentedMap {
    /// Maps `segs` (whose bytes total `total` > 0) side by side, writable or read-only; the
    /// caller checked `side_by_side`.
    pub(crate) fn map(segs: &[SegmentFile], total: u64, writable: bool) -> Result<SegmentedMap> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let page = page_size();
        let reserved = usize::try_from(total.div_ceil(page) * page)
            .map_err(|_| Error::invalid("segmented array too large to map"))?;
        // SAFETY: a fresh anonymous reservation; the kernel picks the address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::io(
                format!("cannot reserve {reserved} bytes of address space for a segmented array"),
                &std::io::Error::last_os_error(),
            ));
        }
        let this = SegmentedMap {
            base: base.cast(),
            reserved,
        };
        let mut offset = 0u64;
        for s in segs {
            if s.segment.bytes == 0 {
                continue;
            }
            let len = (s.segment.bytes.div_ceil(page) * page) as usize;
            // SAFETY: [offset, offset + len) lies inside the reservation this value owns
            // (offsets are page multiples, checked by side_by_side, and the last segment's
            // rounded length ends at `reserved`), so MAP_FIXED replaces only our own pages.
            let got = unsafe {
                libc::mmap(
                    this.base.add(offset as usize).cast(),
                    len,
                    prot,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    s.file.as_raw_fd(),
                    0,
                )
            };
            if got == libc::MAP_FAILED {
                return Err(Error::io(
                    format!("cannot map {}", s.path.display()),
                    &std::io::Error::last_os_error(),
                ));
            }
            offset += s.segment.bytes;
        }
        Ok(this)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.base
    }

    /// A synchronous msync of the first `len` bytes (every segment's part).
    pub(crate) fn flush(&self, len: u64) -> std::io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: base is page aligned and [base, base + len) lies inside the reservation.
        let r = unsafe { libc::msync(self.base.cast(), len as usize, libc::MS_SYNC) };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for SegmentedMap {
    fn drop(&mut self) {
        // SAFETY: the whole reservation (and the segment mappings inside it) is ours and no
        // view of it outlives the batch that owns this value.
        unsafe { libc::munmap(self.base.cast(), self.reserved) };
    }
}
