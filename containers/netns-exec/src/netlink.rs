//! Route netlink from Rust: building and parsing messages, interface
//! addresses, and the tc ingress qdisc + u32/mirred filters of the
//! fallback wiring. No `ip` or `tc` binary is involved.

use crate::sys::NetlinkSocket;
use std::io;
use std::net::Ipv4Addr;
use thiserror::Error;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSGERR_ATTR_MSG: u16 = 1;

const RTM_GETADDR: u16 = 22;
const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const RTM_DELTFILTER: u16 = 45;
const RTM_GETTFILTER: u16 = 46;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_U32_ACT: u16 = 7;
const TCA_U32_SEL: u16 = 5;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_ACT_COOKIE: u16 = 6;
const TCA_MIRRED_PARMS: u16 = 2;
const TC_H_INGRESS: u32 = 0xffff_fff1;
const INGRESS_HANDLE: u32 = 0xffff_0000;
const TC_ACT_STOLEN: i32 = 4;
const TCA_EGRESS_REDIR: i32 = 1;
const TC_U32_TERMINAL: u8 = 1;
const ETH_P_ALL: u16 = 0x0003;

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

/// A netlink message under construction.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

fn pad4(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    /// The family header (ifaddrmsg, tcmsg...).
    fn header(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        pad4(&mut self.buf);
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad4(&mut self.buf);
    }

    fn begin(&mut self, ty: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }

    fn end(&mut self) {
        let at = self.nests.pop().expect("end() after begin()");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        self.buf
    }
}

/// The attributes in `data`: (type without flags, payload).
pub fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            return None;
        }
        let payload = &data[4..len];
        let next = len.next_multiple_of(4).min(data.len());
        data = &data[next..];
        Some((ty, payload))
    })
}

