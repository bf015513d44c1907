//! The hypercalls (docs/hvt.md, "Hypercalls" and "Device options"): WALLTIME, PUTS, POLL and
//! HALT, and those of the devices: BLOCK_WRITE, BLOCK_READ, NET_WRITE,
//! NET_READ. Every guest pointer, struct or buffer, is checked against
//! guest memory first (docs/hvt.md, "Guest pointers"), and every field or buffer the tender
//! writes must lie outside the read-only segments: a guest that fails
//! either check is stopped with one line, never by a crash of the tender.
//!
//! The device I/O itself is the code spt uses
//! (`solo5_tender::devices::io`): one read or write per frame, block
//! transfers that never pass the capacity, and net devices at end of file
//! that answer `SOLO5_R_EUNSPEC` and are no longer polled.
//!
//! Nothing here allocates: the tables are built before the guest runs.
//! The block numbers (4-5) are valid only when a block device is attached,
//! the net numbers (6-7) only when a net device is, as upstream.

use crate::layout::hypercall::{self as hc, off};
use crate::memory::{BadAccess, GuestMemory};
use crate::net::NetShared;
use crate::sys::{self, fatal, Errno};
use solo5_abi::result::{EINVAL, EUNSPEC, OK};
use solo5_tender::devices::io::{self, PollSet, Transfer};
use solo5_tender::devices::table::{frame_fits, Device, Table};
use std::sync::Arc;

/// What the run loop does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Enter the guest again.
    Resume,
    /// POLL found a net device readable: wake the net ring's thread, if
    /// there is one, then enter the guest again.
    NetReady,
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
    /// A block transfer failed on the host: (write?, errno).
    BlockError(bool, i32),
    /// A block transfer was cut short: (write?, bytes moved, bytes asked).
    BlockShort(bool, usize, u64),
}

impl From<BadAccess> for Fault {
    fn from(b: BadAccess) -> Fault {
        Fault::Access(b)
    }
}

/// The state the hypercalls need, built before the first run.
pub struct Hypercalls {
    devices: Table,
    has_net: bool,
    has_block: bool,
    poll: PollSet,
    net: Arc<NetShared>,
}

impl Default for Hypercalls {
    fn default() -> Hypercalls {
        Hypercalls::new(Table::default(), Arc::default())
    }
}

impl Hypercalls {
    /// Hypercalls for a guest whose devices are `devices`; `net` is
    /// shared with the ring thread, if any.
    pub fn new(devices: Table, net: Arc<NetShared>) -> Hypercalls {
        let nets: Vec<(usize, i32)> = devices.nets().iter().map(|&(i, fd, _)| (i, fd)).collect();
        Hypercalls {
            has_net: devices.has_net(),
            has_block: devices.has_block(),
            devices,
            poll: PollSet::new(&nets),
            net,
        }
    }

    /// Handle hypercall `nr` with its argument struct at `gpa`.
    pub fn dispatch(&mut self, mem: &GuestMemory, nr: u16, gpa: u64) -> Result<Next, Fault> {
        match nr {
            hc::WALLTIME => walltime(mem, gpa),
            hc::PUTS => puts(mem, gpa),
            hc::POLL => self.poll(mem, gpa),
            hc::BLOCK_WRITE if self.has_block => self.block(mem, gpa, true),
            hc::BLOCK_READ if self.has_block => self.block(mem, gpa, false),
            hc::NET_WRITE if self.has_net => self.net(mem, gpa, true),
            hc::NET_READ if self.has_net => self.net(mem, gpa, false),
            hc::HALT => halt(mem, gpa),
            _ => Err(Fault::Invalid(nr)),
        }
    }

    /// POLL: wait until the timeout passes or a live net device is
    /// readable; report which are (a bit per manifest index) and how many.
    fn poll(&mut self, mem: &GuestMemory, gpa: u64) -> Result<Next, Fault> {
        mem.check_writable(gpa, hc::POLL_SIZE)?;
        let timeout = mem.read_u64(gpa + off::POLL_TIMEOUT)?;
        // As upstream, a zero timeout still waits a nanosecond.
        let deadline = sys::monotonic_ns().saturating_add(timeout | 1);
        let ready_set = self
            .poll
            .wait(&self.net.status, deadline, sys::monotonic_ns);
        mem.write_u64(gpa + off::POLL_READY_SET, ready_set)?;
        mem.write_i32(gpa + off::POLL_RET, ready_set.count_ones() as i32)?;
        Ok(if ready_set != 0 {
            Next::NetReady
        } else {
            Next::Resume
        })
    }

