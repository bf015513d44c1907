//! The seccomp policy of solo5-spt, built from what is attached.
//!
//! The tender knows the file descriptors of the guest's devices only once
//! they are attached, so the policy is built at run time:
//!
//! 1. [`build`] turns the ABI and the attached [`Devices`] into a
//!    [`Policy`]: a list of rules, each allowing one system call with fixed
//!    arguments and naming the Solo5 call that needs it. It never fails.
//! 2. A `Policy` prints itself (`Display`), one rule per line, so an
//!    operator can see exactly what a guest may do.
//! 3. [`Policy::compile`] turns it into a BPF program with seccompiler: a
//!    [`Filter`]. Any other system call, any other argument, or any other
//!    architecture kills the process (SIGSYS; a shell sees exit status 159).
//! 4. [`Filter::install`] loads it, without allocating, right before the
//!    jump into the guest.
//!
//! ```
//! use solo5_policy::{build, Abi, Block, Devices};
//!
//! let devices = Devices {
//!     max_block_request: 0,
//!     net_fds: vec![3],
//!     blocks: vec![Block { fd: 4, block_size: 512, capacity: 4096 }],
//! };
//! let policy = build(&Abi::Native, &devices);
//! assert!(policy.to_string().contains("pread64(fd == 4, count == 512, offset <= 3584, offset % 512 == 0)"));
//! let filter = policy.compile()?;
//! assert!(!filter.is_empty());
//! # Ok::<(), solo5_policy::Error>(())
//! ```

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("solo5-policy builds x86_64 Linux seccomp filters only");

pub mod hvt;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use rules::{Op, Rule, Width};

/// A block device as the filter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The host file descriptor of the backing file.
    pub fd: i32,
    /// Bytes per block: every read and write is exactly one block.
    pub block_size: u64,
    /// Size of the device in bytes. The last valid offset is
    /// `capacity - block_size`; a device smaller than one block allows no
    /// access at all.
    pub capacity: u64,
}

/// Everything attached to the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// Host file descriptors of the net devices (tap or `@FD`).
    pub net_fds: Vec<i32>,
    /// The block devices.
    pub blocks: Vec<Block>,
    /// The largest block request, in bytes, the native table serves with
    /// one `pread64`/`pwrite64` (0: one block). Upstream's spt v2 ABI
    /// always gets one block.
    pub max_block_request: u64,
}

/// What the core dump needs: the directory opened at set-up, and the
/// descriptor the core file's `openat` returns (the lowest free one when
/// the filter is built: nothing opens or closes a descriptor after it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dumpcore {
    /// The directory's descriptor.
    pub dir_fd: i32,
    /// The core file's descriptor to be.
    pub core_fd: i32,
    /// The `openat` flags (`O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC`).
    pub flags: i32,
    /// The core file's mode (0600).
    pub mode: u32,
}

/// Which guest ABI the policy is for: it decides who makes the system
/// calls and so which ones are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// The native function-table ABI: the tender's hypercall functions make
    /// the system calls (yield with `ppoll`).
    Native,
    /// Upstream spt ABI version 2: the guest makes its own system calls
    /// (yield with a timerfd and an epoll set).
    SptV2 {
        /// The epoll set the guest waits on in `solo5_yield`.
        epollfd: i32,
        /// The timerfd the guest arms with its deadline.
        timerfd: i32,
    },
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abi::Native => f.write_str("native ABI"),
            Abi::SptV2 { .. } => f.write_str("spt ABI 2"),
        }
    }
}

