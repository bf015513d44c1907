//! Route netlink through the rust-netlink crates (typed messages from
//! `netlink-packet-route`, framing from `netlink-packet-core`, the socket
//! from `netlink-sys`): interface addresses, and the tc ingress qdisc +
//! u32/mirred filters of the fallback wiring. No `ip` or `tc` binary is
//! involved.

use netlink_packet_core::{
    ErrorMessage, NetlinkBuffer, NetlinkMessage, NetlinkPayload, NlasIterator, NLMSG_DONE,
    NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirror, TcActionMirrorOption, TcActionOption,
    TcActionType, TcAttribute, TcFilterU32, TcFilterU32Option, TcHandle, TcHeader, TcMessage,
    TcMirror, TcMirrorActionType, TcOption, TcU32Key, TcU32Selector, TcU32SelectorFlags,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use thiserror::Error;

/// `ffff:` (TC_H_MAJ of TC_H_INGRESS): the ingress qdisc's handle, the
/// parent of its filters.
const INGRESS: TcHandle = TcHandle {
    major: 0xffff,
    minor: 0,
};
/// The protocol of our filters (`ETH_P_ALL`), in network order in tcm_info.
const ETH_P_ALL: u16 = 0x0003;
/// The extended-ack attribute holding the kernel's message.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;

/// What marks a mirred filter as ours: its action's cookie.
pub const COOKIE: &[u8; 16] = b"solo5-netns-exec";

/// A netlink request that failed.
#[derive(Debug, Error)]
pub enum NetlinkError {
    /// The socket could not be opened, written or read.
    #[error("netlink")]
    Socket(#[source] io::Error),
    /// The kernel refused the request.
    #[error("{}", refused(.0, .1))]
    Refused(io::Error, Option<String>),
    /// The kernel's answer did not parse.
    #[error("netlink: malformed answer")]
    Malformed,
}

/// The kernel's error and its own explanation, if it gave one.
fn refused(e: &io::Error, msg: &Option<String>) -> String {
    match msg {
        Some(m) => format!("{e} ({m})"),
        None => e.to_string(),
    }
}

/// The error of a refusal, with the kernel's message when the extended
/// ack carries one. `flags` are those of the NLMSG_ERROR message.
fn refusal(flags: u16, e: &ErrorMessage) -> NetlinkError {
    // After the error code comes the request: its header alone when
    // capped, else whole; the attributes follow it (NLM_F_ACK_TLVS).
    let echoed = match flags & NLM_F_CAPPED {
        0 => e.header.get(..4).map_or(0, |l| {
            u32::from_ne_bytes(l.try_into().expect("4 bytes")) as usize
        }),
        _ => NLMSG_HDRLEN,
    };
    let tlvs = (flags & NLM_F_ACK_TLVS != 0)
        .then(|| e.header.get(echoed.max(NLMSG_HDRLEN).next_multiple_of(4)..))
        .flatten();
    let text = tlvs
        .and_then(|t| {
            NlasIterator::new(t)
                .map_while(Result::ok)
                .find(|a| a.kind() == NLMSGERR_ATTR_MSG)
                .map(|a| {
                    String::from_utf8_lossy(a.value())
                        .trim_end_matches('\0')
                        .to_string()
                })
        })
        .filter(|m| !m.is_empty());
    NetlinkError::Refused(e.to_io(), text)
}

/// `msg` as the request the kernel reads (sequence number 1).
fn request(msg: RouteNetlinkMessage, flags: u16) -> Vec<u8> {
    let mut m = NetlinkMessage::from(msg);
    m.header.flags = NLM_F_REQUEST | flags;
    m.header.sequence_number = 1;
    m.finalize();
    let mut buf = vec![0; m.buffer_len()];
    m.serialize(&mut buf);
    buf
}

/// The answers in one datagram, appended to `out`; true at the ack or the
/// end of the dump. An answer the crate cannot read (another program's
/// filter of a kind or with an attribute it does not know) is not ours
/// and is skipped; a broken frame, ack or end is `Malformed`.
fn answers(mut data: &[u8], out: &mut Vec<RouteNetlinkMessage>) -> Result<bool, NetlinkError> {
    while data.len() >= NLMSG_HDRLEN {
        let frame = NetlinkBuffer::new_checked(data).map_err(|_| NetlinkError::Malformed)?;
        let (len, ty) = (frame.length() as usize, frame.message_type());
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len]) {
            Ok(m) => match m.payload {
                NetlinkPayload::Done(_) => return Ok(true),
                NetlinkPayload::Error(e) if e.code.is_none() => return Ok(true),
                NetlinkPayload::Error(e) => return Err(refusal(m.header.flags, &e)),
                NetlinkPayload::InnerMessage(m) => out.push(m),
                _ => {}
            },
            Err(_) if ty == NLMSG_ERROR || ty == NLMSG_DONE => return Err(NetlinkError::Malformed),
            Err(_) => {}
        }
        data = &data[len.next_multiple_of(4).min(data.len())..];
    }
    Ok(false)
}

