//! The guest's side of the shared net ring (docs/hvt.md, "The net ring").
//!
//! When the tender sets bit 0 of the boot info's `host_features`, the
//! 49280-byte `struct hvt_ring` sits at `net_ring` (= `mem_size`, the 2 MiB
//! above guest memory). The guest queues entries there and a tender thread
//! serves them, so a frame costs no exit:
//!
//! - **write**: copy the frame into a buffer of ours, fill an entry
//!   (`NET_WRITE`, handle, buffer address, length), publish it by
//!   advancing `ent_tail`; no completion. The buffer stays the tender's
//!   until `ent_head` passes the entry, so the number of entries in flight
//!   is bounded by the number of buffers ([`NBUF`]), and an entry's buffer
//!   is `bufs[index % NBUF]`. Frames over [`BUF_SIZE`] bytes are not
//!   queued: the caller sends them by hypercall, after [`Ring::drain`] so
//!   that frames leave in the order they were written.
//! - **read**: an entry (`NET_READ`) pointing at the caller's buffer, then
//!   a busy-wait for its completion (`ret`, `len`), matched by `id` (the
//!   entry's index).
//! - **kick**: after publishing, a full fence, then `outl 0, 0x600` only
//!   if the tender said `needs_kick` (its thread is about to sleep; KVM
//!   turns the port write into an eventfd signal).
//!
//! Indices are free-running u32 (slot = index & 1023); the guest owns
//! `ent_tail` and `com_head`, the tender `ent_head`, `com_tail` and
//! `needs_kick`. Guest addresses are physical ones (identity map).
//!
//! [`Host`] is what the ring needs from outside (the kick, and one turn of
//! a busy-wait), so that the logic is tested on the build host.

use core::sync::atomic::{fence, AtomicU32, Ordering};

use solo5_abi::result;

use solo5_abi::hvt::{Ring as RingLayout, RingCommit, RingEntry};

/// `sizeof(struct hvt_ring)`.
pub(crate) const SIZE: usize = core::mem::size_of::<RingLayout>();
/// Entries (and completions) in the ring.
use solo5_abi::hvt::RING_SLOTS as SLOTS;
const MASK: u32 = SLOTS - 1;
/// Largest frame written through the ring.
pub(crate) const BUF_SIZE: usize = 2048;
/// Write buffers, hence entries in flight at most (a power of two below
/// [`SLOTS`]). 32 frames of 1514 bytes keep the tender's thread busy far
/// longer than the guest takes to fill them.
pub(crate) const NBUF: u32 = 32;
const _: () = assert!(NBUF.is_power_of_two() && NBUF < SLOTS);

/// The write buffers.
pub(crate) type Bufs = [[u8; BUF_SIZE]; NBUF as usize];

/// Entry operations.
use solo5_abi::hvt::{RING_OP_NET_READ as OP_NET_READ, RING_OP_NET_WRITE as OP_NET_WRITE};

/// Offsets in `struct hvt_ring`, from [`solo5_abi::hvt::Ring`].
mod off {
    use super::{RingCommit, RingEntry, RingLayout};
    use core::mem::{offset_of, size_of};
    pub const ENT_TAIL: usize = offset_of!(RingLayout, ent_tail);
    pub const COM_HEAD: usize = offset_of!(RingLayout, com_head);
    pub const ENT_HEAD: usize = offset_of!(RingLayout, ent_head);
    pub const COM_TAIL: usize = offset_of!(RingLayout, com_tail);
    pub const NEEDS_KICK: usize = offset_of!(RingLayout, needs_kick);
    pub const ENTRIES: usize = offset_of!(RingLayout, entries);
    pub const ENTRY_SIZE: usize = size_of::<RingEntry>();
    pub const COMMITS: usize = offset_of!(RingLayout, commits);
    pub const COMMIT_SIZE: usize = size_of::<RingCommit>();
    pub const E_OPERATION: usize = offset_of!(RingEntry, operation);
    pub const E_HANDLE: usize = offset_of!(RingEntry, handle);
    pub const E_DATA: usize = offset_of!(RingEntry, data);
    pub const E_LEN: usize = offset_of!(RingEntry, len);
    pub const E_ID: usize = offset_of!(RingEntry, id);
    pub const C_ID: usize = offset_of!(RingCommit, id);
    pub const C_RET: usize = offset_of!(RingCommit, ret);
    pub const C_LEN: usize = offset_of!(RingCommit, len);
}

/// What the ring needs from its surroundings.
pub(crate) trait Host {
    /// Wake the tender's thread (the ring said `needs_kick`).
    fn kick(&self);
    /// One turn of a busy-wait on the tender.
    fn relax(&self);
}

/// The ring at a fixed address.
pub(crate) struct Ring {
    base: *mut u8,
}