/// A failure to compile or install a filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// seccompiler refused a condition, rule or filter.
    #[error("could not build the seccomp filter")]
    BuildFilter(#[source] BackendError),
    /// seccompiler could not translate the filter to BPF (too long).
    #[error("could not compile the seccomp filter to BPF")]
    CompileBpf(#[source] BackendError),
    /// `prctl(PR_SET_NO_NEW_PRIVS)` or `seccomp(SECCOMP_SET_MODE_FILTER)`
    /// failed (seccompiler's install functions).
    #[error("could not install the seccomp filter")]
    Install(#[source] seccompiler::Error),
}

/// The rules of a seccomp policy. Print it with `Display`; compile it with
/// [`Policy::compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Tender and ABI, for the header line (`solo5-spt, native ABI`).
    title: String,
    rules: Vec<Rule>,
    /// What a call off the list does: kill the process (the default), or
    /// raise SIGSYS for the tender's core-dump handler (`--dumpcore` of
    /// solo5-spt), which writes the core and exits with 159.
    trap: bool,
}

/// Builds the policy for `abi` with `devices` attached. Never fails: a
/// block device smaller than one block simply gets no rule.
pub fn build(abi: &Abi, devices: &Devices) -> Policy {
    Policy {
        title: format!("solo5-spt, {abi}"),
        rules: rules::for_abi(abi, devices),
        trap: false,
    }
}

/// [`build`] for solo5-spt with `--dumpcore=DIR`: the same rules, and
/// those the core dump needs (`openat` of the core file in the directory
/// opened at set-up, `pwrite64` on the descriptor it returns, `mincore`,
/// the tender's line on stderr); a call off the list raises SIGSYS for
/// the dump handler instead of killing the process at once, and on the
/// spt v2 ABI an `exit_group(255)` (the guest's abort, a raw system call
/// there) does too, so that an abort gets its core. The handler ends the
/// process with `exit_group(128 + signal)`, or `exit_group(511)` (status
/// 255) after an abort.
pub fn build_with_dumpcore(abi: &Abi, devices: &Devices, d: &Dumpcore) -> Policy {
    Policy {
        title: format!("solo5-spt, {abi}, --dumpcore"),
        rules: rules::with_dumpcore(rules::for_abi(abi, devices), abi, d),
        trap: true,
    }
}

impl fmt::Display for Policy {
    /// Two `#` comment lines, then one rule per line with the Solo5 call
    /// that needs it:
    ///
    /// ```text
    /// # seccomp policy of solo5-spt, native ABI, x86_64
    /// # any other system call or argument kills the process (SIGSYS, exit status 159)
    /// write(fd == 1)                                   # solo5_console_write
    /// exit_group                                       # solo5_exit, solo5_abort
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "# seccomp policy of {}, x86_64", self.title)?;
        if self.trap {
            writeln!(
                f,
                "# any other system call or argument raises SIGSYS: the core is written, exit status 159"
            )?;
        } else {
            writeln!(
                f,
                "# any other system call or argument kills the process (SIGSYS, exit status 159)"
            )?;
        }
        let calls: Vec<String> = self.rules.iter().map(Rule::to_string).collect();
        let width = calls.iter().map(String::len).max().unwrap_or(0);
        for (call, rule) in calls.iter().zip(&self.rules) {
            writeln!(f, "{call:<width$}  # {}", rule.needed_by)?;
        }
        Ok(())
    }
}

impl Policy {
    /// Compiles the policy to a BPF program for x86_64. Whatever the rules
    /// do not allow kills the process.
    pub fn compile(&self) -> Result<Filter, Error> {
        // Per system call: None allows any arguments, Some(rules) allows
        // the call when any one of the rules holds.
        let mut chains: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
        for rule in &self.rules {
            let entry = chains
                .entry(rule.syscall.nr())
                .or_insert_with(|| Some(Vec::new()));
            if rule.conds.is_empty() {
                *entry = None;
                continue;
            }
            let conds = rule
                .conds
                .iter()
                .map(|c| {
                    let width = match c.width {
                        Width::Int => SeccompCmpArgLen::Dword,
                        Width::Long => SeccompCmpArgLen::Qword,
                    };
                    let op = match c.op {
                        Op::Eq => SeccompCmpOp::Eq,
                        Op::Le => SeccompCmpOp::Le,
                        Op::Ge => SeccompCmpOp::Ge,
                        Op::Ne => SeccompCmpOp::Ne,
                        Op::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
                    };
                    SeccompCondition::new(c.arg, width, op, c.value)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(Error::BuildFilter)?;
            let compiled = SeccompRule::new(conds).map_err(Error::BuildFilter)?;
            if let Some(list) = entry {
                list.push(compiled);
            }
        }
        // seccompiler reads an empty rule list as "any arguments".
        let rules = chains
            .into_iter()
            .map(|(nr, chain)| (nr, chain.unwrap_or_default()))
            .collect();
        let filter = SeccompFilter::new(
            rules,
            if self.trap {
                SeccompAction::Trap
            } else {
                SeccompAction::KillProcess
            },
            SeccompAction::Allow,
            TargetArch::x86_64,
        )
        .map_err(Error::BuildFilter)?;
        let program: BpfProgram = filter.try_into().map_err(Error::CompileBpf)?;
        Ok(Filter { program })
    }
}

/// A compiled BPF program, ready to install.
#[derive(Clone)]
pub struct Filter {
    program: BpfProgram,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .finish()
    }
}

impl Filter {
    /// Installs the filter on the calling thread: `prctl(PR_SET_NO_NEW_PRIVS)`
    /// then `seccomp(SECCOMP_SET_MODE_FILTER)` (seccompiler's
    /// `apply_filter`).
    ///
    /// Does not allocate on success, so it is safe right before the jump
    /// into the guest and in a child after `fork`. Other threads are not filtered:
    /// call it from the thread that runs the guest, with no other threads
    /// left that could act for the guest. It cannot be undone.
    pub fn install(&self) -> Result<(), Error> {
        seccompiler::apply_filter(&self.program).map_err(Error::Install)
    }

    /// Installs the filter on every thread of the process at once
    /// (`SECCOMP_FILTER_FLAG_TSYNC`), after `prctl(PR_SET_NO_NEW_PRIVS)`
    /// (seccompiler's `apply_filter_all_threads`). Threads created later
    /// inherit it. Does not allocate on success.
    pub fn install_all_threads(&self) -> Result<(), Error> {
        seccompiler::apply_filter_all_threads(&self.program).map_err(Error::Install)
    }

    /// The number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program has no instructions (a compiled policy always
    /// has some).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }
}
