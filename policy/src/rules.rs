//! The rules of both policies, in a form that can be printed and compiled.
//!
//! A [`Rule`] allows one system call when all its conditions hold; a rule
//! without conditions allows the call with any arguments. Every rule names
//! the Solo5 call that needs it, so the printed policy explains itself.

use std::fmt;

use crate::{Abi, Block, Devices};

/// `arch_prctl` code that sets the FS base (`asm/prctl.h`).
pub(crate) const ARCH_SET_FS: u64 = 0x1002;

/// A system call that some rule allows. Only these can ever be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Syscall {
    Read,
    Write,
    Pread64,
    Pwrite64,
    ExitGroup,
    ClockGettime,
    Ppoll,
    ArchPrctl,
    TimerfdSettime,
    EpollPwait,
    Ioctl,
    Openat,
    Mincore,
    RtSigreturn,
}

impl Syscall {
    /// The x86_64 system call number.
    pub(crate) fn nr(self) -> i64 {
        match self {
            Syscall::Read => libc::SYS_read,
            Syscall::Write => libc::SYS_write,
            Syscall::Pread64 => libc::SYS_pread64,
            Syscall::Pwrite64 => libc::SYS_pwrite64,
            Syscall::ExitGroup => libc::SYS_exit_group,
            Syscall::ClockGettime => libc::SYS_clock_gettime,
            Syscall::Ppoll => libc::SYS_ppoll,
            Syscall::ArchPrctl => libc::SYS_arch_prctl,
            Syscall::TimerfdSettime => libc::SYS_timerfd_settime,
            Syscall::EpollPwait => libc::SYS_epoll_pwait,
            Syscall::Ioctl => libc::SYS_ioctl,
            Syscall::Openat => libc::SYS_openat,
            Syscall::Mincore => libc::SYS_mincore,
            Syscall::RtSigreturn => libc::SYS_rt_sigreturn,
        }
    }

    /// The name an operator knows it by (`man 2 NAME`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Syscall::Read => "read",
            Syscall::Write => "write",
            Syscall::Pread64 => "pread64",
            Syscall::Pwrite64 => "pwrite64",
            Syscall::ExitGroup => "exit_group",
            Syscall::ClockGettime => "clock_gettime",
            Syscall::Ppoll => "ppoll",
            Syscall::ArchPrctl => "arch_prctl",
            Syscall::TimerfdSettime => "timerfd_settime",
            Syscall::EpollPwait => "epoll_pwait",
            Syscall::Ioctl => "ioctl",
            Syscall::Openat => "openat",
            Syscall::Mincore => "mincore",
            Syscall::RtSigreturn => "rt_sigreturn",
        }
    }
}

/// How much of a 64-bit argument register a condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Width {
    /// The low 32 bits: C `int` and `unsigned int` arguments (fds, clock
    /// ids, flags), which the kernel itself truncates to 32 bits.
    Int,
    /// All 64 bits: sizes, offsets and pointers.
    Long,
}

/// The comparison of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The argument equals the value.
    Eq,
    /// The argument is at most the value, compared unsigned (a negative
    /// offset is a huge number and fails).
    Le,
    /// The argument is at least the value, compared unsigned.
    Ge,
    /// The argument differs from the value.
    Ne,
    /// The argument's bits under the mask equal the value (`value` is 0
    /// and the mask `block_size - 1`: a whole number of blocks).
    MaskedEq(u64),
}

/// One condition on one argument of a system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cond {
    /// Argument index, 0..=5.
    pub(crate) arg: u8,
    /// The argument's name in the system call's man page.
    pub(crate) name: &'static str,
    pub(crate) width: Width,
    pub(crate) op: Op,
    pub(crate) value: u64,
    /// The symbolic name of `value`, printed instead of the number.
    pub(crate) symbol: Option<&'static str>,
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Eq => "==",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Ne => "!=",
            // A whole number of blocks: `count % 512 == 0`.
            Op::MaskedEq(mask) if self.value == 0 && mask.wrapping_add(1).is_power_of_two() => {
                return write!(f, "{} % {} == 0", self.name, mask.wrapping_add(1));
            }
            Op::MaskedEq(mask) => {
                return write!(f, "{} & {mask:#x} == {}", self.name, self.value);
            }
        };
        match self.symbol {
            Some(symbol) => write!(f, "{} {op} {symbol}", self.name),
            None => write!(f, "{} {op} {}", self.name, self.value),
        }
    }
}

/// One allowed system call, with its conditions and the Solo5 call(s) that
/// need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) syscall: Syscall,
    /// All must hold. Empty: any arguments.
    pub(crate) conds: Vec<Cond>,
    pub(crate) needed_by: &'static str,
}

