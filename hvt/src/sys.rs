//! The system calls of solo5-hvt outside KVM: guest memory mappings and
//! the signal handlers, made at set-up through `nix`; and what the run loop
//! calls under the seccomp filter, kept on plain `libc` so that each is
//! exactly the one system call the filter allows: the POLL wait, the
//! clocks, the console write, the exit, and the one-line fatal report that
//! the run loop prints without allocating.
//!
//! KVM itself is reached only through `kvm-ioctls`.

use core::fmt::{self, Write as _};
use nix::sys::mman::MapFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

/// Page protections, as [`protect`] takes them.
pub use nix::sys::mman::ProtFlags;

/// The program name every line starts with.
pub const PROG: &str = "solo5-hvt";

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
/// MAP_NORESERVE)`: fresh zero-filled memory, committed page by page as the
/// guest touches it.
pub fn map_anonymous(len: usize) -> io::Result<*mut u8> {
    // The kernel's answer to a zero length.
    let len = NonZeroUsize::new(len).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a new anonymous mapping at an address of the kernel's
    // choosing; it overlaps nothing of ours.
    let p = unsafe {
        nix::sys::mman::mmap_anonymous(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE,
        )
    }?;
    Ok(p.as_ptr().cast())
}

/// `munmap`.
///
/// # Safety
/// `[p, p + len)` must be a mapping made by [`map_anonymous`] that nothing
/// refers to any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    let Some(p) = NonNull::new(p.cast()) else {
        return;
    };
    // SAFETY: forwarded from the caller.
    let _ = unsafe { nix::sys::mman::munmap(p, len) };
}

/// `mprotect(p, len, prot)`.
///
/// # Safety
/// `[p, p + len)` must lie inside a mapping the caller owns; taking write
/// access away must not break a reference the caller still holds.
pub unsafe fn protect(p: *mut u8, len: usize, prot: ProtFlags) -> io::Result<()> {
    // A mapping never starts at address 0.
    let p = NonNull::new(p.cast()).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: forwarded from the caller.
    unsafe { nix::sys::mman::mprotect(p, len, prot) }?;
    Ok(())
}

/// `clock_gettime(CLOCK_REALTIME)` in nanoseconds since the epoch.
pub fn walltime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the kernel (or vDSO) to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if rc != 0 {
        fatal(format_args!(
            "clock_gettime(CLOCK_REALTIME) failed: {}",
            Errno::last()
        ));
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds (the vDSO's).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the kernel (or vDSO) to fill;
    // CLOCK_MONOTONIC cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Wait up to `timeout_ns` for one of `fds` to become readable; returns
/// how many are (their `revents` say which). Retried on EINTR.
pub fn wait_readable(fds: &mut [libc::pollfd], timeout_ns: u64) -> usize {
    let ts = libc::timespec {
        tv_sec: (timeout_ns / 1_000_000_000).min(i64::MAX as u64) as i64,
        tv_nsec: (timeout_ns % 1_000_000_000) as i64,
    };
    loop {
        // SAFETY: `fds` is a live array of `fds.len()` pollfds the kernel
        // may update; `ts` is read only; no signal mask is passed.
        let rc = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                core::ptr::null(),
            )
        };
        if rc >= 0 {
            return rc as usize;
        }
        let e = Errno::last();
        if e.0 != libc::EINTR {
            fatal(format_args!("POLL: ppoll failed: {e}"));
        }
    }
}

/// `write(fd, buf, len)` until all is written; the error of the first
/// failed write.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
pub unsafe fn write_all(fd: i32, mut buf: *const u8, mut len: usize) -> Result<(), Errno> {
    while len > 0 {
        // SAFETY: forwarded from the caller: `buf` is readable for `len`.
        let n = unsafe { libc::write(fd, buf.cast(), len) };
        if n < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        // n <= len: the kernel never reports more than it was given.
        buf = buf.wrapping_add(n);
        len -= n;
    }
    Ok(())
}

/// End the process now with `status` (modulo 256): no destructors, no
/// atexit handlers, just `exit_group`.
pub fn exit(status: i32) -> ! {
    // SAFETY: `_exit` never returns and touches no memory of ours.
    unsafe { libc::_exit(status) }
}

/// An `errno` value; `Display` is `strerror`, without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's `errno`.
    pub fn last() -> Errno {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 128];
        // SAFETY: `buf` is a live buffer of `buf.len()` bytes that the XSI
        // strerror_r fills with a NUL-terminated string.
        let rc = unsafe { libc::strerror_r(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        let len = buf.iter().position(|&b| b == 0).unwrap_or(0);
        match core::str::from_utf8(&buf[..len]) {
            Ok(s) if rc == 0 && !s.is_empty() => f.write_str(s),
            _ => write!(f, "Unknown error {}", self.0),
        }
    }
}

/// A line built on the stack: `PROG: message\n`. Longer messages are cut.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep the last byte for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Print `solo5-hvt: MESSAGE` on stderr in one write and exit 1. Does not
/// allocate: safe in the run loop under the seccomp filter and in a signal
/// handler.
pub fn fatal(message: fmt::Arguments<'_>) -> ! {
    warn(message);
    exit(1)
}

/// Print `solo5-hvt: MESSAGE` on stderr in one write, without allocating.
pub fn warn(message: fmt::Arguments<'_>) {
    let mut line = Line {
        buf: [0; 512],
        len: 0,
    };
    let _ = write!(line, "{PROG}: {message}");
    line.buf[line.len] = b'\n';
    line.len += 1;
    // SAFETY: `line.buf` holds `line.len` initialised bytes. Nothing is
    // left to tell if stderr itself fails.
    let _ = unsafe { write_all(2, line.buf.as_ptr(), line.len) };
}

extern "C" fn on_signal(sig: libc::c_int) {
    warn(format_args!("Exiting on signal {sig}"));
    exit(128 + sig)
}

/// SIGTERM, SIGINT and SIGHUP end the tender with upstream's line
/// `Exiting on signal N` and exit status 128 + N, the status a shell shows
/// for a process the signal killed and the one solo5-spt exits with
/// (upstream exits 1, which reads as a failure to start); every signal is
/// blocked while the handler runs.
/// SIGPIPE is ignored: console output to a closed pipe is then one error
/// line and exit status 1 instead of a silent death by signal.
pub fn exit_on_signals() -> io::Result<()> {
    // SAFETY: SIG_IGN installs no code of ours (nix's `signal` is libc's
    // `signal`, as before).
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::all(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only formats on its stack, writes and exits
        // (async-signal-safe); the previous action returned is dropped
        // unread.
        unsafe { nix::sys::signal::sigaction(sig, &sa) }?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_prints_strerror() {
        assert_eq!(Errno(libc::ENOENT).to_string(), "No such file or directory");
        assert_eq!(Errno(libc::EFAULT).to_string(), "Bad address");
    }

    #[test]
    fn line_is_cut_not_overflowed() {
        let mut l = Line {
            buf: [0; 512],
            len: 0,
        };
        let long = "x".repeat(2000);
        let _ = write!(l, "{long}");
        assert_eq!(l.len, 511);
    }

    #[test]
    fn anonymous_memory_is_zero_and_protectable() {
        let p = map_anonymous(8192).unwrap();
        // SAFETY: p is a fresh 8 KiB mapping owned by this test.
        unsafe {
            assert_eq!(*p.add(4096), 0);
            protect(p, 4096, ProtFlags::PROT_READ).unwrap();
            unmap(p, 8192);
        }
    }
}
