//! Network devices: an existing tap interface, or any inherited descriptor.

use super::sys::{self, TunState};
use crate::cmdline::NetSource;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use thiserror::Error;

/// MTU when the descriptor is not a tap (a socketpair, a pipe).
pub const DEFAULT_MTU: u16 = 1500;

/// Why a network device could not be attached.
#[derive(Debug, Error)]
pub enum NetError {
    /// No interface of that name: taps are never created on open.
    #[error("could not attach {0}: no such interface (create it first, e.g. ip tuntap add {0} mode tap)")]
    NoSuchInterface(String),
    /// The interface exists but is not a tap (the kernel says EINVAL).
    #[error("could not attach {0}: it is not a tap interface")]
    NotTap(String),
    /// Binding to the tap failed (busy, no permission).
    #[error("could not attach {0}")]
    OpenTap(String, #[source] io::Error),
    /// The interface is down.
    #[error("could not attach {0}: interface is down (ip link set dev {0} up)")]
    Down(String),
    /// Reading the MTU failed.
    #[error("could not read the MTU of {0}")]
    Mtu(String, #[source] io::Error),
    /// The MTU does not fit the manifest's u16.
    #[error("MTU {1} of {0} is out of range")]
    MtuRange(String, u32),
    /// Turning offloads off failed.
    #[error("could not turn offloads off on {0}")]
    SetOffload(String, #[source] io::Error),
    /// `@FD` is not an open descriptor.
    #[error("descriptor {0} is not open")]
    FdNotOpen(i32),
    /// `@FD` is a file or directory, which frames cannot come from.
    #[error("descriptor {0} is {1}, not a tap, socket or pipe")]
    FdNotStream(i32, &'static str),
    /// `@FD` is a tun (layer 3) or a tap with packet information.
    #[error("descriptor {0} is {1} ({2}): open it with IFF_TAP | IFF_NO_PI")]
    FdWrongTun(i32, String, &'static str),
    /// `@FD` is `/dev/net/tun` opened but never bound to an interface.
    #[error("descriptor {0} is /dev/net/tun attached to no interface (TUNGETIFF fails with EBADFD): bind it to a tap with TUNSETIFF (IFF_TAP | IFF_NO_PI) first")]
    FdUnattachedTun(i32),
    /// `@FD` does not support poll (`/dev/null`, `/dev/zero`): the guest
    /// could never wait for frames on it.
    #[error("descriptor {0}{1} cannot be polled, so the guest could never wait for frames on it")]
    FdNotPollable(i32, String, #[source] io::Error),
    /// `@FD` could not be made non-blocking.
    #[error("could not make descriptor {0} non-blocking")]
    SetNonblocking(i32, #[source] io::Error),
    /// The random MAC could not be generated.
    #[error("could not generate a MAC address")]
    Random(#[source] io::Error),
}

/// An attached network device.
#[derive(Debug)]
pub struct Net {
    /// Host descriptor, non-blocking.
    pub fd: OwnedFd,
    /// MTU of the interface (1500 for a descriptor that is not a tap).
    pub mtu: u16,
    /// Guest MAC address.
    pub mac: [u8; 6],
    /// Something the user should know (printed as a warning).
    pub note: Option<String>,
}

/// Attach `source`; `mac` is the user's `--net-mac`, else a random one.
pub fn attach(source: &NetSource, mac: Option<[u8; 6]>) -> Result<Net, NetError> {
    let (fd, iface) = match source {
        NetSource::Iface(name) => {
            if sys::if_index(name).is_none() {
                return Err(NetError::NoSuchInterface(name.clone()));
            }
            let fd = sys::tap_open(name).map_err(|e| match e.raw_os_error() {
                Some(libc::EINVAL) => NetError::NotTap(name.clone()),
                _ => NetError::OpenTap(name.clone(), e),
            })?;
            if !sys::if_is_up(name).map_err(|e| NetError::OpenTap(name.clone(), e))? {
                return Err(NetError::Down(name.clone()));
            }
            (fd, Some(name.clone()))
        }
        NetSource::Fd(n) => {
            let kind = sys::file_type(*n).map_err(|_| NetError::FdNotOpen(*n))?;
            match kind {
                libc::S_IFREG => return Err(NetError::FdNotStream(*n, "a regular file")),
                libc::S_IFDIR => return Err(NetError::FdNotStream(*n, "a directory")),
                _ => {}
            }
            let fd = sys::adopt_fd(*n);
            let iface = match sys::tun_info(fd.as_fd()) {
                TunState::Unattached => return Err(NetError::FdUnattachedTun(*n)),
                TunState::Attached(t) if !t.is_tap => {
                    return Err(NetError::FdWrongTun(*n, t.name, "a tun"))
                }
                TunState::Attached(t) if !t.no_pi => {
                    return Err(NetError::FdWrongTun(
                        *n,
                        t.name,
                        "a tap with packet information",
                    ))
                }
                TunState::Attached(t) => Some(t.name),
                TunState::NotTun => None,
            };
            sys::check_pollable(fd.as_fd()).map_err(|e| {
                let what = sys::fd_path(*n).map_or_else(String::new, |p| format!(" ({p})"));
                NetError::FdNotPollable(*n, what, e)
            })?;
            sys::set_nonblocking(fd.as_fd()).map_err(|e| NetError::SetNonblocking(*n, e))?;
            (fd, iface)
        }
    };
    let mut note = None;
    let mtu = match &iface {
        Some(name) => {
            sys::tap_disable_offloads(fd.as_fd())
                .map_err(|e| NetError::SetOffload(name.clone(), e))?;
            match sys::if_mtu(name) {
                Ok(mtu) => u16::try_from(mtu).map_err(|_| NetError::MtuRange(name.clone(), mtu))?,
                // A tap passed from another network namespace: its name
                // means nothing here.
                Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                    note = Some(format!(
                        "tap {name} is not in this network namespace: MTU {DEFAULT_MTU} assumed"
                    ));
                    DEFAULT_MTU
                }
                Err(e) => return Err(NetError::Mtu(name.clone(), e)),
            }
        }
        None => DEFAULT_MTU,
    };
    let mac = match mac {
        Some(m) => m,
        None => random_mac().map_err(NetError::Random)?,
    };
    Ok(Net { fd, mtu, mac, note })
}

/// A random MAC address, locally administered and unicast.
pub fn random_mac() -> io::Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    sys::random(&mut mac)?;
    mac[0] = (mac[0] & 0xfc) | 0x02;
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    /// Attach an open file of ours as `@FD`; attach takes the descriptor.
    fn attach_fd(f: std::fs::File) -> Result<Net, NetError> {
        attach(&NetSource::Fd(f.into_raw_fd()), None)
    }

    #[test]
    fn unpollable_descriptors_are_refused_with_their_path() {
        for path in ["/dev/null", "/dev/zero"] {
            let f = std::fs::File::open(path).unwrap();
            match attach_fd(f) {
                Err(e @ NetError::FdNotPollable(_, _, _)) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(&format!("({path}) cannot be polled")),
                        "{text}"
                    );
                    let src = std::error::Error::source(&e).unwrap().to_string();
                    assert!(src.starts_with("Operation not permitted"), "{src}");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[test]
    fn unattached_tun_is_refused() {
        let Ok(f) = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
        else {
            assert!(
                std::env::var_os("SOLO5_TEST_STRICT").is_none_or(|v| v.is_empty() || v == "0"),
                "cannot open /dev/net/tun (SOLO5_TEST_STRICT)"
            );
            eprintln!("SKIP: cannot open /dev/net/tun");
            return;
        };
        assert!(matches!(attach_fd(f), Err(NetError::FdUnattachedTun(_))));
    }

    #[test]
    fn a_pipe_is_pollable_and_not_a_tun() {
        let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        drop(wr);
        let net = attach(&NetSource::Fd(rd.into_raw_fd()), Some([2, 0, 0, 0, 0, 1])).unwrap();
        assert_eq!(net.mtu, DEFAULT_MTU);
        assert_eq!(net.mac, [2, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn random_mac_is_local_unicast() {
        for _ in 0..64 {
            let m = random_mac().unwrap();
            assert_eq!(m[0] & 0x01, 0, "unicast");
            assert_eq!(m[0] & 0x02, 0x02, "locally administered");
        }
    }
}
