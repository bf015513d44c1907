//! The native ABI's hypercall table: the host side of every Solo5 call.
//!
//! These functions run after the seccomp filter is installed, on the
//! guest's stack and with the guest's FS base. So they make raw syscalls
//! only (`sys`), never allocate, panic or unwind, touch no thread-local,
//! check every argument the guest gives them, and answer with Solo5 result
//! codes. Their state is written once, before the jump, into [`STATE`].
//!
//! Every buffer must lie in guest memory with the access the call needs
//! ([`layout`]): a read-only page of the guest passed as an output buffer
//! is `EINVAL`, not a fault of the tender.

pub mod layout;

use crate::sys;
use crate::vdso::ClockGettime;
use solo5_abi::mft::MAX_ENTRIES;
use solo5_abi::native::{Hypercalls, HYPERCALLS_MAGIC, HYPERCALLS_VERSION};
use solo5_abi::result::{AGAIN, EINVAL, EUNSPEC, OK};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub use layout::{Access, Layout};

/// Ethernet header length: a frame is at most MTU + 14 bytes.
pub const ETHER_HLEN: usize = 14;

/// A device as the table functions see it, indexed by manifest index.
#[derive(Clone, Copy, Debug, Default)]
pub enum Device {
    /// Nothing at this index.
    #[default]
    None,
    /// A network device.
    Net {
        /// Host descriptor, non-blocking.
        fd: i32,
        /// MTU; frames are at most `mtu + 14` bytes.
        mtu: u16,
    },
    /// A block device.
    Block {
        /// Host descriptor.
        fd: i32,
        /// Block size in bytes.
        block_size: u64,
        /// Capacity in bytes, a multiple of the block size.
        capacity: u64,
    },
}

/// Everything the table functions need, fixed before the jump.
pub struct HostState {
    /// Guest memory, and which parts of it are not read/write.
    pub layout: Layout,
    /// The vDSO's clock_gettime, if found.
    pub vdso_clock: Option<ClockGettime>,
    /// Devices by manifest index.
    pub devices: [Device; MAX_ENTRIES],
    /// What `yield` polls: one entry per net device...
    pub pollfds: [libc::pollfd; MAX_ENTRIES],
    /// ...with the manifest index of each.
    pub poll_index: [u8; MAX_ENTRIES],
    /// How many entries of `pollfds` are in use.
    pub npoll: usize,
}

/// The state, set once by [`install`].
static STATE: OnceLock<HostState> = OnceLock::new();

/// Net devices whose host side reached end of file or hung up: never
/// polled or read again (so a guest cannot spin on them).
static NET_DEAD: [AtomicBool; MAX_ENTRIES] = [const { AtomicBool::new(false) }; MAX_ENTRIES];

/// The array `yield` hands to `ppoll`, in place: no copy per call (a copy
/// of this size compiles to a call to libc's memcpy, which the table must
/// not make).
struct PollSet(UnsafeCell<[libc::pollfd; MAX_ENTRIES]>);

// SAFETY: `install` writes the set before the jump, while the tender has
// one thread; afterwards only the table functions touch it, on the guest's
// one thread (the seccomp policy allows no clone), never re-entrantly.
unsafe impl Sync for PollSet {}

static POLL: PollSet = PollSet(UnsafeCell::new(
    [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_ENTRIES],
));

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
    exit,
};

/// Fix the state before the jump. Returns false if it was already set.
pub fn install(state: HostState) -> bool {
    if STATE.get().is_some() {
        return false;
    }
    // SAFETY: before the jump, on the tender's only thread, and no table
    // function can run yet (STATE is unset): nothing else borrows POLL.
    unsafe { *POLL.0.get() = state.pollfds };
    STATE.set(state).is_ok()
}

const WARN_EOF: &[u8] = b"Solo5: spt: net device closed by the host (end of file or hang-up); it will not be reported ready again\n";

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

    fn device(&self, handle: u64) -> Device {
        match usize::try_from(handle) {
            Ok(i) if i < MAX_ENTRIES => self.devices[i],
            _ => Device::None,
        }
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
            sys::clock_gettime(clock, &mut ts);
        }
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
}

