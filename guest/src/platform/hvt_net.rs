//! Net I/O and yield on hvt: through the shared net ring (`hvt_ring.rs`,
//! docs/hvt.md, "The net ring") when the tender offers it, else plain hypercalls.
//!
//! With the ring, a frame costs no exit: on a host where an exit from
//! CPL3 costs 40-50 us and a busy-wait on shared memory under a
//! microsecond (kvm_pvm, docs/hvt.md, "kvm_pvm"), that is the fast path.
//!
//! `solo5_yield` with the ring: before it sleeps in the POLL hypercall (an
//! exit), it asks the tender for a frame on each net device for up to
//! [`SPIN_NS`], keeping what arrives in a one-frame stash per device that
//! the next `solo5_net_read` hands out first; a stashed frame makes the
//! device ready. Only the first [`STASH_DEVICES`] net devices get a
//! stash, and only when every net device fits one (MTU + header <=
//! 2048 bytes); otherwise yield is the POLL hypercall alone.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use solo5_abi::mft::kind;
use solo5_abi::result;

use super::hvt_ring::{Bufs, Host, Ring, BUF_SIZE, NBUF};
use crate::mft;

/// How long yield asks for frames through the ring before it exits to
/// POLL: about what the exit itself costs from CPL3 on kvm_pvm.
pub(crate) const SPIN_NS: u64 = 50_000;
/// Net devices with a stash.
pub(crate) const STASH_DEVICES: usize = 4;

/// Guest memory the tender reads or writes behind the compiler's back.
#[repr(C, align(64))]
struct Shared<T>(UnsafeCell<T>);

// SAFETY: one vcpu, one thread: the guest never touches these from two
// places at once; the tender touches only what the ring's protocol hands
// it (Ring::write's contract).
unsafe impl<T> Sync for Shared<T> {}

/// The ring's address; 0 when the tender does not offer it.
static RING: AtomicU64 = AtomicU64::new(0);
/// The ring's write buffers.
static BUFS: Shared<Bufs> = Shared(UnsafeCell::new([[0; BUF_SIZE]; NBUF as usize]));

/// One frame received by yield, not yet read.
struct Stash {
    handle: u64,
    /// 0: empty (the tender never hands out an empty frame).
    len: usize,
    buf: [u8; BUF_SIZE],
}

static STASH: Shared<[Stash; STASH_DEVICES]> = Shared(UnsafeCell::new(
    [const {
        Stash {
            handle: u64::MAX,
            len: 0,
            buf: [0; BUF_SIZE],
        }
    }; STASH_DEVICES],
));
/// 0: not yet looked at the manifest; 1: yield spins; 2: it does not.
static SPIN: AtomicU8 = AtomicU8::new(0);

/// The kick port and the pause instruction.
struct Port;

impl Host for Port {
    fn kick(&self) {
        // SAFETY: port 0x600 is open in the TSS I/O bitmap (ours or the
        // tender's) and the tender registered an ioeventfd on it before
        // offering the ring; it reads only eax (the ring id, 0).
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") solo5_abi::hvt::RING_KICK_PORT, in("eax") 0u32,
                options(nomem, nostack, preserves_flags))
        };
    }

    fn relax(&self) {
        core::hint::spin_loop();
    }
}

/// Use the ring at `gpa` from now on. Called once by `init`, when the boot
/// info offers the ring where docs/hvt.md, "The net ring", puts it (at `mem_size`): `_start`
/// (CPL0) or the tender (CPL3) maps it read-write for us.
pub(crate) fn offer(gpa: u64) {
    if gpa != 0 && gpa.is_multiple_of(64) {
        RING.store(gpa, Ordering::Relaxed);
    }
}

/// Whether the tender offered the ring (and we use it).
pub(crate) fn in_use() -> bool {
    RING.load(Ordering::Relaxed) != 0
}

fn ring() -> Option<Ring> {
    let gpa = RING.load(Ordering::Relaxed);
    // SAFETY: offer() took the address from the boot info's net_ring,
    // which the tender reserved (SIZE bytes, 2 MiB aligned) for the ring
    // alone, identity mapped and writable for us; the guest has one
    // thread and makes one Ring at a time.
    (gpa != 0).then(|| unsafe { Ring::new(gpa as *mut u8) })
}

fn stashes() -> &'static mut [Stash; STASH_DEVICES] {
    // SAFETY: one thread; the callers (net_read, yield) do not nest and
    // hold the reference only for their own duration.
    unsafe { &mut *STASH.0.get() }
}

/// Whether yield spins on the ring: set up from the manifest on first use.
fn spin_enabled() -> bool {
    match SPIN.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let st = stashes();
    let mut n = 0;
    let mut ok = true;
    for (i, e) in mft::entries().iter().enumerate() {
        if e.kind != kind::NET_BASIC || e.attached == 0 {
            continue;
        }
        if n == STASH_DEVICES || usize::from(e.net_mtu()) + crate::net::HLEN > BUF_SIZE {
            ok = false;
            break;
        }
        st[n].handle = i as u64;
        n += 1;
    }
    SPIN.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    ok
}

/// Net read through the ring: `None` when the ring is not in use.
pub(crate) fn read(handle: u64, buf: &mut [u8]) -> Option<Result<usize, u32>> {
    let r = ring()?;
    if let Some(s) = stashes()
        .iter_mut()
        .find(|s| s.handle == handle && s.len > 0)
    {
        let n = s.len.min(buf.len());
        buf[..n].copy_from_slice(&s.buf[..n]);
        s.len = 0;
        return Some(Ok(n));
    }
    let (ret, n) = r.read(&Port, handle as u32, buf);
    Some(if ret == result::OK { Ok(n) } else { Err(ret) })
}

/// Net write through the ring: true when queued. A frame too big for
/// the ring is left to the caller's hypercall once the ring is drained,
/// so that frames keep their order.
pub(crate) fn write(handle: u64, frame: &[u8]) -> bool {
    let Some(r) = ring() else {
        return false;
    };
    // SAFETY: BUFS is used by this ring only and touched nowhere else.
    if unsafe { r.write(&Port, BUFS.0.get(), handle as u32, frame) } {
        return true;
    }
    r.drain(&Port);
    false
}

/// Ask the tender for a frame for every device with an empty stash; the
/// set of devices with a stashed frame.
fn fill(r: &Ring) -> u64 {
    let mut set = 0;
    for s in stashes().iter_mut().filter(|s| s.handle != u64::MAX) {
        if s.len == 0 {
            let (ret, n) = r.read(&Port, s.handle as u32, &mut s.buf);
            if ret == result::OK {
                s.len = n;
            }
        }
        if s.len > 0 {
            set |= 1 << s.handle;
        }
    }
    set
}

/// The first part of yield with the ring: up to [`SPIN_NS`] asking for
/// frames. `Some(set)`: the answer (frames, or the deadline passed);
/// `None`: sleep in POLL.
pub(crate) fn yield_spin(deadline: u64, now: impl Fn() -> u64) -> Option<u64> {
    let r = ring()?;
    if !spin_enabled() {
        return None;
    }
    let start = now();
    loop {
        let set = fill(&r);
        if set != 0 {
            return Some(set);
        }
        let t = now();
        if t >= deadline {
            return Some(0);
        }
        if t.saturating_sub(start) >= SPIN_NS {
            return None;
        }
    }
}
