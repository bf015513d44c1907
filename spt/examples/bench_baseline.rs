//! Baseline for `scripts/bench-spt`: the raw system calls behind the Solo5
//! calls that the `bench` test unikernel times through the hypercall table,
//! made by a plain process under the same seccomp filter.
//!
//! ```text
//! bench_baseline MODE N [--no-filter]
//! ```
//!
//! installs the native ABI's policy with no devices (what `solo5-spt`
//! gives a guest without devices; not with `--no-filter`, which shows what
//! the filter itself costs), then makes N calls of MODE and prints one
//! line in the `bench` guest's format:
//!
//! ```text
//! bench MODE n=N ns_per_call=X.XXX
//! ```
//!
//! | MODE    | call                                                            |
//! |---------|-----------------------------------------------------------------|
//! | `clock` | `syscall(SYS_clock_gettime, CLOCK_MONOTONIC)`, not the vDSO      |
//! | `vdso`  | `clock_gettime(CLOCK_MONOTONIC)` through the vDSO (no syscall)   |
//! | `write` | `syscall(SYS_write, 1, buf, 1)`: one byte to standard output     |
//! | `yield` | `syscall(SYS_ppoll, NULL, 0, {0, 0}, NULL)`: a zero timeout      |
//! | `none`  | nothing: the cost of the loop itself                             |
//!
//! `clock`, `write` and `yield` go through glibc's `syscall()`, a function
//! that returns after the `syscall` instruction like every libc wrapper.
//! `clock-asm`, `write-asm` and `yield-asm` make the same calls with a
//! `syscall` instruction inlined into the loop: no call, no return, the
//! floor that no function-call interface (a libc, the hypercall table) can
//! reach.
//!
//! The loop is timed with the vDSO's monotonic clock, like the guest times
//! its own with `solo5_clock_monotonic`. Nothing allocates once the filter
//! is in: the result is formatted on the stack and written with a raw
//! `write(1)`, and the process ends with a raw `exit_group`, both allowed
//! by the policy.

use std::fmt::Write as _;
use std::process::ExitCode;

use solo5_policy::{Abi, Devices};
use solo5_tender::raw::{nr, syscall4};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clock,
    ClockAsm,
    Vdso,
    Write,
    WriteAsm,
    Yield,
    YieldAsm,
    None,
}

const MODES: [(&str, Mode); 8] = [
    ("clock", Mode::Clock),
    ("clock-asm", Mode::ClockAsm),
    ("vdso", Mode::Vdso),
    ("write", Mode::Write),
    ("write-asm", Mode::WriteAsm),
    ("yield", Mode::Yield),
    ("yield-asm", Mode::YieldAsm),
    ("none", Mode::None),
];

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        MODES.iter().find(|(name, _)| *name == s).map(|&(_, m)| m)
    }

    fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|&&(_, m)| m == self)
            .map_or("?", |(name, _)| name)
    }
}

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

/// Makes `n` calls of `mode`; returns the elapsed nanoseconds.
fn run(mode: Mode, n: u64) -> u64 {
    let byte = [b'.'];
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let start = now();
    for _ in 0..n {
        match mode {
            // SAFETY: clock_gettime writes one timespec to a live local.
            Mode::Clock => unsafe {
                libc::syscall(
                    libc::SYS_clock_gettime,
                    libc::CLOCK_MONOTONIC,
                    &mut ts as *mut libc::timespec,
                );
            },
            // SAFETY: as above, through the vDSO.
            Mode::Vdso => unsafe {
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
            },
            // SAFETY: write reads one byte of a live local.
            Mode::Write => unsafe {
                libc::syscall(libc::SYS_write, 1, byte.as_ptr(), 1usize);
            },
            // SAFETY: no fds (NULL, 0), a zero timeout read from a live
            // local, no signal mask: ppoll returns 0 at once.
            Mode::Yield => unsafe {
                libc::syscall(
                    libc::SYS_ppoll,
                    std::ptr::null_mut::<libc::pollfd>(),
                    0usize,
                    &zero as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                );
            },
            // SAFETY: as for Clock.
            Mode::ClockAsm => unsafe {
                syscall4(
                    nr::CLOCK_GETTIME,
                    libc::CLOCK_MONOTONIC as usize,
                    &mut ts as *mut libc::timespec as usize,
                    0,
                    0,
                );
            },
            // SAFETY: as for Write.
            Mode::WriteAsm => unsafe {
                syscall4(nr::WRITE, 1, byte.as_ptr() as usize, 1, 0);
            },
            // SAFETY: as for Yield.
            Mode::YieldAsm => unsafe {
                syscall4(nr::PPOLL, 0, 0, &zero as *const libc::timespec as usize, 0);
            },
            Mode::None => {}
        }
        // Keep the loop (and for `none`, the iteration count) honest.
        std::hint::black_box(&mut ts);
    }
    now() - start
}

/// A fixed buffer to format the result into without allocating.
struct Line {
    buf: [u8; 128],
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (m, n, filter) = match args.as_slice() {
        [m, n] => (m, n, true),
        [m, n, f] if f == "--no-filter" => (m, n, false),
        _ => return usage(),
    };
    let (mode, n) = match (Mode::parse(m), n.parse::<u64>()) {
        (Some(mode), Ok(n)) if n > 0 => (mode, n),
        _ => return usage(),
    };

    if filter {
        let installed = solo5_policy::build(&Abi::Native, &Devices::default())
            .compile()
            .and_then(|f| f.install());
        if let Err(e) = installed {
            eprintln!("bench_baseline: {e}");
            return ExitCode::FAILURE;
        }
    }

    // From here on only the policy's system calls: no allocation, no std
    // I/O, no normal exit (which would run atexit handlers).
    let elapsed = run(mode, n);
    let mut line = Line {
        buf: [0; 128],
        len: 0,
    };
    let _ = writeln!(
        line,
        "bench {} n={} ns_per_call={:.3}",
        mode.name(),
        n,
        elapsed as f64 / n as f64
    );
    // SAFETY: writes line.len bytes of a live stack buffer to fd 1, then
    // ends the process; both calls are allowed by the native policy.
    unsafe {
        libc::syscall(libc::SYS_write, 1, line.buf.as_ptr(), line.len);
        libc::syscall(libc::SYS_exit_group, 0);
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    let names: Vec<&str> = MODES.iter().map(|(name, _)| *name).collect();
    eprintln!("usage: bench_baseline {} N [--no-filter]", names.join("|"));
    ExitCode::from(2)
}