impl fmt::Display for Rule {
    /// `pread64(fd == 5, count == 512, offset <= 3584)`, or `exit_group`
    /// when any arguments are allowed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.syscall.name())?;
        if self.conds.is_empty() {
            return Ok(());
        }
        f.write_str("(")?;
        let mut i = 0;
        while i < self.conds.len() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let cond = &self.conds[i];
            // A lower and an upper bound of one argument read as a range:
            // `512 <= count <= 4096`.
            match self.conds.get(i + 1) {
                Some(next)
                    if cond.op == Op::Ge
                        && next.op == Op::Le
                        && next.arg == cond.arg
                        && cond.symbol.is_none()
                        && next.symbol.is_none() =>
                {
                    write!(f, "{} <= {} <= {}", cond.value, cond.name, next.value)?;
                    i += 2;
                }
                _ => {
                    write!(f, "{cond}")?;
                    i += 1;
                }
            }
        }
        f.write_str(")")
    }
}

/// An `int` argument as the filter sees it: the low 32 bits of the register.
fn int_value(value: i32) -> u64 {
    u64::from(value as u32)
}

fn fd_is(name: &'static str, fd: i32) -> Cond {
    Cond {
        arg: 0,
        name,
        width: Width::Int,
        op: Op::Eq,
        value: int_value(fd),
        symbol: None,
    }
}

fn int_is(arg: u8, name: &'static str, value: i32, symbol: &'static str) -> Cond {
    Cond {
        arg,
        name,
        width: Width::Int,
        op: Op::Eq,
        value: int_value(value),
        symbol: Some(symbol),
    }
}

fn long(arg: u8, name: &'static str, op: Op, value: u64) -> Cond {
    Cond {
        arg,
        name,
        width: Width::Long,
        op,
        value,
        symbol: None,
    }
}

fn rule(syscall: Syscall, conds: Vec<Cond>, needed_by: &'static str) -> Rule {
    Rule {
        syscall,
        conds,
        needed_by,
    }
}