    /// BLOCK_WRITE / BLOCK_READ: exactly `len` bytes at `offset`, whole
    /// aligned blocks, at most [`io::MAX_BLOCK_REQUEST`], never past the
    /// capacity (anything else is EINVAL; upstream checks only the
    /// capacity); a host failure stops the guest with upstream's line.
    fn block(&mut self, mem: &GuestMemory, gpa: u64, write: bool) -> Result<Next, Fault> {
        mem.check_writable(gpa, hc::BLOCK_SIZE)?;
        let handle = mem.read_u64(gpa + off::BLOCK_HANDLE)?;
        let offset = mem.read_u64(gpa + off::BLOCK_OFFSET)?;
        let data = mem.read_u64(gpa + off::BLOCK_DATA)?;
        let len = mem.read_u64(gpa + off::BLOCK_LEN)?;
        let ret = match self.devices.get(handle) {
            Device::Block {
                fd,
                block_size,
                capacity,
            } if io::block_request_ok(capacity, block_size, io::MAX_BLOCK_REQUEST, offset, len) => {
                let t = if write {
                    let p = mem.ptr(data, len)?;
                    // SAFETY: [p, p + len) lies inside guest memory
                    // (checked by ptr), which stays mapped.
                    unsafe { io::block_write(fd, p, len as usize, offset) }
                } else {
                    mem.check_writable(data, len)?;
                    let p = mem.ptr(data, len)?;
                    // SAFETY: as above, and outside the read-only
                    // segments (checked).
                    unsafe { io::block_read(fd, p, len as usize, offset) }
                };
                match t {
                    Transfer::Done => OK,
                    Transfer::Error(e) => return Err(Fault::BlockError(write, e)),
                    Transfer::Short(n) => return Err(Fault::BlockShort(write, n, len)),
                }
            }
            _ => EINVAL,
        };
        mem.write_i32(gpa + off::BLOCK_RET, ret as i32)?;
        Ok(Next::Resume)
    }

    /// NET_WRITE / NET_READ: one frame, one write or one read, through
    /// the shared device code. A frame longer than MTU + 14 bytes is
    /// EINVAL, as on spt (upstream writes it). A failed or short write is
    /// `SOLO5_R_EUNSPEC` for the guest (upstream exits); a read with
    /// nothing queued is AGAIN, end of file EUNSPEC now and on every
    /// later call.
    fn net(&mut self, mem: &GuestMemory, gpa: u64, write: bool) -> Result<Next, Fault> {
        mem.check_writable(gpa, hc::NET_SIZE)?;
        let handle = mem.read_u64(gpa + off::NET_HANDLE)?;
        let data = mem.read_u64(gpa + off::NET_DATA)?;
        let len = mem.read_u64(gpa + off::NET_LEN)?;
        let Device::Net { fd, mtu } = self.devices.get(handle) else {
            mem.write_i32(gpa + off::NET_RET, EINVAL as i32)?;
            return Ok(Next::Resume);
        };
        // device() found it, so the handle is an index of the table.
        let index = handle as usize;
        let ret = if write && !frame_fits(mtu, len) {
            EINVAL
        } else if write {
            let p = mem.ptr(data, len)?;
            // SAFETY: [p, p + len) lies inside guest memory.
            match unsafe { self.net.status.write(index, fd, p, len as usize) } {
                Some(Transfer::Done) => OK,
                _ => EUNSPEC,
            }
        } else {
            mem.check_writable(data, len)?;
            let p = mem.ptr(data, len)?;
            // SAFETY: [p, p + len) lies inside guest memory, outside the
            // read-only segments (checked above).
            match unsafe { self.net.status.read(index, fd, p, len as usize) } {
                Ok(n) => {
                    mem.write_u64(gpa + off::NET_LEN, n as u64)?;
                    OK
                }
                Err(e) => e,
            }
        };
        mem.write_i32(gpa + off::NET_RET, ret as i32)?;
        Ok(Next::Resume)
    }
}

/// Stop the guest for `fault` with one line (no allocation).
pub fn stop(fault: Fault) -> ! {
    match fault {
        Fault::Access(b) => fatal(format_args!(
            "Invalid guest access: gpa={:#x}, sz={}",
            b.gpa, b.len
        )),
        Fault::Invalid(nr) => fatal(format_args!("Invalid guest hypercall: num={nr}")),
        Fault::Console(e) => fatal(format_args!(
            "PUTS: could not write the guest's output: {}",
            Errno(e)
        )),
        Fault::BlockError(write, e) => fatal(format_args!(
            "Fatal error when {}: {}",
            if write { "writing" } else { "reading" },
            Errno(e)
        )),
        Fault::BlockShort(write, n, m) => fatal(format_args!(
            "Fatal error: {} only {n} out of {m} bytes",
            if write { "wrote" } else { "read" }
        )),
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
pub(crate) mod tests {
    use super::*;
    use solo5_tender::elf::{Executable, Segment, PF_X};

    const MEM: u64 = 4 << 20;

    fn memory() -> GuestMemory {
        with_text(MEM)
    }

    /// `size` bytes of guest memory with a one-page execute-only text
    /// segment at 0x100000 holding `hlt` (the tests' read-only part).
    pub(crate) fn with_text(size: u64) -> GuestMemory {
        let mut m = GuestMemory::new(size).unwrap();
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
        let mut t = Table::default();
        t.set(
            3,
            Device::Net {
                fd: fds[0],
                mtu: 1500,
            },
        );
        let mut h = Hypercalls::new(t, Arc::default());
        // SAFETY: writes one byte from a live buffer to our socket.
        assert_eq!(unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) }, 1);
        put(&mut m, 0x200000, 10_000_000_000);
        assert_eq!(h.dispatch(&m, hc::POLL, 0x200000), Ok(Next::NetReady));
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
