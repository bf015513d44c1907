//! solo5-hvt: run a Solo5 unikernel in its own KVM virtual machine.
//!
//! The flow is one way (docs/hvt.md, "Set-up order"): command line -> kernel file,
//! ABI note and manifest -> devices -> memory size -> ELF segments and
//! page tables -> KVM (VM, vcpu, memory slot) -> image, tables, GDT, CPU
//! state, boot info -> policy -> capabilities dropped, filter on every
//! thread -> run loop until HALT. Option and kernel errors come before any
//! KVM error.
//!
//! Beyond upstream: the guest's own page tables enforce W^X ([`paging`]),
//! a guest whose user-mode note allows it runs at CPL3 on the tender's
//! page tables, descriptor tables and trap stub ([`user`],
//! docs/hvt-user-mode.md),
//! the tender runs under a seccomp filter that allows `KVM_RUN` on its
//! vcpu and nothing else of KVM ([`sandbox`]), and the run loop checks
//! every guest pointer ([`hypercalls`]).

pub mod boot;
pub mod cpu;
pub mod demote;
pub mod dumpcore;
pub mod gdb;
pub mod hypercalls;
pub mod kernel;
pub mod layout;
pub mod memory;
pub mod net;
pub mod paging;
pub mod ring;
pub mod run;
pub mod sandbox;
pub mod sys;
pub mod user;
pub mod vm;

use boot::BootInfo;
use dumpcore::{Dumpcore, DumpcoreError};
use hypercalls::Hypercalls;
use kernel::{Kernel, KernelError};
use memory::{GuestMemory, MemoryError};
use net::NetShared;
use sandbox::SandboxError;
use solo5_tender::cmdline::Options;
use solo5_tender::devices::table::Table;
use solo5_tender::devices::{self, DeviceError, Devices};
use solo5_tender::stack_note::{self, StackNoteError};
use solo5_tender::usermode_note::{self, UserNoteError};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use vm::{Vm, VmError};

pub use sys::PROG;

