//! The shared net ring (docs/hvt.md, "The net ring"): 2 MiB at the top of the
//! allocation, above the guest's `mem_size`, where the guest queues frame
//! writes and read requests and a tender thread serves them without an
//! exit per frame.
//!
//! The I/O thread spins a bounded number of times looking for work, then
//! sets `needs_kick` and sleeps on the eventfd that KVM signals when the
//! guest writes the kick port (`KVM_IOEVENTFD`, no exit to the tender).
//! Entries are served strictly in order: writes are fire-and-forget (no
//! completion), each read gets one completion, in submission order. A
//! frame the host refuses (a hung-up socket, a pipe's read end) cannot be
//! reported to the guest through the ring: the tender says so on stderr,
//! once per device, and drops it (upstream exits).
//!
//! The guest owns `ent_tail` and `com_head`, the tender `ent_head`,
//! `com_tail` and `needs_kick`; all are free-running u32 indices, slot =
//! index & 1023. Every guest buffer is checked against guest memory as a
//! hypercall's is: a bad one stops the guest with one line.

use crate::memory::{BadAccess, GuestMemory};
use crate::net::NetShared;
use crate::sys::{self, fatal, Errno};
use solo5_abi::result::{EINVAL, OK};
use solo5_tender::devices::io::Transfer;
use solo5_tender::devices::table::ETHER_HLEN;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use vmm_sys_util::eventfd::EventFd;

use solo5_abi::hvt::{Ring as RingLayout, RingCommit, RingEntry};

pub use solo5_abi::hvt::{
    FEATURE_RING_IO, RING_KICK_PORT as KICK_PORT, RING_OP_NET_READ as OP_NET_READ,
    RING_OP_NET_WRITE as OP_NET_WRITE, RING_SLOTS as SLOTS,
};

/// `sizeof(struct hvt_ring)`.
pub const RING_SIZE: u64 = core::mem::size_of::<RingLayout>() as u64;
/// What the ring reserves at the top of the allocation: one 2 MiB page.
pub const RESERVED: u64 = crate::layout::MEM_ALIGN;
const MASK: u32 = SLOTS - 1;
/// How many times the I/O thread looks for work before it sleeps.
pub const SPIN: u32 = 4096;

/// Offsets in `struct hvt_ring`, from [`solo5_abi::hvt::Ring`].
pub mod off {
    use super::{RingCommit, RingEntry, RingLayout};
    use core::mem::{offset_of, size_of};
    /// `u32 ent_tail`, guest.
    pub const ENT_TAIL: u64 = offset_of!(RingLayout, ent_tail) as u64;
    /// `u32 com_head`, guest.
    pub const COM_HEAD: u64 = offset_of!(RingLayout, com_head) as u64;
    /// `u32 ent_head`, host.
    pub const ENT_HEAD: u64 = offset_of!(RingLayout, ent_head) as u64;
    /// `u32 com_tail`, host.
    pub const COM_TAIL: u64 = offset_of!(RingLayout, com_tail) as u64;
    /// `u32 needs_kick`, host.
    pub const NEEDS_KICK: u64 = offset_of!(RingLayout, needs_kick) as u64;
    /// `entries[1024]`.
    pub const ENTRIES: u64 = offset_of!(RingLayout, entries) as u64;
    /// `sizeof(struct hvt_ring_entry)`.
    pub const ENTRY_SIZE: u64 = size_of::<RingEntry>() as u64;
    /// `commits[1024]`.
    pub const COMMITS: u64 = offset_of!(RingLayout, commits) as u64;
    /// `sizeof(struct hvt_ring_commit)`.
    pub const COMMIT_SIZE: u64 = size_of::<RingCommit>() as u64;
    /// Entry fields.
    pub const E_OPERATION: u64 = offset_of!(RingEntry, operation) as u64;
    /// `u32 handle`.
    pub const E_HANDLE: u64 = offset_of!(RingEntry, handle) as u64;
    /// `u64 data`.
    pub const E_DATA: u64 = offset_of!(RingEntry, data) as u64;
    /// `u32 len`.
    pub const E_LEN: u64 = offset_of!(RingEntry, len) as u64;
    /// `u32 id`.
    pub const E_ID: u64 = offset_of!(RingEntry, id) as u64;
    /// Commit fields: `u32 id`.
    pub const C_ID: u64 = offset_of!(RingCommit, id) as u64;
    /// `i32 ret`.
    pub const C_RET: u64 = offset_of!(RingCommit, ret) as u64;
    /// `u32 len`.
    pub const C_LEN: u64 = offset_of!(RingCommit, len) as u64;
}

