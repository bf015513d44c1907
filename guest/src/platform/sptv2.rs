//! Upstream's spt ABI version 2: the guest makes raw Linux syscalls
//! itself, exactly the ones (and with the arguments) upstream's bindings
//! make, which is all the tender's seccomp filter allows (docs/abis.md, "spt ABI version 2").
//!
//! Net devices are read and written on their `hostfd`, block devices with
//! `pread64`/`pwrite64` on theirs; `yield` arms the tender's timerfd with
//! the absolute deadline and waits on its epoll set.

use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, Ordering};

use solo5_abi::mft::Entry;
use solo5_abi::note::{target, version};
use solo5_abi::result;
use solo5_abi::sptv2::{BootInfo, TIMERFD_EPOLL_DATA};

use super::{manifest_at, Boot};
use crate::sys;

/// ABI1 note target of this flavor.
pub(crate) const ABI_TARGET: u32 = target::SPT;
/// ABI1 note version of this flavor.
pub(crate) const ABI_VERSION: u32 = version::SPT;

/// How many epoll events one `yield` collects at most (manifest indexes
/// are below 64, plus the timer).
const MAX_EVENTS: usize = 64;

static EPOLLFD: AtomicI32 = AtomicI32::new(-1);
static TIMERFD: AtomicI32 = AtomicI32::new(-1);

/// Records the boot info at `arg`.
///
/// # Safety
/// `arg` must be the value the tender passed to `_start` in rdi.
pub(crate) unsafe fn init(arg: *const c_void) -> Result<Boot, &'static str> {
    let bi = arg as *const BootInfo;
    if bi.is_null() || !bi.is_aligned() {
        return Err("boot info: bad address");
    }
    // SAFETY: the tender wrote a 40-byte spt v2 boot info at this address
    // in guest memory (rdi at entry); non-null and aligned. The ABI1 note
    // told it which layout to write.
    let bi = unsafe { *bi };
    if bi.mem_size == 0 || bi.kernel_end > bi.mem_size {
        return Err("boot info: bad memory size");
    }
    EPOLLFD.store(bi.epollfd, Ordering::Relaxed);
    TIMERFD.store(bi.timerfd, Ordering::Relaxed);
    // SAFETY: the tender copies the manifest right after the boot info.
    let mft = unsafe { manifest_at(bi.mft, None) }?;
    Ok(Boot::new(bi.mem_size, bi.kernel_end, bi.cmdline, mft))
}

/// The tender's fd of an attached device: an i32 in the low bits.
fn hostfd(e: &Entry) -> i32 {
    e.hostfd as u32 as i32
}

pub(crate) fn console_write(mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = sys::write(1, buf);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            return; // best effort
        }
        buf = &buf[(n as usize).min(buf.len())..];
    }
}

pub(crate) fn exit(status: i32) -> ! {
    sys::exit_group(status)
}

fn clock(id: i64) -> u64 {
    match sys::clock_gettime(id) {
        Ok(ts) => ts.as_nanos(),
        Err(_) => {
            sys::write(1, b"Solo5: ABORT: clock_gettime failed\n");
            sys::exit_group(crate::EXIT_ABORT)
        }
    }
}

pub(crate) fn clock_monotonic() -> u64 {
    clock(sys::CLOCK_MONOTONIC)
}

pub(crate) fn clock_wall() -> u64 {
    clock(sys::CLOCK_REALTIME)
}

pub(crate) fn yield_until(deadline: u64) -> u64 {
    // An all-zero it_value disarms a timerfd: a deadline of 0 (long past)
    // becomes 1 ns, which fires at once like any past deadline.
    let it = sys::Itimerspec {
        it_interval: sys::Timespec::default(),
        it_value: sys::Timespec::from_nanos(deadline.max(1)),
    };
    let timerfd = TIMERFD.load(Ordering::Relaxed);
    if sys::timerfd_settime(timerfd, sys::TFD_TIMER_ABSTIME, &it) < 0 {
        sys::write(1, b"Solo5: ABORT: timerfd_settime failed\n");
        sys::exit_group(crate::EXIT_ABORT);
    }
    let epollfd = EPOLLFD.load(Ordering::Relaxed);
    let mut events = [sys::EpollEvent::default(); MAX_EVENTS];
    let n = loop {
        let n = sys::epoll_pwait(epollfd, &mut events, -1);
        if n != -sys::EINTR {
            break n;
        }
    };
    if n < 0 {
        sys::write(1, b"Solo5: ABORT: epoll_pwait failed\n");
        sys::exit_group(crate::EXIT_ABORT);
    }
    let mut ready = 0u64;
    for ev in &events[..(n as usize).min(MAX_EVENTS)] {
        let data = ev.data;
        if data != TIMERFD_EPOLL_DATA && data < 64 {
            ready |= 1 << data;
        }
    }
    ready
}

pub(crate) fn set_tls_base(base: u64) -> u32 {
    if sys::arch_prctl_set_fs(base) == 0 {
        result::OK
    } else {
        result::EINVAL
    }
}

/// Read one frame. End of file (the host side hung up) is an error, as in
/// the native ABI; upstream's ABI gives no way to stop polling the fd, so a
/// guest that keeps yielding on it still wakes at once (docs/abis.md).
pub(crate) fn net_read(_handle: u64, e: &Entry, buf: &mut [u8]) -> Result<usize, u32> {
    let n = sys::read(hostfd(e), buf);
    if n > 0 {
        Ok((n as usize).min(buf.len()))
    } else if n == -sys::EAGAIN {
        Err(result::AGAIN)
    } else {
        Err(result::EUNSPEC)
    }
}

pub(crate) fn net_write(_handle: u64, e: &Entry, buf: &[u8]) -> u32 {
    if sys::write(hostfd(e), buf) == buf.len() as i64 {
        result::OK
    } else {
        result::EUNSPEC
    }
}

/// One block per `pread64`/`pwrite64`: upstream's filter allows nothing
/// else (the block layer splits larger requests).
pub(crate) fn max_block_request() -> u64 {
    0
}

pub(crate) fn block_read(_handle: u64, e: &Entry, offset: u64, buf: &mut [u8]) -> u32 {
    if sys::pread64(hostfd(e), buf, offset) == buf.len() as i64 {
        result::OK
    } else {
        result::EUNSPEC
    }
}

pub(crate) fn block_write(_handle: u64, e: &Entry, offset: u64, buf: &[u8]) -> u32 {
    if sys::pwrite64(hostfd(e), buf, offset) == buf.len() as i64 {
        result::OK
    } else {
        result::EUNSPEC
    }
}
