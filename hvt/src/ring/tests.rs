//! The ring against a simulated guest: the guest side of docs/hvt.md, "The net ring"
//! written out in the test (entries, free-running indices, the kick), the
//! tender side the real code, frames through a datagram socketpair.

use super::*;
use crate::net::NetShared;
use solo5_abi::result::{AGAIN, EUNSPEC};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Guest memory: 4 MiB for the guest, the ring in the 2 MiB above.
const GUEST: u64 = 4 << 20;
const RING: u64 = GUEST;
/// Where the simulated guest keeps its frame buffers (2048 bytes a slot).
const BUFS: u64 = 0x200000;

fn memory() -> Arc<GuestMemory> {
    let mut m = crate::hypercalls::tests::with_text(GUEST + RESERVED);
    m.set_mem_size(GUEST);
    Arc::new(m)
}

/// A datagram socketpair: (the tender's end, non-blocking; the peer's).
fn wire() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two descriptors into sv.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    // Room for a ring's worth of frames in flight (root may force it).
    let big: libc::c_int = 16 << 20;
    for fd in sv {
        // SAFETY: a live int of the size given.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUFFORCE,
                (&big as *const libc::c_int).cast(),
                4,
            )
        };
    }
    // SAFETY: both were just created and are ours alone.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// The guest's side of the ring.
struct Guest {
    mem: Arc<GuestMemory>,
    next_id: u32,
}

impl Guest {
    fn u32_at(&self, off: u64) -> u32 {
        let p = self.mem.reserved_ptr(RING + off, 4).unwrap();
        // SAFETY: inside the ring, 4-byte aligned.
        unsafe { AtomicU32::from_ptr(p.cast()) }.load(Ordering::Acquire)
    }

    fn set_u32(&self, off: u64, v: u32) {
        let p = self.mem.reserved_ptr(RING + off, 4).unwrap();
        // SAFETY: inside the ring, 4-byte aligned.
        unsafe { AtomicU32::from_ptr(p.cast()) }.store(v, Ordering::Release);
    }

    fn put(&self, gpa: u64, bytes: &[u8]) {
        let p = self.mem.reserved_ptr(gpa, bytes.len() as u64).unwrap();
        // SAFETY: inside the mapping (checked), a host buffer as source.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    }

    fn get(&self, gpa: u64, len: usize) -> Vec<u8> {
        let p = self.mem.reserved_ptr(gpa, len as u64).unwrap();
        let mut v = vec![0; len];
        // SAFETY: inside the mapping (checked).
        unsafe { core::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), len) };
        v
    }

    /// Fill the next entry and publish it; true if the guest would kick.
    fn submit(&mut self, op: u32, handle: u32, data: u64, len: u32) -> u32 {
        let tail = self.u32_at(off::ENT_TAIL);
        let at = RING + off::ENTRIES + u64::from(tail & MASK) * off::ENTRY_SIZE;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let mut e = Vec::new();
        e.extend_from_slice(&op.to_le_bytes());
        e.extend_from_slice(&handle.to_le_bytes());
        e.extend_from_slice(&data.to_le_bytes());
        e.extend_from_slice(&len.to_le_bytes());
        e.extend_from_slice(&id.to_le_bytes());
        self.put(at, &e);
        self.set_u32(off::ENT_TAIL, tail.wrapping_add(1));
        id
    }

    fn free_slots(&self) -> u32 {
        SLOTS
            - 1
            - self
                .u32_at(off::ENT_TAIL)
                .wrapping_sub(self.u32_at(off::ENT_HEAD))
    }

    fn write(&mut self, handle: u32, frame: &[u8]) {
        let slot = u64::from(self.u32_at(off::ENT_TAIL) & MASK);
        let buf = BUFS + slot * 2048;
        self.put(buf, frame);
        self.submit(OP_NET_WRITE, handle, buf, frame.len() as u32);
    }

    /// The next completion, if there is one: (id, ret, len).
    fn completion(&self) -> Option<(u32, u32, u32)> {
        let head = self.u32_at(off::COM_HEAD);
        if head == self.u32_at(off::COM_TAIL) {
            return None;
        }
        let at = off::COMMITS + u64::from(head & MASK) * off::COMMIT_SIZE;
        let c = (self.u32_at(at), self.u32_at(at + 4), self.u32_at(at + 8));
        self.set_u32(off::COM_HEAD, head.wrapping_add(1));
        Some(c)
    }
}