/// Mark net device `index` dead, printing one warning the first time.
/// The caller stops polling it (sets its pollfd's fd to -1).
fn net_eof(index: usize) {
    if let Some(flag) = NET_DEAD.get(index) {
        if !flag.swap(true, Ordering::Relaxed) {
            // SAFETY: WARN_EOF is a static byte string.
            unsafe { sys::write(1, WARN_EOF.as_ptr(), WARN_EOF.len()) };
        }
    }
}

fn is_dead(index: usize) -> bool {
    NET_DEAD
        .get(index)
        .is_some_and(|f| f.load(Ordering::Relaxed))
}

unsafe extern "C" fn console_write(buf: *const u8, len: usize) {
    let Some(st) = STATE.get() else { return };
    if !st.readable(buf as u64, len) {
        return;
    }
    let mut done = 0;
    while done < len {
        // SAFETY: [buf, buf + len) is readable guest memory (checked
        // above), which stays mapped; the kernel only reads it.
        let r = unsafe { sys::write(1, buf.wrapping_add(done), len - done) };
        if r == -(libc::EINTR as isize) {
            continue;
        }
        if r <= 0 {
            return;
        }
        done += r as usize;
    }
}

unsafe extern "C" fn clock_monotonic() -> u64 {
    STATE.get().map_or(0, |st| st.now(libc::CLOCK_MONOTONIC))
}

unsafe extern "C" fn clock_wall() -> u64 {
    STATE.get().map_or(0, |st| st.now(libc::CLOCK_REALTIME))
}

unsafe extern "C" fn solo5_yield(deadline: u64, ready_set: *mut u64) {
    let Some(st) = STATE.get() else { return };
    let mut ready;
    let mut paused = 0u64;
    loop {
        // A deadline of 0 is in the past without reading the clock.
        let wait = match deadline {
            0 => 0,
            d => d.saturating_sub(st.now(libc::CLOCK_MONOTONIC)),
        };
        let ts = libc::timespec {
            tv_sec: (wait / 1_000_000_000) as libc::time_t,
            tv_nsec: (wait % 1_000_000_000) as libc::c_long,
        };
        ready = poll(st, &ts, &mut paused);
        if ready != 0 || wait == 0 || st.now(libc::CLOCK_MONOTONIC) >= deadline {
            break;
        }
    }
    unpause(st, paused);
    // A ready set the tender may not write is ignored: yield has no
    // result to say EINVAL with.
    if st.writable(ready_set as u64, 8) {
        // SAFETY: 8 bytes at ready_set are writable guest memory (checked).
        unsafe { ready_set.write_unaligned(ready) };
    }
}

/// One `ppoll` over the live net devices for at most `ts`; the readable
/// ones as a handle set. A device that hung up is marked dead and never
/// polled again; one in error (a tap that is down) is left out until the
/// end of this yield, so the guest sleeps instead of spinning.
fn poll(st: &HostState, ts: &libc::timespec, paused: &mut u64) -> u64 {
    let n = st.npoll.min(MAX_ENTRIES);
    if n == 0 {
        sys::ppoll(&mut [], ts);
        return 0;
    }
    // SAFETY: see PollSet: this is the guest's only thread and no other
    // borrow of POLL is alive (table functions do not nest).
    let fds = &mut unsafe { &mut *POLL.0.get() }[..n];
    let mut ready = 0;
    if sys::ppoll(fds, ts) > 0 {
        for (pos, (fd, &index)) in fds.iter_mut().zip(&st.poll_index[..n]).enumerate() {
            if fd.revents & libc::POLLIN != 0 {
                ready |= 1u64 << (index & 63);
            } else if fd.revents & (libc::POLLHUP | libc::POLLNVAL) != 0 {
                net_eof(index as usize);
                fd.fd = -1;
            } else if fd.revents & libc::POLLERR != 0 {
                // ppoll ignores negative fds; `unpause` flips it back.
                fd.fd = !fd.fd;
                *paused |= 1 << pos;
            }
        }
    }
    ready
}