/// Send `msg` and collect the answers until the ack or the end of the
/// dump.
fn transact(
    msg: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
    let s = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
    // Extended acks: error messages from the kernel's tc code; capped: the
    // request is not echoed back. Failure only loses the message text.
    let _ = s.set_ext_ack(true);
    let _ = s.set_cap_ack(true);
    s.send_to(&request(msg, flags), &SocketAddr::new(0, 0), 0)
        .map_err(NetlinkError::Socket)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = s.recv(&mut &mut buf[..], 0).map_err(NetlinkError::Socket)?;
        if answers(&buf[..n.min(buf.len())], &mut out)? {
            return Ok(out);
        }
    }
}

/// An IPv4 address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    /// The address.
    pub addr: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
}

/// The IPv4 addresses of interface `ifindex`, primary first (as the
/// kernel lists them).
pub fn ipv4_addrs(ifindex: u32) -> Result<Vec<Ipv4Net>, NetlinkError> {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    let v4 = |a: &AddressAttribute, local: bool| match (a, local) {
        (AddressAttribute::Local(IpAddr::V4(a)), true)
        | (AddressAttribute::Address(IpAddr::V4(a)), false) => Some(*a),
        _ => None,
    };
    Ok(transact(RouteNetlinkMessage::GetAddress(m), NLM_F_DUMP)?
        .into_iter()
        .filter_map(|a| match a {
            RouteNetlinkMessage::NewAddress(a) if a.header.index == ifindex => Some(a),
            _ => None,
        })
        .filter_map(|a| {
            let addr = (a.attributes.iter().find_map(|x| v4(x, true)))
                .or_else(|| a.attributes.iter().find_map(|x| v4(x, false)))?;
            Some(Ipv4Net {
                addr,
                prefix: a.header.prefix_len,
            })
        })
        .collect())
}

/// Whether interface `ifindex` is a veth or netkit whose peer lives in
/// another network namespace (the kernel reports the peer's namespace id,
/// IFLA_LINK_NETNSID, only then): the case a pod's `eth0` is in.
pub fn has_peer_elsewhere(ifindex: u32) -> Result<bool, NetlinkError> {
    let mut m = LinkMessage::default();
    m.header.index = ifindex;
    let links = transact(RouteNetlinkMessage::GetLink(m), NLM_F_ACK)?;
    Ok(links.iter().any(|l| match l {
        RouteNetlinkMessage::NewLink(l) if l.header.index == ifindex => peer_elsewhere(l),
        _ => false,
    }))
}

/// The rule of `has_peer_elsewhere` on one link message.
fn peer_elsewhere(l: &LinkMessage) -> bool {
    let paired = l.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth | InfoKind::Netkit))),
        _ => false,
    });
    let elsewhere = l
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)));
    paired && elsewhere
}

/// A tc message on `ifindex`.
fn tc(ifindex: u32, handle: TcHandle, parent: TcHandle, info: u32, kind: &str) -> TcMessage {
    let header = TcHeader {
        index: ifindex as i32,
        handle,
        parent,
        info,
        ..TcHeader::default()
    };
    let attrs = if kind.is_empty() {
        Vec::new()
    } else {
        vec![TcAttribute::Kind(kind.into())]
    };
    TcMessage::from_parts(header, attrs)
}

/// Add an ingress qdisc to `ifindex`; one that is there already is fine.
pub fn add_ingress_qdisc(ifindex: u32) -> Result<(), NetlinkError> {
    let m = tc(ifindex, INGRESS, TcHandle::INGRESS, 0, "ingress");
    let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    match transact(RouteNetlinkMessage::NewQueueDiscipline(m), flags) {
        Err(NetlinkError::Refused(e, _)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// The u32 filter on `ifindex`'s ingress matching every frame (one key,
/// mask 0), with the action `mirred egress redirect dev to`, tagged with
/// [`COOKIE`].
fn mirred_filter(ifindex: u32, to: u32) -> TcMessage {
    let mut m = tc(
        ifindex,
        TcHandle::UNSPEC,
        INGRESS,
        u32::from(ETH_P_ALL.to_be()),
        TcFilterU32::KIND,
    );
    let mut sel = TcU32Selector::default();
    sel.flags = TcU32SelectorFlags::Terminal;
    sel.nkeys = 1;
    sel.keys = vec![TcU32Key::default()];
    let mut parms = TcMirror::default();
    parms.generic.action = TcActionType::Stolen;
    parms.eaction = TcMirrorActionType::EgressRedir;
    parms.ifindex = to;
    let mut act = TcAction::default();
    act.attributes = vec![
        TcActionAttribute::Kind(TcActionMirror::KIND.into()),
        TcActionAttribute::Options(vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(
            parms,
        ))]),
        TcActionAttribute::Cookie(COOKIE.to_vec()),
    ];
    m.attributes.push(TcAttribute::Options(vec![
        TcOption::U32(TcFilterU32Option::Selector(sel)),
        TcOption::U32(TcFilterU32Option::Action(vec![act])),
    ]));
    m
}

/// Add to `ifindex`'s ingress a u32 filter matching every frame, with the
/// action `mirred egress redirect dev to`, tagged with [`COOKIE`].
pub fn add_mirred(ifindex: u32, to: u32) -> Result<(), NetlinkError> {
    let m = RouteNetlinkMessage::NewTrafficFilter(mirred_filter(ifindex, to));
    transact(m, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL).map(|_| ())
}

/// One of our mirred filters found on an ingress hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OurFilter {
    /// Its priority (which identifies it for deletion).
    pub prio: u16,
    /// The interface it redirects to.
    pub target: u32,
}