/// Why solo5-hvt could not start the guest. Each is one line for the user
/// (`solo5-hvt: ...`), then exit status 1.
#[derive(Debug, Error)]
pub enum HvtError {
    /// The kernel file, its notes or its segments.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Device options or attachment.
    #[error(transparent)]
    Devices(#[from] DeviceError),
    /// Our user-mode note is there but invalid.
    #[error("{0}: {1}")]
    UserNote(String, UserNoteError),
    /// Our stack note (read for a guest entered at CPL3) is invalid.
    #[error("{0}: {1}")]
    StackNote(String, StackNoteError),
    /// `--mem` above 4 GiB (after rounding down to 2 MiB).
    #[error("guest memory size {0} bytes exceeds the max size {max} bytes", max = layout::MAX_MEM)]
    MemTooLarge(u64),
    /// The signal handlers.
    #[error("Could not install signal handler")]
    Signals(#[source] io::Error),
    /// KVM.
    #[error(transparent)]
    Vm(#[from] VmError),
    /// Guest memory.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The tender's own confinement.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// `--dumpcore=DIR`.
    #[error(transparent)]
    Dumpcore(#[from] DumpcoreError),
    /// `--gdb`.
    #[error(transparent)]
    Gdb(#[from] gdb::GdbError),
    /// `--gdb`: guest memory made host-writable for breakpoints.
    #[error("gdb: mprotect of guest memory failed")]
    GdbProtect(#[source] io::Error),
}

/// hvt's debugging options (docs/hvt.md, "Debugging"): `--dumpcore=DIR`,
/// `--gdb`, `--gdb-port=N`, `--gdb-listen=ADDR`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugOptions {
    /// Where to write a core file when the guest aborts or traps.
    pub dumpcore: Option<PathBuf>,
    /// `--gdb`: the address and port to wait for a debugger on.
    pub gdb: Option<std::net::SocketAddr>,
}

/// Guest memory for `--mem=MIB` (docs/hvt.md, "Memory size"): rounded down to 2 MiB (at
/// least 2 MiB), at most 4 GiB. The second value is true when rounding
/// changed it (the tender says so).
pub fn mem_size(mib: u64) -> Result<(u64, bool), HvtError> {
    let asked = mib.saturating_mul(1 << 20);
    let size = (asked & !(layout::MEM_ALIGN - 1)).max(layout::MEM_ALIGN);
    if size > layout::MAX_MEM {
        return Err(HvtError::MemTooLarge(size));
    }
    Ok((size, size != asked))
}

/// Whether the tender offers the shared net ring (docs/hvt.md, "The net ring") to a
/// guest with a net device: `--net-ring=auto|on|off`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RingChoice {
    /// Where it pays off: not to a guest entered at CPL0 on a kvm_pvm
    /// host (docs/benchmarks.md).
    #[default]
    Auto,
    /// Always (when KVM has ioeventfds).
    On,
    /// Never: NET_READ and NET_WRITE hypercalls only.
    Off,
}

impl RingChoice {
    /// The value of `--net-ring=VALUE`.
    pub fn parse(v: &str) -> Option<RingChoice> {
        match v {
            "auto" => Some(RingChoice::Auto),
            "on" => Some(RingChoice::On),
            "off" => Some(RingChoice::Off),
            _ => None,
        }
    }

    /// Whether to offer the ring on this host to a guest entered at CPL3
    /// (`cpl3`) or CPL0. Auto: always to a CPL3 guest, whose busy-wait on
    /// the ring runs natively and saves exits that cost 40-50 us from
    /// CPL3 on kvm_pvm; to a CPL0 guest only where the KVM module is not
    /// kvm_pvm, which runs CPL0 code at about 1 us an instruction, so
    /// that the guest's spin costs more than the exit it saves (measured:
    /// docs/benchmarks.md).
    pub fn wanted(self, cpl3: bool) -> bool {
        match self {
            RingChoice::On => true,
            RingChoice::Off => false,
            RingChoice::Auto => cpl3 || !on_kvm_pvm(),
        }
    }
}

/// Whether a kernel built for CPL0 (no user-mode note) is entered at CPL3
/// with its privileged instructions carried out by the tender
/// ([`demote`]): `--cpl3=auto|on|off`. With `--gdb` it never is (the
/// debugger sees the kernel as upstream's tender runs it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cpl3Choice {
    /// Where CPL0 code is emulated: on kvm_pvm.
    #[default]
    Auto,
    /// Always (where KVM takes the CPL3 state).
    On,
    /// Never: CPL0, as upstream.
    Off,
}

impl Cpl3Choice {
    /// The value of `--cpl3=VALUE`.
    pub fn parse(v: &str) -> Option<Cpl3Choice> {
        match v {
            "auto" => Some(Cpl3Choice::Auto),
            "on" => Some(Cpl3Choice::On),
            "off" => Some(Cpl3Choice::Off),
            _ => None,
        }
    }

    /// Whether to enter a CPL0 kernel at CPL3 here; `gdb`: `--gdb` given.
    pub fn wanted(self, gdb: bool) -> bool {
        !gdb && match self {
            Cpl3Choice::On => true,
            Cpl3Choice::Off => false,
            Cpl3Choice::Auto => on_kvm_pvm(),
        }
    }
}

/// Whether `/dev/kvm` is served by kvm_pvm (docs/hvt.md, "kvm_pvm").
pub fn on_kvm_pvm() -> bool {
    std::path::Path::new("/sys/module/kvm_pvm").exists()
}

/// Usage for a tender called `prog`.
pub fn usage(prog: &str) -> String {
    format!(
        "usage: {prog} [OPTIONS] [--] KERNEL [ARGS...]\n\
         KERNEL is the filename of the unikernel to run (ABI target hvt, version 2).\n\
         ARGS are optional arguments passed to KERNEL.\n\
         Options:\n\
         \x20 --mem=MiB                    guest memory in MiB, rounded down to 2 MiB, at most 4096\n\
         \x20                              (default: {})\n\
         \x20 --net:NAME=IFACE | @FD       attach tap interface IFACE, or the open descriptor FD,\n\
         \x20                              as network device NAME\n\
         \x20 --net-mac:NAME=HWADDR        set the guest MAC address of NAME (default: random)\n\
         \x20 --block:NAME=PATH            attach the file or block device PATH as block device NAME\n\
         \x20 --block-sector-size:NAME=N   sector size of NAME, a power of two >= 512 (default: 512)\n\
         \x20 --net-ring=auto|on|off      offer the shared net ring to the guest (default: auto,\n\
         \x20                              i.e. on unless the host's KVM is kvm_pvm and the\n\
         \x20                              guest is entered at CPL0)\n\
         \x20 --cpl3=auto|on|off          enter a kernel built for CPL0 at CPL3, its few privileged\n\
         \x20                              instructions carried out by the tender (default: auto,\n\
         \x20                              i.e. on where the host's KVM is kvm_pvm; never with --gdb)\n\
         \x20 --dumpcore=DIR               on an abort or a trap, write the guest's core file\n\
         \x20                              DIR/core.solo5-hvt.PID (for gdb KERNEL CORE)\n\
         \x20 --gdb                        wait for a debugger (GDB remote protocol over TCP)\n\
         \x20                              before the guest's first instruction\n\
         \x20 --gdb-port=N                 its port (default: 1234)\n\
         \x20 --gdb-listen=ADDR            its address (default: 127.0.0.1)\n\
         \x20 --print-policy               print the seccomp policy KERNEL would get, do not run it\n\
         \x20 --help                       display this help\n\
         \x20 --version                    display version information\n\
         Exit status: the guest's own, or 1 when {prog} cannot start it or stops it.\n",
        solo5_abi::DEFAULT_MEM_MIB
    )
}

/// Everything set up, the guest not yet running.
pub struct Prepared {
    vm: Vm,
    mem: Arc<GuestMemory>,
    hypercalls: Hypercalls,
    /// The net ring's thread, when the ring is offered: the run loop
    /// wakes it when POLL finds a frame and drains it at HALT.
    ring: Option<ring::Thread>,
    /// The net ring's eventfd, when the ring is offered.
    ring_eventfd: Option<i32>,
    /// Kept open for the guest until the process ends.
    devices: Devices,
    /// The guest is entered at CPL3 (docs/hvt-user-mode.md).
    user: bool,
    /// A kernel built for CPL0 entered at CPL3.
    demoted: Option<demote::Demoted>,
    /// `--dumpcore=DIR`.
    dumpcore: Option<Dumpcore>,
    /// `--gdb`: the listening socket, until the debugger connects.
    gdb: Option<gdb::Listener>,
    /// The kernel as the command line named it.
    kernel: String,
}

/// The eventfd KVM signals on a ring kick, or why the ring falls back to
/// hypercalls (upstream's warnings).
fn kick_eventfd(vm: &Vm) -> Result<vmm_sys_util::eventfd::EventFd, String> {
    if !vm.has_ioeventfd() {
        return Err("KVM has no ioeventfd, falling back to hypercalls".into());
    }
    let efd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_CLOEXEC)
        .map_err(|e| format!("eventfd() failed, falling back to hypercalls: {e}"))?;
    vm.kick_eventfd(&efd, u64::from(ring::KICK_PORT))
        .map_err(|e| format!("KVM_IOEVENTFD failed, falling back to hypercalls: {e}"))?;
    Ok(efd)
}

/// Set up the guest of `o` up to its first instruction, offering the net
/// ring as `ring_choice` says. Prints the warnings upstream prints (memory
/// rounding, device notes, ring fall-backs).
pub fn prepare(
    o: &Options,
    ring_choice: RingChoice,
    cpl3: Cpl3Choice,
    dbg: &DebugOptions,
) -> Result<Prepared, HvtError> {
    let mut k = Kernel::open(&o.kernel)?;
    let note = usermode_note::find(&k.file).map_err(|e| HvtError::UserNote(k.shown.clone(), e))?;
    let stack = if usermode_note::allows_cpl3(note) {
        stack_note::find(&k.file).map_err(|e| HvtError::StackNote(k.shown.clone(), e))?
    } else {
        None
    };
    let devices = devices::attach(&mut k.manifest, o)?;
    devices.print_warnings(PROG);
    // As upstream's modules: gdb, then dumpcore.
    let gdb = dbg.gdb.map(gdb::Listener::bind).transpose()?;
    let dumpcore = dbg.dumpcore.as_deref().map(Dumpcore::open).transpose()?;
    let table = Table::new(&devices);
    let (size, adjusted) = mem_size(o.mem_mib)?;
    if adjusted {
        eprintln!("{PROG}: adjusting memory to {size} bytes");
    }
    let nets = table.nets();
    // With a net device, 2 MiB on top for the ring (docs/hvt.md, "Memory size" and "The net ring"),
    // carved off the top of what is allocated.
    let alloc = if nets.is_empty() {
        size
    } else {
        (size + ring::RESERVED).min(layout::MAX_MEM)
    };
    let guest_size = if nets.is_empty() {
        alloc
    } else {
        alloc - ring::RESERVED
    };
    sys::exit_on_signals().map_err(HvtError::Signals)?;
    // The image must lie below the ring.
    let exe = k.load(guest_size)?;
    let pages = k.page_tables(&exe, alloc)?;

    // A guest whose note allows it gets the tender's page tables for CPL3
    // (docs/hvt-user-mode.md), built here so that their errors come
    // before KVM's.
    let guard = stack
        .and_then(|d| stack_note::guard(&d, guest_size, exe.kernel_end))
        .map(|g| (g.start, g.end));
    let demote = !usermode_note::allows_cpl3(note) && cpl3.wanted(dbg.gdb.is_some());
    let user_pages = if usermode_note::allows_cpl3(note) || demote {
        let mode = paging::Mode::User { guard };
        Some(
            paging::build_for(&exe.segments, alloc, mode)
                .map_err(|e| KernelError::Paging(k.shown.clone(), e))?,
        )
    } else {
        None
    };

    let mut vm = Vm::create()?;
    let mut mem = GuestMemory::new(alloc)?;
    vm.set_memory(&mem)?;
    mem.load(&exe, &k.file, &k.shown)?;
    if gdb.is_some() {
        // Breakpoints are written into the guest's text: the host mapping
        // becomes writable (never executable) as upstream's debug tender
        // does; the hypercalls still refuse to write into read-only
        // segments for the guest.
        gdb::make_writable(&mem).map_err(HvtError::GdbProtect)?;
    }
    mem.set_mem_size(guest_size);
    // CPL3 where KVM takes the CPU state for it; otherwise CPL0, as
    // upstream (the note says either works).
    let user = match user_pages {
        Some(up) if cpu::setup_user(&vm, exe.entry, mem.mem_size())?.is_some() => {
            boot::write_tables(&mut mem, &up)?;
            user::write(&mut mem)?;
            mem.restrict_to_user(guard);
            if demote {
                cpu::allow_port_io(&vm, exe.entry, mem.mem_size())?;
            }
            true
        }
        _ => {
            boot::write_tables(&mut mem, &pages)?;
            cpu::setup(&vm, exe.entry, mem.mem_size())?;
            false
        }
    };
    let efd = if !nets.is_empty() && ring_choice.wanted(user) {
        kick_eventfd(&vm).map_err(|w| eprintln!("{PROG}: {w}")).ok()
    } else {
        None
    };
    let info = BootInfo {
        mem_size: mem.mem_size(),
        kernel_end: exe.kernel_end,
        cpu_cycle_freq: vm.tsc_hz()?,
        host_features: if efd.is_some() {
            ring::FEATURE_RING_IO
        } else {
            0
        },
        net_ring: if efd.is_some() { guest_size } else { 0 },
    };
    boot::write_boot_info(&mut mem, &info, &k.manifest.to_bytes(), &o.cmdline)?;
    let mem = Arc::new(mem);
    let shared = Arc::new(NetShared::new(&devices.net_names()));
    let hypercalls = Hypercalls::new(table, shared.clone());
    let mut ring_eventfd = None;
    let mut ring_thread = None;
    // Nothing from here on needs a privilege: give every capability up
    // while this is the only thread, so that the ring's thread starts
    // with none (capabilities are per thread; the filter, installed
    // later with TSYNC, reaches every thread, no_new_privs with it).
    sandbox::drop_privileges()?;
    // What counts is whether the tender can create the core file without
    // its capabilities.
    if let Some(d) = &dumpcore {
        d.check_writable()?;
    }
    if let Some(efd) = efd {
        let r = ring::Ring::new(mem.clone(), guest_size, &nets, shared)
            .map_err(|b| MemoryError::OutOfRange(b.gpa, b.len))?;
        r.clear();
        let raw = efd.as_raw_fd();
        match ring::Thread::start(r, efd) {
            Ok(t) => {
                ring_thread = Some(t);
                ring_eventfd = Some(raw);
            }
            Err(e) => {
                eprintln!("{PROG}: pthread_create() failed, falling back to hypercalls: {e}");
                mem.write_i32(layout::BOOT_INFO_ADDR + layout::boot_info::HOST_FEATURES, 0)
                    .and_then(|()| {
                        mem.write_u64(layout::BOOT_INFO_ADDR + layout::boot_info::NET_RING, 0)
                    })
                    .map_err(|b| MemoryError::OutOfRange(b.gpa, b.len))?;
            }
        }
    }
    let demoted = (user && demote).then(|| demote::Demoted::new(&mut vm));
    Ok(Prepared {
        vm,
        mem,
        hypercalls,
        ring: ring_thread,
        ring_eventfd,
        devices,
        user,
        demoted,
        dumpcore,
        gdb,
        kernel: o.kernel.display().to_string(),
    })
}

impl Prepared {
    /// The seccomp policy the guest runs under, for the descriptors open
    /// now: the core file's descriptor is the lowest free one (nothing
    /// opens or closes a descriptor after this but the core file's
    /// `openat`).
    pub fn policy(&mut self, gdb_fd: Option<i32>) -> Result<solo5_policy::Policy, HvtError> {
        let core = match &mut self.dumpcore {
            Some(d) => {
                let fd = dumpcore::lowest_free_fd().map_err(DumpcoreError::Open)?;
                d.set_core_fd(fd);
                Some(solo5_policy::hvt::Dumpcore {
                    dir_fd: d.dir_fd(),
                    core_fd: fd,
                    flags: dumpcore::CORE_FLAGS,
                    mode: dumpcore::CORE_MODE,
                })
            }
            None => None,
        };
        Ok(sandbox::policy(
            &self.vm,
            &self.devices,
            self.ring_eventfd,
            core,
            gdb_fd,
            self.demoted
                .as_ref()
                .is_some_and(demote::Demoted::needs_ioctls),
        ))
    }

    /// The policy `--print-policy` prints: the one [`run`](Self::run)
    /// would install.
    pub fn print_policy(mut self) -> Result<solo5_policy::Policy, HvtError> {
        let gdb_fd = match self.gdb.take() {
            Some(l) => Some(
                l.would_accept()
                    .map_err(|e| HvtError::Gdb(gdb::GdbError::Accept(e)))?,
            ),
            None => None,
        };
        self.policy(gdb_fd)
    }

    /// Confine the tender and run the guest; ends the process with the
    /// guest's exit status, or 1 with one line when the guest must be
    /// stopped. Returns only if the confinement fails.
    pub fn run(mut self) -> Result<std::convert::Infallible, HvtError> {
        // The debugger connects before the filter (and before the guest's
        // first instruction); the listening socket is closed then.
        let mut stub = match self.gdb.take() {
            Some(l) => Some(l.accept(&self.kernel, self.user)?),
            None => None,
        };
        let filter = self
            .policy(stub.as_ref().map(|s| s.fd()))?
            .compile()
            .map_err(SandboxError::from)?;
        sandbox::enter(&filter)?;
        let Prepared {
            ref mut vm,
            ref mem,
            ref mut hypercalls,
            ref ring,
            user,
            ref mut demoted,
            ref dumpcore,
            ..
        } = self;
        let hooks = run::Hooks {
            dumpcore: dumpcore.as_ref(),
            gdb: stub.as_deref_mut(),
            demoted: demoted.as_mut(),
        };
        run::run(
            &mut vm.vcpu,
            vm.sync_regs,
            mem,
            hypercalls,
            ring.as_ref(),
            user,
            hooks,
        )
    }
}
