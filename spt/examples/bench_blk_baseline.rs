//! Baseline for the block benchmarks of `scripts/bench-devices`,
//! `scripts/bench-hvt-blk` and `scripts/bench-blk-multi`: what the
//! `benchblk` test unikernel does through `solo5_block_write` /
//! `solo5_block_read`, as a plain process with `pwrite`/`pread`.
//!
//! ```text
//! bench_blk_baseline FILE BLOCK_SIZE [req=BYTES] [--filter]
//! ```
//!
//! opens FILE read/write (as `--block:` does), writes it from the first
//! block to the last with one `pwrite` of `req` bytes each (default: one
//! block; a whole number of blocks up to 1 MiB, the largest request of
//! the SDK's block API; the last request is shorter when the capacity is
//! not a multiple of it), then reads it all back with one `pread` each,
//! timing each pass with the monotonic clock, and prints the `benchblk`
//! guest's line:
//!
//! ```text
//! benchblk block=BS bytes=CAPACITY write_ns=T read_ns=T write_MBps=X.X read_MBps=X.X req=REQ
//! ```
//!
//! The buffer is allocated and filled before anything else, so that the
//! loops make no other system call. With `--filter` it then installs the
//! seccomp policy `solo5-spt` gives a native guest with FILE attached as
//! its only block device (`pread64` and `pwrite64` pinned to the
//! descriptor, a whole number of blocks up to the tender's largest
//! request, offsets inside the device), so the cost of the filter itself
//! shows apart from the table's.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use solo5_policy::{Abi, Block, Devices};

/// The largest request: what the native table serves in one call.
const MAX_REQ: usize = solo5_abi::MAX_BLOCK_REQUEST as usize;

/// Monotonic time in nanoseconds, through the vDSO.
fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live, writable timespec; glibc's clock_gettime reads
    // the vDSO's data page (falling back to the syscall, which the policy
    // allows for CLOCK_MONOTONIC).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A fixed buffer to format the result into without allocating.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A zeroed, page-aligned heap buffer (never freed: the process ends
/// with `exit_group`).
struct PageBuf(&'static mut [u8]);

impl PageBuf {
    fn new(len: usize) -> PageBuf {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("buffer layout");
        // SAFETY: len > 0 (a request is at least one block).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: p points at len zeroed bytes that nothing else refers to
        // and that are never freed.
        PageBuf(unsafe { std::slice::from_raw_parts_mut(p, len) })
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0
    }
}

impl std::ops::DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0
    }
}

/// `bytes` in `ns` as MB/s with one decimal: (whole, tenth).
fn mbps(bytes: u64, ns: u64) -> (u64, u64) {
    let tenths = (u128::from(bytes) * 10_000 / u128::from(ns.max(1))) as u64;
    (tenths / 10, tenths % 10)
}

/// Writes `line` to fd 1 and ends the process with `status`, with raw
/// system calls only (both allowed by the policy).
fn finish(line: &Line, status: i32) -> ! {
    // SAFETY: writes line.len bytes of a live buffer to fd 1, then ends
    // the process.
    unsafe {
        libc::syscall(libc::SYS_write, 1, line.buf.as_ptr(), line.len);
        libc::syscall(libc::SYS_exit_group, status);
    }
    unreachable!("exit_group returned")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(bs)) = (args.first(), args.get(1)) else {
        return usage();
    };
    let (mut filter, mut req) = (false, 0usize);
    for a in &args[2..] {
        match (a.as_str(), a.strip_prefix("req=").map(str::parse::<usize>)) {
            ("--filter", _) if !filter => filter = true,
            (_, Some(Ok(n))) if n > 0 && req == 0 => req = n,
            _ => return usage(),
        }
    }
    let bs: usize = match bs.parse() {
        Ok(b) if b > 0 && b <= MAX_REQ => b,
        _ => return usage(),
    };
    let req = if req == 0 { bs } else { req };
    if req % bs != 0 || req > MAX_REQ {
        eprintln!("bench_blk_baseline: req={req} is not a whole number of {bs}-byte blocks up to {MAX_REQ}");
        return ExitCode::from(2);
    }
    // The buffer first, page-aligned like the guest's: nothing allocates
    // once the filter is in.
    let mut buf = PageBuf::new(req);
    for (j, b) in buf.iter_mut().enumerate() {
        *b = j as u8;
    }
    let mut line = Line {
        buf: [0; 256],
        len: 0,
    };
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench_blk_baseline: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let capacity = match file.metadata() {
        Ok(m) => m.len() / bs as u64 * bs as u64,
        Err(e) => {
            eprintln!("bench_blk_baseline: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fd = file.as_raw_fd();
    if filter {
        let devices = Devices {
            max_block_request: solo5_abi::MAX_BLOCK_REQUEST,
            net_fds: vec![],
            blocks: vec![Block {
                fd,
                block_size: bs as u64,
                capacity,
            }],
        };
        let installed = solo5_policy::build(&Abi::Native, &devices)
            .compile()
            .and_then(|f| f.install());
        if let Err(e) = installed {
            eprintln!("bench_blk_baseline: {e}");
            return ExitCode::FAILURE;
        }
    }

    // From here on only the policy's system calls: no allocation, no std
    // I/O; failures are reported like the result, with raw calls.
    let bytes = capacity;
    let t0 = now();
    let mut off = 0u64;
    while off < bytes {
        let n = (req as u64).min(bytes - off) as usize;
        let part = &mut buf[..n];
        part[..8].copy_from_slice(&(off / bs as u64).to_le_bytes());
        // SAFETY: part is a live buffer of n bytes; fd is open.
        let w = unsafe { libc::pwrite(fd, part.as_ptr().cast(), n, off as libc::off_t) };
        if w != n as isize {
            let _ = writeln!(line, "bench_blk_baseline: write at byte {off} failed");
            finish(&line, 1);
        }
        off += n as u64;
    }
    let t1 = now();
    let mut off = 0u64;
    while off < bytes {
        let n = (req as u64).min(bytes - off) as usize;
        let part = &mut buf[..n];
        // SAFETY: part is a live, writable buffer of n bytes; fd is open.
        let r = unsafe { libc::pread(fd, part.as_mut_ptr().cast(), n, off as libc::off_t) };
        if r != n as isize || part[..8] != (off / bs as u64).to_le_bytes() {
            let _ = writeln!(line, "bench_blk_baseline: read at byte {off} failed");
            finish(&line, 1);
        }
        off += n as u64;
    }
    let t2 = now();

    let (w, wt) = mbps(bytes, t1 - t0);
    let (r, rt) = mbps(bytes, t2 - t1);
    let _ = writeln!(
        line,
        "benchblk block={bs} bytes={bytes} write_ns={} read_ns={} write_MBps={w}.{wt} read_MBps={r}.{rt} req={req}",
        t1 - t0,
        t2 - t1
    );
    finish(&line, 0)
}

fn usage() -> ExitCode {
    eprintln!("usage: bench_blk_baseline FILE BLOCK_SIZE [req=BYTES] [--filter]");
    ExitCode::from(2)
}
