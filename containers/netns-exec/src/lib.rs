//! solo5-netns-exec: the privileged half of running a unikernel as a
//! container's entrypoint.
//!
//! Run as root with CAP_NET_ADMIN (CAP_BPF too for tcx) inside the
//! container's network namespace, it reads the kernel's manifest, gives
//! each NET_BASIC device a fresh tap wired to an uplink (the interface of
//! the default route for the first, `--uplink NAME=IFACE` for others),
//! checks the `--block` files, passes the taps as `--net:NAME=@FD` with
//! the uplink's MAC, fills in `{addr}`, `{prefix}` and `{gw}` in the
//! guest's arguments, drops every privilege and execs the tender. From
//! then on signals and exit status are the tender's.

pub mod args;
pub mod bpf;
pub mod netlink;
pub mod privileges;
mod sys;
pub mod uplink;
pub mod wiring;

use args::{Args, Template};
use solo5_abi::mft::kind;
use solo5_tender::cmdline::{self, CmdlineError};
use solo5_tender::devices::block::{self, BlockError};
use solo5_tender::devices::netif;
use solo5_tender::notes::{self, NoteError};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use thiserror::Error;
use uplink::{Uplink, UplinkError};
use wiring::{Mode, WiringError};

/// Why the tender could not be started.
#[derive(Debug, Error)]
pub enum RunError {
    /// The tender's own options are wrong.
    #[error("tender command line: {0}")]
    Tender(CmdlineError),
    /// KERNEL could not be read.
    #[error("{0}: could not read")]
    ReadKernel(String, #[source] io::Error),
    /// KERNEL's manifest was refused.
    #[error("{0}: {1}")]
    Manifest(String, NoteError),
    /// `--uplink` for a device the manifest does not have.
    #[error("--uplink {0}: {1} has no net device {0}")]
    NoSuchDevice(String, String),
    /// A net device that has no uplink.
    #[error("net '{0}': no uplink ({1}; give one with --uplink {0}=IFACE)")]
    NoUplink(String, &'static str),
    /// Two devices on one uplink.
    #[error("net '{0}': uplink {1} is already used by net '{2}'")]
    SharedUplink(String, String, String),
    /// An uplink could not be read.
    #[error("net '{0}'")]
    Uplink(String, #[source] UplinkError),
    /// The tap could not be made.
    #[error("net '{0}': could not create a tap")]
    Tap(String, #[source] io::Error),
    /// `/dev/net/tun` is missing or refused.
    #[error("net '{0}': could not open /dev/net/tun to create a tap (give the container the device: --device /dev/net/tun)")]
    Tun(String, #[source] io::Error),
    /// The tap could not be configured.
    #[error("net '{0}': could not set up {1}")]
    TapSetup(String, String, #[source] io::Error),
    /// Tap and uplink could not be joined.
    #[error("net '{0}'")]
    Wiring(String, #[source] WiringError),
    /// A descriptor could not be passed on.
    #[error("net '{0}': could not pass a descriptor to the tender")]
    Inherit(String, #[source] io::Error),
    /// A block file was refused.
    #[error("block '{0}'")]
    Block(String, #[source] BlockError),
    /// A block file the tender's user cannot open.
    #[error("block '{0}': uid {2} cannot open {1} for reading and writing ({3}); chown it or choose its owner with --user")]
    BlockAccess(String, String, u32, io::Error),
    /// A template placeholder with no value.
    #[error(transparent)]
    Template(#[from] args::TemplateError),
    /// Privileges could not be dropped.
    #[error(transparent)]
    Drop(#[from] privileges::DropError),
    /// execve failed.
    #[error("could not run {0}")]
    Exec(String, #[source] io::Error),
}

/// One net device the helper attaches.
struct Attached {
    name: String,
    uplink: Uplink,
    tap: String,
    mode: Mode,
    fallback: Option<String>,
    /// Where tcx sends the guest's frames.
    replies: bpf::Target,
    tap_fd: OwnedFd,
    links: Vec<OwnedFd>,
}

/// Fill in the net devices' uplinks: explicit ones, then the default
/// route's interface for the first device without one.
fn plan(a: &Args, devices: &[String], kernel: &str) -> Result<Vec<(String, Uplink)>, RunError> {
    for (n, _) in &a.uplinks {
        if !devices.contains(n) {
            return Err(RunError::NoSuchDevice(n.clone(), kernel.into()));
        }
    }
    let route = uplink::default_route().map_err(|e| RunError::Uplink(String::new(), e))?;
    let mut out: Vec<(String, Uplink)> = Vec::new();
    let mut default_taken = false;
    for (i, d) in devices.iter().enumerate() {
        let iface = match a.uplinks.iter().find(|(n, _)| n == d) {
            Some((_, iface)) => iface.clone(),
            None if i == 0 && !default_taken => {
                default_taken = true;
                match &route {
                    Some(r) => r.iface.clone(),
                    None => {
                        return Err(RunError::NoUplink(
                            d.clone(),
                            "this namespace has no default route",
                        ))
                    }
                }
            }
            None => {
                return Err(RunError::NoUplink(
                    d.clone(),
                    "only the first net device goes to the default route",
                ))
            }
        };
        if let Some((other, _)) = out.iter().find(|(_, u)| u.name == iface) {
            return Err(RunError::SharedUplink(d.clone(), iface, other.clone()));
        }
        let u = uplink::read(&iface, route.as_ref()).map_err(|e| RunError::Uplink(d.clone(), e))?;
        out.push((d.clone(), u));
    }
    Ok(out)
}

/// Create and wire the tap of device `name` on `u`. With `--wiring auto`
/// any refusal of the BPF path (the query, loading the program, creating
/// the link) falls back to tc mirred.
fn attach(
    name: &str,
    u: Uplink,
    want: args::Wiring,
    reply_egress: bool,
) -> Result<Attached, RunError> {
    let plan =
        wiring::prepare(&u.name, u.index, want).map_err(|e| RunError::Wiring(name.into(), e))?;
    let (tap_fd, tap) = netif::tap_create(wiring::TAP_TEMPLATE).map_err(|e| tap_error(name, e))?;
    let setup = |e| RunError::TapSetup(name.into(), tap.clone(), e);
    netif::set_mtu(&tap, u.mtu).map_err(setup)?;
    netif::set_up(&tap).map_err(setup)?;
    let tap_index =
        netif::if_index(&tap).ok_or_else(|| setup(io::Error::from_raw_os_error(libc::ENODEV)))?;
    let mut mode = plan.mode;
    let mut fallback = plan.fallback;
    // A pod's eth0 is a veth: the guest's frames can skip its transmit
    // path and the CPU backlog and enter the peer's namespace directly.
    let replies = match u.peer_elsewhere && !reply_egress {
        true => bpf::Target::Peer,
        false => bpf::Target::Egress,
    };
    let wired = match wiring::wire(mode, (&u.name, u.index), (&tap, tap_index), replies) {
        // A half-made tcx wiring is undone when its link descriptors
        // close, which they did when wire() returned.
        Err(WiringError::Tcx(on, e)) if want == args::Wiring::Auto => {
            fallback = Some(format!("tcx refused on {on}: {e}"));
            mode = Mode::Mirred;
            wiring::wire(mode, (&u.name, u.index), (&tap, tap_index), replies)
        }
        r => r,
    };
    let (links, replies) = wired.map_err(|e| {
        if mode == Mode::Mirred {
            wiring::unwire_mirred(u.index, tap_index);
        }
        RunError::Wiring(name.into(), e)
    })?;
    Ok(Attached {
        name: name.into(),
        uplink: u,
        tap,
        mode,
        fallback,
        replies,
        tap_fd,
        links,
    })
}

/// The error of a tap that could not be made; when `/dev/net/tun` is
/// what is missing or refused, the line names it.
fn tap_error(name: &str, e: io::Error) -> RunError {
    match std::fs::OpenOptions::new().read(true).write(true).open(TUN) {
        Err(open) => RunError::Tun(name.into(), open),
        Ok(_) => RunError::Tap(name.into(), e),
    }
}

/// The device taps are made from.
const TUN: &str = "/dev/net/tun";

/// The `--verbose` line of one device: which wiring, and why not tcx.
fn wiring_line(d: &Attached) -> String {
    let how = match d.mode {
        Mode::Tcx if d.replies == bpf::Target::Peer => {
            format!(
                "tcx, the guest's frames straight to {}'s peer",
                d.uplink.name
            )
        }
        Mode::Tcx => "tcx".to_string(),
        Mode::Mirred => match &d.fallback {
            Some(why) => format!("tc mirred ({why})"),
            None => "tc mirred".to_string(),
        },
    };
    format!("net '{}': {} <-> {} by {how}", d.name, d.tap, d.uplink.name)
}

fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Check, open and wire everything, drop privileges and exec the tender.
/// Returns only on failure (nothing of ours is left then: taps and tcx
/// links close with their descriptors, mirred filters are removed).
pub fn run(a: Args) -> RunError {
    let mut attached = Vec::new();
    let e = match prepare_and_exec(&a, &mut attached) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    for d in &attached {
        if d.mode == Mode::Mirred {
            if let Some(i) = netif::if_index(&d.tap) {
                wiring::unwire_mirred(d.uplink.index, i);
            }
        }
    }
    e
}

fn prepare_and_exec(
    a: &Args,
    attached: &mut Vec<Attached>,
) -> Result<std::convert::Infallible, RunError> {
    let tender_opts =
        match cmdline::parse(a.tender[1..].iter().cloned()).map_err(RunError::Tender)? {
            cmdline::Command::Run(o) => o,
            // --help or --version: nothing to attach.
            _ => return Err(exec(&a.tender)),
        };
    let kernel = tender_opts.kernel.display().to_string();
    let file =
        std::fs::read(&tender_opts.kernel).map_err(|e| RunError::ReadKernel(kernel.clone(), e))?;
    let manifest = notes::manifest(&file).map_err(|e| RunError::Manifest(kernel.clone(), e))?;
    drop(file);
    // Net devices the tender command line does not attach itself.
    let devices: Vec<String> = manifest
        .devices()
        .filter(|(_, e)| e.kind == kind::NET_BASIC)
        .map(|(_, e)| String::from_utf8_lossy(e.name()).into_owned())
        .filter(|n| !tender_opts.nets.iter().any(|(m, _)| m == n))
        .fold(Vec::new(), |mut v, n| {
            if !v.contains(&n) {
                v.push(n);
            }
            v
        });
    for (name, u) in plan(a, &devices, &kernel)? {
        let d = attach(&name, u, a.wiring, a.reply_egress)?;
        if a.verbose {
            eprintln!("solo5-netns-exec: {}", wiring_line(&d));
        }
        attached.push(d);
    }
    // Block files: opened as the tender will open them, while errors can
    // still name the device clearly.
    for (name, path) in &tender_opts.blocks {
        let size = tender_opts
            .sector_sizes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(block::DEFAULT_BLOCK_SIZE, |(_, s)| *s);
        block::attach(path, size).map_err(|e| RunError::Block(name.clone(), e))?;
    }
    // The template's values: the first device's uplink, else the default
    // route's interface.
    let primary = match attached.first() {
        Some(d) => Some(d.uplink.clone()),
        None => match uplink::default_route().ok().flatten() {
            Some(r) => uplink::read(&r.iface, Some(&r)).ok(),
            None => None,
        },
    };
    let template = Template {
        addr: primary
            .as_ref()
            .and_then(|u| u.ipv4)
            .map(|n| n.addr.to_string()),
        prefix: primary
            .as_ref()
            .and_then(|u| u.ipv4)
            .map(|n| n.prefix.to_string()),
        gw: primary
            .as_ref()
            .and_then(|u| u.gateway)
            .map(|g| g.to_string()),
    };
    let why = match &primary {
        Some(u) => format!(
            "{} has no {{key}} (no IPv4 address or default gateway)",
            u.name
        ),
        None => "this namespace has no default route".to_string(),
    };
    let mut argv: Vec<OsString> = vec![a.tender[0].clone()];
    for d in attached.iter() {
        for fd in std::iter::once(&d.tap_fd).chain(&d.links) {
            sys::inherit(fd.as_fd()).map_err(|e| RunError::Inherit(d.name.clone(), e))?;
        }
        argv.push(format!("--net:{}={}", d.name, format_fd(&d.tap_fd)).into());
        let user_mac = tender_opts.net_macs.iter().any(|(n, _)| *n == d.name);
        if !a.random_mac && !user_mac {
            argv.push(format!("--net-mac:{}={}", d.name, mac_string(&d.uplink.mac)).into());
        }
    }
    argv.extend(a.tender[1..=a.kernel_at].iter().cloned());
    if a.mirage {
        for t in ["--ipv4={addr}/{prefix}", "--ipv4-gateway={gw}"] {
            argv.push(template.expand(&t.into(), &why)?);
        }
    }
    for arg in &a.tender[a.kernel_at + 1..] {
        argv.push(template.expand(arg, &why)?);
    }
    privileges::drop_all(a.uid, a.gid)?;
    for (name, path) in &tender_opts.blocks {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                RunError::BlockAccess(name.clone(), path.display().to_string(), a.uid, e)
            })?;
    }
    Err(exec(&argv))
}

fn format_fd(fd: &OwnedFd) -> String {
    format!("@{}", fd.as_raw_fd())
}

/// Replace this process by `argv` (a vector: nothing is split or joined).
fn exec(argv: &[OsString]) -> RunError {
    let e = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
    RunError::Exec(argv[0].to_string_lossy().into_owned(), e)
}
