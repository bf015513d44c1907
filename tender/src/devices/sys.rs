//! ioctls on tap and block descriptors and on network interfaces, with
//! safe wrappers. The only `unsafe` of device attachment (and of
//! [`super::netif`]) lives here.
//!
//! Everything here runs before any seccomp filter, so it goes through
//! `nix` where `nix` wraps the call (open, fcntl, epoll, socket, the
//! interface-name functions) and through `nix`'s ioctl macros for the
//! ioctls; `libc` is left only for what `nix` lacks (`getrandom`) and for
//! the probe of a descriptor number that may not be open (`fstat` in
//! [`file_type`]): `nix` takes descriptors as `AsFd`, which a closed number
//! is not. A `nix::Errno` becomes the same `io::Error` `last_os_error` gave.

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNGETIFF: libc::c_ulong = 0x8004_54d2;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

// TUNSETIFF reads the ifreq and writes the interface's name back into it.
nix::ioctl_readwrite_bad!(tun_set_iff, TUNSETIFF, libc::ifreq);
// TUNGETIFF writes one ifreq.
nix::ioctl_read_bad!(tun_get_iff, TUNGETIFF, libc::ifreq);
// TUNSETOFFLOAD takes its flags by value, as an unsigned long: the macro
// that passes a `c_ulong` is the encoded one, `_IOW('T', 208, int)`, which
// is exactly TUNSETOFFLOAD.
nix::ioctl_write_int!(tun_set_offload, b'T', 208);
const _: () =
    assert!(nix::request_code_write!(b'T', 208, size_of::<libc::c_int>()) == TUNSETOFFLOAD);