fn setup(nets: &[(usize, i32)]) -> (Ring, Guest, Arc<NetShared>) {
    let mem = memory();
    let shared = Arc::new(NetShared::new(&[]));
    let nets: Vec<(usize, i32, u16)> = nets.iter().map(|&(i, fd)| (i, fd, 1500)).collect();
    let ring = Ring::new(mem.clone(), RING, &nets, shared.clone()).unwrap();
    ring.clear();
    (ring, Guest { mem, next_id: 0 }, shared)
}

fn recv(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is a live buffer of its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    (n >= 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

fn send(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: frame is a live buffer of its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(n, frame.len() as isize);
}

fn frame(n: u32) -> Vec<u8> {
    let len = 60 + (n as usize * 7) % 1000;
    (0..len)
        .map(|i| (i as u32 ^ n.wrapping_mul(31)) as u8)
        .collect()
}

#[test]
fn layout_is_upstreams() {
    assert_eq!(
        off::ENTRIES + u64::from(SLOTS) * off::ENTRY_SIZE,
        off::COMMITS
    );
    assert_eq!(
        off::COMMITS + u64::from(SLOTS) * off::COMMIT_SIZE,
        RING_SIZE
    );
    const { assert!(RING_SIZE <= RESERVED) };
}

#[test]
fn writes_and_reads_keep_order_and_payload_across_index_wrap_around() {
    let (tender, peer) = wire();
    let (ring, mut g, _) = setup(&[(1, tender.as_raw_fd())]);
    // Start the free-running indices just below u32::MAX.
    let start = u32::MAX - 700;
    for o in [off::ENT_TAIL, off::ENT_HEAD, off::COM_HEAD, off::COM_TAIL] {
        g.set_u32(o, start);
    }
    let mut sent = 0u32;
    let mut got = 0u32;
    for round in 0..12 {
        // 100 writes, then serve.
        for _ in 0..100 {
            g.write(1, &frame(sent));
            sent += 1;
        }
        ring.process().unwrap();
        while let Some(f) = recv(&peer) {
            assert_eq!(f, frame(got), "frame {got} in round {round}");
            got += 1;
        }
        // Reads: frames from the peer, in order, into the guest's buffer.
        for k in 0..3u32 {
            send(&peer, &frame(1000 + k));
            let id = g.submit(OP_NET_READ, 1, 0x300000, 2048);
            ring.process().unwrap();
            let (cid, ret, len) = g.completion().expect("a completion");
            assert_eq!((cid, ret), (id, OK));
            assert_eq!(g.get(0x300000, len as usize), frame(1000 + k));
        }
        // Nothing queued: AGAIN.
        let id = g.submit(OP_NET_READ, 1, 0x300000, 2048);
        ring.process().unwrap();
        assert_eq!(g.completion(), Some((id, AGAIN, 0)));
    }
    assert_eq!(got, sent);
    assert!(g.u32_at(off::ENT_TAIL) < start, "the indices wrapped");
    assert_eq!(g.u32_at(off::ENT_HEAD), g.u32_at(off::ENT_TAIL));
}

#[test]
fn a_full_ring_is_served_whole() {
    let (tender, peer) = wire();
    let (ring, mut g, _) = setup(&[(0, tender.as_raw_fd())]);
    let mut n = 0;
    while g.free_slots() > 0 {
        g.write(0, &frame(n)[..60]);
        n += 1;
    }
    assert_eq!(n, SLOTS - 1);
    ring.process().unwrap();
    assert_eq!(g.free_slots(), SLOTS - 1);
    let mut got = 0;
    while let Some(f) = recv(&peer) {
        assert_eq!(f, frame(got)[..60].to_vec());
        got += 1;
    }
    assert_eq!(got, n);
}

#[test]
fn bad_handles_are_einval_for_reads_and_dropped_for_writes() {
    let (tender, peer) = wire();
    let (ring, mut g, _) = setup(&[(2, tender.as_raw_fd())]);
    for h in [0, 1, 3, 63, 64, u32::MAX] {
        g.write(h, b"lost");
        let id = g.submit(OP_NET_READ, h, 0x300000, 2048);
        ring.process().unwrap();
        assert_eq!(g.completion(), Some((id, EINVAL, 0)), "handle {h}");
    }
    // Unknown operations are retired without a completion.
    g.submit(77, 2, 0x300000, 16);
    g.write(2, b"kept");
    ring.process().unwrap();
    assert_eq!(g.completion(), None);
    assert_eq!(recv(&peer).as_deref(), Some(&b"kept"[..]));
    assert_eq!(recv(&peer), None);
}

#[test]
fn bad_buffers_stop_the_guest() {
    let (tender, _peer) = wire();
    let fd = tender.as_raw_fd();
    let cases = [
        // Reaching into the ring itself.
        (OP_NET_WRITE, GUEST - 16, 64),
        (OP_NET_READ, GUEST - 16, 64),
        // Ending exactly at the top (refused, as upstream).
        (OP_NET_READ, GUEST - 64, 64),
        // Far away.
        (OP_NET_WRITE, u64::MAX - 8, 64),
        // A read into the read-only text.
        (OP_NET_READ, 0x100000, 64),
    ];
    for (op, data, len) in cases {
        let (ring, mut g, _) = setup(&[(0, fd)]);
        g.submit(op, 0, data, len);
        assert_eq!(
            ring.process(),
            Err(RingFault::Access(BadAccess {
                gpa: data,
                len: u64::from(len)
            })),
            "op {op} at {data:#x}"
        );
    }
}

#[test]
fn eof_is_eunspec_and_marks_the_device() {
    let (tender, peer) = wire();
    drop(peer);
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two descriptors into p.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK) }, 0);
    // SAFETY: both were just created and are ours alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let (ring, mut g, shared) = setup(&[(1, r.as_raw_fd()), (2, tender.as_raw_fd())]);
    // SAFETY: a live 3-byte buffer.
    let n = unsafe { libc::write(w.as_raw_fd(), b"abc".as_ptr().cast(), 3) };
    assert_eq!(n, 3);
    drop(w);
    let id = g.submit(OP_NET_READ, 1, 0x300000, 2048);
    ring.process().unwrap();
    assert_eq!(g.completion(), Some((id, OK, 3)), "bytes before the end");
    for _ in 0..3 {
        let id = g.submit(OP_NET_READ, 1, 0x300000, 2048);
        ring.process().unwrap();
        assert_eq!(g.completion(), Some((id, EUNSPEC, 0)));
    }
    assert!(shared.status.at_eof(1));
    assert!(!shared.status.at_eof(2));
}

