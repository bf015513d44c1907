//! Device I/O while the guest runs, one implementation for every tender:
//! spt's native hypercall table, hvt's hypercalls and hvt's net ring
//! thread all read frames, write frames, move blocks and wait for their
//! net devices through these functions.
//!
//! They run under the tenders' seccomp filters and, for spt, on the
//! guest's stack with the guest's FS base: raw system calls only
//! ([`crate::raw`]), no allocation, no panic.
//!
//! End of file is a state of its own (docs/abis.md, "One difference: a network device that hangs up"; docs/hvt.md, "Net devices"): a net
//! descriptor that reached it (a pipe whose writer closed, a socket whose
//! peer hung up) answers reads with [`NetRead::Eof`] once; [`NetStatus`]
//! marks it, says so once on standard error, and from then on answers
//! `SOLO5_R_EUNSPEC` without a system call, and [`PollSet::wait`] never
//! polls it again, so a guest that keeps asking sleeps to its deadline
//! instead of spinning.

use crate::raw;
use core::sync::atomic::{AtomicU64, Ordering};
use solo5_abi::mft::MAX_ENTRIES;
use solo5_abi::result::{AGAIN, EUNSPEC};

/// One read from a net device's host descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetRead {
    /// This many bytes (one frame, or a piece of a byte stream).
    Frame(usize),
    /// Nothing queued now.
    Again,
    /// End of file or hang-up: nothing will ever come.
    Eof,
    /// Another error (errno).
    Error(i32),
}

/// Read at most `len` bytes from `fd` into `buf`. A zero-length buffer
/// reads nothing and is [`NetRead::Again`] (a read of 0 bytes says nothing
/// about end of file).
///
/// # Safety
/// `buf` must be writable for `len` bytes.
pub unsafe fn net_read(fd: i32, buf: *mut u8, len: usize) -> NetRead {
    if len == 0 {
        return NetRead::Again;
    }
    // SAFETY: forwarded from the caller.
    let r = unsafe { raw::read(fd, buf, len) };
    match r {
        n if n > 0 => NetRead::Frame(n as usize),
        0 => NetRead::Eof,
        e if e == -(libc::EAGAIN as isize) || e == -(libc::EINTR as isize) => NetRead::Again,
        e if e == -(libc::ECONNRESET as isize) => NetRead::Eof,
        e => NetRead::Error(-e as i32),
    }
}

/// The result of a write or a block transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Every byte.
    Done,
    /// Only this many bytes, then nothing more could be moved.
    Short(usize),
    /// The host call failed (errno) before any byte moved.
    Error(i32),
}

/// Write the frame `[buf, buf + len)` to `fd` with one `write` (a frame
/// must not be split), retried on EINTR.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
pub unsafe fn net_write(fd: i32, buf: *const u8, len: usize) -> Transfer {
    loop {
        // SAFETY: forwarded from the caller.
        let r = unsafe { raw::write(fd, buf, len) };
        if r == -(libc::EINTR as isize) {
            continue;
        }
        return match r {
            n if n as usize == len => Transfer::Done,
            n if n >= 0 => Transfer::Short(n as usize),
            e => Transfer::Error(-e as i32),
        };
    }
}

/// Whether `[offset, offset + len)` lies inside a device of `capacity`
/// bytes: never a byte past the end, whatever the guest asks.
pub fn block_in_range(capacity: u64, offset: u64, len: u64) -> bool {
    len <= isize::MAX as u64
        && offset < capacity
        && offset.checked_add(len).is_some_and(|end| end <= capacity)
}

/// The largest block request, in bytes, a tender serves in one call: one
/// `pread`/`pwrite` of at most this many bytes. Requests are whole blocks,
/// so with a block size above it (sizes are at most 32 KiB) one block.
pub use solo5_abi::MAX_BLOCK_REQUEST;

/// Whether a block request is one a tender serves: `len` a whole, non-zero
/// number of `block_size` blocks, at most `max` bytes (or one block), at
/// an offset that is a multiple of the block size, all of it inside the
/// device ([`block_in_range`]). `block_size` is a power of two.
pub fn block_request_ok(capacity: u64, block_size: u64, max: u64, offset: u64, len: u64) -> bool {
    block_size != 0
        && len != 0
        && len <= max.max(block_size)
        && len.is_multiple_of(block_size)
        && offset.is_multiple_of(block_size)
        && block_in_range(capacity, offset, len)
}

