//! The system calls the tests make in the child, as raw `syscall`s with
//! every argument spelled out (the filter sees registers, not libc's view).
//! Each owns the memory it hands the kernel, so a wrong filter that lets a
//! call through cannot corrupt the child.

use libc::c_long;

/// Every test file is at most this big, so a read never fills `Buf`.
const BUF: usize = 8192;
type Buf = [u8; BUF];

/// # Safety
/// Every pointer among `args` must be valid for what call `nr` does with it.
unsafe fn raw(nr: c_long, args: [u64; 6]) -> c_long {
    let [a, b, c, d, e, f] = args;
    // SAFETY: the caller vouches for the pointer arguments; the rest are
    // integers the kernel checks.
    unsafe { libc::syscall(nr, a, b, c, d, e, f) }
}

/// A pointer the kernel only reads through.
fn ptr<T>(p: *const T) -> u64 {
    p as u64
}

/// A pointer the kernel writes through.
fn ptr_mut<T>(p: *mut T) -> u64 {
    p as u64
}

/// `write(fd, "x", len)` with `len` <= 1.
pub(super) fn write(fd: u64, len: u64) -> c_long {
    let buf = [b'x'; 1];
    let len = len.min(1);
    // SAFETY: `buf` holds `len` readable bytes; the kernel only reads them.
    unsafe { raw(libc::SYS_write, [fd, ptr(buf.as_ptr()), len, 0, 0, 0]) }
}

/// `read(fd, buf, sizeof buf)`.
pub(super) fn read(fd: u64) -> c_long {
    let mut buf: Buf = [0; BUF];
    // SAFETY: the kernel writes at most BUF bytes into `buf`.
    unsafe {
        raw(
            libc::SYS_read,
            [fd, ptr_mut(buf.as_mut_ptr()), BUF as u64, 0, 0, 0],
        )
    }
}

/// `pread64(fd, buf, count, offset)`.
pub(super) fn pread(fd: u64, count: u64, offset: u64) -> c_long {
    let mut buf: Buf = [0; BUF];
    // SAFETY: the kernel writes at most the bytes left in the file after
    // `offset`, and no test file is bigger than BUF.
    unsafe {
        raw(
            libc::SYS_pread64,
            [fd, ptr_mut(buf.as_mut_ptr()), count, offset, 0, 0],
        )
    }
}

/// `pwrite64(fd, buf, count, offset)`.
pub(super) fn pwrite(fd: u64, count: u64, offset: u64) -> c_long {
    let buf: Buf = [0x5a; BUF];
    // SAFETY: the kernel only reads `buf`; a count beyond it (only in
    // calls the filter must kill) would read other stack bytes or fail
    // with EFAULT, never write our memory.
    unsafe {
        raw(
            libc::SYS_pwrite64,
            [fd, ptr(buf.as_ptr()), count, offset, 0, 0],
        )
    }
}

/// `clock_gettime(clk, &ts)`.
pub(super) fn clock_gettime(clk: u64) -> c_long {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the kernel to fill.
    unsafe { raw(libc::SYS_clock_gettime, [clk, ptr_mut(&mut ts), 0, 0, 0, 0]) }
}

/// `ppoll(NULL, 0, &{0, 0}, sigmask, 8)`: returns at once. With `mask`,
/// passes an empty signal mask instead of NULL.
pub(super) fn ppoll(mask: bool) -> c_long {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let set: u64 = 0;
    let sigmask = if mask { ptr(&set) } else { 0 };
    // SAFETY: no fds; `timeout` and `set` (8 bytes, the kernel's sigset
    // size) are live and only read.
    unsafe { raw(libc::SYS_ppoll, [0, 0, ptr(&timeout), sigmask, 8, 0]) }
}

/// `arch_prctl(code, addr)` for the SET codes (`addr` is a value).
pub(super) fn arch_prctl_set(code: u64, addr: u64) -> c_long {
    // SAFETY: the SET codes take a value, not a pointer; tests pass the
    // current base so the child's TLS keeps working.
    unsafe { raw(libc::SYS_arch_prctl, [code, addr, 0, 0, 0, 0]) }
}

/// `arch_prctl(code, &out)` for the GET codes; returns the base or -1.
pub(super) fn arch_prctl_get(code: u64) -> c_long {
    let mut out: u64 = 0;
    // SAFETY: the GET codes write one u64 to `out`, which is live.
    let ret = unsafe { raw(libc::SYS_arch_prctl, [code, ptr_mut(&mut out), 0, 0, 0, 0]) };
    if ret < 0 {
        ret
    } else {
        c_long::try_from(out).unwrap_or(c_long::MAX)
    }
}

/// `timerfd_settime(fd, flags, &{0}, NULL)`: disarms the timer.
pub(super) fn timerfd_settime(fd: u64, flags: u64) -> c_long {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let new = libc::itimerspec {
        it_interval: zero,
        it_value: zero,
    };
    // SAFETY: `new` is live and only read; no old value is asked for.
    unsafe { raw(libc::SYS_timerfd_settime, [fd, flags, ptr(&new), 0, 0, 0]) }
}

/// `epoll_pwait(epfd, &ev, 1, 0, NULL, 8)`: returns at once.
pub(super) fn epoll_pwait(epfd: u64) -> c_long {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: the kernel writes at most one event to `ev`, which is live.
    unsafe { raw(libc::SYS_epoll_pwait, [epfd, ptr_mut(&mut ev), 1, 0, 0, 8]) }
}

/// `exit_group(code)`: returns only if refused.
pub(super) fn exit_group(code: u64) -> c_long {
    // SAFETY: integer argument only.
    unsafe { raw(libc::SYS_exit_group, [code, 0, 0, 0, 0, 0]) }
}

/// `exit(code)`, which ends only the calling thread: on no list.
pub(super) fn exit_thread(code: u64) -> c_long {
    // SAFETY: integer argument only.
    unsafe { raw(libc::SYS_exit, [code, 0, 0, 0, 0, 0]) }
}

/// `getpid()`: on no list.
pub(super) fn getpid() -> c_long {
    // SAFETY: no arguments.
    unsafe { raw(libc::SYS_getpid, [0; 6]) }
}

/// `write(1, "x", 0)` through the x32 system call table (number with
/// `__X32_SYSCALL_BIT` set): same arch in the filter, different call.
pub(super) fn write_x32() -> c_long {
    const X32_SYSCALL_BIT: c_long = 0x4000_0000;
    let buf = [b'x'; 1];
    // SAFETY: `buf` is live; zero bytes are read from it.
    unsafe {
        raw(
            X32_SYSCALL_BIT | libc::SYS_write,
            [1, ptr(buf.as_ptr()), 0, 0, 0, 0],
        )
    }
}