/// Why the ring stops the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// A buffer outside guest memory (or a read into a read-only segment).
    Access(BadAccess),
}

/// One submission entry, as read from guest memory.
#[derive(Clone, Copy, Debug)]
struct Entry {
    operation: u32,
    handle: u32,
    data: u64,
    len: u32,
    id: u32,
}

/// The ring in guest memory, with what serving it needs.
pub struct Ring {
    mem: Arc<GuestMemory>,
    base: *mut u8,
    /// Host descriptor by manifest index; -1 where there is no net device.
    nets: [i32; 64],
    /// Largest frame each net device takes (MTU + 14), by manifest index.
    max_frame: [u32; 64],
    shared: Arc<NetShared>,
}

// SAFETY: `base` points into the guest memory `mem` keeps mapped; the
// ring is only reached through atomics and raw copies (see GuestMemory's
// Send), and one Ring is used by one thread at a time.
unsafe impl Send for Ring {}

impl Ring {
    /// The ring at `gpa` of `mem` for net devices `nets` (manifest index,
    /// descriptor, MTU). `gpa` must leave room for the ring inside the
    /// allocation and be 64-byte aligned.
    pub fn new(
        mem: Arc<GuestMemory>,
        gpa: u64,
        nets: &[(usize, i32, u16)],
        shared: Arc<NetShared>,
    ) -> Result<Ring, BadAccess> {
        let bad = BadAccess {
            gpa,
            len: RING_SIZE,
        };
        if !gpa.is_multiple_of(64) {
            return Err(bad);
        }
        let base = mem.reserved_ptr(gpa, RING_SIZE).map_err(|_| bad)?;
        if !(base as usize).is_multiple_of(64) {
            return Err(bad);
        }
        let mut fds = [-1; 64];
        let mut max_frame = [0; 64];
        for &(i, fd, mtu) in nets {
            if i < 64 {
                fds[i] = fd;
                max_frame[i] = u32::from(mtu) + ETHER_HLEN as u32;
            }
        }
        Ok(Ring {
            mem,
            base,
            nets: fds,
            max_frame,
            shared,
        })
    }

    /// Zero the ring, as the tender does before the guest runs.
    pub fn clear(&self) {
        // SAFETY: [base, base + RING_SIZE) lies inside the mapping
        // (checked by new) and no reference to it exists.
        unsafe { core::ptr::write_bytes(self.base, 0, RING_SIZE as usize) };
    }

