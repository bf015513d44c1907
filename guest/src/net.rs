//! Network devices (`NET_BASIC`): Ethernet frames in and out.

use solo5_abi::mft::{kind, Entry};

use crate::handle::{result, Error, Handle};
use crate::{mft, platform};

/// Length of an Ethernet header, which frames include.
pub const HLEN: usize = 14;
/// Length of a MAC address.
pub const ALEN: usize = 6;

/// What a network device is (`struct solo5_net_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetInfo {
    /// MAC address of the guest's interface.
    pub mac: [u8; ALEN],
    /// MTU, Ethernet header not included.
    pub mtu: usize,
}

/// An acquired network device.
#[derive(Clone, Debug)]
pub struct Net {
    handle: Handle,
    info: NetInfo,
}

impl Net {
    /// Acquires the network device the manifest declares as `name`; it must
    /// be attached (the tender refuses to start otherwise).
    pub fn acquire(name: &str) -> Result<Net, Error> {
        let (handle, info) = acquire(name.as_bytes())?;
        Ok(Net { handle, info })
    }

    /// The device's handle, as in [`crate::HandleSet`]s.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// MAC address and MTU.
    pub fn info(&self) -> NetInfo {
        self.info
    }

    /// The MAC address.
    pub fn mac(&self) -> [u8; ALEN] {
        self.info.mac
    }

    /// The MTU (Ethernet header not included).
    pub fn mtu(&self) -> usize {
        self.info.mtu
    }

    /// Receives one frame into `buf` without blocking and returns its
    /// length; [`Error::Again`] when none is queued. `buf` should hold
    /// `mtu() + HLEN` bytes.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        read(self.handle.0, buf)
    }

    /// Sends one frame (Ethernet header included, at most `mtu() + HLEN`
    /// bytes) without blocking.
    pub fn write(&self, frame: &[u8]) -> Result<(), Error> {
        write(self.handle.0, frame)
    }
}

fn info_of(e: &Entry) -> NetInfo {
    NetInfo {
        mac: e.net_mac(),
        mtu: usize::from(e.net_mtu()),
    }
}

/// `solo5_net_acquire`.
pub(crate) fn acquire(name: &[u8]) -> Result<(Handle, NetInfo), Error> {
    let (i, e) = mft::by_name(name, kind::NET_BASIC).ok_or(Error::Invalid)?;
    Ok((Handle(i), info_of(e)))
}

/// `solo5_net_read`.
pub(crate) fn read(handle: u64, buf: &mut [u8]) -> Result<usize, Error> {
    let e = mft::by_handle(handle, kind::NET_BASIC).ok_or(Error::Invalid)?;
    platform::net_read(handle, e, buf)
        .map_err(|code| Error::from_code(code).unwrap_or(Error::Unspecified))
}

/// `solo5_net_write`.
pub(crate) fn write(handle: u64, frame: &[u8]) -> Result<(), Error> {
    let e = mft::by_handle(handle, kind::NET_BASIC).ok_or(Error::Invalid)?;
    if frame.len() > usize::from(e.net_mtu()) + HLEN {
        return Err(Error::Invalid);
    }
    result(platform::net_write(handle, e, frame))
}
