//! `--gdb`: the GDB remote serial protocol over TCP (docs/hvt.md,
//! "Debugging").

use std::net::{IpAddr, Ipv4Addr};

/// Where the stub listens unless `--gdb-listen` says otherwise: the
/// loopback address only (upstream listens on every address).
pub const DEFAULT_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Upstream's default port.
pub const DEFAULT_PORT: u16 = 1234;