/// Move `len` bytes between `buf` and `fd` at `offset` with one
/// `pread`/`pwrite` (again only when a signal interrupted it): the
/// filters allow only whole blocks, so a partial transfer is not
/// continued with a count they would refuse; it is `Short`.
///
/// # Safety
/// `buf` must be writable (`write == false`) or readable (`write == true`)
/// for `len` bytes.
unsafe fn block_transfer(fd: i32, buf: *mut u8, len: usize, offset: u64, write: bool) -> Transfer {
    loop {
        let r = if write {
            // SAFETY: [buf, buf + len) lies inside the caller's buffer.
            unsafe { raw::pwrite(fd, buf, len, offset) }
        } else {
            // SAFETY: as above, and writable.
            unsafe { raw::pread(fd, buf, len, offset) }
        };
        return match r {
            n if n >= 0 && n as usize == len => Transfer::Done,
            n if n >= 0 => Transfer::Short(n as usize),
            e if e == -(libc::EINTR as isize) => continue,
            e => Transfer::Error(-e as i32),
        };
    }
}

/// Read `len` bytes at `offset` of block device `fd` into `buf`.
///
/// # Safety
/// `buf` must be writable for `len` bytes.
pub unsafe fn block_read(fd: i32, buf: *mut u8, len: usize, offset: u64) -> Transfer {
    // SAFETY: forwarded from the caller.
    unsafe { block_transfer(fd, buf, len, offset, false) }
}

/// Write `len` bytes of `buf` at `offset` of block device `fd`.
///
/// # Safety
/// `buf` must be readable for `len` bytes.
pub unsafe fn block_write(fd: i32, buf: *const u8, len: usize, offset: u64) -> Transfer {
    // SAFETY: forwarded from the caller; pwrite only reads the buffer.
    unsafe { block_transfer(fd, buf.cast_mut(), len, offset, true) }
}

/// The net devices that reached end of file, one bit per manifest index.
/// Shared between threads (hvt's ring thread reads frames too).
#[derive(Debug, Default)]
pub struct NetEof(AtomicU64);

impl NetEof {
    /// No device at end of file.
    pub const fn new() -> NetEof {
        NetEof(AtomicU64::new(0))
    }

    /// Whether device `index` reached end of file.
    pub fn is_set(&self, index: usize) -> bool {
        index < 64 && self.0.load(Ordering::Relaxed) & (1 << index) != 0
    }

    /// Mark device `index`; true the first time (the caller says so once).
    pub fn set(&self, index: usize) -> bool {
        if index >= 64 {
            return false;
        }
        self.0.fetch_or(1 << index, Ordering::Relaxed) & (1 << index) == 0
    }
}

/// What the device calls of one tender share about its net devices:
/// which reached end of file, and the line that says so for each.
///
/// The line is the same in every tender, on standard error (never in the
/// guest's console stream), once per device:
/// `PROG: warning: net 'NAME': closed by the host (end of file or
/// hang-up); reads now fail (SOLO5_R_EUNSPEC) and it is never reported
/// ready again`. It is built before the guest runs: saying it allocates
/// nothing.
#[derive(Debug)]
pub struct NetStatus {
    eof: NetEof,
    /// The line of each device, by manifest index (empty: say nothing).
    notices: Vec<Box<[u8]>>,
}

impl Default for NetStatus {
    fn default() -> NetStatus {
        NetStatus::new("", &[])
    }
}

impl NetStatus {
    /// For the net devices `nets` (manifest index, name) of program
    /// `prog`. Devices not named here have no line.
    pub fn new(prog: &str, nets: &[(usize, &str)]) -> NetStatus {
        let mut notices = vec![Box::default(); MAX_ENTRIES];
        for &(i, name) in nets {
            if let Some(n) = notices.get_mut(i) {
                *n = format!(
                    "{prog}: warning: net '{name}': closed by the host (end of file or hang-up); \
                     reads now fail (SOLO5_R_EUNSPEC) and it is never reported ready again\n"
                )
                .into_bytes()
                .into_boxed_slice();
            }
        }
        NetStatus {
            eof: NetEof::new(),
            notices,
        }
    }

