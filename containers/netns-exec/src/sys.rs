//! Raw system calls, with safe wrappers: netlink sockets, `bpf(2)`,
//! descriptor flags, credentials. The only `unsafe` of the crate lives
//! here; taps and interface ioctls are the tender's
//! (`solo5_tender::devices::netif`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Clear close-on-exec on `fd`, so that the tender inherits it.
pub fn inherit(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_SETFD only changes the descriptor flags of fd, which is
    // open for as long as the borrow lasts.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) })?;
    Ok(())
}

/// A `NETLINK_ROUTE` socket.
pub struct NetlinkSocket {
    fd: OwnedFd,
}

impl NetlinkSocket {
    /// Open one, bound by the kernel on first send.
    pub fn open() -> io::Result<NetlinkSocket> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: fd was just created by us.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Ask for extended acks: error messages from the kernel's tc code.
        let one: libc::c_int = 1;
        // SAFETY: NETLINK_EXT_ACK reads one int, which `one` is; failure
        // only loses the kernel's message text.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                libc::NETLINK_EXT_ACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(NetlinkSocket { fd })
    }

    /// Send one message to the kernel.
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_nl addresses the kernel.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: msg and `to` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receive one datagram (one or more messages) into `buf`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is writable for its whole length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// `bpf(cmd, attr, size)`: its non-negative result.
///
/// # Safety
/// `attr` must be the attribute structure the kernel expects for `cmd`,
/// with every pointer in it valid for what the command reads or writes.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller vouches for attr; size is that of *attr.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `bpf(cmd, attr, size)`, for the commands that return a descriptor.
///
/// # Safety
/// As [`bpf`].
pub unsafe fn bpf_fd<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
    // SAFETY: the caller vouches for attr.
    let fd = unsafe { bpf(cmd, attr) }?;
    // SAFETY: on success these commands return a new descriptor that is
    // ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// `bpf(cmd, attr, size)`, for the commands that return a count.
///
/// # Safety
/// As [`bpf`].
pub unsafe fn bpf_call<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<()> {
    // SAFETY: the caller vouches for attr.
    unsafe { bpf(cmd, attr) }.map(|_| ())
}

/// Become `uid`:`gid` with no supplementary groups (real, effective and
/// saved ids).
pub fn set_ids(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: setgroups with an empty list reads nothing.
    check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain id changes; results checked.
    check(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: as above.
    check(unsafe { libc::setresuid(uid, uid, uid) })?;
    Ok(())
}

/// Set no_new_privs: no later exec can gain a privilege.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    Ok(())
}
