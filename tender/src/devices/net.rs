//! Network devices: an existing tap interface, or any inherited descriptor.

use super::sys;
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
                Some(t) if !t.is_tap => return Err(NetError::FdWrongTun(*n, t.name, "a tun")),
                Some(t) if !t.no_pi => {
                    return Err(NetError::FdWrongTun(
                        *n,
                        t.name,
                        "a tap with packet information",
                    ))
                }
                Some(t) => Some(t.name),
                None => None,
            };
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
    #[test]
    fn random_mac_is_local_unicast() {
        for _ in 0..64 {
            let m = super::random_mac().unwrap();
            assert_eq!(m[0] & 0x01, 0, "unicast");
            assert_eq!(m[0] & 0x02, 0x02, "locally administered");
        }
    }
}