// BLKGETSIZE64 writes one u64.
nix::ioctl_read_bad!(blk_get_size64, BLKGETSIZE64, u64);
// The interface ioctls: each reads the name from one ifreq and, for the
// SIOCGIF* ones, writes the answer into it.
nix::ioctl_readwrite_bad!(siocgifmtu, libc::SIOCGIFMTU, libc::ifreq);
nix::ioctl_readwrite_bad!(siocsifmtu, libc::SIOCSIFMTU, libc::ifreq);
nix::ioctl_readwrite_bad!(siocgifflags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_readwrite_bad!(siocsifflags, libc::SIOCSIFFLAGS, libc::ifreq);
nix::ioctl_readwrite_bad!(siocgifhwaddr, libc::SIOCGIFHWADDR, libc::ifreq);

/// One of the interface ioctls above.
type IfIoctl = unsafe fn(libc::c_int, *mut libc::ifreq) -> nix::Result<libc::c_int>;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An `ifreq` with `name` in `ifr_name` (names longer than IFNAMSIZ-1 are
/// refused).
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

/// An interface name from a NUL-terminated `c_char` buffer (the whole
/// buffer when it holds no NUL).
fn c_name(buf: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Index of interface `name`, if it exists (a name holding a NUL names
/// none).
pub fn if_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

/// Name of the interface with index `index`, if it exists.
pub fn if_name(index: u32) -> Option<String> {
    nix::net::if_::if_indextoname(index)
        .ok()
        .map(|c| c.to_string_lossy().into_owned())
}

/// Indexes of every interface in this network namespace.
pub fn interfaces() -> io::Result<Vec<u32>> {
    let list = nix::net::if_::if_nameindex()?;
    Ok(list.iter().map(|i| i.index()).collect())
}

/// Open `/dev/net/tun` (close-on-exec, plus `open_flags`) and bind it to
/// the tap `name` (`IFF_TAP | IFF_NO_PI`); returns the descriptor and the
/// interface's name as the kernel gave it.
fn tap_bind(name: &str, open_flags: OFlag) -> io::Result<(OwnedFd, String)> {
    let mut ifr = ifreq(name)?;
    ifr.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
    let fd = nix::fcntl::open(
        c"/dev/net/tun",
        OFlag::O_RDWR | OFlag::O_CLOEXEC | open_flags,
        Mode::empty(),
    )?;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which ifr is.
    unsafe { tun_set_iff(fd.as_raw_fd(), &mut ifr) }?;
    Ok((fd, c_name(&ifr.ifr_name)))
}

/// Open `/dev/net/tun` and bind it to the existing tap `name`
/// (`IFF_TAP | IFF_NO_PI`), non-blocking.
pub fn tap_open(name: &str) -> io::Result<OwnedFd> {
    tap_bind(name, OFlag::O_NONBLOCK).map(|(fd, _)| fd)
}

/// Create a tap from the name template `template` (containing `%d`: the
/// kernel picks the first free number, so two callers never collide),
/// `IFF_TAP | IFF_NO_PI`, blocking, not persistent: it goes away with the
/// last descriptor. Returns the descriptor (close-on-exec) and the name.
pub fn tap_create(template: &str) -> io::Result<(OwnedFd, String)> {
    tap_bind(template, OFlag::empty())
}

/// What `TUNGETIFF` says of a tun/tap descriptor.
pub struct TunInfo {
    /// Interface name.
    pub name: String,
    /// A tap (layer 2), not a tun (layer 3).
    pub is_tap: bool,
    /// Frames come without the 4-byte packet information prefix.
    pub no_pi: bool,
}

/// What `TUNGETIFF` says of a descriptor.
pub enum TunState {
    /// Not a tun/tap descriptor at all (a socket, a pipe...).
    NotTun,
    /// `/dev/net/tun` opened but bound to no interface (`TUNSETIFF` never
    /// done): the kernel answers `EBADFD`, its poll reports an error
    /// forever, and no frame can ever come from it.
    Unattached,
    /// Bound to an interface.
    Attached(TunInfo),
}

/// Whether `fd` is a tun/tap descriptor, and if so which interface it is
/// bound to.
pub fn tun_info(fd: BorrowedFd<'_>) -> TunState {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes one ifreq, which ifr is; on a descriptor
    // that is not a tun/tap it fails without writing.
    if let Err(e) = unsafe { tun_get_iff(fd.as_raw_fd(), &mut ifr) } {
        // Only the tun driver answers TUNGETIFF with EBADFD (tun_get()
        // found no interface); anything else means "not a tun".
        return match e {
            Errno::EBADFD => TunState::Unattached,
            _ => TunState::NotTun,
        };
    }
    // SAFETY: the kernel set the flags member.
    let flags = unsafe { ifr.ifr_ifru.ifru_flags };
    TunState::Attached(TunInfo {
        name: c_name(&ifr.ifr_name),
        is_tap: flags & IFF_TAP != 0,
        no_pi: flags & IFF_NO_PI != 0,
    })
}

/// Whether `fd` supports poll: add it to a scratch epoll set, as the spt
/// v2 ABI's set and the native `yield` would need. Files whose driver has
/// no poll method (`/dev/null`, `/dev/zero`, regular files) give `EPERM`.
pub fn check_pollable(fd: BorrowedFd<'_>) -> io::Result<()> {
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    // The scratch set is closed on return, which removes fd from it.
    ep.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, 0))?;
    Ok(())
}

/// What `/proc/self/fd/N` links to (`/dev/null`, `socket:[1234]`), if
/// /proc says.
pub fn fd_path(fd: RawFd) -> Option<String> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// `S_IFMT` bits of what `fd` refers to; an error (`EBADF`) when `fd` is
/// not open. A raw `fstat`: `nix`'s takes an `AsFd`, which a number that
/// may not be open is not.
pub fn file_type(fd: RawFd) -> io::Result<libc::mode_t> {
    // SAFETY: st is plain old data, written by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid, writable stat buffer.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

/// Turn every offload of a tap off, so no frame larger than MTU + 14 is
/// ever queued to it.
pub fn tap_disable_offloads(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its flags by value; no pointer.
    unsafe { tun_set_offload(fd.as_raw_fd(), 0) }?;
    Ok(())
}

/// Run the interface ioctl `req` on `ifr`, over a scratch datagram
/// socket.
fn if_ioctl(req: IfIoctl, ifr: &mut libc::ifreq) -> io::Result<()> {
    let s = nix::sys::socket::socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: every SIOC[GS]IF* request used here reads or writes one
    // ifreq, which ifr is.
    unsafe { req(s.as_raw_fd(), ifr) }?;
    Ok(())
}

/// MTU of interface `name`.
pub fn if_mtu(name: &str) -> io::Result<u32> {
    let mut ifr = ifreq(name)?;
    if_ioctl(siocgifmtu, &mut ifr)?;
    // SAFETY: SIOCGIFMTU filled in the ifru_mtu member.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    Ok(mtu.max(0) as u32)
}

/// Set the MTU of interface `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut ifr = ifreq(name)?;
    ifr.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    if_ioctl(siocsifmtu, &mut ifr)
}

/// Interface flags (`IFF_*`) of `name`, and the `ifreq` that holds them.
fn if_flags(name: &str) -> io::Result<(libc::c_short, libc::ifreq)> {
    let mut ifr = ifreq(name)?;
    if_ioctl(siocgifflags, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS filled in the ifru_flags member.
    Ok((unsafe { ifr.ifr_ifru.ifru_flags }, ifr))
}

/// Whether interface `name` is up.
pub fn if_is_up(name: &str) -> io::Result<bool> {
    let (flags, _) = if_flags(name)?;
    Ok(flags & libc::IFF_UP as libc::c_short != 0)
}

/// Bring interface `name` up.
pub fn set_up(name: &str) -> io::Result<()> {
    let (flags, mut ifr) = if_flags(name)?;
    ifr.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    if_ioctl(siocsifflags, &mut ifr)
}

/// Hardware (MAC) address of interface `name`.
pub fn if_hwaddr(name: &str) -> io::Result<[u8; 6]> {
    let mut ifr = ifreq(name)?;
    if_ioctl(siocgifhwaddr, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR filled in the ifru_hwaddr member.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, &b) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = b as u8;
    }
    Ok(mac)
}

/// Take ownership of an inherited descriptor the user named with `@FD`.
///
/// Callers check that `fd` is open and that no other `OwnedFd` of this
/// process holds it (each `@FD` is taken once).
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per the contract above, fd is open and owned by nothing else
    // in this process; it was inherited from our parent.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Set `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(nix::fcntl::fcntl(fd, FcntlArg::F_GETFL)?);
    nix::fcntl::fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Size in bytes of the block device `fd`.
pub fn blk_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut size = 0u64;
    // SAFETY: BLKGETSIZE64 writes one u64, which size is.
    unsafe { blk_get_size64(fd.as_raw_fd(), &mut size) }?;
    Ok(size)
}

/// Fill `buf` with random bytes (`getrandom`, which `nix` lacks).
pub fn random(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the rest of buf is valid for writing.
        let r = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
            continue;
        }
        done += r as usize;
    }
    Ok(())
}
