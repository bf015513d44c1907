//! tcp: a TCP server unikernel on smoltcp, written as an application
//! author would with the SDK's safe API.
//!
//! ```text
//! tcp ip=A.B.C.D/PREFIX [gw=A.B.C.D] [echo=PORT] [source=PORT] [bytes=N] [conns=N]
//! ```
//!
//! Serves on network device `service0` with a static IPv4 address (and a
//! default route through `gw` when given):
//! - on port `echo` (default 7), echo: every byte received is sent back;
//!   the connection is closed once the peer has closed its half and
//!   everything is echoed;
//! - on port `source` (default 19), a source: `bytes` (default 0) bytes of
//!   the deterministic pattern below are sent, then the connection is
//!   closed; anything received is discarded.
//!
//! After `conns` connections (counted when they end; 0, the default, means
//! serve for ever) it prints what it served and exits 0. Bad arguments: one
//! line `tcp: ...` and exit status 1.
//!
//! The source pattern: byte `i` of the stream is byte `i % 8` (little
//! endian) of `splitmix64(i / 8)`, so a client can check any byte on its
//! own. `tests/src/bin/tcp-client.rs` has the same function.
//!
//! # Memory
//! Every buffer is allocated once at start-up from the heap (the SDK's
//! `alloc` feature), sized from the heap that `--mem` leaves: nothing is
//! allocated per packet or per connection. The first socket of each port
//! has the large buffers (bulk transfers), the spares small ones (short
//! connections that overlap, e.g. while the first is still closing).
//!
//! # Event loop
//! Poll the stack (read every queued frame, send what is due), move data
//! between the sockets and the application, and repeat while the
//! application made progress; otherwise sleep in `yield_until` until a
//! frame arrives or the stack's next timer (`poll_delay`) is due.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use solo5_guest::net::HLEN;
use solo5_guest::{clock, println, yield_until, Error, Net, StartInfo, EXIT_FAILURE};

solo5_guest::manifest! { net "service0" }
solo5_guest::main!(app);

/// Small sockets beside the large one on the echo port...
const ECHO_SPARES: usize = 3;
/// ...and on the source port.
const SOURCE_SPARES: usize = 1;
/// Buffers of a spare echo socket, each way.
const SPARE_ECHO_BUF: usize = 4 << 10;
/// Send buffer of a spare source socket.
const SPARE_SOURCE_BUF: usize = 8 << 10;
/// Receive buffer of the source sockets: they discard what they get.
const SOURCE_RX_BUF: usize = 1 << 10;
/// The large echo buffers never exceed this (each way), nor the large
/// source buffer twice this.
const MAX_ECHO_BUF: usize = 512 << 10;
/// Heap kept back for everything but the socket buffers.
const HEAP_SLACK: usize = 16 << 10;
/// Size of the echo copy buffer (on the stack).
const SCRATCH: usize = 16 << 10;
/// A connection whose peer acknowledges nothing of what we sent for this
/// long is aborted.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest sleep in one `yield_until`.
const MAX_SLEEP_NS: u64 = clock::NSEC_PER_SEC;
/// All sockets: the large echo and source ones and the spares.
const SOCKETS: usize = 2 + ECHO_SPARES + SOURCE_SPARES;

