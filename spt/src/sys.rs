//! The system calls of solo5-spt itself: the two raw ones only the
//! hypercall table makes (the FS base, the exit), and the v2 ABI's event
//! descriptors, made before the jump.
//!
//! The table's other calls (console, clocks, device I/O, the wait) are the
//! shared bare `syscall` instructions of [`solo5_tender::raw`]: no libc
//! wrapper after the jump, because glibc's store `errno` in thread-local
//! storage and the table functions run with the guest's FS base (which is
//! 0 for most guests). A failed call returns `-errno`.

use solo5_tender::raw::{nr, syscall4};

/// `ARCH_SET_FS` for `arch_prctl`.
pub const ARCH_SET_FS: usize = 0x1002;

/// `arch_prctl(ARCH_SET_FS, base)`.
#[inline]
pub fn set_fs_base(base: u64) -> isize {
    // SAFETY: setting the FS base takes no pointer; the kernel rejects
    // non-canonical values with an error.
    unsafe { syscall4(nr::ARCH_PRCTL, ARCH_SET_FS, base as usize, 0, 0) }
}

/// `exit_group(status)`.
#[inline]
pub fn exit_group(status: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no pointer and does not return.
        unsafe {
            syscall4(nr::EXIT_GROUP, status as usize, 0, 0, 0);
        }
    }
}

/// Descriptors for upstream's spt v2 yield: an epoll set and a timerfd.
/// These run before the jump, so they may use libc (through `nix`).
pub mod setup {
    use nix::sys::epoll::{Epoll, EpollCreateFlags};
    use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd};

    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn epoll_create() -> io::Result<OwnedFd> {
        Ok(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?.0)
    }

    /// `timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)`.
    pub fn timerfd_create() -> io::Result<OwnedFd> {
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(t.into())
    }

    /// Add `fd` to `epoll` for `EPOLLIN` with `data.u64 = data`.
    ///
    /// A raw `epoll_ctl`: `nix`'s (`Epoll::add`) needs the set as an
    /// `Epoll` and `fd` as an `AsFd`, and the caller holds a bare `OwnedFd`
    /// and passes a descriptor number.
    pub fn epoll_add(epoll: &OwnedFd, fd: i32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
