//! The native ABI's hypercall table: the host side of every Solo5 call.
//!
//! These functions run after the seccomp filter is installed, on the
//! guest's stack and with the guest's FS base. So they make raw syscalls
//! only ([`solo5_tender::raw`], `sys`), never allocate, panic or unwind,
//! touch no thread-local, check every argument the guest gives them, and
//! answer with Solo5 result codes. Their state is written once, before the
//! jump, into [`STATE`].
//!
//! The device I/O itself, end of file included, is the code hvt's
//! hypercalls and net ring use ([`solo5_tender::devices::io`]): one read or
//! write per frame, whole blocks, and net devices at end of file that are
//! said once on stderr, answer `EUNSPEC` and are no longer polled.
//!
//! Every buffer must lie in guest memory with the access the call needs
//! ([`layout`]): a read-only page of the guest passed as an output buffer
//! is `EINVAL`, not a fault of the tender.

pub mod layout;

use crate::sys;
use crate::vdso::ClockGettime;
use solo5_abi::native::{Hypercalls, HYPERCALLS_MAGIC, HYPERCALLS_VERSION};
use solo5_abi::result::{EINVAL, EUNSPEC, OK};
use solo5_tender::devices::io::{self, NetStatus, PollSet, Transfer};
use solo5_tender::devices::table::frame_fits;
use solo5_tender::raw;
use std::cell::UnsafeCell;
use std::sync::OnceLock;

pub use layout::{Access, Layout};

pub use solo5_tender::devices::table::{Device, Table};

/// Everything the table functions need, fixed before the jump.
pub struct HostState {
    /// Guest memory, and which parts of it are not read/write.
    pub layout: Layout,
    /// The vDSO's clock_gettime, if found.
    pub vdso_clock: Option<ClockGettime>,
    /// Devices by manifest index.
    pub devices: Table,
    /// What `yield` polls: the net devices.
    pub poll: PollSet,
    /// Which net devices reached end of file, and the line each gets.
    pub net: NetStatus,
}

/// The state, set once by [`install`].
static STATE: OnceLock<HostState> = OnceLock::new();

/// The set `yield` hands to `ppoll`, in place: no copy per call (a copy
/// of this size compiles to a call to libc's memcpy, which the table must
/// not make).
struct PollCell(UnsafeCell<PollSet>);

// SAFETY: `install` writes the set before the jump, while the tender has
// one thread; afterwards only `solo5_yield` touches it, on the guest's one
// thread (the seccomp policy allows no clone), never re-entrantly.
unsafe impl Sync for PollCell {}

static POLL: PollCell = PollCell(UnsafeCell::new(PollSet::EMPTY));

/// The table handed to the guest.
pub static TABLE: Hypercalls = Hypercalls {
    magic: HYPERCALLS_MAGIC,
    version: HYPERCALLS_VERSION,
    size: core::mem::size_of::<Hypercalls>() as u32,
    console_write,
    clock_monotonic,
    clock_wall,
    yield_: solo5_yield,
    net_read,
    net_write,
    block_read,
    block_write,
    set_tls_base,
    exit: exit_entry,
};

/// Fix the state before the jump. Returns false if it was already set.
pub fn install(state: HostState) -> bool {
    if STATE.get().is_some() {
        return false;
    }
    // SAFETY: before the jump, on the tender's only thread, and no table
    // function can run yet (STATE is unset): nothing else borrows POLL.
    unsafe { *POLL.0.get() = state.poll };
    STATE.set(state).is_ok()
}

impl HostState {
    /// The same state with each `(start, end, flags)` of `segments` (the
    /// loaded segments: page-aligned bounds, `PF_*` flags) recorded in its
    /// layout, so no table function writes into a read-only one.
    pub fn with_segments(mut self, segments: impl IntoIterator<Item = (u64, u64, u32)>) -> Self {
        self.layout = self.layout.with_segments(segments);
        self
    }

    /// Whether the guest lets the tender read `[addr, addr + len)`.
    fn readable(&self, addr: u64, len: usize) -> bool {
        self.layout.allows(addr, len, Access::Read)
    }

    /// Whether the guest lets the tender write `[addr, addr + len)`.
    fn writable(&self, addr: u64, len: usize) -> bool {
        self.layout.allows(addr, len, Access::Write)
    }

    fn now(&self, clock: libc::clockid_t) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let ok = match self.vdso_clock {
            // SAFETY: the vDSO's clock_gettime with a valid timespec; it
            // reads the vvar page and uses no TLS.
            Some(f) => (unsafe { f(clock, &mut ts) }) == 0,
            None => false,
        };
        if !ok {
            raw::clock_gettime(clock, &mut ts);
        }
        raw::timespec_ns(&ts)
    }
}

unsafe extern "C" fn console_write(buf: *const u8, len: usize) {
    let Some(st) = STATE.get() else { return };
    if !st.readable(buf as u64, len) {
        return;
    }
    // SAFETY: [buf, buf + len) is readable guest memory (checked above),
    // which stays mapped; the kernel only reads it. The console call has
    // no result to report a failure with.
    let _ = unsafe { raw::write_all(1, buf, len) };
}

unsafe extern "C" fn clock_monotonic() -> u64 {
    STATE.get().map_or(0, |st| st.now(libc::CLOCK_MONOTONIC))
}

unsafe extern "C" fn clock_wall() -> u64 {
    STATE.get().map_or(0, |st| st.now(libc::CLOCK_REALTIME))
}

