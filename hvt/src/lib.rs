//! solo5-hvt: run a Solo5 unikernel in its own KVM virtual machine.
//!
//! The flow is one way (HVT.md section 0): command line -> kernel file,
//! ABI note and manifest -> devices -> memory size -> ELF segments and
//! page tables -> KVM (VM, vcpu, memory slot) -> image, tables, GDT, CPU
//! state, boot info -> policy -> capabilities dropped, filter on every
//! thread -> run loop until HALT. Option and kernel errors come before any
//! KVM error.
//!
//! Beyond upstream: the guest's own page tables enforce W^X ([`paging`]),
//! the tender runs under a seccomp filter that allows `KVM_RUN` on its
//! vcpu and nothing else of KVM ([`sandbox`]), and the run loop checks
//! every guest pointer ([`hypercalls`]).

pub mod boot;
pub mod cpu;
pub mod hypercalls;
pub mod kernel;
pub mod layout;
pub mod memory;
pub mod paging;
pub mod run;
pub mod sandbox;
pub mod sys;
pub mod vm;

use boot::BootInfo;
use hypercalls::Hypercalls;
use kernel::{Kernel, KernelError};
use memory::{GuestMemory, MemoryError};
use sandbox::SandboxError;
use solo5_tender::cmdline::Options;
use solo5_tender::devices::{self, Attached, DeviceError, Devices, Net};
use std::io;
use std::os::fd::AsRawFd;
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
}

/// Guest memory for `--mem=MIB` (HVT.md 1.1): rounded down to 2 MiB (at
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
         \x20 --print-policy               print the seccomp policy KERNEL would get, do not run it\n\
         \x20 --help                       display this help\n\
         \x20 --version                    display version information\n\
         Exit status: the guest's own, or 1 when {prog} cannot start it or stops it.\n",
        solo5_abi::DEFAULT_MEM_MIB
    )
}

/// Print the notes the user should know about the attached devices.
fn device_warnings(devices: &Devices) {
    for (_, name, d) in &devices.list {
        if let Attached::Net(Net {
            note: Some(note), ..
        }) = d
        {
            eprintln!("{PROG}: warning: net '{name}': {note}");
        }
    }
}

/// Everything set up, the guest not yet running.
pub struct Prepared {
    vm: Vm,
    mem: GuestMemory,
    hypercalls: Hypercalls,
    /// Kept open for the guest until the process ends.
    devices: Devices,
}

/// Set up the guest of `o` up to its first instruction. Prints the
/// warnings upstream prints (memory rounding, device notes).
pub fn prepare(o: &Options) -> Result<Prepared, HvtError> {
    let mut k = Kernel::open(&o.kernel)?;
    let devices = devices::attach(&mut k.manifest, o)?;
    device_warnings(&devices);
    let (alloc, adjusted) = mem_size(o.mem_mib)?;
    if adjusted {
        eprintln!("{PROG}: adjusting memory to {alloc} bytes");
    }
    sys::exit_on_signals().map_err(HvtError::Signals)?;
    let exe = k.load(alloc)?;
    let pages = k.page_tables(&exe, alloc)?;

    let vm = Vm::create()?;
    let mut mem = GuestMemory::new(alloc)?;
    vm.set_memory(&mem)?;
    mem.load(&exe, &k.file, &k.shown)?;
    boot::write_tables(&mut mem, &pages)?;
    cpu::setup(&vm, exe.entry, mem.mem_size())?;
    let info = BootInfo {
        mem_size: mem.mem_size(),
        kernel_end: exe.kernel_end,
        cpu_cycle_freq: vm.tsc_hz()?,
        host_features: 0,
        net_ring: 0,
    };
    boot::write_boot_info(&mut mem, &info, &k.manifest.to_bytes(), &o.cmdline)?;
    let net: Vec<(u32, i32)> = devices
        .list
        .iter()
        .filter_map(|(i, _, d)| match d {
            Attached::Net(n) => Some((*i as u32, n.fd.as_raw_fd())),
            Attached::Block(_) => None,
        })
        .collect();
    Ok(Prepared {
        vm,
        mem,
        hypercalls: Hypercalls::new(&net),
        devices,
    })
}

impl Prepared {
    /// The seccomp policy the guest would run under.
    pub fn policy(&self) -> solo5_policy::Policy {
        sandbox::policy(&self.vm, &self.devices)
    }

    /// Confine the tender and run the guest; ends the process with the
    /// guest's exit status, or 1 with one line when the guest must be
    /// stopped. Returns only if the confinement fails.
    pub fn run(mut self) -> Result<std::convert::Infallible, HvtError> {
        let filter = self.policy().compile().map_err(SandboxError::from)?;
        sandbox::enter(&filter)?;
        let Prepared {
            ref mut vm,
            ref mem,
            ref mut hypercalls,
            ..
        } = self;
        run::run(&mut vm.vcpu, vm.sync_regs, mem, hypercalls)
    }
}
