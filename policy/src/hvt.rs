//! The seccomp policy of solo5-hvt: what the tender itself may do while
//! its guest runs in a KVM virtual machine.
//!
//! The guest's code never makes a host system call; the tender's run loop
//! does, on the guest's behalf, when a hypercall exits to it. So the list
//! is the run loop's: `KVM_RUN` on the vcpu descriptor and nothing else of
//! KVM, the hypercalls' console, clock and wait, the exit, and the one line
//! the tender writes on standard error when it must stop the guest. Device
//! descriptors add their own rules (the net and block hypercalls). Anything
//! else kills the whole process, on every thread (the filter is installed
//! with `SECCOMP_FILTER_FLAG_TSYNC`).
//!
//! ```
//! use solo5_policy::hvt::{build, Hvt};
//!
//! let policy = build(&Hvt { vcpu_fd: 5, kvm_run: 0xae80, ..Hvt::default() });
//! assert!(policy.to_string().contains("ioctl(fd == 5, request == KVM_RUN)"));
//! assert!(!policy.compile()?.is_empty());
//! # Ok::<(), solo5_policy::Error>(())
//! ```

use crate::rules::{Cond, Op, Rule, Syscall, Width};
use crate::{Block, Policy};

/// What the hvt policy is built from: descriptors and request numbers only
/// the tender knows at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hvt {
    /// The vcpu descriptor the run loop calls `KVM_RUN` on.
    pub vcpu_fd: i32,
    /// The `KVM_RUN` request number (the tender takes it from its KVM
    /// bindings; this crate knows no KVM).
    pub kvm_run: u64,
    /// `KVM_GET_REGS`, allowed on the vcpu only when the host cannot hand
    /// the registers over in the run area (no `KVM_CAP_SYNC_REGS`): the
    /// tender reads RIP for its fatal lines.
    pub kvm_get_regs: Option<u64>,
    /// Host descriptors of the attached net devices.
    pub net_fds: Vec<i32>,
    /// The attached block devices.
    pub blocks: Vec<Block>,
    /// The eventfd of the net ring, when the ring is offered: its I/O
    /// thread sleeps reading it, HALT wakes the thread writing it.
    pub ring_eventfd: Option<i32>,
    /// The largest block request, in bytes, the tender serves with one
    /// `pread64`/`pwrite64` (at least one block is always allowed).
    pub max_block_request: u64,
    /// The request numbers of the register and debug ioctls, used only
    /// with `dumpcore` or `gdb`.
    pub kvm_debug: KvmDebug,
    /// `--dumpcore=DIR`: creating and writing the core file.
    pub dumpcore: Option<Dumpcore>,
    /// `--gdb`: the descriptor of the debugger's connection.
    pub gdb_fd: Option<i32>,
    /// A kernel built for CPL0 entered at CPL3: the run loop reads and
    /// writes the vcpu's registers to carry out its privileged
    /// instructions, or to move it to CPL0.
    pub demoted: bool,
}

/// Request numbers of the vcpu ioctls that `--dumpcore` and `--gdb` need
/// (the tender takes them from its KVM bindings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvmDebug {
    /// `KVM_GET_REGS`.
    pub get_regs: u64,
    /// `KVM_SET_REGS`.
    pub set_regs: u64,
    /// `KVM_GET_SREGS`.
    pub get_sregs: u64,
    /// `KVM_SET_SREGS`.
    pub set_sregs: u64,
    /// `KVM_SET_GUEST_DEBUG`.
    pub set_guest_debug: u64,
}

pub use crate::Dumpcore;

fn int_eq(arg: u8, name: &'static str, value: u64, symbol: Option<&'static str>) -> Cond {
    Cond {
        arg,
        name,
        width: Width::Int,
        op: Op::Eq,
        value,
        symbol,
    }
}

/// An `int` descriptor as the filter compares it: its low 32 bits.
fn fd(name: &'static str, fd: i32) -> Cond {
    int_eq(0, name, u64::from(fd as u32), None)
}

fn rule(syscall: Syscall, conds: Vec<Cond>, needed_by: &'static str) -> Rule {
    Rule {
        syscall,
        conds,
        needed_by,
    }
}