unsafe extern "C" fn solo5_yield(deadline: u64, ready_set: *mut u64) {
    let Some(st) = STATE.get() else { return };
    // SAFETY: see PollCell: this is the guest's only thread and no other
    // borrow of POLL is alive (table functions do not nest).
    let poll = unsafe { &mut *POLL.0.get() };
    let ready = poll.wait(&st.net, deadline, || st.now(libc::CLOCK_MONOTONIC));
    // A ready set the tender may not write is ignored: yield has no
    // result to say EINVAL with.
    if st.writable(ready_set as u64, 8) {
        // SAFETY: 8 bytes at ready_set are writable guest memory (checked).
        unsafe { ready_set.write_unaligned(ready) };
    }
}

unsafe extern "C" fn net_read(
    handle: u64,
    buf: *mut u8,
    size: usize,
    read_size: *mut usize,
) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Device::Net { fd, .. } = st.devices.get(handle) else {
        return EINVAL;
    };
    if !st.writable(buf as u64, size) || !st.writable(read_size as u64, 8) {
        return EINVAL;
    }
    // SAFETY: [buf, buf + size) is writable guest memory (checked above);
    // device() returned a net device, so handle < MAX_ENTRIES.
    match unsafe { st.net.read(handle as usize, fd, buf, size) } {
        Ok(n) => {
            // SAFETY: read_size points to 8 writable bytes of guest memory
            // (checked above).
            unsafe { read_size.write_unaligned(n) };
            OK
        }
        Err(e) => e,
    }
}

unsafe extern "C" fn net_write(handle: u64, buf: *const u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Device::Net { fd, mtu } = st.devices.get(handle) else {
        return EINVAL;
    };
    if !frame_fits(mtu, size as u64) || !st.readable(buf as u64, size) {
        return EINVAL;
    }
    // SAFETY: [buf, buf + size) is readable guest memory (checked above).
    match unsafe { st.net.write(handle as usize, fd, buf, size) } {
        Some(Transfer::Done) => OK,
        _ => EUNSPEC,
    }
}

/// Check a block request whose buffer the tender accesses as `access`:
/// whole blocks, at most [`io::MAX_BLOCK_REQUEST`] bytes, aligned, inside
/// the device, and a buffer the guest lets the tender use. The device's fd
/// when it is valid.
fn block_check(
    st: &HostState,
    handle: u64,
    offset: u64,
    buf: u64,
    size: usize,
    access: Access,
) -> Option<i32> {
    let Device::Block {
        fd,
        block_size,
        capacity,
    } = st.devices.get(handle)
    else {
        return None;
    };
    let ok = io::block_request_ok(
        capacity,
        block_size,
        io::MAX_BLOCK_REQUEST,
        offset,
        size as u64,
    ) && st.layout.allows(buf, size, access);
    ok.then_some(fd)
}

/// A block transfer's Solo5 result: all of it, or `EUNSPEC`.
fn block_result(t: Transfer) -> u32 {
    match t {
        Transfer::Done => OK,
        Transfer::Short(_) | Transfer::Error(_) => EUNSPEC,
    }
}

unsafe extern "C" fn block_read(handle: u64, offset: u64, buf: *mut u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Some(fd) = block_check(st, handle, offset, buf as u64, size, Access::Write) else {
        return EINVAL;
    };
    // SAFETY: [buf, buf + size) is writable guest memory (block_check).
    block_result(unsafe { io::block_read(fd, buf, size, offset) })
}

unsafe extern "C" fn block_write(handle: u64, offset: u64, buf: *const u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Some(fd) = block_check(st, handle, offset, buf as u64, size, Access::Read) else {
        return EINVAL;
    };
    // SAFETY: [buf, buf + size) is readable guest memory (block_check).
    block_result(unsafe { io::block_write(fd, buf, size, offset) })
}

unsafe extern "C" fn set_tls_base(base: u64) -> u32 {
    if sys::set_fs_base(base) == 0 {
        OK
    } else {
        EINVAL
    }
}

/// `solo5_exit`, `solo5_abort` (reached through [`exit_entry`], which
/// saves the guest's registers for an abort's core under `--dumpcore`).
unsafe extern "C" fn exit(status: i32) -> ! {
    if status == solo5_abi::EXIT_ABORT {
        // SAFETY: exit_entry filled SAVED on this thread just before.
        crate::dumpcore::native_abort(unsafe { &*SAVED.0.get() });
    }
    sys::exit_group(status)
}

/// The guest's registers at its call of the table's `exit`, in
/// `user_regs_struct` order (`solo5_tender::core_dump::UserRegs`).
struct Saved(UnsafeCell<[u64; 27]>);
// SAFETY: written by `exit_entry` on the guest's one thread, read by the
// `exit` it jumps to, on the same thread.
unsafe impl Sync for Saved {}
static SAVED: Saved = Saved(UnsafeCell::new([0; 27]));

/// The table's `exit`: records the guest's callee-saved registers, rdi,
/// its return address (where it called from) and its stack pointer, then
/// goes on to `exit`. What a debugger needs to unwind the guest's frames
/// from an abort's core.
#[unsafe(naked)]
unsafe extern "C" fn exit_entry(status: i32) -> ! {
    core::arch::naked_asm!(
        "mov [rip + {s} + 0], r15",
        "mov [rip + {s} + 8], r14",
        "mov [rip + {s} + 16], r13",
        "mov [rip + {s} + 24], r12",
        "mov [rip + {s} + 32], rbp",
        "mov [rip + {s} + 40], rbx",
        "mov [rip + {s} + 112], rdi",
        "mov rax, [rsp]",
        "mov [rip + {s} + 128], rax",
        "lea rax, [rsp + 8]",
        "mov [rip + {s} + 152], rax",
        "jmp {exit}",
        s = sym SAVED,
        exit = sym exit,
    )
}
