//! Raw Linux x86_64 system calls, the only place the SDK issues them.
//!
//! The spt-v2 platform makes every host call through these; the native
//! platform uses `write` and `exit_group` only to report a broken boot info
//! (the native filter allows both). Return values are the kernel's: a
//! negative errno on failure. Wrappers take plain integers and raw pointers
//! because they interpret nothing; the callers own the safety arguments.
#![cfg_attr(feature = "spt", allow(dead_code))]

use core::arch::asm;

/// System call numbers (x86_64).
pub(crate) mod nr {
    pub const READ: i64 = 0;
    pub const WRITE: i64 = 1;
    pub const PREAD64: i64 = 17;
    pub const PWRITE64: i64 = 18;
    pub const ARCH_PRCTL: i64 = 158;
    pub const CLOCK_GETTIME: i64 = 228;
    pub const EXIT_GROUP: i64 = 231;
    pub const EPOLL_PWAIT: i64 = 281;
    pub const TIMERFD_SETTIME: i64 = 286;
}

pub(crate) const EINTR: i64 = 4;
pub(crate) const EAGAIN: i64 = 11;
pub(crate) const CLOCK_REALTIME: i64 = 0;
pub(crate) const CLOCK_MONOTONIC: i64 = 1;
pub(crate) const ARCH_SET_FS: i64 = 0x1002;
pub(crate) const TFD_TIMER_ABSTIME: i64 = 1;
/// `sizeof(sigset_t)` as the kernel wants it in `epoll_pwait`.
pub(crate) const SIGSET_SIZE: i64 = 8;

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl Timespec {
    /// Nanoseconds (the kernel never returns negative fields).
    pub fn as_nanos(self) -> u64 {
        (self.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(self.tv_nsec as u64)
    }

    pub fn from_nanos(ns: u64) -> Self {
        Timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        }
    }
}

/// `struct itimerspec`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Itimerspec {
    pub it_interval: Timespec,
    pub it_value: Timespec,
}

/// `struct epoll_event`: packed on x86_64 (12 bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
pub(crate) struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

const _: () = assert!(core::mem::size_of::<EpollEvent>() == 12);

/// Issues system call `n` with six arguments.
///
/// # Safety
/// The arguments must be valid for call `n`: pointers the kernel reads or
/// writes must be valid for that access, and the call must not break the
/// guest's memory (no `munmap` of live memory and the like).
#[inline(always)]
pub(crate) unsafe fn syscall6(n: i64, a: [i64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: the caller vouches for the arguments. `syscall` clobbers rcx
    // and r11 only; "memory" is implied (no `nomem`), since the kernel may
    // write through pointer arguments.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

/// `write(fd, buf, len)`.
pub(crate) fn write(fd: i32, buf: &[u8]) -> i64 {
    // SAFETY: the kernel reads buf.len() bytes of a live slice.
    unsafe {
        syscall6(
            nr::WRITE,
            [fd as i64, buf.as_ptr() as i64, buf.len() as i64, 0, 0, 0],
        )
    }
}

/// `read(fd, buf, len)`.
pub(crate) fn read(fd: i32, buf: &mut [u8]) -> i64 {
    // SAFETY: the kernel writes at most buf.len() bytes into a live,
    // exclusively borrowed slice.
    unsafe {
        syscall6(
            nr::READ,
            [
                fd as i64,
                buf.as_mut_ptr() as i64,
                buf.len() as i64,
                0,
                0,
                0,
            ],
        )
    }
}

/// `pread64(fd, buf, len, offset)`.
pub(crate) fn pread64(fd: i32, buf: &mut [u8], offset: u64) -> i64 {
    // SAFETY: as for read.
    unsafe {
        syscall6(
            nr::PREAD64,
            [
                fd as i64,
                buf.as_mut_ptr() as i64,
                buf.len() as i64,
                offset as i64,
                0,
                0,
            ],
        )
    }
}

/// `pwrite64(fd, buf, len, offset)`.
pub(crate) fn pwrite64(fd: i32, buf: &[u8], offset: u64) -> i64 {
    // SAFETY: as for write.
    unsafe {
        syscall6(
            nr::PWRITE64,
            [
                fd as i64,
                buf.as_ptr() as i64,
                buf.len() as i64,
                offset as i64,
                0,
                0,
            ],
        )
    }
}

/// `exit_group(status)`; never returns.
pub(crate) fn exit_group(status: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no pointer and ends the process.
        unsafe { syscall6(nr::EXIT_GROUP, [status as i64, 0, 0, 0, 0, 0]) };
    }
}

/// `clock_gettime(clock, &ts)`.
pub(crate) fn clock_gettime(clock: i64) -> Result<Timespec, i64> {
    let mut ts = Timespec::default();
    // SAFETY: the kernel writes one timespec into a live local.
    let rc = unsafe {
        syscall6(
            nr::CLOCK_GETTIME,
            [clock, &mut ts as *mut Timespec as i64, 0, 0, 0, 0],
        )
    };
    if rc == 0 {
        Ok(ts)
    } else {
        Err(rc)
    }
}

/// `arch_prctl(ARCH_SET_FS, base)`.
pub(crate) fn arch_prctl_set_fs(base: u64) -> i64 {
    // SAFETY: changing the FS base touches no memory; code that later uses
    // %fs-relative accesses is responsible for what it points to.
    unsafe { syscall6(nr::ARCH_PRCTL, [ARCH_SET_FS, base as i64, 0, 0, 0, 0]) }
}

/// `timerfd_settime(fd, flags, &new, NULL)`.
pub(crate) fn timerfd_settime(fd: i32, flags: i64, new: &Itimerspec) -> i64 {
    // SAFETY: the kernel reads one itimerspec from a live reference; the
    // old-value pointer is NULL.
    unsafe {
        syscall6(
            nr::TIMERFD_SETTIME,
            [fd as i64, flags, new as *const Itimerspec as i64, 0, 0, 0],
        )
    }
}

/// `epoll_pwait(epfd, events, len, timeout, NULL, 8)`.
pub(crate) fn epoll_pwait(epfd: i32, events: &mut [EpollEvent], timeout: i32) -> i64 {
    // SAFETY: the kernel writes at most events.len() events into a live,
    // exclusively borrowed slice; the signal mask pointer is NULL.
    unsafe {
        syscall6(
            nr::EPOLL_PWAIT,
            [
                epfd as i64,
                events.as_mut_ptr() as i64,
                events.len() as i64,
                timeout as i64,
                0,
                SIGSET_SIZE,
            ],
        )
    }
}