/// Byte `i` of the source stream is byte `i % 8` of `pattern_word(i / 8)`.
fn pattern_word(k: u64) -> u64 {
    // splitmix64's output function of the k-th state.
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with the stream's bytes from offset `at`.
fn fill_pattern(at: u64, buf: &mut [u8]) {
    let mut pos = at;
    let mut rest = buf;
    // Up to the next multiple of 8, byte by byte.
    while !pos.is_multiple_of(8) && !rest.is_empty() {
        rest[0] = pattern_word(pos / 8).to_le_bytes()[(pos % 8) as usize];
        rest = &mut rest[1..];
        pos += 1;
    }
    let mut words = rest.chunks_exact_mut(8);
    for w in &mut words {
        w.copy_from_slice(&pattern_word(pos / 8).to_le_bytes());
        pos += 8;
    }
    let tail = words.into_remainder();
    let n = tail.len();
    tail.copy_from_slice(&pattern_word(pos / 8).to_le_bytes()[..n]);
}

/// The command line.
struct Options {
    cidr: Ipv4Cidr,
    gateway: Option<Ipv4Address>,
    echo_port: u16,
    source_port: u16,
    bytes: u64,
    conns: u64,
}

impl Options {
    fn parse(cmdline: &str) -> Result<Options, &str> {
        let mut cidr = None;
        let mut o = Options {
            cidr: Ipv4Cidr::new(Ipv4Address::UNSPECIFIED, 0),
            gateway: None,
            echo_port: 7,
            source_port: 19,
            bytes: 0,
            conns: 0,
        };
        for word in cmdline.split_ascii_whitespace() {
            let (key, value) = word.split_once('=').ok_or(word)?;
            match key {
                "ip" => cidr = Some(parse_cidr(value).ok_or(word)?),
                "gw" => o.gateway = Some(value.parse().map_err(|_| word)?),
                "echo" => o.echo_port = parse_port(value).ok_or(word)?,
                "source" => o.source_port = parse_port(value).ok_or(word)?,
                "bytes" => o.bytes = value.parse().map_err(|_| word)?,
                "conns" => o.conns = value.parse().map_err(|_| word)?,
                _ => return Err(word),
            }
        }
        o.cidr = cidr.ok_or("ip=A.B.C.D/PREFIX is missing")?;
        if o.echo_port == o.source_port {
            return Err("echo and source need different ports");
        }
        Ok(o)
    }
}

fn parse_cidr(s: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = s.split_once('/')?;
    let addr: Ipv4Address = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    if prefix > 32 || addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return None;
    }
    Some(Ipv4Cidr::new(addr, prefix))
}

fn parse_port(s: &str) -> Option<u16> {
    s.parse().ok().filter(|&p| p != 0)
}

/// The network device as smoltcp sees it: one frame buffer each way, so
/// no frame is allocated.
struct Tap {
    net: Net,
    /// Whether a frame may be queued: false once a read found none, true
    /// again when `yield_until` reports the device. Saves a read (on hvt a
    /// VM exit) that would find nothing each time the stack polls.
    ready: bool,
    rx: &'static mut [u8],
    tx: &'static mut [u8],
    /// Frames the device refused to send (TCP retransmits them).
    write_errors: u64,
    /// Reads that failed for another reason than "nothing queued".
    read_errors: u64,
}

struct RxToken<'a>(&'a [u8]);

struct TxToken<'a> {
    net: &'a Net,
    buf: &'a mut [u8],
    write_errors: &'a mut u64,
}

