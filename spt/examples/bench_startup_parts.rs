//! Start-up of solo5-spt taken apart, for `scripts/bench-spt`: the steps
//! of `solo5_spt::run` up to the jump, each timed in-process.
//!
//! ```text
//! bench_startup_parts [SOLO5-SPT OPTIONS] KERNEL [ARGS...]
//! ```
//!
//! takes solo5-spt's command line, does what `solo5-spt` does before it
//! jumps into the guest (read and check the kernel, attach the devices and
//! build the policy, map and load guest memory, compile the filter, drop
//! every capability, restore default signal actions, install the filter;
//! all but writing the boot info, which is a few stores), then instead of
//! jumping prints one line and exits:
//!
//! ```text
//! parts load_kernel=US attach_policy=US memory=US compile=US drop_caps=US signals=US install=US
//! ```
//!
//! in microseconds. What it cannot time is what comes before `main` (the
//! exec, the dynamic loader, the C runtime) and the guest itself.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use solo5_spt::launch;
use solo5_spt::memory::GuestMemory;
use solo5_tender::cmdline::{self, Command};

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

fn fail(what: &str, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("bench_startup_parts: {what}: {e}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let t0 = Instant::now();
    let o = match cmdline::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(_) => return fail("command line", &"give a KERNEL to run"),
        Err(e) => return fail("command line", &e),
    };
    let mem_size = o.mem_mib << 20;
    let mut k = match solo5_spt::load_kernel(o.kernel.clone()) {
        Ok(k) => k,
        Err(e) => return fail("load", &e),
    };
    let exe = match solo5_tender::elf::load(&k.file, mem_size) {
        Ok(exe) => exe,
        Err(e) => return fail("load", &e),
    };
    let t1 = Instant::now();
    let policy = match solo5_spt::policy_for(&mut k, &o, None) {
        Ok(p) => p,
        Err(e) => return fail("devices", &e),
    };
    let t2 = Instant::now();
    let mut mem = match GuestMemory::map(mem_size) {
        Ok(m) => m,
        Err(e) => return fail("memory", &e),
    };
    if !mem.load(&exe, &k.file) {
        return fail("memory", &"could not load the kernel");
    }
    let guard = match launch::stack_guard(&k.path, &k.file, mem_size, exe.kernel_end) {
        Ok(g) => g,
        Err(e) => return fail("memory", &e),
    };
    if let Err(e) = mem.protect(&exe, o.x_exec_heap) {
        return fail("memory", &e);
    }
    if let Err(e) = launch::protect_guard(guard) {
        return fail("memory", &e);
    }
    let t3 = Instant::now();
    let filter = match policy.compile() {
        Ok(f) => f,
        Err(e) => return fail("policy", &e),
    };
    let t4 = Instant::now();
    if let Err(e) = launch::drop_capabilities() {
        return fail("capabilities", &e);
    }
    let t5 = Instant::now();
    if let Err(e) = launch::guest_signals() {
        return fail("signals", &e);
    }
    let t6 = Instant::now();
    if let Err(e) = filter.install() {
        return fail("seccomp", &e);
    }
    let t7 = Instant::now();

    // Under the filter now: format on the stack, raw write(1), exit_group.
    let us = |a: Instant, b: Instant| (b - a).as_nanos() as f64 / 1000.0;
    let mut line = Line {
        buf: [0; 256],
        len: 0,
    };
    let _ = writeln!(
        line,
        "parts load_kernel={:.1} attach_policy={:.1} memory={:.1} compile={:.1} drop_caps={:.1} signals={:.1} install={:.1}",
        us(t0, t1),
        us(t1, t2),
        us(t2, t3),
        us(t3, t4),
        us(t4, t5),
        us(t5, t6),
        us(t6, t7)
    );
    // SAFETY: writes line.len bytes of a live stack buffer to fd 1, then
    // ends the process; both calls are allowed by every solo5-spt policy.
    unsafe {
        libc::syscall(libc::SYS_write, 1, line.buf.as_ptr(), line.len);
        libc::syscall(libc::SYS_exit_group, 0);
    }
    ExitCode::SUCCESS
}