    fn word(&self, off: u64) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(4) && off < RING_SIZE);
        // SAFETY: base + off lies inside the ring (off < RING_SIZE, checked
        // by new), is 4-byte aligned (base is 64-byte aligned, off a
        // multiple of 4), and stays mapped as long as self holds `mem`.
        // The guest touches these words only with aligned 32-bit accesses.
        unsafe { AtomicU32::from_ptr(self.base.add(off as usize).cast()) }
    }

    /// Whether the guest has submitted entries not yet served.
    pub fn pending(&self) -> bool {
        self.word(off::ENT_HEAD).load(Ordering::Relaxed)
            != self.word(off::ENT_TAIL).load(Ordering::Acquire)
    }

    fn set_needs_kick(&self, v: u32) {
        self.word(off::NEEDS_KICK).store(v, Ordering::SeqCst);
    }

    fn read32(&self, off: u64) -> u32 {
        // SAFETY: off + 4 <= RING_SIZE for every entry field (slot < 1024);
        // an unaligned-safe volatile read of guest-owned bytes.
        unsafe { core::ptr::read_volatile(self.base.add(off as usize).cast::<u32>()) }
    }

    fn entry(&self, index: u32) -> Entry {
        let at = off::ENTRIES + u64::from(index & MASK) * off::ENTRY_SIZE;
        let lo = u64::from(self.read32(at + off::E_DATA));
        let hi = u64::from(self.read32(at + off::E_DATA + 4));
        Entry {
            operation: self.read32(at + off::E_OPERATION),
            handle: self.read32(at + off::E_HANDLE),
            data: lo | hi << 32,
            len: self.read32(at + off::E_LEN),
            id: self.read32(at + off::E_ID),
        }
    }

    /// Post the completion of a read entry.
    fn commit(&self, id: u32, ret: u32, len: u32) {
        let tail = self.word(off::COM_TAIL).load(Ordering::Relaxed);
        let at = off::COMMITS + u64::from(tail & MASK) * off::COMMIT_SIZE;
        for (o, v) in [(off::C_ID, id), (off::C_RET, ret), (off::C_LEN, len)] {
            // SAFETY: the commit slot lies inside the ring (slot < 1024).
            unsafe { core::ptr::write_volatile(self.base.add((at + o) as usize).cast::<u32>(), v) };
        }
        self.word(off::COM_TAIL)
            .store(tail.wrapping_add(1), Ordering::Release);
    }

    fn fd(&self, handle: u32) -> Option<(usize, i32)> {
        let i = handle as usize;
        self.nets.get(i).filter(|fd| **fd >= 0).map(|&fd| (i, fd))
    }

    fn write(&self, e: &Entry) -> Result<(), RingFault> {
        // Bad handles are dropped silently, as upstream; so are frames
        // longer than MTU + 14 bytes (a hypercall gets EINVAL for them).
        let Some((i, fd)) = self.fd(e.handle) else {
            return Ok(());
        };
        if e.len > self.max_frame[i] {
            return Ok(());
        }
        let len = u64::from(e.len);
        let p = self.mem.ptr(e.data, len).map_err(RingFault::Access)?;
        // SAFETY: [p, p + len) lies inside guest memory (checked above).
        match unsafe { self.shared.status.write(i, fd, p, e.len as usize) } {
            // None: at end of file, nobody is there to read it.
            None | Some(Transfer::Done) => {}
            Some(Transfer::Short(n)) => self.shared.write_failed(i, None, n, e.len),
            Some(Transfer::Error(errno)) => self.shared.write_failed(i, Some(errno), 0, e.len),
        }
        Ok(())
    }

    fn read(&self, e: &Entry) -> Result<(), RingFault> {
        let Some((i, fd)) = self.fd(e.handle) else {
            self.commit(e.id, EINVAL, 0);
            return Ok(());
        };
        let len = u64::from(e.len);
        self.mem
            .check_writable(e.data, len)
            .map_err(RingFault::Access)?;
        let p = self.mem.ptr(e.data, len).map_err(RingFault::Access)?;
        // SAFETY: [p, p + len) lies inside guest memory, outside the
        // read-only segments (checked above).
        let (ret, n) = match unsafe { self.shared.status.read(i, fd, p, e.len as usize) } {
            Ok(n) => (OK, n as u32),
            Err(code) => (code, 0),
        };
        self.commit(e.id, ret, n);
        Ok(())
    }

    /// Serve every entry submitted so far, in order. Consecutive writes
    /// are retired together; a read's completion is posted before the
    /// entries after it are looked at.
    pub fn process(&self) -> Result<(), RingFault> {
        let tail = self.word(off::ENT_TAIL).load(Ordering::Acquire);
        let head_word = self.word(off::ENT_HEAD);
        let mut head = head_word.load(Ordering::Relaxed);
        // A guest cannot have more than a ring's worth outstanding; if its
        // tail says otherwise, serve what the ring can hold.
        if tail.wrapping_sub(head) > SLOTS {
            head = tail.wrapping_sub(SLOTS);
        }
        while head != tail {
            let e = self.entry(head);
            match e.operation {
                OP_NET_WRITE => self.write(&e)?,
                OP_NET_READ => {
                    head_word.store(head, Ordering::Release);
                    self.read(&e)?;
                }
                _ => {}
            }
            head = head.wrapping_add(1);
        }
        head_word.store(head, Ordering::Release);
        Ok(())
    }
}

/// Stop the guest for a ring fault (from the I/O thread).
fn ring_fault(f: RingFault) -> ! {
    match f {
        RingFault::Access(b) => fatal(format_args!(
            "Invalid guest access: gpa={:#x}, sz={}",
            b.gpa, b.len
        )),
    }
}

