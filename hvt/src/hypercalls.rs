//! The hypercalls of the core module (HVT.md sections 5 and 6): WALLTIME,
//! PUTS, POLL and HALT. Every guest pointer, struct or buffer, is checked
//! against guest memory first (HVT.md 5.1), and every field the tender
//! writes back must lie outside the read-only segments: a guest that
//! fails either check is stopped with one line, never by a crash of the
//! tender.
//!
//! Nothing here allocates: the tables are built before the guest runs.
//! Devices add their hypercalls (block 4-5, net 6-7) to [`Hypercalls`]
//! when they are attached; until one is, those numbers are invalid, as
//! upstream.

use crate::layout::hypercall::{self as hc, off};
use crate::memory::{BadAccess, GuestMemory};
use crate::sys;

/// What the run loop does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Enter the guest again.
    Resume,
    /// The guest halted with this exit status.
    Halt(i32),
}

/// A guest that broke the rules; the run loop prints it and exits 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A pointer outside guest memory, or a write into a read-only segment.
    Access(BadAccess),
    /// A hypercall number nothing handles.
    Invalid(u16),
    /// The console could not be written (errno).
    Console(i32),
}

impl From<BadAccess> for Fault {
    fn from(b: BadAccess) -> Fault {
        Fault::Access(b)
    }
}

/// The state the hypercalls need, built before the first run.
#[derive(Default)]
pub struct Hypercalls {
    /// Host descriptors POLL waits on (the attached net devices), with
    /// the manifest index each stands for.
    pollfds: Vec<libc::pollfd>,
    poll_index: Vec<u32>,
}