/// Our filters (by [`COOKIE`]) among the filters of a dump.
fn ours(filters: &[RouteNetlinkMessage]) -> Vec<OurFilter> {
    let mut out = Vec::new();
    for f in filters {
        let RouteNetlinkMessage::NewTrafficFilter(f) = f else {
            continue;
        };
        let prio = (f.header.info >> 16) as u16;
        let opts = f.attributes.iter().filter_map(|a| match a {
            TcAttribute::Options(o) => Some(o),
            _ => None,
        });
        let acts = opts.flatten().filter_map(|o| match o {
            TcOption::U32(TcFilterU32Option::Action(acts)) => Some(acts),
            _ => None,
        });
        for act in acts.flatten() {
            let a = &act.attributes;
            if !a.contains(&TcActionAttribute::Cookie(COOKIE.to_vec())) {
                continue;
            }
            let target = a.iter().find_map(|x| match x {
                TcActionAttribute::Options(o) => o.iter().find_map(|o| match o {
                    TcActionOption::Mirror(TcActionMirrorOption::Parms(p)) => Some(p.ifindex),
                    _ => None,
                }),
                _ => None,
            });
            if let Some(target) = target {
                out.push(OurFilter { prio, target });
            }
        }
    }
    out
}

/// Our filters (by [`COOKIE`]) on `ifindex`'s ingress; none when it has
/// no ingress qdisc.
pub fn our_mirred_filters(ifindex: u32) -> Result<Vec<OurFilter>, NetlinkError> {
    let m = tc(ifindex, TcHandle::UNSPEC, INGRESS, 0, "");
    match transact(RouteNetlinkMessage::GetTrafficFilter(m), NLM_F_DUMP) {
        Err(NetlinkError::Refused(e, _))
            if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) =>
        {
            Ok(Vec::new())
        }
        r => Ok(ours(&r?)),
    }
}