impl Ring {
    /// The ring at `base`.
    ///
    /// # Safety
    /// `base` must be 64-byte aligned and point to [`SIZE`] bytes shared
    /// only with the tender (which follows docs/hvt.md, "The net ring"), valid as long as
    /// the `Ring` is used; one `Ring` per ring, used from one thread.
    pub(crate) unsafe fn new(base: *mut u8) -> Ring {
        Ring { base }
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off < SIZE);
        // SAFETY: base + off lies inside the ring (off < SIZE) and is
        // 4-byte aligned (base is 64-byte aligned, off a multiple of 4);
        // the tender touches these words only with aligned 32-bit
        // accesses (Ring::new's contract).
        unsafe { AtomicU32::from_ptr(self.base.add(off).cast()) }
    }

    fn put32(&self, off: usize, v: u32) {
        // SAFETY: off + 4 <= SIZE for every entry field; entries at or
        // beyond ent_tail are the guest's alone until published.
        unsafe { core::ptr::write_volatile(self.base.add(off).cast::<u32>(), v) }
    }

    fn get32(&self, off: usize) -> u32 {
        // SAFETY: off + 4 <= SIZE for every commit field; a commit below
        // com_tail is no longer written by the tender.
        unsafe { core::ptr::read_volatile(self.base.add(off).cast::<u32>()) }
    }

    /// Entries submitted and not yet taken by the tender.
    pub(crate) fn in_flight(&self) -> u32 {
        let tail = self.word(off::ENT_TAIL).load(Ordering::Relaxed);
        tail.wrapping_sub(self.word(off::ENT_HEAD).load(Ordering::Acquire))
    }

    /// Waits until fewer than `limit` entries are in flight; the index
    /// of the next entry.
    fn reserve(&self, host: &impl Host, limit: u32) -> u32 {
        while self.in_flight() >= limit {
            host.relax();
        }
        self.word(off::ENT_TAIL).load(Ordering::Relaxed)
    }

    /// Fills entry `index` and publishes it; kicks if the tender asks.
    fn submit(&self, host: &impl Host, index: u32, op: u32, handle: u32, data: u64, len: u32) {
        let at = off::ENTRIES + (index & MASK) as usize * off::ENTRY_SIZE;
        self.put32(at + off::E_OPERATION, op);
        self.put32(at + off::E_HANDLE, handle);
        self.put32(at + off::E_DATA, data as u32);
        self.put32(at + off::E_DATA + 4, (data >> 32) as u32);
        self.put32(at + off::E_LEN, len);
        self.put32(at + off::E_ID, index);
        self.word(off::ENT_TAIL)
            .store(index.wrapping_add(1), Ordering::Release);
        // The tender sets needs_kick, fences, then looks at ent_tail once
        // more: with a fence here too, one of the two sees the other.
        fence(Ordering::SeqCst);
        if self.word(off::NEEDS_KICK).load(Ordering::Relaxed) != 0 {
            host.kick();
        }
    }

    /// Queues `frame` for device `handle`, copied into `bufs`. False,
    /// and nothing queued, when the frame is over [`BUF_SIZE`] bytes.
    ///
    /// # Safety
    /// `bufs` must be valid for writes, used for no other ring, and not
    /// otherwise accessed while the `Ring` is in use (the tender reads
    /// the buffers of entries in flight).
    pub(crate) unsafe fn write(
        &self,
        host: &impl Host,
        bufs: *mut Bufs,
        handle: u32,
        frame: &[u8],
    ) -> bool {
        if frame.len() > BUF_SIZE {
            return false;
        }
        let index = self.reserve(host, NBUF);
        // SAFETY: fewer than NBUF entries are in flight, so the entry that
        // last used buffer index % NBUF has been taken by the tender; the
        // caller keeps everyone else away from bufs.
        let buf = unsafe { (*bufs)[(index % NBUF) as usize].as_mut_ptr() };
        // SAFETY: buf holds BUF_SIZE >= frame.len() bytes, disjoint from
        // frame (the caller's).
        unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), buf, frame.len()) };
        self.submit(
            host,
            index,
            OP_NET_WRITE,
            handle,
            buf as u64,
            frame.len() as u32,
        );
        true
    }

    /// Waits until the tender has taken every entry.
    pub(crate) fn drain(&self, host: &impl Host) {
        self.reserve(host, 1);
    }

    /// Receives a frame for device `handle` into `buf`: the tender's
    /// result code and the length received.
    pub(crate) fn read(&self, host: &impl Host, handle: u32, buf: &mut [u8]) -> (u32, usize) {
        let index = self.reserve(host, NBUF);
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let head = self.word(off::COM_HEAD).load(Ordering::Relaxed);
        self.submit(
            host,
            index,
            OP_NET_READ,
            handle,
            buf.as_mut_ptr() as u64,
            len,
        );
        while self.word(off::COM_TAIL).load(Ordering::Acquire) == head {
            host.relax();
        }
        let at = off::COMMITS + (head & MASK) as usize * off::COMMIT_SIZE;
        let (id, ret, n) = (
            self.get32(at + off::C_ID),
            self.get32(at + off::C_RET),
            self.get32(at + off::C_LEN),
        );
        self.word(off::COM_HEAD)
            .store(head.wrapping_add(1), Ordering::Release);
        if id != index {
            return (result::EUNSPEC, 0);
        }
        if ret != result::OK {
            return (ret, 0);
        }
        (ret, (n as usize).min(buf.len()))
    }
}

#[cfg(test)]
mod tests;
