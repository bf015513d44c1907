//! ARP and ICMP echo for the network test unikernels (`net`, `net_2if`,
//! `net_mtu`), answering like upstream's test_net: an ARP request for our
//! address gets a reply with our MAC, an ICMP echo request to our address
//! (or the subnet's or the all-ones broadcast) gets an echo reply with the
//! addresses swapped and the checksums recomputed. Everything else is
//! ignored.

use solo5_guest::net::{ALEN, HLEN};
use solo5_guest::{clock, console, println, yield_until, Error, Net};

/// EtherType of IPv4.
pub const ETHERTYPE_IP: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// The broadcast MAC address.
pub const MAC_BROADCAST: [u8; ALEN] = [0xff; ALEN];
/// Length of an ARP packet for IPv4 over Ethernet.
const ARP_LEN: usize = 28;
/// Length of an IPv4 header without options.
const IP_HLEN: usize = 20;
/// Length of an ICMP echo header.
const ICMP_HLEN: usize = 8;
/// The largest frame a device can have: a u16 MTU plus the header.
pub const MAX_FRAME: usize = u16::MAX as usize + HLEN;

/// One network device the guest serves, with its IPv4 address.
pub struct Iface {
    /// The manifest name, for messages.
    pub name: &'static str,
    /// The acquired device.
    pub net: Net,
    /// Our address.
    pub ip: [u8; 4],
    /// Whether a read error was reported already (reported once).
    read_failed: bool,
}

impl Iface {
    /// Acquires device `name` to serve as `ip` (a /24).
    pub fn acquire(name: &'static str, ip: [u8; 4]) -> Result<Iface, Error> {
        Ok(Iface {
            name,
            net: Net::acquire(name)?,
            ip,
            read_failed: false,
        })
    }

    /// The /24 subnet broadcast address.
    fn subnet_broadcast(&self) -> [u8; 4] {
        [self.ip[0], self.ip[1], self.ip[2], 0xff]
    }

    /// Prints `[NAME] MAC xx:xx:xx:xx:xx:xx, MTU N`, announces the address
    /// with a gratuitous ARP, then prints (as upstream) `[NAME] Serving ping
    /// on A.B.C.D, with MAC: xxxxxxxxxxxx`: once that line is out, the
    /// guest is ready.
    pub fn announce(&self) {
        let m = self.net.mac();
        println!(
            "[{}] MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, MTU {}",
            self.name,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            self.net.mtu()
        );
        let mut f = [0u8; HLEN + ARP_LEN];
        f[0..6].copy_from_slice(&MAC_BROADCAST);
        f[6..12].copy_from_slice(&m);
        f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        let arp = &mut f[HLEN..];
        arp[0..2].copy_from_slice(&1u16.to_be_bytes());
        arp[2..4].copy_from_slice(&ETHERTYPE_IP.to_be_bytes());
        arp[4] = ALEN as u8;
        arp[5] = 4;
        arp[6..8].copy_from_slice(&1u16.to_be_bytes());
        arp[8..14].copy_from_slice(&m);
        arp[14..18].copy_from_slice(&self.ip);
        arp[24..28].copy_from_slice(&self.ip);
        if self.net.write(&f).is_err() {
            println!("[{}] Could not send GARP packet", self.name);
        }
        let [a, b, c, d] = self.ip;
        println!(
            "[{}] Serving ping on {a}.{b}.{c}.{d}, with MAC: {:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.name, m[0], m[1], m[2], m[3], m[4], m[5]
        );
    }
}

/// What a received frame was turned into, and the reply's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An ARP reply.
    Arp(usize),
    /// An ICMP echo reply.
    Echo(usize),
}

/// The Internet checksum (RFC 1071) of `data`, to store big endian.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [b] = words.remainder() {
        sum += u64::from(*b) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Turns `frame` (received on `iface`) into its reply in place, or
/// returns `None` if it is not for us.
pub fn answer(iface: &Iface, frame: &mut [u8]) -> Option<Reply> {
    if frame.len() < HLEN {
        return None;
    }
    let mac = iface.net.mac();
    if frame[0..6] != mac && frame[0..6] != MAC_BROADCAST {
        return None;
    }
    let reply = match be16(frame, 12) {
        ETHERTYPE_ARP => arp(iface, &mut frame[HLEN..]).map(|n| Reply::Arp(HLEN + n)),
        ETHERTYPE_IP => echo(iface, &mut frame[HLEN..]).map(|n| Reply::Echo(HLEN + n)),
        _ => None,
    }?;
    frame.copy_within(6..12, 0);
    frame[6..12].copy_from_slice(&mac);
    Some(reply)
}

