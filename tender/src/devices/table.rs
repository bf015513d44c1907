//! The attached devices as the guest-time code of every tender sees them:
//! one table by manifest index, one handle lookup, one frame-length check,
//! and the device list the seccomp policy is built from.
//!
//! spt's hypercall table, hvt's hypercalls and hvt's net ring all look
//! devices up here; nothing in the table allocates or can fail, so it is
//! fit for the guest-time path (it is built before the guest runs).

use super::{Attached, Devices};
use solo5_abi::mft::MAX_ENTRIES;
use std::os::fd::AsRawFd;

/// Ethernet header length: a frame is at most MTU + 14 bytes.
pub const ETHER_HLEN: u64 = 14;

/// A device as guest-time code sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// Nothing at this index.
    #[default]
    None,
    /// A network device.
    Net {
        /// Host descriptor, non-blocking.
        fd: i32,
        /// MTU; frames are at most `mtu + 14` bytes ([`frame_fits`]).
        mtu: u16,
    },
    /// A block device.
    Block {
        /// Host descriptor.
        fd: i32,
        /// Block size in bytes (a power of two, at least 512).
        block_size: u64,
        /// Capacity in bytes, a multiple of the block size.
        capacity: u64,
    },
}

/// Whether a frame of `len` bytes may be sent on a device of `mtu`.
pub fn frame_fits(mtu: u16, len: u64) -> bool {
    len <= u64::from(mtu) + ETHER_HLEN
}

/// Every device by manifest index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    devices: [Device; MAX_ENTRIES],
}

impl Default for Table {
    fn default() -> Table {
        Table {
            devices: [Device::None; MAX_ENTRIES],
        }
    }
}

impl Table {
    /// The table of `devices` (their descriptors stay owned by them).
    pub fn new(devices: &Devices) -> Table {
        let mut t = Table::default();
        for (i, _, d) in &devices.list {
            t.set(
                *i,
                match d {
                    Attached::Net(n) => Device::Net {
                        fd: n.fd.as_raw_fd(),
                        mtu: n.mtu,
                    },
                    Attached::Block(b) => Device::Block {
                        fd: b.fd.as_raw_fd(),
                        block_size: b.block_size,
                        capacity: b.capacity,
                    },
                },
            );
        }
        t
    }

    /// Put `d` at manifest index `i` (ignored past the manifest's size).
    pub fn set(&mut self, i: usize, d: Device) {
        if let Some(slot) = self.devices.get_mut(i) {
            *slot = d;
        }
    }

    /// The device a guest's `handle` names: nothing for a handle past the
    /// table, all 64 bits of it compared (no truncation).
    pub fn get(&self, handle: u64) -> Device {
        usize::try_from(handle)
            .ok()
            .and_then(|i| self.devices.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// `(manifest index, descriptor, MTU)` of every net device.
    pub fn nets(&self) -> Vec<(usize, i32, u16)> {
        self.devices
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match *d {
                Device::Net { fd, mtu } => Some((i, fd, mtu)),
                _ => None,
            })
            .collect()
    }

    /// Whether any net device is attached.
    pub fn has_net(&self) -> bool {
        self.devices.iter().any(|d| matches!(d, Device::Net { .. }))
    }

    /// Whether any block device is attached.
    pub fn has_block(&self) -> bool {
        self.devices
            .iter()
            .any(|d| matches!(d, Device::Block { .. }))
    }

    /// The descriptors the seccomp policy is built from.
    pub fn policy(&self) -> solo5_policy::Devices {
        let mut out = solo5_policy::Devices {
            max_block_request: super::io::MAX_BLOCK_REQUEST,
            ..solo5_policy::Devices::default()
        };
        for d in &self.devices {
            match *d {
                Device::Net { fd, .. } => out.net_fds.push(fd),
                Device::Block {
                    fd,
                    block_size,
                    capacity,
                } => out.blocks.push(solo5_policy::Block {
                    fd,
                    block_size,
                    capacity,
                }),
                Device::None => {}
            }
        }
        out
    }
}

impl Devices {
    /// `(manifest index, name)` of every net device, for the lines said
    /// about them.
    pub fn net_names(&self) -> Vec<(usize, &str)> {
        self.list
            .iter()
            .filter(|(_, _, d)| matches!(d, Attached::Net(_)))
            .map(|(i, name, _)| (*i, name.as_str()))
            .collect()
    }

    /// Print what the user should know about the attached devices (a net
    /// device's note, e.g. an MTU taken from elsewhere), one line each:
    /// `PROG: warning: net 'NAME': NOTE`.
    pub fn print_warnings(&self, prog: &str) {
        for (_, name, d) in &self.list {
            if let Attached::Net(super::Net {
                note: Some(note), ..
            }) = d
            {
                eprintln!("{prog}: warning: net '{name}': {note}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_looked_up_on_all_64_bits() {
        let mut t = Table::default();
        t.set(0, Device::Net { fd: 5, mtu: 1500 });
        t.set(
            3,
            Device::Block {
                fd: 6,
                block_size: 512,
                capacity: 4096,
            },
        );
        t.set(64, Device::Net { fd: 9, mtu: 1500 });
        assert_eq!(t.get(0), Device::Net { fd: 5, mtu: 1500 });
        assert!(matches!(t.get(3), Device::Block { fd: 6, .. }));
        assert_eq!(t.get(1), Device::None);
        assert_eq!(t.get(64), Device::None, "past the manifest");
        assert_eq!(t.get(1 << 32), Device::None, "not handle 0");
        assert_eq!(t.get(u64::MAX), Device::None);
        assert_eq!(t.nets(), [(0, 5, 1500)]);
        assert!(t.has_net() && t.has_block());
        let p = t.policy();
        assert_eq!(p.net_fds, [5]);
        assert_eq!(p.blocks.len(), 1);
    }

    #[test]
    fn frames_are_at_most_mtu_plus_the_header() {
        assert!(frame_fits(1500, 1514));
        assert!(!frame_fits(1500, 1515));
        assert!(frame_fits(9000, 9014));
        assert!(frame_fits(1500, 0));
        assert!(!frame_fits(1500, u64::MAX));
    }
}
