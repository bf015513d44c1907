//! Bare `syscall` instructions for the code that runs while a guest does:
//! spt's hypercall table, hvt's hypercalls and net ring thread, through
//! [`crate::devices::io`].
//!
//! No libc wrapper: glibc's store `errno` in thread-local storage, and
//! spt's table functions run on the guest's stack with the guest's FS base
//! (0 for most guests). Nothing here allocates or panics. A failed call
//! returns `-errno`.

use core::arch::asm;

/// x86_64 system call numbers.
pub mod nr {
    /// `read(2)`.
    pub const READ: usize = 0;
    /// `write(2)`.
    pub const WRITE: usize = 1;
    /// `pread64(2)`.
    pub const PREAD64: usize = 17;
    /// `pwrite64(2)`.
    pub const PWRITE64: usize = 18;
    /// `mincore(2)`.
    pub const MINCORE: usize = 27;
    /// `openat(2)`.
    pub const OPENAT: usize = 257;
    /// `arch_prctl(2)`.
    pub const ARCH_PRCTL: usize = 158;
    /// `clock_gettime(2)`.
    pub const CLOCK_GETTIME: usize = 228;
    /// `exit_group(2)`.
    pub const EXIT_GROUP: usize = 231;
    /// `ppoll(2)`.
    pub const PPOLL: usize = 271;
}

/// A raw system call with up to four arguments, inlined where it is used.
///
/// # Safety
/// The arguments must be valid for system call `n`: any pointer among them
/// must point to memory the kernel may read or write as that call defines.
#[inline(always)]
pub unsafe fn syscall4(n: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller guarantees the arguments suit system call `n`;
    // the `syscall` instruction clobbers only rcx and r11, declared here,
    // and touches no stack.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}

/// `read(fd, buf, len)`.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[inline]
pub unsafe fn read(fd: i32, buf: *mut u8, len: usize) -> isize {
    // SAFETY: forwarded from the caller: buf is writable for len bytes.
    unsafe { syscall4(nr::READ, fd as usize, buf as usize, len, 0) }
}

/// `write(fd, buf, len)`.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[inline]
pub unsafe fn write(fd: i32, buf: *const u8, len: usize) -> isize {
    // SAFETY: forwarded from the caller: buf is readable for len bytes.
    unsafe { syscall4(nr::WRITE, fd as usize, buf as usize, len, 0) }
}

/// `write` until all of `[buf, buf + len)` is written, retried on EINTR;
/// the errno of the first failed write (0 when a write wrote nothing).
///
/// # Safety
/// `buf` must be readable for `len` bytes.
pub unsafe fn write_all(fd: i32, buf: *const u8, len: usize) -> Result<(), i32> {
    let mut done = 0;
    while done < len {
        // SAFETY: [buf + done, buf + len) lies inside the caller's buffer.
        let r = unsafe { write(fd, buf.wrapping_add(done), len - done) };
        match r {
            n if n > 0 => done += n as usize,
            e if e == -(libc::EINTR as isize) => {}
            0 => return Err(0),
            e => return Err(-e as i32),
        }
    }
    Ok(())
}

/// `pread64(fd, buf, len, off)`.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
#[inline]
pub unsafe fn pread(fd: i32, buf: *mut u8, len: usize, off: u64) -> isize {
    // SAFETY: forwarded from the caller: buf is writable for len bytes.
    unsafe { syscall4(nr::PREAD64, fd as usize, buf as usize, len, off as usize) }
}

/// `pwrite64(fd, buf, len, off)`.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
#[inline]
pub unsafe fn pwrite(fd: i32, buf: *const u8, len: usize, off: u64) -> isize {
    // SAFETY: forwarded from the caller: buf is readable for len bytes.
    unsafe { syscall4(nr::PWRITE64, fd as usize, buf as usize, len, off as usize) }
}

/// `clock_gettime(clock, ts)`: the system call, not the vDSO.
#[inline]
pub fn clock_gettime(clock: libc::clockid_t, ts: &mut libc::timespec) -> isize {
    // SAFETY: ts is a valid, writable timespec; the kernel rejects an
    // unknown clock with an error.
    unsafe {
        syscall4(
            nr::CLOCK_GETTIME,
            clock as usize,
            ts as *mut _ as usize,
            0,
            0,
        )
    }
}

/// [`clock_gettime`] of `CLOCK_MONOTONIC` in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    timespec_ns(&ts)
}

/// A timespec in nanoseconds (wrapping, never panicking).
#[inline]
pub fn timespec_ns(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `ppoll(fds, nfds, timeout, NULL)`.
#[inline]
pub fn ppoll(fds: &mut [libc::pollfd], timeout: &libc::timespec) -> isize {
    // SAFETY: fds is a valid writable array of fds.len() pollfds, timeout
    // a valid timespec; a NULL sigmask leaves the blocked signals alone.
    unsafe {
        syscall4(
            nr::PPOLL,
            fds.as_mut_ptr() as usize,
            fds.len(),
            timeout as *const _ as usize,
            0,
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A non-blocking pipe: (read end, write end).
    pub(crate) fn pipe() -> (OwnedFd, OwnedFd) {
        let mut p = [0; 2];
        // SAFETY: pipe2 writes two descriptors into p.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK) }, 0);
        // SAFETY: both were just created and are ours alone.
        unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) }
    }

    #[test]
    fn write_all_writes_everything_or_says_why_not() {
        let (r, w) = pipe();
        let data = [0x5au8; 1000];
        // SAFETY: a live buffer of 1000 bytes.
        let wrote = unsafe { write_all(w.as_raw_fd(), data.as_ptr(), 1000) };
        assert_eq!(wrote, Ok(()));
        let mut back = [0u8; 1000];
        // SAFETY: a live buffer of 1000 bytes.
        let got = unsafe { read(r.as_raw_fd(), back.as_mut_ptr(), 1000) };
        assert_eq!(got, 1000);
        assert_eq!(back, data);
        // SAFETY: a live buffer; fd -1 is never open.
        assert_eq!(unsafe { write_all(-1, data.as_ptr(), 1) }, Err(libc::EBADF));
        // Nothing to write is done at once, whatever the descriptor.
        // SAFETY: zero bytes are read from the buffer.
        assert_eq!(unsafe { write_all(-1, data.as_ptr(), 0) }, Ok(()));
    }

    #[test]
    fn monotonic_clock_agrees_with_std() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = monotonic_ns();
        assert!(b - a >= 20_000_000 && b - a < 5_000_000_000, "{a} {b}");
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(clock_gettime(100, &mut ts), -(libc::EINVAL as isize));
    }
}