impl Device for Tap {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !self.ready {
            return None;
        }
        let n = match self.net.read(self.rx) {
            Ok(n) => n,
            Err(Error::Again) => {
                self.ready = false;
                return None;
            }
            Err(_) => {
                self.read_errors += 1;
                return None;
            }
        };
        Some((
            RxToken(&self.rx[..n]),
            TxToken {
                net: &self.net,
                buf: self.tx,
                write_errors: &mut self.write_errors,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            net: &self.net,
            buf: self.tx,
            write_errors: &mut self.write_errors,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.net.mtu() + HLEN;
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than max_transmission_unit.
        let frame = &mut self.buf[..len];
        let r = f(frame);
        if self.net.write(frame).is_err() {
            *self.write_errors += 1;
        }
        r
    }
}

/// Which service a socket gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Service {
    Echo,
    Source,
}

/// A socket and where its connection is.
struct Slot {
    handle: SocketHandle,
    service: Service,
    port: u16,
    /// A connection is established and not yet counted as ended.
    busy: bool,
    /// Source bytes queued on this connection so far.
    sent: u64,
}

/// What the application did.
#[derive(Default)]
struct Totals {
    conns: u64,
    echoed: u64,
    sourced: u64,
}

/// Moves data for one socket; returns whether anything happened.
fn serve(
    slot: &mut Slot,
    s: &mut tcp::Socket<'_>,
    bytes: u64,
    scratch: &mut [u8],
    totals: &mut Totals,
) -> bool {
    match s.state() {
        State::Closed => {
            if slot.busy {
                slot.busy = false;
                totals.conns += 1;
            }
            slot.sent = 0;
            // Listening on a closed socket with a valid port cannot fail.
            let _ = s.listen(slot.port);
            return true;
        }
        State::Listen | State::SynReceived | State::SynSent => return false,
        // We closed first and the peer did too: the connection is over.
        State::TimeWait => {
            if slot.busy {
                slot.busy = false;
                totals.conns += 1;
                return true;
            }
            return false;
        }
        _ => {}
    }
    slot.busy = true;
    let mut progress = false;
    match slot.service {
        Service::Echo => {
            while s.can_recv() {
                let room = s.send_capacity() - s.send_queue();
                let n = room.min(scratch.len());
                if n == 0 {
                    break;
                }
                let got = s.recv_slice(&mut scratch[..n]).unwrap_or(0);
                if got == 0 {
                    break;
                }
                // There is room for all of it: checked above.
                let put = s.send_slice(&scratch[..got]).unwrap_or(0);
                totals.echoed += put as u64;
                progress = true;
            }
            if s.state() == State::CloseWait && s.recv_queue() == 0 {
                s.close();
                progress = true;
            }
        }
        Service::Source => {
            // Discard what the peer sends, so its window stays open.
            let _ = s.recv(|b| (b.len(), ()));
            // The free space may wrap around the ring: two pieces.
            for _ in 0..2 {
                let left = bytes - slot.sent;
                if left == 0 || !s.may_send() {
                    break;
                }
                let at = slot.sent;
                let n = s
                    .send(|buf| {
                        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                        fill_pattern(at, &mut buf[..n]);
                        (n, n)
                    })
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                slot.sent += n as u64;
                totals.sourced += n as u64;
                progress = true;
            }
            if slot.sent == bytes && matches!(s.state(), State::Established | State::CloseWait) {
                s.close();
                progress = true;
            }
        }
    }
    progress
}

/// A zeroed buffer of `len` bytes that lives as long as the guest.
fn buffer(len: usize) -> &'static mut [u8] {
    vec![0u8; len].leak()
}