    /// The line said when device `index` reaches end of file (empty if
    /// none).
    pub fn notice(&self, index: usize) -> &[u8] {
        self.notices.get(index).map_or(&[], |n| n)
    }

    /// Whether device `index` reached end of file.
    pub fn at_eof(&self, index: usize) -> bool {
        self.eof.is_set(index)
    }

    /// Device `index` reached end of file: mark it, and say so on standard
    /// error the first time.
    pub fn reached_eof(&self, index: usize) {
        if self.eof.set(index) {
            let n = self.notice(index);
            // SAFETY: n is a live buffer of n.len() bytes. Nothing is left
            // to tell if standard error fails.
            let _ = unsafe { raw::write_all(2, n.as_ptr(), n.len()) };
        }
    }

    /// The net read call: one frame (or piece of a byte stream) from
    /// device `index`, host descriptor `fd`, into `[buf, buf + len)`. The
    /// bytes read, or the Solo5 result: `AGAIN` when nothing is queued,
    /// `EUNSPEC` at end of file (now, or earlier: then without a system
    /// call) or on any other error.
    ///
    /// # Safety
    /// `buf` must be writable for `len` bytes.
    pub unsafe fn read(
        &self,
        index: usize,
        fd: i32,
        buf: *mut u8,
        len: usize,
    ) -> Result<usize, u32> {
        if self.at_eof(index) {
            return Err(EUNSPEC);
        }
        // SAFETY: forwarded from the caller.
        match unsafe { net_read(fd, buf, len) } {
            NetRead::Frame(n) => Ok(n),
            NetRead::Again => Err(AGAIN),
            NetRead::Eof => {
                self.reached_eof(index);
                Err(EUNSPEC)
            }
            NetRead::Error(_) => Err(EUNSPEC),
        }
    }

    /// The net write call: the frame `[buf, buf + len)` to device `index`,
    /// host descriptor `fd`, in one write. `None` when the device is at
    /// end of file (nobody is there to read it: nothing is written).
    ///
    /// # Safety
    /// `buf` must be readable for `len` bytes.
    pub unsafe fn write(
        &self,
        index: usize,
        fd: i32,
        buf: *const u8,
        len: usize,
    ) -> Option<Transfer> {
        if self.at_eof(index) {
            return None;
        }
        // SAFETY: forwarded from the caller.
        Some(unsafe { net_write(fd, buf, len) })
    }
}

/// What the wait call (spt's `solo5_yield`, hvt's POLL) waits on: the net
/// devices' host descriptors, with the manifest index of each.
#[derive(Clone, Copy)]
pub struct PollSet {
    fds: [libc::pollfd; MAX_ENTRIES],
    index: [u8; MAX_ENTRIES],
    n: usize,
}