/// An ARP request for our address becomes a reply; returns its length.
fn arp(iface: &Iface, p: &mut [u8]) -> Option<usize> {
    if p.len() < ARP_LEN
        || be16(p, 0) != 1
        || be16(p, 2) != ETHERTYPE_IP
        || p[4] != ALEN as u8
        || p[5] != 4
        || be16(p, 6) != 1
        || p[24..28] != iface.ip
    {
        return None;
    }
    p[6..8].copy_from_slice(&2u16.to_be_bytes());
    p.copy_within(8..18, 18); // sender (MAC, IP) -> target
    p[8..14].copy_from_slice(&iface.net.mac());
    p[14..18].copy_from_slice(&iface.ip);
    // Keep any Ethernet padding the request had.
    Some(p.len())
}

/// An ICMP echo request to us becomes a reply; returns its IP length.
fn echo(iface: &Iface, p: &mut [u8]) -> Option<usize> {
    if p.len() < IP_HLEN + ICMP_HLEN || p[0] != 0x45 || p[9] != 1 {
        return None; // not IPv4 without options, or not ICMP
    }
    let total = usize::from(be16(p, 2));
    if total < IP_HLEN + ICMP_HLEN || total > p.len() {
        return None;
    }
    if be16(p, 6) & 0x3fff != 0 {
        return None; // a fragment
    }
    let dst = [p[16], p[17], p[18], p[19]];
    if dst != iface.ip && dst != iface.subnet_broadcast() && dst != [0xff; 4] {
        return None;
    }
    if p[IP_HLEN] != 8 || p[IP_HLEN + 1] != 0 {
        return None; // not an echo request
    }
    // IP: fresh id, no flags, our address as the source.
    p[4..8].fill(0);
    p.copy_within(12..16, 16);
    p[12..16].copy_from_slice(&iface.ip);
    p[10..12].fill(0);
    let sum = checksum(&p[..IP_HLEN]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    // ICMP: request -> reply.
    let icmp = &mut p[IP_HLEN..total];
    icmp[0] = 0;
    icmp[2..4].fill(0);
    let sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(total)
}

/// Why [`serve`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `done` said so.
    Done,
    /// A reply could not be sent.
    WriteError,
}

/// Serves ARP and ping on every interface of `ifaces`: waits up to a
/// second at a time for input, then reads each ready device until it has
/// nothing queued, answering what is for us. After each reply sent,
/// `done(interface index, reply)` says whether to stop. A device that
/// fails to read is reported once and not read again until it is reported
/// ready again.
pub fn serve(
    ifaces: &mut [Iface],
    verbose: bool,
    mut done: impl FnMut(usize, Reply) -> bool,
) -> Stop {
    let mut buf = [0u8; MAX_FRAME];
    loop {
        let ready = yield_until(clock::monotonic() + clock::NSEC_PER_SEC);
        for (i, iface) in ifaces.iter_mut().enumerate() {
            if !ready.contains(iface.net.handle()) {
                continue;
            }
            let frame = &mut buf[..iface.net.mtu() + HLEN];
            loop {
                let n = match iface.net.read(frame) {
                    Ok(0) => {
                        read_error(iface, "empty frame");
                        break;
                    }
                    Ok(n) => n,
                    Err(Error::Again) => break,
                    Err(e) => {
                        read_error(iface, e);
                        break;
                    }
                };
                let Some(reply) = answer(iface, &mut frame[..n]) else {
                    if verbose {
                        println!("[{}] Unknown or unsupported packet, dropped", iface.name);
                    }
                    continue;
                };
                let len = match reply {
                    Reply::Arp(len) | Reply::Echo(len) => len,
                };
                if verbose {
                    println!("[{}] Received {reply:?}, sending reply", iface.name);
                }
                if let Err(e) = iface.net.write(&frame[..len]) {
                    println!("[{}] Write error: {e}", iface.name);
                    return Stop::WriteError;
                }
                if done(i, reply) {
                    return Stop::Done;
                }
            }
        }
    }
}

fn read_error(iface: &mut Iface, what: impl core::fmt::Display) {
    if !iface.read_failed {
        iface.read_failed = true;
        println!("[{}] Read error: {what}", iface.name);
    }
}

/// Options of the network tests: `limit` and `verbose`, in any order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Stop after 100000 echo replies.
    pub limit: bool,
    /// Report every frame.
    pub verbose: bool,
}

/// How many echo replies `limit` stops after.
pub const LIMIT: u64 = 100_000;

impl Options {
    /// Parses the command line; prints the usage of `test` and returns
    /// `None` on an unknown word.
    pub fn parse(cmdline: &str, test: &str) -> Option<Options> {
        let mut o = Options::default();
        for word in cmdline.split_ascii_whitespace() {
            match word {
                "limit" => o.limit = true,
                "verbose" => o.verbose = true,
                _ => {
                    console::write_str("Error in command line.\n");
                    println!("Usage: test_{test} [ verbose | limit ]");
                    return None;
                }
            }
        }
        Some(o)
    }
}
