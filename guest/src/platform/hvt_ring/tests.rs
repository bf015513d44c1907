//! The ring against a tender simulated on the build host: it serves the
//! ring as docs/hvt.md, "The net ring" says, whenever the guest side busy-waits.

use super::*;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

#[repr(C, align(64))]
struct Mem([u8; SIZE]);

/// A tender: frames to hand out on reads, frames written, and how it
/// behaves (served on `relax`, after `stall` turns).
struct Tender {
    base: *mut u8,
    inbox: RefCell<VecDeque<Vec<u8>>>,
    sent: RefCell<Vec<(u32, Vec<u8>)>>,
    kicks: Cell<u32>,
    relaxes: Cell<u32>,
    stall: Cell<u32>,
    /// Answer reads with this id instead of the entry's.
    wrong_id: Cell<Option<u32>>,
}

impl Tender {
    fn r32(&self, off: usize) -> u32 {
        // SAFETY: off + 4 <= SIZE in every caller; the test is one thread.
        unsafe { self.base.add(off).cast::<u32>().read_unaligned() }
    }

    fn w32(&self, off: usize, v: u32) {
        // SAFETY: as r32.
        unsafe { self.base.add(off).cast::<u32>().write_unaligned(v) }
    }

    /// Serve every entry up to ent_tail, as the tender's thread does.
    fn serve(&self) {
        let tail = self.r32(off::ENT_TAIL);
        let mut head = self.r32(off::ENT_HEAD);
        while head != tail {
            let at = off::ENTRIES + (head & MASK) as usize * off::ENTRY_SIZE;
            let (op, handle, len, id) = (
                self.r32(at),
                self.r32(at + 4),
                self.r32(at + 16),
                self.r32(at + 20),
            );
            let data =
                (u64::from(self.r32(at + 12)) << 32 | u64::from(self.r32(at + 8))) as *mut u8;
            match op {
                OP_NET_WRITE => {
                    // SAFETY: the guest side wrote a pointer to `len`
                    // bytes of its buffers (host addresses in this test).
                    let f = unsafe { std::slice::from_raw_parts(data, len as usize) };
                    self.sent.borrow_mut().push((handle, f.to_vec()));
                }
                OP_NET_READ => {
                    let (ret, n) = match self.inbox.borrow_mut().pop_front() {
                        Some(f) => {
                            let n = f.len().min(len as usize);
                            // SAFETY: data is the caller's buffer of len
                            // bytes, n <= len.
                            unsafe { std::ptr::copy_nonoverlapping(f.as_ptr(), data, n) };
                            (result::OK, n as u32)
                        }
                        None => (result::AGAIN, 0),
                    };
                    let ct = self.r32(off::COM_TAIL);
                    let c = off::COMMITS + (ct & MASK) as usize * off::COMMIT_SIZE;
                    self.w32(c, self.wrong_id.get().unwrap_or(id));
                    self.w32(c + 4, ret);
                    self.w32(c + 8, n);
                    self.w32(off::COM_TAIL, ct.wrapping_add(1));
                }
                _ => {}
            }
            head = head.wrapping_add(1);
        }
        self.w32(off::ENT_HEAD, head);
    }
}

impl Host for Tender {
    fn kick(&self) {
        self.kicks.set(self.kicks.get() + 1);
    }

    fn relax(&self) {
        self.relaxes.set(self.relaxes.get() + 1);
        if self.stall.get() > 0 {
            self.stall.set(self.stall.get() - 1);
        } else {
            self.serve();
        }
    }
}

struct Setup {
    _mem: Box<Mem>,
    _bufs: Box<Bufs>,
    bufs: *mut Bufs,
    ring: Ring,
    t: Tender,
}

/// A zeroed ring whose four indices all start at `start`.
fn setup(start: u32) -> Setup {
    let mut mem = Box::new(Mem([0; SIZE]));
    let base = mem.0.as_mut_ptr();
    let mut bufs = Box::new([[0u8; BUF_SIZE]; NBUF as usize]);
    let bp: *mut Bufs = &mut *bufs;
    let t = Tender {
        base,
        inbox: RefCell::new(VecDeque::new()),
        sent: RefCell::new(Vec::new()),
        kicks: Cell::new(0),
        relaxes: Cell::new(0),
        stall: Cell::new(0),
        wrong_id: Cell::new(None),
    };
    for o in [off::ENT_TAIL, off::COM_HEAD, off::ENT_HEAD, off::COM_TAIL] {
        t.w32(o, start);
    }
    // SAFETY: base: SIZE bytes, 64-byte aligned, alive as long as Setup.
    let ring = unsafe { Ring::new(base) };
    Setup {
        _mem: mem,
        _bufs: bufs,
        bufs: bp,
        ring,
        t,
    }
}

impl Setup {
    fn write(&self, handle: u32, frame: &[u8]) -> bool {
        // SAFETY: bufs is this setup's own, used by this ring only.
        unsafe { self.ring.write(&self.t, self.bufs, handle, frame) }
    }
}

fn frame(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k as u32 ^ i) as u8).collect()
}

