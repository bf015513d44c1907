//! Device attachment: match the command line's device options against the
//! manifest, open the host side of each device and fill in the manifest
//! entries the guest will see (docs/abis.md, "The manifest" and "Command line").

pub mod block;
pub mod io;
pub mod net;
pub mod netif;
mod sys;
pub mod table;

use crate::cmdline::Options;
use crate::manifest::Manifest;
use solo5_abi::mft::kind;
use std::os::fd::AsRawFd;
use thiserror::Error;

pub use block::{Block, BlockError};
pub use net::{Net, NetError};

/// Why the devices could not be set up. Every message names the option or
/// device at fault.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// An option names a device the manifest does not declare.
    #[error("--{0}:{1}: the unikernel declares no device named '{1}'")]
    NotDeclared(&'static str, String),
    /// An option names a device of the other type.
    #[error("--{0}:{1}: '{1}' is a {2} device, not {3}")]
    WrongType(&'static str, String, &'static str, &'static str),
    /// Declared devices with no option attaching them: upstream's line for
    /// each, then its summary line.
    #[error("{}All declared devices must be attached. See --help for syntax.", not_attached_lines(.0))]
    NotAttached(Vec<(String, &'static str)>),
    /// `--net-mac` or `--block-sector-size` for a device that is not
    /// attached by its main option.
    #[error("--{0}:{1} given without --{2}:{1}")]
    Orphan(&'static str, String, &'static str),
    /// The same descriptor given to two devices.
    #[error("--net:{0}=@{1}: descriptor {1} is already used by another device")]
    FdReused(String, i32),
    /// A network device failed to attach.
    #[error("net '{0}'")]
    Net(String, #[source] NetError),
    /// A block device failed to attach.
    #[error("block '{0}'")]
    Block(String, #[source] BlockError),
}

/// One line per unattached device; `report::error_line` puts the
/// program's name in front of each.
fn not_attached_lines(missing: &[(String, &'static str)]) -> String {
    missing
        .iter()
        .map(|(name, ty)| format!("Device '{name}' of type {ty} declared but not attached.\n"))
        .collect()
}

/// What is attached at one manifest index.
#[derive(Debug)]
pub enum Attached {
    /// A network device.
    Net(Net),
    /// A block device.
    Block(Block),
}

/// Every attached device, by manifest index.
#[derive(Debug, Default)]
pub struct Devices {
    /// `(manifest index, name, device)` in manifest order.
    pub list: Vec<(usize, String, Attached)>,
}

/// Check that `name` is declared with type `want` for option `--opt`.
fn lookup(m: &Manifest, opt: &'static str, name: &str, want: u32) -> Result<usize, DeviceError> {
    let (i, e) = m
        .by_name(name)
        .ok_or_else(|| DeviceError::NotDeclared(opt, name.to_string()))?;
    if e.kind != want {
        // A name may be declared once per type: look for the right one.
        if let Some((j, _)) = m
            .devices()
            .find(|(_, d)| d.kind == want && d.name() == name.as_bytes())
        {
            return Ok(j);
        }
        return Err(DeviceError::WrongType(
            opt,
            name.to_string(),
            kind::name(e.kind),
            kind::name(want),
        ));
    }
    Ok(i)
}

/// Check every device option against `manifest` before anything is opened.
/// Returns the manifest index of each `--net` and `--block`, in order.
pub fn resolve(manifest: &Manifest, o: &Options) -> Result<(Vec<usize>, Vec<usize>), DeviceError> {
    let nets = o
        .nets
        .iter()
        .map(|(n, _)| lookup(manifest, "net", n, kind::NET_BASIC))
        .collect::<Result<Vec<_>, _>>()?;
    let blocks = o
        .blocks
        .iter()
        .map(|(n, _)| lookup(manifest, "block", n, kind::BLOCK_BASIC))
        .collect::<Result<Vec<_>, _>>()?;
    for (n, _) in &o.net_macs {
        lookup(manifest, "net-mac", n, kind::NET_BASIC)?;
        if !o.nets.iter().any(|(m, _)| m == n) {
            return Err(DeviceError::Orphan("net-mac", n.clone(), "net"));
        }
    }
    for (n, _) in &o.sector_sizes {
        lookup(manifest, "block-sector-size", n, kind::BLOCK_BASIC)?;
        if !o.blocks.iter().any(|(m, _)| m == n) {
            return Err(DeviceError::Orphan("block-sector-size", n.clone(), "block"));
        }
    }
    // Entries of the reserved types are never devices (upstream skips
    // every type from RESERVED_FIRST up).
    let missing: Vec<_> = manifest
        .devices()
        .filter(|(i, e)| e.kind < kind::RESERVED_FIRST && !nets.contains(i) && !blocks.contains(i))
        .map(|(_, e)| {
            (
                String::from_utf8_lossy(e.name()).into_owned(),
                kind::name(e.kind),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(DeviceError::NotAttached(missing));
    }
    let mut fds: Vec<i32> = Vec::new();
    for (name, src) in &o.nets {
        if let crate::cmdline::NetSource::Fd(fd) = src {
            if fds.contains(fd) {
                return Err(DeviceError::FdReused(name.clone(), *fd));
            }
            fds.push(*fd);
        }
    }
    Ok((nets, blocks))
}

/// Attach every device of `o` and fill in `manifest`: `attached`, MAC and
/// MTU, capacity and block size. `hostfd` is set too; a tender that must
/// not show host descriptors to its guest clears it in its own copy.
pub fn attach(manifest: &mut Manifest, o: &Options) -> Result<Devices, DeviceError> {
    let (nets, blocks) = resolve(manifest, o)?;
    let mut list = Vec::new();
    // Inherited descriptors first: once the tender opens a tap or a file,
    // that could take the number an `@FD` names.
    let (inherited, opened): (Vec<_>, Vec<_>) = o
        .nets
        .iter()
        .zip(&nets)
        .partition(|((_, src), _)| matches!(src, crate::cmdline::NetSource::Fd(_)));
    for ((name, src), &i) in inherited.into_iter().chain(opened) {
        let mac = o.net_macs.iter().find(|(n, _)| n == name).map(|(_, m)| *m);
        let net = net::attach(src, mac).map_err(|e| DeviceError::Net(name.clone(), e))?;
        let e = &mut manifest.entries_mut()[i];
        e.set_net(net.mac, net.mtu);
        e.hostfd = net.fd.as_raw_fd() as u64;
        e.attached = 1;
        list.push((i, name.clone(), Attached::Net(net)));
    }
    for ((name, path), &i) in o.blocks.iter().zip(&blocks) {
        let size = o
            .sector_sizes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(block::DEFAULT_BLOCK_SIZE, |(_, s)| *s);
        let blk = block::attach(path, size).map_err(|e| DeviceError::Block(name.clone(), e))?;
        let e = &mut manifest.entries_mut()[i];
        // The command line bounds the sector size to u16.
        e.set_block(blk.capacity, blk.block_size as u16);
        e.hostfd = blk.fd.as_raw_fd() as u64;
        e.attached = 1;
        list.push((i, name.clone(), Attached::Block(blk)));
    }
    list.sort_by_key(|(i, _, _)| *i);
    Ok(Devices { list })
}