fn app(start: &StartInfo) -> i32 {
    let opts = match Options::parse(start.cmdline()) {
        Ok(o) => o,
        Err(what) => {
            println!("tcp: bad argument: {what} (usage: tcp ip=A.B.C.D/PREFIX [gw=A.B.C.D] [echo=PORT] [source=PORT] [bytes=N] [conns=N])");
            return EXIT_FAILURE;
        }
    };
    let net = match Net::acquire("service0") {
        Ok(n) => n,
        Err(e) => {
            println!("tcp: could not acquire network device service0: {e}");
            return EXIT_FAILURE;
        }
    };
    let mac = EthernetAddress(net.mac());
    if !mac.is_unicast() {
        println!("tcp: service0 has a MAC address that is not unicast: {mac}");
        return EXIT_FAILURE;
    }

    // Sizes: the frame buffers, the spares, then what is left split into
    // four: the large echo socket gets a quarter each way, the large source
    // socket half (it sends only).
    let frame = net.mtu() + HLEN;
    let fixed = 2 * frame
        + ECHO_SPARES * 2 * SPARE_ECHO_BUF
        + SOURCE_SPARES * (SPARE_SOURCE_BUF + SOURCE_RX_BUF)
        + SOURCE_RX_BUF
        + HEAP_SLACK;
    let quarter = (start.heap_size().saturating_sub(fixed) / 4) & !0xfff;
    let echo_buf = quarter.min(MAX_ECHO_BUF);
    if echo_buf < SPARE_SOURCE_BUF {
        println!(
            "tcp: not enough memory for the socket buffers ({} KiB of heap, {} KiB needed at least)",
            start.heap_size() >> 10,
            (fixed + 4 * SPARE_SOURCE_BUF) >> 10
        );
        return EXIT_FAILURE;
    }
    let source_buf = 2 * echo_buf;

    let mut tap = Tap {
        net,
        ready: true,
        rx: buffer(frame),
        tx: buffer(frame),
        write_errors: 0,
        read_errors: 0,
    };
    let mut config = Config::new(HardwareAddress::Ethernet(mac));
    config.random_seed = clock::wall() ^ clock::monotonic().rotate_left(32);
    let mut iface = Interface::new(config, &mut tap, now());
    iface.update_ip_addrs(|addrs| {
        // The list holds at least one address.
        let _ = addrs.push(IpCidr::Ipv4(opts.cidr));
    });
    if let Some(gw) = opts.gateway {
        // The route table holds at least one route.
        let _ = iface.routes_mut().add_default_ipv4_route(gw);
    }

    let mut storage: [SocketStorage<'_>; SOCKETS] = Default::default();
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut slots: [Option<Slot>; SOCKETS] = Default::default();
    let layout = [
        (Service::Echo, echo_buf, echo_buf),
        (Service::Source, SOURCE_RX_BUF, source_buf),
    ]
    .into_iter()
    .chain((0..ECHO_SPARES).map(|_| (Service::Echo, SPARE_ECHO_BUF, SPARE_ECHO_BUF)))
    .chain((0..SOURCE_SPARES).map(|_| (Service::Source, SOURCE_RX_BUF, SPARE_SOURCE_BUF)));
    for (slot, (service, rx, tx)) in slots.iter_mut().zip(layout) {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(buffer(rx)),
            tcp::SocketBuffer::new(buffer(tx)),
        );
        s.set_timeout(Some(IDLE_TIMEOUT));
        // Echo what comes at once, and acknowledge at once: the peer's
        // window is the only limit.
        s.set_nagle_enabled(service == Service::Source);
        s.set_ack_delay(None);
        let port = match service {
            Service::Echo => opts.echo_port,
            Service::Source => opts.source_port,
        };
        // A fresh socket with a non-zero port: cannot fail.
        let _ = s.listen(port);
        *slot = Some(Slot {
            handle: sockets.add(s),
            service,
            port,
            busy: false,
            sent: 0,
        });
    }

    let m = mac.0;
    println!(
        "tcp: {} on service0 (MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, MTU {}), gateway {}",
        opts.cidr,
        m[0],
        m[1],
        m[2],
        m[3],
        m[4],
        m[5],
        tap.net.mtu(),
        Gateway(opts.gateway)
    );
    println!(
        "tcp: buffers {} KiB echo, {} KiB source, of {} KiB heap",
        echo_buf >> 10,
        source_buf >> 10,
        start.heap_size() >> 10
    );
    println!(
        "tcp: serving echo on port {}, {} source bytes on port {}, exit after {} connections",
        opts.echo_port, opts.bytes, opts.source_port, opts.conns
    );

    let mut scratch = [0u8; SCRATCH];
    let mut totals = Totals::default();
    loop {
        iface.poll(now(), &mut tap, &mut sockets);
        let mut progress = false;
        for slot in slots.iter_mut().flatten() {
            let s = sockets.get_mut::<tcp::Socket>(slot.handle);
            progress |= serve(slot, s, opts.bytes, &mut scratch, &mut totals);
        }
        if opts.conns != 0 && totals.conns >= opts.conns {
            // Send what the last state changes queued (final ACKs).
            iface.poll(now(), &mut tap, &mut sockets);
            break;
        }
        if progress {
            continue;
        }
        let t = clock::monotonic();
        let sleep = match iface.poll_delay(now(), &sockets) {
            Some(d) => (d.total_micros() * 1000).min(MAX_SLEEP_NS),
            None => MAX_SLEEP_NS,
        };
        if yield_until(t + sleep).contains(tap.net.handle()) {
            tap.ready = true;
        }
    }
    println!(
        "tcp: {} connections, {} bytes echoed, {} bytes sourced, {} write errors, {} read errors",
        totals.conns, totals.echoed, totals.sourced, tap.write_errors, tap.read_errors
    );
    0
}

/// Shows a default gateway, or `none`.
struct Gateway(Option<Ipv4Address>);

impl core::fmt::Display for Gateway {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(gw) => gw.fmt(f),
            None => f.write_str("none"),
        }
    }
}

/// The stack's clock: monotonic time in microseconds.
fn now() -> Instant {
    Instant::from_micros(i64::try_from(clock::monotonic() / 1000).unwrap_or(i64::MAX))
}