fn attr(data: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(data).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Send `msg` and collect the payloads of the answers (each after its
/// netlink header) until the ack or the end of the dump.
fn transact(msg: Msg) -> Result<Vec<Vec<u8>>, NetlinkError> {
    let s = NetlinkSocket::open().map_err(NetlinkError::Socket)?;
    s.send(&msg.finish()).map_err(NetlinkError::Socket)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = s.recv(&mut buf).map_err(NetlinkError::Socket)?;
        let mut data = &buf[..n];
        while data.len() >= NLMSG_HDRLEN {
            let len = u32_at(data, 0).ok_or(NetlinkError::Malformed)? as usize;
            let ty = u16::from_ne_bytes([data[4], data[5]]);
            if len < NLMSG_HDRLEN || len > data.len() {
                return Err(NetlinkError::Malformed);
            }
            let payload = &data[NLMSG_HDRLEN..len];
            match ty {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let errno = u32_at(payload, 0).ok_or(NetlinkError::Malformed)? as i32;
                    if errno == 0 {
                        return Ok(out);
                    }
                    // Extended ack: after the error code comes the whole
                    // request (NETLINK_CAP_ACK is not set), then the
                    // attributes, the kernel's message among them.
                    let orig_len = u32_at(payload, 4).unwrap_or(0) as usize;
                    let tlv_at = 4 + orig_len.max(NLMSG_HDRLEN);
                    let text = payload
                        .get(tlv_at..)
                        .and_then(|t| attr(t, NLMSGERR_ATTR_MSG))
                        .map(|m| {
                            String::from_utf8_lossy(m)
                                .trim_end_matches('\0')
                                .to_string()
                        })
                        .filter(|m| !m.is_empty());
                    return Err(NetlinkError::Refused(
                        io::Error::from_raw_os_error(-errno),
                        text,
                    ));
                }
                _ => out.push(payload.to_vec()),
            }
            data = &data[len.next_multiple_of(4).min(data.len())..];
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
    let mut m = Msg::new(RTM_GETADDR, NLM_F_DUMP);
    // ifaddrmsg: family, prefixlen, flags, scope, index.
    let mut h = [0u8; 8];
    h[0] = libc::AF_INET as u8;
    m.header(&h);
    let mut out = Vec::new();
    for p in transact(m)? {
        if p.len() < 8 || u32_at(&p, 4) != Some(ifindex) {
            continue;
        }
        let prefix = p[1];
        let a = attr(&p[8..], IFA_LOCAL).or_else(|| attr(&p[8..], IFA_ADDRESS));
        if let Some(a) = a.and_then(|a| <[u8; 4]>::try_from(a).ok()) {
            out.push(Ipv4Net {
                addr: Ipv4Addr::from(a),
                prefix,
            });
        }
    }
    Ok(out)
}

/// A tcmsg: family, ifindex, handle, parent, info.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    h[8..12].copy_from_slice(&handle.to_ne_bytes());
    h[12..16].copy_from_slice(&parent.to_ne_bytes());
    h[16..20].copy_from_slice(&info.to_ne_bytes());
    h
}

/// Add an ingress qdisc to `ifindex`; one that is there already is fine.
pub fn add_ingress_qdisc(ifindex: u32) -> Result<(), NetlinkError> {
    let mut m = Msg::new(RTM_NEWQDISC, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    m.header(&tcmsg(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0));
    m.attr(TCA_KIND, b"ingress\0");
    match transact(m) {
        Err(NetlinkError::Refused(e, _)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Add to `ifindex`'s ingress a u32 filter matching every frame, with the
/// action `mirred egress redirect dev to`, tagged with [`COOKIE`].
pub fn add_mirred(ifindex: u32, to: u32) -> Result<(), NetlinkError> {
    let info = u32::from(ETH_P_ALL.to_be());
    let mut m = Msg::new(RTM_NEWTFILTER, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    m.header(&tcmsg(ifindex, 0, INGRESS_HANDLE, info));
    m.attr(TCA_KIND, b"u32\0");
    m.begin(TCA_OPTIONS);
    // tc_u32_sel (16 bytes) + one tc_u32_key (16 bytes, all zero: mask 0
    // matches everything).
    let mut sel = [0u8; 32];
    sel[0] = TC_U32_TERMINAL;
    sel[2] = 1; // nkeys
    m.attr(TCA_U32_SEL, &sel);
    m.begin(TCA_U32_ACT);
    m.begin(1);
    m.attr(TCA_ACT_KIND, b"mirred\0");
    m.begin(TCA_ACT_OPTIONS);
    // tc_mirred: tc_gen (index, capab, action, refcnt, bindcnt), eaction,
    // ifindex.
    let mut p = [0u8; 28];
    p[8..12].copy_from_slice(&TC_ACT_STOLEN.to_ne_bytes());
    p[20..24].copy_from_slice(&TCA_EGRESS_REDIR.to_ne_bytes());
    p[24..28].copy_from_slice(&to.to_ne_bytes());
    m.attr(TCA_MIRRED_PARMS, &p);
    m.end();
    m.attr(TCA_ACT_COOKIE, COOKIE);
    m.end();
    m.end();
    m.end();
    transact(m).map(|_| ())
}

/// One of our mirred filters found on an ingress hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OurFilter {
    /// Its priority (which identifies it for deletion).
    pub prio: u16,
    /// The interface it redirects to.
    pub target: u32,
}

/// Our filters (by [`COOKIE`]) on `ifindex`'s ingress; none when it has
/// no ingress qdisc.
pub fn our_mirred_filters(ifindex: u32) -> Result<Vec<OurFilter>, NetlinkError> {
    let mut m = Msg::new(RTM_GETTFILTER, NLM_F_DUMP);
    m.header(&tcmsg(ifindex, 0, INGRESS_HANDLE, 0));
    let answers = match transact(m) {
        Err(NetlinkError::Refused(e, _))
            if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) =>
        {
            return Ok(Vec::new())
        }
        r => r?,
    };
    let mut out = Vec::new();
    for p in answers {
        let Some(info) = u32_at(&p, 16) else { continue };
        let Some(opts) = p.get(20..).and_then(|a| attr(a, TCA_OPTIONS)) else {
            continue;
        };
        let Some(acts) = attr(opts, TCA_U32_ACT) else {
            continue;
        };
        for (_, act) in attrs(acts) {
            if attr(act, TCA_ACT_COOKIE) != Some(&COOKIE[..]) {
                continue;
            }
            let target = attr(act, TCA_ACT_OPTIONS)
                .and_then(|o| attr(o, TCA_MIRRED_PARMS))
                .and_then(|p| u32_at(p, 24));
            if let Some(target) = target {
                out.push(OurFilter {
                    prio: (info >> 16) as u16,
                    target,
                });
            }
        }
    }
    Ok(out)
}

/// Delete the filters of priority `prio` on `ifindex`'s ingress.
pub fn del_filter(ifindex: u32, prio: u16) -> Result<(), NetlinkError> {
    let info = (u32::from(prio) << 16) | u32::from(ETH_P_ALL.to_be());
    let mut m = Msg::new(RTM_DELTFILTER, NLM_F_ACK);
    m.header(&tcmsg(ifindex, 0, INGRESS_HANDLE, info));
    m.attr(TCA_KIND, b"u32\0");
    transact(m).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_round_trip() {
        let mut m = Msg::new(RTM_NEWTFILTER, 0);
        m.header(&[9; 20]);
        m.attr(TCA_KIND, b"u32\0");
        m.begin(TCA_OPTIONS);
        m.attr(3, &[1, 2, 3]);
        m.attr(TCA_ACT_COOKIE, COOKIE);
        m.end();
        let buf = m.finish();
        assert_eq!(u32_at(&buf, 0), Some(buf.len() as u32));
        let body = &buf[NLMSG_HDRLEN + 20..];
        let all: Vec<_> = attrs(body).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], (TCA_KIND, &b"u32\0"[..]));
        let inner: Vec<_> = attrs(all[1].1).collect();
        assert_eq!(
            inner,
            vec![(3, &[1u8, 2, 3][..]), (TCA_ACT_COOKIE, &COOKIE[..])]
        );
    }

    #[test]
    fn truncated_attributes_end_the_walk() {
        assert_eq!(attrs(&[8, 0, 1, 0, 1]).count(), 0);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
    }
}
