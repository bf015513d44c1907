//! System calls: descriptor flags and credentials through `nix`, and
//! `bpf(2)`, which `nix` lacks, raw. The crate's `unsafe` is here and in
//! `bpf`'s three calls of it; the netlink socket is `netlink-sys`'s, taps
//! and interface ioctls are the tender's (`solo5_tender::devices::netif`).

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::prctl;
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

/// Clear close-on-exec on `fd`, so that the tender inherits it.
pub fn inherit(fd: BorrowedFd<'_>) -> io::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(())
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
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    setgroups(&[])?;
    setresgid(gid, gid, gid)?;
    setresuid(uid, uid, uid)?;
    Ok(())
}

/// Set no_new_privs: no later exec can gain a privilege.
pub fn set_no_new_privs() -> io::Result<()> {
    Ok(prctl::set_no_new_privs()?)
}
