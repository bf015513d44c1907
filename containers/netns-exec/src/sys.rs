//! Raw system calls and ioctls, with safe wrappers: netlink sockets,
//! `bpf(2)`, `/dev/net/tun`, interface ioctls, credentials. The only
//! `unsafe` of the crate lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An `ifreq` with `name` in `ifr_name`.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    Ok(ifr)
}

fn ifr_name(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Create a tap from the name template `template` (containing `%d`: the
/// kernel picks the first free number, so two callers never collide),
/// `IFF_TAP | IFF_NO_PI`, not persistent: it goes away with the last
/// descriptor. Returns the descriptor (close-on-exec) and the name.
pub fn tap_create(template: &str) -> io::Result<(OwnedFd, String)> {
    let mut ifr = ifreq(template)?;
    ifr.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
    // SAFETY: a constant NUL-terminated path; the result is checked.
    let fd =
        check(unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
    // SAFETY: fd was just opened by us and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: TUNSETIFF reads and writes one ifreq, which ifr is.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut ifr) })?;
    Ok((fd, ifr_name(&ifr)))
}

/// A datagram socket for interface ioctls.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just created by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Run the interface ioctl `req` on `ifr`.
fn if_ioctl(req: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    let s = ioctl_socket()?;
    // SAFETY: every SIOC[GS]IF* request used here reads or writes one
    // ifreq, which ifr is.
    check(unsafe { libc::ioctl(s.as_raw_fd(), req, ifr as *mut libc::ifreq) })?;
    Ok(())
}

/// MTU of interface `name`.
pub fn if_mtu(name: &str) -> io::Result<u32> {
    let mut ifr = ifreq(name)?;
    if_ioctl(libc::SIOCGIFMTU, &mut ifr)?;
    // SAFETY: SIOCGIFMTU filled in ifru_mtu.
    Ok(unsafe { ifr.ifr_ifru.ifru_mtu } as u32)
}

/// Set the MTU of interface `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut ifr = ifreq(name)?;
    ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    if_ioctl(libc::SIOCSIFMTU, &mut ifr)
}

/// Bring interface `name` up.
pub fn set_up(name: &str) -> io::Result<()> {
    let mut ifr = ifreq(name)?;
    if_ioctl(libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled in ifru_flags.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    if_ioctl(libc::SIOCSIFFLAGS, &mut ifr)
}

/// Hardware (MAC) address of interface `name`.
pub fn if_hwaddr(name: &str) -> io::Result<[u8; 6]> {
    let mut ifr = ifreq(name)?;
    if_ioctl(libc::SIOCGIFHWADDR, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR filled in ifru_hwaddr.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, &b) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = b as u8;
    }
    Ok(mac)
}

/// Index of interface `name`, if it exists.
pub fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Name of the interface with index `index`, if it exists.
pub fn if_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: buf has IFNAMSIZ bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
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

/// `bpf(cmd, attr, size)`, for the commands that return a descriptor.
///
/// # Safety
/// `attr` must be the attribute structure the kernel expects for `cmd`,
/// with every pointer in it valid for what the command reads or writes.
pub unsafe fn bpf_fd<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<OwnedFd> {
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
    // SAFETY: on success these commands return a new descriptor that is
    // ours.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) })
}

/// `bpf(cmd, attr, size)`, for the commands that return a count.
///
/// # Safety
/// As [`bpf_fd`].
pub unsafe fn bpf_call<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<()> {
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
    Ok(())
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

/// Indexes of every interface in this network namespace.
pub fn interfaces() -> io::Result<Vec<u32>> {
    // SAFETY: if_nameindex has no preconditions; its result is checked
    // and freed below.
    let list = unsafe { libc::if_nameindex() };
    if list.is_null() {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut p = list;
    // SAFETY: the array ends with an entry whose index is 0; p stays
    // inside it; it is freed once, after the walk.
    unsafe {
        while (*p).if_index != 0 {
            out.push((*p).if_index);
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    Ok(out)
}