/// Every rule of the hvt policy, in the order they are printed.
fn rules(h: &Hvt) -> Vec<Rule> {
    let mut rules = Vec::new();
    // The run loop enters the guest. The kernel reads the request as an
    // unsigned int, so its low 32 bits are what counts.
    let request = |value, symbol| int_eq(1, "request", value, Some(symbol));
    rules.push(rule(
        Syscall::Ioctl,
        vec![fd("fd", h.vcpu_fd), request(h.kvm_run, "KVM_RUN")],
        "run loop",
    ));
    let gdb = h.gdb_fd.is_some();
    let core = h.dumpcore.is_some();
    let get_regs = match (h.kvm_get_regs, gdb, core) {
        (_, true, false) => Some((h.kvm_debug.get_regs, "gdb: registers (g, p)")),
        (_, true, true) => Some((
            h.kvm_debug.get_regs,
            "gdb: registers (g, p); core registers",
        )),
        (Some(r), false, false) => {
            Some((r, "fatal exit lines (rip), host without KVM_CAP_SYNC_REGS"))
        }
        (Some(r), false, true) => Some((
            r,
            "fatal exit lines (rip) and core registers, host without KVM_CAP_SYNC_REGS",
        )),
        (None, false, _) => None,
    };
    if let Some((nr, why)) = get_regs {
        rules.push(rule(
            Syscall::Ioctl,
            vec![fd("fd", h.vcpu_fd), request(nr, "KVM_GET_REGS")],
            why,
        ));
    }
    let get_sregs = match (gdb, core) {
        (true, true) => Some("gdb: CR3 (page walks), segments; core segment registers"),
        (true, false) => Some("gdb: CR3 (page walks), segments"),
        (false, true) => Some("core segment registers"),
        (false, false) => None,
    };
    if let Some(why) = get_sregs {
        rules.push(rule(
            Syscall::Ioctl,
            vec![
                fd("fd", h.vcpu_fd),
                request(h.kvm_debug.get_sregs, "KVM_GET_SREGS"),
            ],
            why,
        ));
    }
    if gdb {
        rules.push(rule(
            Syscall::Ioctl,
            vec![
                fd("fd", h.vcpu_fd),
                request(h.kvm_debug.set_regs, "KVM_SET_REGS"),
            ],
            "gdb: write registers (G, P)",
        ));
        rules.push(rule(
            Syscall::Ioctl,
            vec![
                fd("fd", h.vcpu_fd),
                request(h.kvm_debug.set_guest_debug, "KVM_SET_GUEST_DEBUG"),
            ],
            "gdb: breakpoints, single step",
        ));
    }
    // A CPL0 kernel at CPL3: the registers at each trap the stub reports
    // (at start-up, a handful), only those ioctls not allowed already.
    if h.demoted {
        let why = "CPL0 kernel at CPL3: privileged instructions carried out, or the move to CPL0";
        let have_get_regs = rules.iter().any(|r| {
            r.conds
                .iter()
                .any(|c| c.arg == 1 && c.value == h.kvm_debug.get_regs)
        });
        let mut wanted = vec![
            (h.kvm_debug.set_regs, "KVM_SET_REGS", !gdb),
            (h.kvm_debug.get_sregs, "KVM_GET_SREGS", get_sregs.is_none()),
            (h.kvm_debug.set_sregs, "KVM_SET_SREGS", true),
        ];
        wanted.insert(0, (h.kvm_debug.get_regs, "KVM_GET_REGS", !have_get_regs));
        for (nr, name, missing) in wanted {
            if missing {
                rules.push(rule(
                    Syscall::Ioctl,
                    vec![fd("fd", h.vcpu_fd), request(nr, name)],
                    why,
                ));
            }
        }
    }
    // PUTS writes the guest's console output to the tender's stdout.
    rules.push(rule(
        Syscall::Write,
        vec![fd("fd", 1)],
        "PUTS (solo5_console_write)",
    ));
    // The tender's own one line when it stops a guest (bad hypercall,
    // unhandled exit, signal).
    rules.push(rule(Syscall::Write, vec![fd("fd", 2)], "fatal error line"));
    // WALLTIME reads the host's wall clock.
    let realtime = int_eq(
        0,
        "clk_id",
        libc::CLOCK_REALTIME as u64,
        Some("CLOCK_REALTIME"),
    );
    rules.push(rule(
        Syscall::ClockGettime,
        vec![realtime],
        "WALLTIME (solo5_clock_wall)",
    ));
    // POLL waits for the deadline or a readable net device. No signal mask
    // may be passed: the blocked signals stay as they are.
    let sigmask = Cond {
        arg: 3,
        name: "sigmask",
        width: Width::Long,
        op: Op::Eq,
        value: 0,
        symbol: Some("NULL"),
    };
    rules.push(rule(Syscall::Ppoll, vec![sigmask], "POLL (solo5_yield)"));
    // POLL's deadline, where the vDSO cannot read the clock itself.
    let monotonic = int_eq(
        0,
        "clk_id",
        libc::CLOCK_MONOTONIC as u64,
        Some("CLOCK_MONOTONIC"),
    );
    rules.push(rule(
        Syscall::ClockGettime,
        vec![monotonic],
        "POLL deadline (host clock without vDSO)",
    ));
    // HALT ends the process with the guest's status; so do fatal errors.
    rules.push(rule(
        Syscall::ExitGroup,
        Vec::new(),
        "HALT (solo5_exit, solo5_abort), fatal errors",
    ));
    for &n in &h.net_fds {
        // NET_READ receives one frame from the tap.
        rules.push(rule(Syscall::Read, vec![fd("fd", n)], "NET_READ"));
        // NET_WRITE sends one frame.
        rules.push(rule(Syscall::Write, vec![fd("fd", n)], "NET_WRITE"));
    }
    if let Some(efd) = h.ring_eventfd {
        // The ring's I/O thread sleeps until the guest kicks (KVM signals
        // the eventfd); it reads and writes the net devices with the
        // rules above.
        rules.push(rule(
            Syscall::Read,
            vec![fd("fd", efd)],
            "net ring I/O thread (sleeps on the kick eventfd)",
        ));
        rules.push(rule(
            Syscall::Write,
            vec![fd("fd", efd)],
            "HALT, POLL (wake the net ring thread)",
        ));
    }
    if let Some(g) = h.gdb_fd {
        // The debugger's packets, on the connection accepted before the
        // filter (the listening socket is closed by then).
        rules.push(rule(
            Syscall::Read,
            vec![fd("fd", g)],
            "gdb remote protocol",
        ));
        rules.push(rule(
            Syscall::Write,
            vec![fd("fd", g)],
            "gdb remote protocol",
        ));
        // A timer signal interrupts KVM_RUN so that the run loop can
        // look for the debugger's Ctrl-C; its handler returns.
        rules.push(rule(
            Syscall::RtSigreturn,
            Vec::new(),
            "gdb: Ctrl-C (a timer signal interrupts KVM_RUN)",
        ));
    }
    if let Some(d) = h.dumpcore {
        // The core file: a new file (never an existing one), write-only,
        // mode 0600, relative to the directory opened at set-up. The path
        // is a pointer seccomp cannot read.
        let flags = int_eq(
            2,
            "flags",
            u64::from(d.flags as u32),
            Some("O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
        );
        let mode = int_eq(3, "mode", u64::from(d.mode), Some("0600"));
        rules.push(rule(
            Syscall::Openat,
            vec![fd("dfd", d.dir_fd), flags, mode],
            "dumpcore: create the core file",
        ));
        rules.push(rule(
            Syscall::Mincore,
            Vec::new(),
            "dumpcore: which guest pages are resident",
        ));
        rules.push(rule(
            Syscall::Pwrite64,
            vec![fd("fd", d.core_fd)],
            "dumpcore: write the core file (the descriptor openat returns)",
        ));
    }
    for b in &h.blocks {
        // hvt checks each request itself (whole blocks, aligned, inside
        // the device, at most the largest request) and makes one call per
        // request; the filter holds the same bounds, as far as seccomp
        // can: the descriptor, a count of whole blocks between one block
        // and the largest request (never past the capacity), an aligned
        // offset that leaves at least one block inside the device. What
        // seccomp cannot compare (offset + count <= capacity) the tender
        // checks; the filter still keeps every call's first block inside.
        let Some(last) = b.capacity.checked_sub(b.block_size) else {
            continue;
        };
        let long = |arg, name, op, value| Cond {
            arg,
            name,
            width: Width::Long,
            op,
            value,
            symbol: None,
        };
        let mask = b.block_size.saturating_sub(1);
        let max = h.max_block_request.max(b.block_size).min(b.capacity);
        let conds = vec![
            fd("fd", b.fd),
            long(2, "count", Op::Ge, b.block_size),
            long(2, "count", Op::Le, max),
            long(2, "count", Op::MaskedEq(mask), 0),
            long(3, "offset", Op::Le, last),
            long(3, "offset", Op::MaskedEq(mask), 0),
        ];
        rules.push(rule(Syscall::Pread64, conds.clone(), "BLOCK_READ"));
        rules.push(rule(Syscall::Pwrite64, conds, "BLOCK_WRITE"));
    }
    rules
}

/// The policy of solo5-hvt for `h`. Never fails.
pub fn build(h: &Hvt) -> Policy {
    Policy {
        title: "solo5-hvt, hvt ABI 2".to_string(),
        rules: rules(h),
        trap: false,
    }
}

#[cfg(test)]
mod tests;
