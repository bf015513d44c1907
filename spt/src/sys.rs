//! Raw system calls for the code that runs after the jump (the hypercall
//! table) and for the launch itself.
//!
//! Everything here is a bare `syscall` instruction: no libc wrapper, because
//! glibc's wrappers store `errno` in thread-local storage and the table
//! functions run with the guest's FS base (which is 0 for most guests). A
//! failed call returns `-errno`.

use core::arch::asm;

/// `read(2)` / `write(2)` and friends as numbers.
mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const PREAD64: usize = 17;
    pub const PWRITE64: usize = 18;
    pub const CLOCK_GETTIME: usize = 228;
    pub const EXIT_GROUP: usize = 231;
    pub const PPOLL: usize = 271;
    pub const ARCH_PRCTL: usize = 158;
}

/// `ARCH_SET_FS` for `arch_prctl`.
pub const ARCH_SET_FS: usize = 0x1002;

/// A raw 4-argument syscall.
///
/// # Safety
/// The arguments must be valid for syscall `n`: any pointer among them must
/// point to memory the kernel may read or write as that call defines.
#[inline(always)]
unsafe fn syscall4(n: usize, a0: usize, a1: usize, a2: usize, a3: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller guarantees the arguments suit syscall `n`; the
    // `syscall` instruction clobbers only rcx and r11, declared here.
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

/// `clock_gettime(clock, ts)`.
#[inline]
pub fn clock_gettime(clock: i32, ts: &mut libc::timespec) -> isize {
    // SAFETY: ts is a valid, writable timespec.
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

/// `ppoll(fds, nfds, timeout, NULL)`.
#[inline]
pub fn ppoll(fds: &mut [libc::pollfd], timeout: &libc::timespec) -> isize {
    // SAFETY: fds is a valid writable array of fds.len() pollfds, timeout a
    // valid timespec, and a NULL sigmask leaves the mask alone.
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
/// These run before the jump, so they may use libc.
pub mod setup {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn check(rc: libc::c_int) -> io::Result<OwnedFd> {
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: rc is a descriptor the kernel just created for us.
        Ok(unsafe { OwnedFd::from_raw_fd(rc) })
    }

    /// Open `/dev/null` on whichever of descriptors 0, 1 and 2 is closed.
    pub fn std_fds_open() -> io::Result<()> {
        for fd in 0..=2 {
            // SAFETY: F_GETFD only queries the descriptor table.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
                continue;
            }
            // SAFETY: a constant NUL-terminated path; open returns the
            // lowest free descriptor, which is `fd` (all below are open).
            let got = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if got < 0 {
                return Err(io::Error::last_os_error());
            }
            if got != fd {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
        }
        Ok(())
    }

    /// `epoll_create1(EPOLL_CLOEXEC)`.
    pub fn epoll_create() -> io::Result<OwnedFd> {
        // SAFETY: no pointers; the result is checked.
        check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
    }

    /// `timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)`.
    pub fn timerfd_create() -> io::Result<OwnedFd> {
        // SAFETY: no pointers; the result is checked.
        check(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })
    }

    /// Add `fd` to `epoll` for `EPOLLIN` with `data.u64 = data`.
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
