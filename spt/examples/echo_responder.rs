//! Baseline for the ping-flood benchmark of `scripts/bench-devices`: the
//! `net` test unikernel's job done by a plain process, the physical limit
//! of a tap.
//!
//! ```text
//! echo_responder TAP
//! ```
//!
//! attaches the existing tap TAP like `solo5-spt --net:` does
//! (`IFF_TAP | IFF_NO_PI`, non-blocking, offloads off), prints
//! `Serving ping on 10.0.0.2`, then answers ARP requests for 10.0.0.2 and
//! ICMP echo requests to it until killed, with the system calls the tender
//! makes for the guest: `ppoll` on the tap (up to a second, like the
//! guest's yield), then `read` until `EAGAIN`, one `write` per reply. No
//! seccomp filter, no capabilities dropped: a plain process.

use std::io::{self, Write as _};
use std::os::fd::AsRawFd;

/// Ethernet header length.
const HLEN: usize = 14;
const ETHERTYPE_IP: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
/// Our address, like the `net` guest's.
const IP: [u8; 4] = [10, 0, 0, 2];
/// A locally administered unicast MAC.
const MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0x00, 0x00, 0x02];

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
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

/// Turns `frame` into its reply in place and returns the reply's length,
/// or `None` if it is not an ARP request for us or an echo request to us.
/// The same rules as the `net` guest's.
fn answer(frame: &mut [u8]) -> Option<usize> {
    if frame.len() < HLEN || (frame[0..6] != MAC && frame[0..6] != [0xff; 6]) {
        return None;
    }
    let len = match be16(frame, 12) {
        ETHERTYPE_ARP => HLEN + arp(&mut frame[HLEN..])?,
        ETHERTYPE_IP => HLEN + echo(&mut frame[HLEN..])?,
        _ => return None,
    };
    frame.copy_within(6..12, 0);
    frame[6..12].copy_from_slice(&MAC);
    Some(len)
}

fn arp(p: &mut [u8]) -> Option<usize> {
    if p.len() < 28
        || be16(p, 0) != 1
        || be16(p, 2) != ETHERTYPE_IP
        || p[4] != 6
        || p[5] != 4
        || be16(p, 6) != 1
        || p[24..28] != IP
    {
        return None;
    }
    p[6..8].copy_from_slice(&2u16.to_be_bytes());
    p.copy_within(8..18, 18);
    p[8..14].copy_from_slice(&MAC);
    p[14..18].copy_from_slice(&IP);
    Some(p.len())
}

fn echo(p: &mut [u8]) -> Option<usize> {
    const IP_HLEN: usize = 20;
    if p.len() < IP_HLEN + 8 || p[0] != 0x45 || p[9] != 1 {
        return None;
    }
    let total = usize::from(be16(p, 2));
    if total < IP_HLEN + 8 || total > p.len() || be16(p, 6) & 0x3fff != 0 {
        return None;
    }
    let dst = [p[16], p[17], p[18], p[19]];
    if dst != IP && dst != [10, 0, 0, 255] && dst != [0xff; 4] {
        return None;
    }
    if p[IP_HLEN] != 8 || p[IP_HLEN + 1] != 0 {
        return None;
    }
    p[4..8].fill(0);
    p.copy_within(12..16, 16);
    p[12..16].copy_from_slice(&IP);
    p[10..12].fill(0);
    let sum = checksum(&p[..IP_HLEN]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let icmp = &mut p[IP_HLEN..total];
    icmp[0] = 0;
    icmp[2..4].fill(0);
    let sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(total)
}

fn serve(fd: i32, mtu: usize) -> io::Result<()> {
    let mut buf = vec![0u8; mtu + HLEN];
    let second = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, a live timespec, no signal mask.
        let n = unsafe { libc::ppoll(&mut pfd, 1, &second, std::ptr::null()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 || pfd.revents & libc::POLLIN == 0 {
            continue;
        }
        loop {
            // SAFETY: buf is a live, writable buffer of buf.len() bytes.
            let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => continue,
                    _ => return Err(e),
                }
            }
            if r == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "tap closed"));
            }
            let Some(len) = answer(&mut buf[..r as usize]) else {
                continue;
            };
            // SAFETY: buf holds len bytes of reply.
            let w = unsafe { libc::write(fd, buf.as_ptr().cast(), len) };
            if w < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tap] = args.as_slice() else {
        eprintln!("usage: echo_responder TAP");
        return std::process::ExitCode::from(2);
    };
    // Exactly the tender's own tap attachment (tender/src/devices/net.rs).
    let source = solo5_tender::cmdline::NetSource::Iface(tap.clone());
    let (fd, mtu) = match solo5_tender::devices::net::attach(&source, Some(MAC)) {
        Ok(net) => (net.fd, usize::from(net.mtu)),
        Err(e) => {
            eprintln!("{}", solo5_tender::report::error_line("echo_responder", &e));
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("Serving ping on 10.0.0.2, with MAC: 02000a000002, MTU {mtu}");
    let _ = io::stdout().flush();
    match serve(fd.as_raw_fd(), mtu) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_responder: {tap}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