#[test]
fn writes_reach_the_tender_in_order_with_their_handle_and_bytes() {
    let s = setup(0);
    for i in 0..5 {
        assert!(s.write(i % 2, &frame(i, 60 + i as usize)));
    }
    assert_eq!(s.ring.in_flight(), 5);
    assert_eq!(s.t.r32(off::ENT_TAIL), 5);
    s.t.serve();
    assert_eq!(s.ring.in_flight(), 0);
    let sent = s.t.sent.borrow();
    assert_eq!(sent.len(), 5);
    for (i, (h, f)) in sent.iter().enumerate() {
        assert_eq!((*h, f), (i as u32 % 2, &frame(i as u32, 60 + i)));
    }
}

#[test]
fn reads_get_the_frame_or_again_and_are_cut_to_the_buffer() {
    let s = setup(7);
    let mut buf = [0u8; 100];
    assert_eq!(s.ring.read(&s.t, 1, &mut buf), (result::AGAIN, 0));
    s.t.inbox.borrow_mut().push_back(frame(1, 64));
    assert_eq!(s.ring.read(&s.t, 1, &mut buf), (result::OK, 64));
    assert_eq!(&buf[..64], &frame(1, 64)[..]);
    s.t.inbox.borrow_mut().push_back(frame(2, 300));
    assert_eq!(s.ring.read(&s.t, 1, &mut buf), (result::OK, 100));
    assert_eq!(&buf[..], &frame(2, 300)[..100]);
    // Each read took one entry and one completion.
    assert_eq!(s.t.r32(off::ENT_TAIL), 10);
    assert_eq!(s.t.r32(off::COM_HEAD), 10);
    assert_eq!(s.t.r32(off::COM_TAIL), 10);
}

#[test]
fn free_running_indices_wrap_around() {
    let start = u32::MAX - 5;
    let s = setup(start);
    let mut buf = [0u8; 2048];
    for i in 0..3000u32 {
        assert!(s.write(0, &frame(i, 1514)));
        s.t.inbox.borrow_mut().push_back(frame(i, 90));
        assert_eq!(s.ring.read(&s.t, 0, &mut buf), (result::OK, 90));
        assert_eq!(&buf[..90], &frame(i, 90)[..]);
    }
    let end = start.wrapping_add(6000);
    assert_eq!(s.t.r32(off::ENT_TAIL), end);
    assert_eq!(s.t.r32(off::ENT_HEAD), end);
    assert_eq!(s.t.r32(off::COM_HEAD), start.wrapping_add(3000));
    let sent = s.t.sent.borrow();
    assert_eq!(sent.len(), 3000);
    assert!(sent
        .iter()
        .enumerate()
        .all(|(i, (_, f))| *f == frame(i as u32, 1514)));
}

#[test]
fn a_full_ring_waits_for_the_tender_and_never_reuses_a_buffer_in_flight() {
    let s = setup(u32::MAX - 3);
    // NBUF frames go in without waiting.
    for i in 0..NBUF {
        assert!(s.write(0, &frame(i, 1000)));
    }
    assert_eq!(s.ring.in_flight(), NBUF);
    assert_eq!(s.t.relaxes.get(), 0);
    // The next one waits until the tender takes the others.
    s.t.stall.set(5);
    assert!(s.write(0, &frame(NBUF, 1000)));
    assert_eq!(s.t.relaxes.get(), 6);
    assert_eq!(s.ring.in_flight(), 1);
    s.t.serve();
    // Every frame arrived intact: no buffer was overwritten in flight.
    let sent = s.t.sent.borrow();
    assert_eq!(sent.len(), NBUF as usize + 1);
    assert!(sent
        .iter()
        .enumerate()
        .all(|(i, (_, f))| *f == frame(i as u32, 1000)));
}

#[test]
fn the_tender_is_kicked_only_when_it_asks() {
    let s = setup(0);
    assert!(s.write(0, &frame(0, 60)));
    assert_eq!(s.t.kicks.get(), 0);
    s.t.w32(off::NEEDS_KICK, 1);
    assert!(s.write(0, &frame(1, 60)));
    let mut buf = [0u8; 64];
    assert_eq!(s.ring.read(&s.t, 0, &mut buf), (result::AGAIN, 0));
    assert_eq!(s.t.kicks.get(), 2);
    s.t.w32(off::NEEDS_KICK, 0);
    assert!(s.write(0, &frame(2, 60)));
    assert_eq!(s.t.kicks.get(), 2);
}

#[test]
fn big_frames_are_left_to_the_caller_and_drain_waits_for_the_ring() {
    let s = setup(0);
    assert!(s.write(0, &frame(0, BUF_SIZE)));
    assert!(!s.write(0, &frame(1, BUF_SIZE + 1)));
    assert_eq!(s.ring.in_flight(), 1);
    s.t.stall.set(3);
    s.ring.drain(&s.t);
    assert_eq!(s.ring.in_flight(), 0);
    assert_eq!(s.t.relaxes.get(), 4);
    assert_eq!(s.t.sent.borrow().len(), 1);
}

#[test]
fn a_completion_for_another_entry_is_an_error() {
    let s = setup(0);
    s.t.inbox.borrow_mut().push_back(frame(0, 60));
    s.t.wrong_id.set(Some(12345));
    let mut buf = [0u8; 64];
    assert_eq!(s.ring.read(&s.t, 0, &mut buf), (result::EUNSPEC, 0));
    // The completion is consumed all the same.
    assert_eq!(s.t.r32(off::COM_HEAD), 1);
}