/// Delete the filters of priority `prio` on `ifindex`'s ingress.
pub fn del_filter(ifindex: u32, prio: u16) -> Result<(), NetlinkError> {
    let info = (u32::from(prio) << 16) | u32::from(ETH_P_ALL.to_be());
    let m = tc(ifindex, TcHandle::UNSPEC, INGRESS, info, TcFilterU32::KIND);
    transact(RouteNetlinkMessage::DelTrafficFilter(m), NLM_F_ACK).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NLA_F_NESTED, NLM_F_MULTIPART};

    /// `msg` framed as the kernel answers: `ty` and `flags` in its header.
    fn framed(ty: u16, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(payload);
        b
    }

    /// The bytes of the kernel's `struct tc_u32_sel` + key and `struct
    /// tc_mirred` are where they were when these messages were built by
    /// hand (nested attributes may now lack NLA_F_NESTED, which tc's
    /// attributes do not require).
    #[test]
    fn the_filter_is_the_hand_built_one() {
        const OLD: &str =
            "a00000002c00050601000000000000000000000005000000000000000000ffff00030000\
            0800010075333200740002802400050001000100000000000000000000000000000000000000000000\
            000000000000004c000780480001800b0001006d6972726564000024000280200002000000000000000\
            000040000000000000000000000010000000700000014000600736f6c6f352d6e65746e732d65786563";
        let old: Vec<u8> = (0..OLD.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&OLD[i..i + 2], 16).unwrap())
            .collect();
        let m = RouteNetlinkMessage::NewTrafficFilter(mirred_filter(5, 7));
        let new = request(m, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(new.len(), old.len());
        let nested = NLA_F_NESTED.to_ne_bytes();
        for (i, (n, o)) in new.iter().zip(&old).enumerate() {
            if n != o {
                assert_eq!(o & !n, nested[i % 2], "byte {i}: {new:02x?}");
            }
        }
    }

    #[test]
    fn requests_are_the_hand_built_ones() {
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let q = tc(5, INGRESS, TcHandle::INGRESS, 0, "ingress");
        let f = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        assert_eq!(
            hex(request(RouteNetlinkMessage::NewQueueDiscipline(q), f)),
            "3000000024000506010000000000000000000000050000000000fffff1ffffff00000000\
             0c000100696e677265737300"
        );
        let d = tc(5, TcHandle::UNSPEC, INGRESS, 0, "");
        assert_eq!(
            hex(request(
                RouteNetlinkMessage::GetTrafficFilter(d),
                NLM_F_DUMP
            )),
            "240000002e00010301000000000000000000000005000000000000000000ffff00000000"
        );
        let info = (49152 << 16) | u32::from(ETH_P_ALL.to_be());
        let d = tc(5, TcHandle::UNSPEC, INGRESS, info, TcFilterU32::KIND);
        assert_eq!(
            hex(request(RouteNetlinkMessage::DelTrafficFilter(d), NLM_F_ACK)),
            "2c0000002d00050001000000000000000000000005000000000000000000ffff000300c0\
             0800010075333200"
        );
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        assert_eq!(
            hex(request(RouteNetlinkMessage::GetAddress(a), NLM_F_DUMP)),
            "180000001600010301000000000000000200000000000000"
        );
    }

    #[test]
    fn only_a_veth_or_netkit_with_its_peer_elsewhere_has_a_peer_elsewhere() {
        let link = |kind: Option<InfoKind>, nsid: bool| {
            let mut l = LinkMessage::default();
            if let Some(k) = kind {
                l.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(k)]));
            }
            if nsid {
                l.attributes.push(LinkAttribute::LinkNetNsId(3));
            }
            l
        };
        assert!(peer_elsewhere(&link(Some(InfoKind::Veth), true)));
        assert!(peer_elsewhere(&link(Some(InfoKind::Netkit), true)));
        assert!(!peer_elsewhere(&link(Some(InfoKind::Veth), false)));
        assert!(!peer_elsewhere(&link(Some(InfoKind::Tun), true)));
        assert!(!peer_elsewhere(&link(Some(InfoKind::MacVlan), true)));
        assert!(!peer_elsewhere(&link(None, true)));
    }

    #[test]
    fn our_filter_is_found_in_a_dump_and_others_are_not() {
        let mut dump = Vec::new();
        // Ours, as the kernel lists it (prio 49152), then someone else's.
        let mut m = mirred_filter(5, 7);
        m.header.info |= 49152 << 16;
        let mut other = mirred_filter(5, 9);
        for o in &mut other.attributes {
            if let TcAttribute::Options(o) = o {
                if let TcOption::U32(TcFilterU32Option::Action(a)) = &mut o[1] {
                    a[0].attributes.pop();
                }
            }
        }
        for f in [m, other] {
            let r = request(RouteNetlinkMessage::NewTrafficFilter(f), 0);
            dump.extend_from_slice(&framed(44, NLM_F_MULTIPART, &r[NLMSG_HDRLEN..]));
        }
        // Something the crate cannot parse (a tc header cut short) is skipped.
        dump.extend_from_slice(&framed(44, NLM_F_MULTIPART, &[0; 4]));
        let mut out = Vec::new();
        assert!(!answers(&dump, &mut out).unwrap());
        assert_eq!(out.len(), 2);
        assert!(answers(&framed(NLMSG_DONE, 0, &[0; 4]), &mut out).unwrap());
        assert_eq!(
            ours(&out),
            vec![OurFilter {
                prio: 49152,
                target: 7
            }]
        );
    }

    #[test]
    fn a_refusal_carries_the_kernels_message() {
        // -EEXIST, the capped request's header, then NLMSGERR_ATTR_MSG.
        let mut p = (-libc::EEXIST).to_ne_bytes().to_vec();
        p.extend_from_slice(&[0; NLMSG_HDRLEN]);
        p.extend_from_slice(&[12, 0, 1, 0]);
        p.extend_from_slice(b"Exists\0\0");
        let flags = NLM_F_CAPPED | NLM_F_ACK_TLVS;
        let e = answers(&framed(NLMSG_ERROR, flags, &p), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "File exists (os error 17) (Exists)");
        let e = answers(&framed(NLMSG_ERROR, 0, &p[..20]), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "File exists (os error 17)");
        // The ack.
        assert!(answers(&framed(NLMSG_ERROR, 0, &[0; 20]), &mut Vec::new()).unwrap());
        // A frame longer than the datagram.
        let mut cut = framed(NLMSG_ERROR, 0, &[0; 20]);
        cut.truncate(20);
        assert!(matches!(
            answers(&cut, &mut Vec::new()),
            Err(NetlinkError::Malformed)
        ));
    }
}
