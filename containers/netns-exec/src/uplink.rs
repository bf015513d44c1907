//! The interfaces a unikernel's devices are attached to ("uplinks"): which
//! one holds the default route, and its index, MTU, MAC and IPv4 address,
//! prefix and gateway, all read in the current network namespace.

use crate::netlink::{self, Ipv4Net, NetlinkError};
use solo5_tender::devices::netif;
use std::io;
use std::net::Ipv4Addr;
use thiserror::Error;

/// Why an uplink could not be read.
#[derive(Debug, Error)]
pub enum UplinkError {
    /// No such interface in this namespace.
    #[error("no interface {0} in this network namespace")]
    NoSuchInterface(String),
    /// `/proc/net/route` could not be read.
    #[error("could not read /proc/net/route")]
    ReadRoutes(#[source] io::Error),
    /// An ioctl on the interface failed.
    #[error("could not read the {1} of {0}")]
    Query(String, &'static str, #[source] io::Error),
    /// Reading its addresses failed.
    #[error("could not read the addresses of {0}")]
    Addresses(String, #[source] NetlinkError),
}

/// What the helper knows of an uplink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uplink {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// MTU, given to the tap.
    pub mtu: u32,
    /// MAC address, given to the guest by default.
    pub mac: [u8; 6],
    /// Its first IPv4 address, if any.
    pub ipv4: Option<Ipv4Net>,
    /// The IPv4 default gateway through it, if any.
    pub gateway: Option<Ipv4Addr>,
    /// A veth (or netkit) whose peer is in another namespace, as a pod's
    /// `eth0` is: the tcx wiring can hand the guest's frames straight to
    /// the peer. False when the kernel would not say.
    pub peer_elsewhere: bool,
}

/// A default route: interface and gateway (None for an on-link route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultRoute {
    /// The interface that holds it.
    pub iface: String,
    /// Its gateway.
    pub gateway: Option<Ipv4Addr>,
}

/// Parse `/proc/net/route`: the first up default route (destination and
/// mask 0) of the lowest metric.
pub fn parse_default_route(table: &str) -> Option<DefaultRoute> {
    const RTF_UP: u32 = 0x1;
    const RTF_GATEWAY: u32 = 0x2;
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, gw, flags, metric, mask) = (
                hex(f.get(1)?)?,
                hex(f.get(2)?)?,
                hex(f.get(3)?)?,
                f.get(6)?.parse::<u32>().ok()?,
                hex(f.get(7)?)?,
            );
            (dest == 0 && mask == 0 && flags & RTF_UP != 0).then(|| {
                // The table holds addresses in memory (network) order.
                let gateway = (flags & RTF_GATEWAY != 0).then(|| Ipv4Addr::from(gw.to_ne_bytes()));
                (
                    metric,
                    DefaultRoute {
                        iface: f[0].to_string(),
                        gateway,
                    },
                )
            })
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, r)| r)
}

/// The default route of this namespace, if any.
pub fn default_route() -> Result<Option<DefaultRoute>, UplinkError> {
    let table = std::fs::read_to_string("/proc/net/route").map_err(UplinkError::ReadRoutes)?;
    Ok(parse_default_route(&table))
}

/// Read interface `name`; `route` is the namespace's default route.
pub fn read(name: &str, route: Option<&DefaultRoute>) -> Result<Uplink, UplinkError> {
    let index = netif::if_index(name).ok_or_else(|| UplinkError::NoSuchInterface(name.into()))?;
    let q = |what, e| UplinkError::Query(name.into(), what, e);
    let mtu = netif::if_mtu(name).map_err(|e| q("MTU", e))?;
    let mac = netif::if_hwaddr(name).map_err(|e| q("MAC address", e))?;
    let ipv4 = netlink::ipv4_addrs(index)
        .map_err(|e| UplinkError::Addresses(name.into(), e))?
        .into_iter()
        .next();
    let gateway = route.filter(|r| r.iface == name).and_then(|r| r.gateway);
    let peer_elsewhere = netlink::has_peer_elsewhere(index).unwrap_or(false);
    Ok(Uplink {
        name: name.into(),
        index,
        mtu,
        mac,
        ipv4,
        gateway,
        peer_elsewhere,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn finds_the_default_route_and_its_gateway() {
        let t = format!(
            "{HEAD}eth0\t0000140A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n\
             eth0\t00000000\t0100140A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        );
        let r = parse_default_route(&t).unwrap();
        assert_eq!(r.iface, "eth0");
        assert_eq!(r.gateway, Some(Ipv4Addr::new(10, 20, 0, 1)));
    }

    #[test]
    fn lowest_metric_wins_and_down_routes_do_not_count() {
        let t = format!(
            "{HEAD}eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n\
             eth2\t00000000\t0102A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n\
             eth0\t00000000\t00000000\t0001\t0\t0\t100\t00000000\t0\t0\t0\n"
        );
        let r = parse_default_route(&t).unwrap();
        assert_eq!(
            r,
            DefaultRoute {
                iface: "eth0".into(),
                gateway: None
            }
        );
    }

    #[test]
    fn no_default_route() {
        let t = format!("{HEAD}eth0\t0000140A\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n");
        assert_eq!(parse_default_route(&t), None);
        assert_eq!(parse_default_route(""), None);
    }
}