impl Hypercalls {
    /// Hypercalls for a guest whose net devices are `net` (manifest index,
    /// host descriptor).
    pub fn new(net: &[(u32, i32)]) -> Hypercalls {
        Hypercalls {
            pollfds: net
                .iter()
                .map(|&(_, fd)| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
            poll_index: net.iter().map(|&(i, _)| i).collect(),
        }
    }

    /// Handle hypercall `nr` with its argument struct at `gpa`.
    pub fn dispatch(&mut self, mem: &GuestMemory, nr: u16, gpa: u64) -> Result<Next, Fault> {
        match nr {
            hc::WALLTIME => walltime(mem, gpa),
            hc::PUTS => puts(mem, gpa),
            hc::POLL => self.poll(mem, gpa),
            hc::HALT => halt(mem, gpa),
            _ => Err(Fault::Invalid(nr)),
        }
    }

    /// POLL: wait until the timeout passes or a net device is readable;
    /// report which are (a bit per manifest index) and how many.
    fn poll(&mut self, mem: &GuestMemory, gpa: u64) -> Result<Next, Fault> {
        mem.check_writable(gpa, hc::POLL_SIZE)?;
        let timeout = mem.read_u64(gpa + off::POLL_TIMEOUT)?;
        for p in &mut self.pollfds {
            p.revents = 0;
        }
        // As upstream, a zero timeout still waits a nanosecond.
        let n = sys::wait_readable(&mut self.pollfds, timeout | 1);
        let mut ready_set = 0u64;
        if n > 0 {
            for (p, &i) in self.pollfds.iter().zip(&self.poll_index) {
                if p.revents & libc::POLLIN != 0 {
                    ready_set |= 1u64 << (i & 63);
                }
            }
        }
        mem.write_u64(gpa + off::POLL_READY_SET, ready_set)?;
        mem.write_i32(gpa + off::POLL_RET, ready_set.count_ones() as i32)?;
        Ok(Next::Resume)
    }
}

/// WALLTIME: the host's wall clock in nanoseconds.
fn walltime(mem: &GuestMemory, gpa: u64) -> Result<Next, Fault> {
    mem.check_writable(gpa, hc::WALLTIME_SIZE)?;
    mem.write_u64(gpa + off::WALLTIME_NSECS, sys::walltime_ns())?;
    Ok(Next::Resume)
}

/// PUTS: the guest's bytes to the tender's stdout, as they are.
fn puts(mem: &GuestMemory, gpa: u64) -> Result<Next, Fault> {
    mem.check(gpa, hc::PUTS_SIZE)?;
    let data = mem.read_u64(gpa + off::PUTS_DATA)?;
    let len = mem.read_u64(gpa + off::PUTS_LEN)?;
    let p = mem.ptr(data, len)?;
    // SAFETY: [p, p + len) lies inside guest memory (checked by ptr()),
    // which stays mapped and readable while the tender runs.
    unsafe { sys::write_all(1, p, len as usize) }.map_err(|e| Fault::Console(e.0))?;
    Ok(Next::Resume)
}

/// HALT: the exit status, after checking the struct and the cookie (the
/// guest's trap frame, up to 512 bytes) if there is one.
fn halt(mem: &GuestMemory, gpa: u64) -> Result<Next, Fault> {
    mem.check(gpa, hc::HALT_SIZE)?;
    let cookie = mem.read_u64(gpa + off::HALT_COOKIE)?;
    if cookie != 0 {
        mem.check(cookie, hc::HALT_COOKIE_MAX)?;
    }
    Ok(Next::Halt(mem.read_i32(gpa + off::HALT_EXIT_STATUS)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_tender::elf::{Executable, Segment, PF_X};

    const MEM: u64 = 4 << 20;

    fn memory() -> GuestMemory {
        let mut m = GuestMemory::new(MEM).unwrap();
        let text = Segment {
            vaddr: 0x100000,
            offset: 0,
            filesz: 1,
            memsz: 0x1000,
            flags: PF_X,
            start: 0x100000,
            end: 0x101000,
        };
        let exe = Executable {
            entry: 0x100000,
            segments: vec![text],
            kernel_end: 0x101000,
        };
        m.load(&exe, &[0xf4], "k").unwrap();
        m
    }

    fn put(m: &mut GuestMemory, gpa: u64, v: u64) {
        m.write(gpa, &v.to_le_bytes()).unwrap();
    }

    #[test]
    fn halt_returns_the_status_and_checks_the_cookie() {
        let mut m = memory();
        let mut h = Hypercalls::default();
        put(&mut m, 0x200000, 0);
        put(&mut m, 0x200008, 255);
        assert_eq!(h.dispatch(&m, hc::HALT, 0x200000), Ok(Next::Halt(255)));
        put(&mut m, 0x200000, 0x300000);
        assert_eq!(h.dispatch(&m, hc::HALT, 0x200000), Ok(Next::Halt(255)));
        // A cookie that runs over the top of memory.
        put(&mut m, 0x200000, MEM - 256);
        assert_eq!(
            h.dispatch(&m, hc::HALT, 0x200000),
            Err(Fault::Access(BadAccess {
                gpa: MEM - 256,
                len: 512
            }))
        );
    }

    #[test]
    fn structs_outside_or_straddling_the_top_are_refused() {
        let m = memory();
        let mut h = Hypercalls::default();
        for nr in [hc::WALLTIME, hc::PUTS, hc::POLL, hc::HALT] {
            for gpa in [MEM, MEM - 4, u64::from(u32::MAX), MEM - 8] {
                let r = h.dispatch(&m, nr, gpa);
                assert!(
                    matches!(r, Err(Fault::Access(_))),
                    "nr {nr} gpa {gpa:#x}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn puts_buffer_is_checked() {
        let mut m = memory();
        let mut h = Hypercalls::default();
        put(&mut m, 0x200000, MEM - 2);
        put(&mut m, 0x200008, 16);
        assert_eq!(
            h.dispatch(&m, hc::PUTS, 0x200000),
            Err(Fault::Access(BadAccess {
                gpa: MEM - 2,
                len: 16
            }))
        );
        // A length that wraps the address space.
        put(&mut m, 0x200000, 0x300000);
        put(&mut m, 0x200008, u64::MAX - 0x1000);
        assert!(matches!(
            h.dispatch(&m, hc::PUTS, 0x200000),
            Err(Fault::Access(_))
        ));
        // Nothing to write is fine.
        put(&mut m, 0x200008, 0);
        assert_eq!(h.dispatch(&m, hc::PUTS, 0x200000), Ok(Next::Resume));
    }

    #[test]
    fn results_are_never_written_into_text() {
        let m = memory();
        let mut h = Hypercalls::default();
        for nr in [hc::WALLTIME, hc::POLL] {
            let r = h.dispatch(&m, nr, 0x100ff8);
            assert!(matches!(r, Err(Fault::Access(_))), "nr {nr}: {r:?}");
        }
    }

    #[test]
    fn walltime_and_poll_write_their_results() {
        let mut m = memory();
        let mut h = Hypercalls::default();
        assert_eq!(h.dispatch(&m, hc::WALLTIME, 0x200000), Ok(Next::Resume));
        let ns = m.read_u64(0x200000).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(now >= ns && now - ns < 5_000_000_000, "{ns} vs {now}");
        put(&mut m, 0x200000, 1_000_000); // 1 ms
        put(&mut m, 0x200008, u64::MAX);
        put(&mut m, 0x200010, u64::MAX);
        let t = std::time::Instant::now();
        assert_eq!(h.dispatch(&m, hc::POLL, 0x200000), Ok(Next::Resume));
        assert!(t.elapsed() >= std::time::Duration::from_millis(1));
        assert_eq!(m.read_u64(0x200008).unwrap(), 0);
        assert_eq!(m.read_i32(0x200010).unwrap(), 0);
    }

    #[test]
    fn poll_reports_readable_net_devices_by_manifest_index() {
        let mut fds = [0; 2];
        // SAFETY: fds is a live array of two ints.
        let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
        assert_eq!(rc, 0);
        let mut m = memory();
        let mut h = Hypercalls::new(&[(3, fds[0])]);
        // SAFETY: writes one byte from a live buffer to our socket.
        assert_eq!(unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) }, 1);
        put(&mut m, 0x200000, 10_000_000_000);
        assert_eq!(h.dispatch(&m, hc::POLL, 0x200000), Ok(Next::Resume));
        assert_eq!(m.read_u64(0x200008).unwrap(), 1 << 3);
        assert_eq!(m.read_i32(0x200010).unwrap(), 1);
        // SAFETY: closing our own descriptors.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn unknown_numbers_are_invalid() {
        let m = memory();
        let mut h = Hypercalls::default();
        for nr in [0, 4, 5, 6, 7, 9, 0x100] {
            assert_eq!(h.dispatch(&m, nr, 0x200000), Err(Fault::Invalid(nr)));
        }
    }
}