/// Poll again the devices `poll` left out for being in error (bit `pos`
/// of `paused` for entry `pos`).
fn unpause(st: &HostState, paused: u64) {
    let n = st.npoll.min(MAX_ENTRIES);
    // SAFETY: as in `poll`.
    let fds = &mut unsafe { &mut *POLL.0.get() }[..n];
    for (pos, fd) in fds.iter_mut().enumerate() {
        if paused & (1 << pos) != 0 {
            fd.fd = !fd.fd;
        }
    }
}

/// Stop polling net device `index` after `net_read` met its end of file.
fn stop_polling(st: &HostState, index: usize) {
    let n = st.npoll.min(MAX_ENTRIES);
    // SAFETY: as in `poll`.
    let fds = &mut unsafe { &mut *POLL.0.get() }[..n];
    for (fd, &i) in fds.iter_mut().zip(&st.poll_index[..n]) {
        if usize::from(i) == index {
            fd.fd = -1;
        }
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
    let Device::Net { fd, .. } = st.device(handle) else {
        return EINVAL;
    };
    if !st.writable(buf as u64, size) || !st.writable(read_size as u64, 8) {
        return EINVAL;
    }
    if is_dead(handle as usize) {
        return EUNSPEC;
    }
    // SAFETY: [buf, buf + size) is writable guest memory (checked above).
    let r = unsafe { sys::read(fd, buf, size) };
    if r == -(libc::EAGAIN as isize) || r == -(libc::EINTR as isize) {
        return AGAIN;
    }
    if r == 0 {
        net_eof(handle as usize);
        stop_polling(st, handle as usize);
        return EUNSPEC;
    }
    if r < 0 {
        return EUNSPEC;
    }
    // SAFETY: read_size points to 8 writable bytes of guest memory
    // (checked above).
    unsafe { read_size.write_unaligned(r as usize) };
    OK
}

unsafe extern "C" fn net_write(handle: u64, buf: *const u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Device::Net { fd, mtu } = st.device(handle) else {
        return EINVAL;
    };
    if size > usize::from(mtu) + ETHER_HLEN || !st.readable(buf as u64, size) {
        return EINVAL;
    }
    // SAFETY: [buf, buf + size) is readable guest memory (checked above).
    let r = unsafe { sys::write(fd, buf, size) };
    if r == size as isize {
        OK
    } else {
        EUNSPEC
    }
}

/// Check a block request whose buffer the tender accesses as `access`;
/// the device's fd when it is valid.
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
    } = st.device(handle)
    else {
        return None;
    };
    let aligned = size as u64 == block_size && offset.checked_rem(block_size) == Some(0);
    let in_range = capacity
        .checked_sub(block_size)
        .is_some_and(|last| offset <= last);
    (aligned && in_range && st.layout.allows(buf, size, access)).then_some(fd)
}

unsafe extern "C" fn block_read(handle: u64, offset: u64, buf: *mut u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Some(fd) = block_check(st, handle, offset, buf as u64, size, Access::Write) else {
        return EINVAL;
    };
    // SAFETY: [buf, buf + size) is writable guest memory (block_check).
    let r = unsafe { sys::pread(fd, buf, size, offset) };
    if r == size as isize {
        OK
    } else {
        EUNSPEC
    }
}

unsafe extern "C" fn block_write(handle: u64, offset: u64, buf: *const u8, size: usize) -> u32 {
    let Some(st) = STATE.get() else {
        return EUNSPEC;
    };
    let Some(fd) = block_check(st, handle, offset, buf as u64, size, Access::Read) else {
        return EINVAL;
    };
    // SAFETY: [buf, buf + size) is readable guest memory (block_check).
    let r = unsafe { sys::pwrite(fd, buf, size, offset) };
    if r == size as isize {
        OK
    } else {
        EUNSPEC
    }
}

unsafe extern "C" fn set_tls_base(base: u64) -> u32 {
    if sys::set_fs_base(base) == 0 {
        OK
    } else {
        EINVAL
    }
}

unsafe extern "C" fn exit(status: i32) -> ! {
    sys::exit_group(status)
}
