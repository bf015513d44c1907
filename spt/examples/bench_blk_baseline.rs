//! Baseline for the block benchmark of `scripts/bench-devices`: what the
//! `benchblk` test unikernel does through `solo5_block_write` /
//! `solo5_block_read`, as a plain process with `pwrite`/`pread`.
//!
//! ```text
//! bench_blk_baseline FILE BLOCK_SIZE [--filter]
//! ```
//!
//! opens FILE read/write (as `--block:` does), writes every block from the
//! first to the last with one `pwrite` each, then reads them all back with
//! one `pread` each, timing each pass with the monotonic clock, and prints
//! the `benchblk` guest's line:
//!
//! ```text
//! benchblk block=BS bytes=CAPACITY write_ns=T read_ns=T write_MBps=X.X read_MBps=X.X
//! ```
//!
//! With `--filter` it first installs the seccomp policy `solo5-spt` gives a
//! native guest with FILE attached as its only block device (`pread64` and
//! `pwrite64` pinned to the descriptor, the block size and the capacity),
//! so the cost of the filter itself shows apart from the table's.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use solo5_policy::{Abi, Block, Devices};

/// The largest block size solo5-spt accepts.
const MAX_BLOCK: usize = 1 << 15;

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
    let (path, bs, filter) = match args.as_slice() {
        [p, b] => (p, b, false),
        [p, b, f] if f == "--filter" => (p, b, true),
        _ => return usage(),
    };
    let bs: usize = match bs.parse() {
        Ok(b) if b > 0 && b <= MAX_BLOCK => b,
        _ => return usage(),
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
            max_block_request: 0,
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
    let blocks = capacity / bs as u64;
    let mut storage = [0u8; MAX_BLOCK];
    let buf = &mut storage[..bs];
    for (j, b) in buf.iter_mut().enumerate() {
        *b = j as u8;
    }
    let mut line = Line {
        buf: [0; 256],
        len: 0,
    };

    let t0 = now();
    for i in 0..blocks {
        buf[..8].copy_from_slice(&i.to_le_bytes());
        let off = (i * bs as u64) as libc::off_t;
        // SAFETY: buf is a live buffer of bs bytes; fd is open.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), bs, off) };
        if n != bs as isize {
            let _ = writeln!(line, "bench_blk_baseline: write of block {i} failed");
            finish(&line, 1);
        }
    }
    let t1 = now();
    for i in 0..blocks {
        let off = (i * bs as u64) as libc::off_t;
        // SAFETY: buf is a live, writable buffer of bs bytes; fd is open.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), bs, off) };
        if n != bs as isize || buf[..8] != i.to_le_bytes() {
            let _ = writeln!(line, "bench_blk_baseline: read of block {i} failed");
            finish(&line, 1);
        }
    }
    let t2 = now();

    let bytes = blocks * bs as u64;
    let (w, wt) = mbps(bytes, t1 - t0);
    let (r, rt) = mbps(bytes, t2 - t1);
    let _ = writeln!(
        line,
        "benchblk block={bs} bytes={bytes} write_ns={} read_ns={} write_MBps={w}.{wt} read_MBps={r}.{rt}",
        t1 - t0,
        t2 - t1
    );
    finish(&line, 0)
}

fn usage() -> ExitCode {
    eprintln!("usage: bench_blk_baseline FILE BLOCK_SIZE [--filter]");
    ExitCode::from(2)
}