#[test]
fn the_thread_sleeps_until_kicked_and_serves_in_order() {
    let (tender, peer) = wire();
    let (ring, mut g, _) = setup(&[(0, tender.as_raw_fd())]);
    let efd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_CLOEXEC).unwrap();
    let kick = efd.try_clone().unwrap();
    let t = Thread::start(ring, efd).unwrap();
    // Idle: after its bounded spin the thread asks to be kicked.
    let t0 = Instant::now();
    while g.u32_at(off::NEEDS_KICK) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5), "never slept");
        std::thread::yield_now();
    }
    for n in 0..2000u32 {
        while g.free_slots() == 0 {
            std::thread::yield_now();
        }
        g.write(0, &frame(n));
        if g.u32_at(off::NEEDS_KICK) != 0 {
            kick.write(1).unwrap();
        }
        if n % 100 == 99 {
            // A read in the middle of writes: its completion comes after
            // the writes before it went out.
            let id = g.submit(OP_NET_READ, 0, 0x300000, 2048);
            if g.u32_at(off::NEEDS_KICK) != 0 {
                kick.write(1).unwrap();
            }
            let t0 = Instant::now();
            let c = loop {
                if let Some(c) = g.completion() {
                    break c;
                }
                assert!(t0.elapsed() < Duration::from_secs(5), "no completion");
                std::hint::spin_loop();
            };
            assert_eq!(c, (id, AGAIN, 0));
        }
    }
    t.drain();
    assert!(t.ctl.stopped.load(Ordering::Acquire));
    let mut got = 0;
    while let Some(f) = recv(&peer) {
        assert_eq!(f, frame(got));
        got += 1;
    }
    assert_eq!(got, 2000, "no frame lost");
}

#[test]
fn auto_offers_the_ring_to_cpl3_guests_everywhere_and_to_cpl0_ones_off_kvm_pvm() {
    use crate::RingChoice;
    for cpl3 in [false, true] {
        assert!(RingChoice::On.wanted(cpl3));
        assert!(!RingChoice::Off.wanted(cpl3));
    }
    assert!(RingChoice::Auto.wanted(true));
    assert_eq!(RingChoice::Auto.wanted(false), !crate::on_kvm_pvm());
}