/// The rules both ABIs share: console, exit, clocks and TLS base.
/// `clock_needed_by` names the Solo5 calls behind the two clock rules.
fn common(rules: &mut Vec<Rule>, clock_needed_by: [&'static str; 2]) {
    // solo5_console_write writes to the tender's stdout.
    rules.push(rule(
        Syscall::Write,
        vec![fd_is("fd", 1)],
        "solo5_console_write",
    ));
    // solo5_exit and solo5_abort end the process with the guest's status.
    rules.push(rule(
        Syscall::ExitGroup,
        Vec::new(),
        "solo5_exit, solo5_abort",
    ));
    // solo5_clock_monotonic and solo5_clock_wall: always (upstream ABI), or
    // when the vDSO cannot be used (native ABI).
    let [monotonic, wall] = clock_needed_by;
    let clk = |id, symbol| vec![int_is(0, "clk_id", id, symbol)];
    rules.push(rule(
        Syscall::ClockGettime,
        clk(libc::CLOCK_MONOTONIC, "CLOCK_MONOTONIC"),
        monotonic,
    ));
    rules.push(rule(
        Syscall::ClockGettime,
        clk(libc::CLOCK_REALTIME, "CLOCK_REALTIME"),
        wall,
    ));
    // solo5_set_tls_base sets the guest's FS base; never GS or anything else.
    let code = Cond {
        arg: 0,
        name: "code",
        width: Width::Int,
        op: Op::Eq,
        value: ARCH_SET_FS,
        symbol: Some("ARCH_SET_FS"),
    };
    rules.push(rule(Syscall::ArchPrctl, vec![code], "solo5_set_tls_base"));
}

/// `read`/`write` on each net fd.
fn net(rules: &mut Vec<Rule>, net_fds: &[i32]) {
    for &fd in net_fds {
        // solo5_net_read receives one frame from the tap (or @FD).
        rules.push(rule(Syscall::Read, vec![fd_is("fd", fd)], "solo5_net_read"));
        // solo5_net_write sends one frame.
        rules.push(rule(
            Syscall::Write,
            vec![fd_is("fd", fd)],
            "solo5_net_write",
        ));
    }
}

/// `pread64`/`pwrite64` at an aligned offset that keeps the first block
/// inside the device (upstream's filter does not pin the alignment;
/// upstream's bindings never send a misaligned offset), of exactly one
/// block when `max` is 0 (upstream's spt v2 ABI), else of a whole number
/// of blocks from one block to `max` bytes, never more than the capacity
/// (the native table, which checks offset + count against the capacity
/// itself: seccomp compares one argument at a time). A device smaller
/// than one block gets no rule: no offset would be valid (and a rule-less
/// syscall must never be added, seccompiler reads that as "any
/// arguments").
fn block(rules: &mut Vec<Rule>, blocks: &[Block], max: u64) {
    for b in blocks {
        let Some(last) = b.capacity.checked_sub(b.block_size) else {
            continue;
        };
        let mask = b.block_size - 1;
        let most = max.max(b.block_size).min(b.capacity) / b.block_size * b.block_size;
        let mut conds = vec![fd_is("fd", b.fd)];
        if most == b.block_size {
            conds.push(long(2, "count", Op::Eq, b.block_size));
        } else {
            conds.push(long(2, "count", Op::Ge, b.block_size));
            conds.push(long(2, "count", Op::Le, most));
            conds.push(long(2, "count", Op::MaskedEq(mask), 0));
        }
        conds.push(long(3, "offset", Op::Le, last));
        conds.push(long(3, "offset", Op::MaskedEq(mask), 0));
        // solo5_block_read reads whole blocks.
        rules.push(rule(Syscall::Pread64, conds.clone(), "solo5_block_read"));
        // solo5_block_write writes whole blocks.
        rules.push(rule(Syscall::Pwrite64, conds, "solo5_block_write"));
    }
}

/// Every rule for `abi` and `devices`, in the order they are printed.
pub(crate) fn for_abi(abi: &Abi, devices: &Devices) -> Vec<Rule> {
    let mut rules = Vec::new();
    match *abi {
        Abi::Native => {
            common(
                &mut rules,
                [
                    "solo5_clock_monotonic (vDSO fallback)",
                    "solo5_clock_wall (vDSO fallback)",
                ],
            );
            // solo5_yield waits with ppoll over the net fds. The fd array
            // is a pointer the filter cannot see; the signal mask must be
            // NULL, so no call after the jump can change the blocked signals.
            let sigmask = Cond {
                symbol: Some("NULL"),
                ..long(3, "sigmask", Op::Eq, 0)
            };
            rules.push(rule(Syscall::Ppoll, vec![sigmask], "solo5_yield"));
        }
        Abi::SptV2 { epollfd, timerfd } => {
            common(&mut rules, ["solo5_clock_monotonic", "solo5_clock_wall"]);
            // solo5_yield arms the timerfd at the absolute deadline...
            let flags = int_is(1, "flags", libc::TFD_TIMER_ABSTIME, "TFD_TIMER_ABSTIME");
            rules.push(rule(
                Syscall::TimerfdSettime,
                vec![fd_is("fd", timerfd), flags],
                "solo5_yield",
            ));
            // ...and waits on the epoll set (timerfd + net fds).
            rules.push(rule(
                Syscall::EpollPwait,
                vec![fd_is("epfd", epollfd)],
                "solo5_yield",
            ));
        }
    }
    net(&mut rules, &devices.net_fds);
    let max = match abi {
        Abi::Native => devices.max_block_request,
        Abi::SptV2 { .. } => 0,
    };
    block(&mut rules, &devices.blocks, max);
    if matches!(abi, Abi::Native) && !devices.net_fds.is_empty() {
        // The table says once on the tender's stderr that a net device
        // reached end of file (the guest's console is stdout).
        rules.push(rule(
            Syscall::Write,
            vec![fd_is("fd", 2)],
            "solo5_net_read, solo5_yield (end-of-file notice)",
        ));
    }
    rules
}

/// `rules` with what solo5-spt's `--dumpcore` needs (see
/// [`crate::build_with_dumpcore`]): the core file created in the
/// directory and written through the descriptor `openat` returns, the
/// resident pages asked of `mincore`, the tender's lines on stderr; on
/// the spt v2 ABI, `exit_group(255)` left off the list (it raises SIGSYS:
/// the guest's abort, dumped by the handler, which then exits with 511).
pub(crate) fn with_dumpcore(mut rules: Vec<Rule>, abi: &Abi, d: &crate::Dumpcore) -> Vec<Rule> {
    if matches!(abi, Abi::SptV2 { .. }) {
        for r in rules.iter_mut().filter(|r| r.syscall == Syscall::ExitGroup) {
            r.conds = vec![Cond {
                arg: 0,
                name: "status",
                width: Width::Int,
                op: Op::Ne,
                value: 255,
                symbol: None,
            }];
            r.needed_by = "solo5_exit (an abort, status 255, raises SIGSYS for the core)";
        }
    }
    let flags = Cond {
        symbol: Some("O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
        ..int_is(2, "flags", d.flags, "")
    };
    let mode = Cond {
        symbol: Some("0600"),
        ..int_is(3, "mode", d.mode as i32, "")
    };
    rules.push(rule(
        Syscall::Openat,
        vec![fd_is("dfd", d.dir_fd), flags, mode],
        "dumpcore: create the core file",
    ));
    rules.push(rule(
        Syscall::Mincore,
        Vec::new(),
        "dumpcore: which guest pages are resident",
    ));
    rules.push(rule(
        Syscall::Pwrite64,
        vec![fd_is("fd", d.core_fd)],
        "dumpcore: write the core file (the descriptor openat returns)",
    ));
    if !rules
        .iter()
        .any(|r| r.syscall == Syscall::Write && r.conds == vec![fd_is("fd", 2)])
    {
        rules.push(rule(
            Syscall::Write,
            vec![fd_is("fd", 2)],
            "dumpcore: the tender's lines",
        ));
    }
    rules
}