impl PollSet {
    /// No device: a wait only sleeps.
    pub const EMPTY: PollSet = PollSet {
        fds: [libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        }; MAX_ENTRIES],
        index: [0; MAX_ENTRIES],
        n: 0,
    };

    /// A set of `nets`: `(manifest index, host descriptor)`, at most 64
    /// (more are ignored).
    pub fn new(nets: &[(usize, i32)]) -> PollSet {
        let mut s = PollSet::EMPTY;
        for &(i, fd) in nets.iter().take(MAX_ENTRIES) {
            s.fds[s.n] = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            s.index[s.n] = (i & 63) as u8;
            s.n += 1;
        }
        s
    }

    /// Wait until the monotonic clock reaches `deadline` (nanoseconds) or
    /// a live net device is readable; the readable ones as a set of
    /// manifest-index bits. A deadline already past polls once without
    /// waiting. A device at end of file (marked in `net`, or hung up now:
    /// it is marked, and said once) is never polled again; one in error
    /// (a tap that is down) is left out until this call returns, so the
    /// caller sleeps instead of spinning. `now` is the caller's monotonic
    /// clock (the vDSO's, where it may be used).
    pub fn wait(&mut self, net: &NetStatus, deadline: u64, now: impl Fn() -> u64) -> u64 {
        // n <= MAX_ENTRIES by construction; min() lets the compiler drop
        // the bounds checks (no panic path in the table functions).
        let n = self.n.min(MAX_ENTRIES);
        let (fds, index) = (&mut self.fds[..n], &self.index[..n]);
        let mut paused = 0u64;
        let mut ready = 0u64;
        loop {
            for (fd, &i) in fds.iter_mut().zip(index) {
                if fd.fd >= 0 && net.at_eof(usize::from(i)) {
                    fd.fd = -1;
                }
            }
            let wait = deadline.saturating_sub(now());
            let ts = libc::timespec {
                tv_sec: (wait / 1_000_000_000) as libc::time_t,
                tv_nsec: (wait % 1_000_000_000) as libc::c_long,
            };
            let r = raw::ppoll(fds, &ts);
            if r > 0 {
                for (pos, (fd, &i)) in fds.iter_mut().zip(index).enumerate() {
                    let i = usize::from(i);
                    if fd.revents & libc::POLLIN != 0 {
                        ready |= 1 << i;
                    } else if fd.revents & (libc::POLLHUP | libc::POLLNVAL) != 0 {
                        net.reached_eof(i);
                        fd.fd = -1;
                    } else if fd.revents & libc::POLLERR != 0 {
                        // ppoll ignores negative descriptors; flipped back
                        // below.
                        fd.fd = !fd.fd;
                        paused |= 1 << pos;
                    }
                    fd.revents = 0;
                }
            }
            // r == 0: the whole wait passed.
            if r == 0 || ready != 0 || wait == 0 || now() >= deadline {
                break;
            }
        }
        for (pos, fd) in fds.iter_mut().enumerate() {
            if paused & (1 << pos) != 0 {
                fd.fd = !fd.fd;
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::tests::pipe;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    #[test]
    fn a_pipe_reads_as_a_byte_stream_then_eof() {
        let (r, w) = pipe();
        let mut buf = [0u8; 16];
        // SAFETY: buf is a live 16-byte buffer.
        let read = |buf: &mut [u8; 16]| unsafe { net_read(r.as_raw_fd(), buf.as_mut_ptr(), 16) };
        assert_eq!(read(&mut buf), NetRead::Again);
        // SAFETY: a live 5-byte buffer.
        let n = unsafe { net_write(w.as_raw_fd(), b"hello".as_ptr(), 5) };
        assert_eq!(n, Transfer::Done);
        assert_eq!(read(&mut buf), NetRead::Frame(5));
        assert_eq!(&buf[..5], b"hello");
        drop(w);
        assert_eq!(read(&mut buf), NetRead::Eof);
        // SAFETY: zero bytes are read.
        let r0 = unsafe { net_read(r.as_raw_fd(), buf.as_mut_ptr(), 0) };
        assert_eq!(r0, NetRead::Again);
    }

    #[test]
    fn writes_to_a_closed_pipe_fail() {
        let (r, w) = pipe();
        drop(r);
        // SAFETY: SIG_IGN installs no code; a test process may ignore it.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        // SAFETY: a live 2-byte buffer.
        let t = unsafe { net_write(w.as_raw_fd(), b"hi".as_ptr(), 2) };
        assert_eq!(t, Transfer::Error(libc::EPIPE));
    }

    #[test]
    fn block_ranges_never_pass_the_capacity() {
        assert!(block_in_range(4096, 0, 4096));
        assert!(block_in_range(4096, 3584, 512));
        assert!(!block_in_range(4096, 3585, 512));
        assert!(!block_in_range(4096, 4096, 0));
        assert!(!block_in_range(4096, 512, u64::MAX - 100));
        assert!(!block_in_range(4096, 0, u64::MAX));
    }

    #[test]
    fn block_requests_are_whole_aligned_blocks_inside_the_device() {
        let ok = |offset, len| block_request_ok(8192, 512, 4096, offset, len);
        assert!(ok(0, 512));
        assert!(ok(0, 4096), "up to the maximum");
        assert!(ok(7680, 512), "the last block");
        assert!(ok(4096, 4096), "the last eight blocks");
        assert!(!ok(0, 4608), "above the maximum");
        assert!(!ok(0, 0), "nothing");
        for len in [1, 100, 511, 513, 1000] {
            assert!(!ok(0, len), "len {len}: not whole blocks");
        }
        for offset in [1, 256, 511, 513] {
            assert!(!ok(offset, 512), "offset {offset}: misaligned");
        }
        assert!(!ok(8192, 512), "offset = capacity");
        assert!(!ok(7680, 1024), "straddles the end");
        assert!(!ok(7680, u64::MAX - 511), "wraps");
        assert!(!ok(u64::MAX - 511, 512), "offset near the top");
        // With a block larger than the maximum, one block.
        assert!(block_request_ok(1 << 16, 1 << 15, 4096, 0, 1 << 15));
        assert!(!block_request_ok(1 << 16, 1 << 15, 4096, 0, 1 << 16));
    }

    #[test]
    fn block_transfers_are_exact_and_short_at_the_end() {
        let f = tempfile();
        let fd = f.as_raw_fd();
        let data = [7u8; 1024];
        // SAFETY: live buffers of the given lengths.
        unsafe {
            assert_eq!(block_write(fd, data.as_ptr(), 1024, 512), Transfer::Done);
            let mut back = [0u8; 1024];
            assert_eq!(block_read(fd, back.as_mut_ptr(), 1024, 512), Transfer::Done);
            assert_eq!(back, data);
            // The file is 1536 bytes: a read from 1024 gets only 512.
            assert_eq!(
                block_read(fd, back.as_mut_ptr(), 1024, 1024),
                Transfer::Short(512)
            );
            assert_eq!(
                block_read(-1, back.as_mut_ptr(), 1, 0),
                Transfer::Error(libc::EBADF)
            );
        }
    }

    fn tempfile() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("solo5-io-{}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    /// The monotonic clock `ms` milliseconds from now.
    fn in_ms(ms: u64) -> u64 {
        raw::monotonic_ns() + ms * 1_000_000
    }

    #[test]
    fn poll_reports_by_index_and_forgets_hung_up_devices() {
        let (r1, w1) = pipe();
        let (r2, w2) = pipe();
        let mut set = PollSet::new(&[(3, r1.as_raw_fd()), (9, r2.as_raw_fd())]);
        let net = NetStatus::default();
        // SAFETY: a live 1-byte buffer.
        unsafe { net_write(w2.as_raw_fd(), b"x".as_ptr(), 1) };
        assert_eq!(set.wait(&net, in_ms(1000), raw::monotonic_ns), 1 << 9);
        // Writer of 3 gone: hung up, never reported again, and the wait
        // lasts to its deadline.
        drop(w1);
        let mut buf = [0u8; 4];
        // SAFETY: a live 4-byte buffer.
        unsafe { net_read(r2.as_raw_fd(), buf.as_mut_ptr(), 4) };
        let t = Instant::now();
        assert_eq!(set.wait(&net, in_ms(200), raw::monotonic_ns), 0);
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert!(net.at_eof(3) && !net.at_eof(9));
        let t = Instant::now();
        assert_eq!(set.wait(&net, in_ms(100), raw::monotonic_ns), 0);
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(w2);
    }

    #[test]
    fn devices_marked_elsewhere_are_not_polled() {
        let (r, w) = pipe();
        let mut set = PollSet::new(&[(1, r.as_raw_fd())]);
        let net = NetStatus::default();
        // SAFETY: a live 1-byte buffer.
        unsafe { net_write(w.as_raw_fd(), b"x".as_ptr(), 1) };
        net.reached_eof(1);
        let t = Instant::now();
        assert_eq!(set.wait(&net, in_ms(50), raw::monotonic_ns), 0);
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_past_deadline_polls_once_without_waiting() {
        let (r, w) = pipe();
        let mut set = PollSet::new(&[(5, r.as_raw_fd())]);
        let net = NetStatus::default();
        let t = Instant::now();
        assert_eq!(set.wait(&net, 0, raw::monotonic_ns), 0);
        let mut none = PollSet::new(&[]);
        assert_eq!(none.wait(&net, 0, raw::monotonic_ns), 0);
        // SAFETY: a live 1-byte buffer.
        unsafe { net_write(w.as_raw_fd(), b"x".as_ptr(), 1) };
        assert_eq!(set.wait(&net, 0, raw::monotonic_ns), 1 << 5);
        assert!(t.elapsed() < Duration::from_millis(100));
        // No device: sleeps to the deadline.
        let t = Instant::now();
        assert_eq!(none.wait(&net, in_ms(30), raw::monotonic_ns), 0);
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn net_calls_answer_eunspec_from_end_of_file_on() {
        let (r, w) = pipe();
        let net = NetStatus::default();
        let mut buf = [0u8; 8];
        let fd = r.as_raw_fd();
        // SAFETY: live buffers of the lengths given, for every call below.
        unsafe {
            assert_eq!(net.read(2, fd, buf.as_mut_ptr(), 8), Err(AGAIN));
            assert_eq!(
                net.write(2, w.as_raw_fd(), b"abc".as_ptr(), 3),
                Some(Transfer::Done)
            );
            assert_eq!(net.read(2, fd, buf.as_mut_ptr(), 8), Ok(3));
            assert_eq!(&buf[..3], b"abc");
            assert_eq!(net.read(2, -1, buf.as_mut_ptr(), 8), Err(EUNSPEC));
            assert!(!net.at_eof(2), "an error is not end of file");
            drop(w);
            assert_eq!(net.read(2, fd, buf.as_mut_ptr(), 8), Err(EUNSPEC));
            assert!(net.at_eof(2) && !net.at_eof(3));
            // From now on no system call: even a descriptor that is not
            // open answers the same.
            assert_eq!(net.read(2, -1, buf.as_mut_ptr(), 8), Err(EUNSPEC));
            assert_eq!(net.write(2, -1, buf.as_ptr(), 8), None);
            assert_eq!(
                net.write(3, -1, buf.as_ptr(), 8),
                Some(Transfer::Error(libc::EBADF))
            );
        }
    }

    #[test]
    fn the_end_of_file_line_names_the_program_and_the_device() {
        let net = NetStatus::new("solo5-x", &[(4, "service0"), (70, "ignored")]);
        let line = String::from_utf8(net.notice(4).to_vec()).unwrap();
        assert_eq!(
            line,
            "solo5-x: warning: net 'service0': closed by the host (end of file or hang-up); \
             reads now fail (SOLO5_R_EUNSPEC) and it is never reported ready again\n"
        );
        assert_eq!(line.matches('\n').count(), 1, "one line");
        assert!(net.notice(3).is_empty() && net.notice(70).is_empty());
        assert!(NetStatus::default().notice(0).is_empty());
    }

    /// The line goes to standard error once, whoever meets the end of file
    /// first: seen from a child process, whose descriptor 2 is a pipe.
    #[test]
    fn the_end_of_file_line_is_said_once_on_stderr() {
        if std::env::var_os("SOLO5_IO_CHILD").is_some() {
            let net = NetStatus::new("solo5-x", &[(1, "a"), (2, "b")]);
            let (r, w) = pipe();
            drop(w);
            let mut buf = [0u8; 4];
            for _ in 0..2 {
                // SAFETY: a live 4-byte buffer.
                let r = unsafe { net.read(1, r.as_raw_fd(), buf.as_mut_ptr(), 4) };
                assert_eq!(r, Err(EUNSPEC));
            }
            let mut set = PollSet::new(&[(1, r.as_raw_fd())]);
            assert_eq!(set.wait(&net, 0, raw::monotonic_ns), 0);
            net.reached_eof(2);
            net.reached_eof(2);
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "devices::io::tests::the_end_of_file_line_is_said_once_on_stderr",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SOLO5_IO_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("solo5-x: "))
            .collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(lines[0].starts_with("solo5-x: warning: net 'a': closed by the host"));
        assert!(lines[1].starts_with("solo5-x: warning: net 'b': closed by the host"));
        assert!(!stdout.contains("closed by the host"), "{stdout}");
    }
}