/// What the run loop and the I/O thread share.
#[derive(Debug, Default)]
pub struct Control {
    /// The thread is up (its start-up system calls are done).
    pub ready: AtomicBool,
    /// HALT: serve what is left, then stop.
    pub stop: AtomicBool,
    /// The thread served everything and stopped.
    pub stopped: AtomicBool,
}

/// Block until the eventfd `efd` is signalled (its `read` retries on
/// EINTR).
fn sleep_on(efd: &EventFd) {
    if let Err(e) = efd.read() {
        fatal(format_args!(
            "net ring: eventfd read failed: {}",
            Errno(e.raw_os_error().unwrap_or(0))
        ))
    }
}

/// The I/O thread: serve `ring` until HALT (it never returns; the process
/// ends with the guest's exit).
pub fn serve(ring: Ring, efd: &EventFd, ctl: Arc<Control>) -> ! {
    ctl.ready.store(true, Ordering::Release);
    loop {
        let mut found = false;
        for _ in 0..SPIN {
            if ring.pending() {
                found = true;
                break;
            }
            core::hint::spin_loop();
        }
        if !found {
            ring.set_needs_kick(1);
            fence(Ordering::SeqCst);
            if !ring.pending() && !ctl.stop.load(Ordering::Acquire) {
                sleep_on(efd);
            }
            ring.set_needs_kick(0);
        }
        if let Err(f) = ring.process() {
            ring_fault(f)
        }
        if ctl.stop.load(Ordering::Acquire) {
            if let Err(f) = ring.process() {
                ring_fault(f)
            }
            ctl.stopped.store(true, Ordering::Release);
            loop {
                sys::wait_readable(&mut [], u64::MAX);
            }
        }
    }
}

/// The run loop's handle on a running I/O thread.
pub struct Thread {
    /// The eventfd KVM signals on a kick (kept open for the thread).
    pub efd: Arc<EventFd>,
    /// Shared flags.
    pub ctl: Arc<Control>,
    /// Keeps the ring mapped for `needs_kick`.
    mem: Arc<GuestMemory>,
    /// Address of the ring's `needs_kick` word (inside `mem`).
    needs_kick: usize,
}

impl Thread {
    /// Start serving `ring` on a new thread; waits until it is up, so
    /// that its start-up is done before the seccomp filter comes.
    pub fn start(ring: Ring, efd: EventFd) -> std::io::Result<Thread> {
        let ctl = Arc::new(Control::default());
        let c = ctl.clone();
        let mem = ring.mem.clone();
        let needs_kick = ring.word(off::NEEDS_KICK) as *const AtomicU32 as usize;
        let efd = Arc::new(efd);
        let theirs = efd.clone();
        std::thread::Builder::new()
            .name("net-ring".into())
            .stack_size(64 << 10)
            .spawn(move || serve(ring, &theirs, c))?;
        while !ctl.ready.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        Ok(Thread {
            efd,
            ctl,
            mem,
            needs_kick,
        })
    }

    /// POLL found a net device readable: wake the thread now (if it
    /// sleeps), so that it is up by the time the guest asks for the frame
    /// through the ring, and clear `needs_kick` first, so that the guest
    /// does not pay a kick (an exit) for a thread already woken. Safe in
    /// any order with the thread: the eventfd is written after the clear,
    /// so a thread about to sleep finds it signalled. A thread that is
    /// awake sleeps one turn less later.
    pub fn wake(&self) {
        let _ = &self.mem;
        // SAFETY: needs_kick is the address of an aligned u32 of the ring,
        // inside the guest memory self.mem keeps mapped (Thread::start).
        let word = unsafe { &*(self.needs_kick as *const AtomicU32) };
        word.store(0, Ordering::SeqCst);
        // A failure (counter full) only means a wake-up is pending already.
        let _ = self.efd.write(1);
    }

    /// HALT: let the thread serve what the guest queued, then return (at
    /// most about a second later).
    pub fn drain(&self) {
        self.ctl.stop.store(true, Ordering::Release);
        // A failure only means the thread is awake already.
        let _ = self.efd.write(1);
        for _ in 0..20_000 {
            if self.ctl.stopped.load(Ordering::Acquire) {
                return;
            }
            sys::wait_readable(&mut [], 50_000);
        }
    }
}

#[cfg(test)]
mod tests;
