//! solo5-spt: run a Solo5 unikernel inside this very process, hardened.
//!
//! The flow is one way (docs/architecture.md): command line + ELF ->
//! manifest -> devices -> guest memory (W^X) -> policy -> capabilities
//! dropped -> filter installed -> jump. Both spt ABIs share everything but
//! the boot info and the policy: the native ABI hands the guest a table of
//! host functions ([`hypercalls`]), upstream's v2 ABI an epoll set and a
//! timerfd for the guest's own system calls.

pub mod dumpcore;
pub mod hypercalls;
pub mod launch;
pub mod memory;
pub mod sys;
pub mod vdso;

use hypercalls::{HostState, Table};
use launch::LaunchError;
use memory::{GuestMemory, MemoryError};
use solo5_policy::{Abi, Policy};
use solo5_tender::cmdline::Options;
use solo5_tender::devices::io::{NetStatus, PollSet};
use solo5_tender::devices::{self, Attached, DeviceError, Devices};
use solo5_tender::elf::{self, ElfError};
use solo5_tender::kernel_file::{self, KernelFileError};
use solo5_tender::manifest::Manifest;
use solo5_tender::notes::{self, NoteError, SptAbi};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The program name every line of the tender starts with.
pub const PROG: &str = "solo5-spt";

/// Why solo5-spt could not start the guest. Each is one line for the user.
#[derive(Debug, Error)]
pub enum SptError {
    /// `--dumpcore=DIR`.
    #[error(transparent)]
    Dumpcore(#[from] dumpcore::DumpcoreError),
    /// The kernel file could not be read.
    #[error("{0}: Could not open")]
    ReadKernel(String, #[source] io::Error),
    /// The kernel is not a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// The kernel file is larger than any tender reads.
    #[error("{0}: {1}")]
    KernelTooLarge(String, KernelFileError),
    /// The ELF was refused.
    #[error("{0}")]
    Elf(String, #[source] ElfError),
    /// A note was refused.
    #[error("{0}")]
    Note(String, #[source] NoteError),
    /// Device options or attachment failed.
    #[error(transparent)]
    Devices(#[from] DeviceError),
    /// Guest memory could not be set up.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The segments could not be copied into guest memory.
    #[error("{0}: could not load the executable into guest memory")]
    Load(String),
    /// The epoll set or timerfd of the v2 ABI.
    #[error("could not set up the event descriptors of the spt v2 ABI")]
    EventFds(#[source] io::Error),
    /// The seccomp policy.
    #[error(transparent)]
    Policy(#[from] solo5_policy::Error),
    /// The last steps before the jump.
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

/// A kernel read and checked: everything decided before any device opens.
pub struct Kernel {
    /// Path as the user gave it.
    pub path: PathBuf,
    /// Which spt ABI it asks for.
    pub abi: SptAbi,
    /// Its manifest.
    pub manifest: Manifest,
    /// The file's bytes.
    pub file: Vec<u8>,
}

/// Read the kernel and check its notes: the ABI it asks for and its
/// manifest, as upstream does before it looks at the device options. Its
/// segments are checked later, against the memory size ([`run`]).
pub fn load_kernel(path: PathBuf) -> Result<Kernel, SptError> {
    let shown = path.display().to_string();
    // Only a regular file: a FIFO would block, /dev/zero never end.
    let file = kernel_file::read(&path, kernel_file::MAX_KERNEL_FILE).map_err(|e| match e {
        KernelFileError::Io(e) => SptError::ReadKernel(shown.clone(), e),
        KernelFileError::NotAFile => SptError::NotAFile(shown.clone()),
        e @ KernelFileError::TooLarge(_) => SptError::KernelTooLarge(shown.clone(), e),
    })?;
    let abi = notes::spt_abi(&file).map_err(|e| SptError::Note(shown.clone(), e))?;
    let manifest = notes::manifest(&file).map_err(|e| SptError::Note(shown, e))?;
    Ok(Kernel {
        path,
        abi,
        manifest,
        file,
    })
}

/// The event descriptors of the v2 ABI.
struct EventFds {
    epoll: OwnedFd,
    timer: OwnedFd,
}

fn event_fds(devices: &Devices) -> io::Result<EventFds> {
    let epoll = sys::setup::epoll_create()?;
    let timer = sys::setup::timerfd_create()?;
    sys::setup::epoll_add(
        &epoll,
        timer.as_raw_fd(),
        solo5_abi::sptv2::TIMERFD_EPOLL_DATA,
    )?;
    for (i, _, d) in &devices.list {
        if let Attached::Net(n) = d {
            sys::setup::epoll_add(&epoll, n.fd.as_raw_fd(), *i as u64)?;
        }
    }
    Ok(EventFds { epoll, timer })
}

/// Attach the devices of `o`, printing what the user should know.
fn attach(manifest: &mut Manifest, o: &Options) -> Result<Devices, SptError> {
    let devices = devices::attach(manifest, o)?;
    devices.print_warnings(PROG);
    Ok(devices)
}

/// What the policy crate needs to know of the devices.
fn policy_devices(devices: &Devices) -> solo5_policy::Devices {
    Table::new(devices).policy()
}

/// The policy a kernel and command line get, with their devices attached;
/// for `--print-policy`. The v2 event descriptors are created as they would
/// be for a run, so the numbers printed are the real ones.
pub fn policy_for(
    k: &mut Kernel,
    o: &Options,
    dumpcore: Option<&Path>,
) -> Result<Policy, SptError> {
    let devices = attach(&mut k.manifest, o)?;
    let abi = match k.abi {
        SptAbi::Native => Abi::Native,
        SptAbi::V2 => {
            let ev = event_fds(&devices).map_err(SptError::EventFds)?;
            Abi::SptV2 {
                epollfd: ev.epoll.as_raw_fd(),
                timerfd: ev.timer.as_raw_fd(),
            }
        }
    };
    Ok(match dumpcore.map(dumpcore::Dumpcore::open).transpose()? {
        Some(d) => {
            let core_fd = dumpcore::lowest_free_fd()
                .map_err(|e| SptError::Dumpcore(dumpcore::DumpcoreError::Open(e)))?;
            solo5_policy::build_with_dumpcore(&abi, &policy_devices(&devices), &d.policy(core_fd))
        }
        None => solo5_policy::build(&abi, &policy_devices(&devices)),
    })
}

fn host_state(mem_size: u64, devices: &Devices) -> HostState {
    let table = Table::new(devices);
    let nets: Vec<(usize, i32)> = table.nets().iter().map(|&(i, fd, _)| (i, fd)).collect();
    HostState {
        layout: hypercalls::Layout::new(mem_size),
        vdso_clock: vdso::clock_gettime(),
        devices: table,
        poll: PollSet::new(&nets),
        net: NetStatus::new(PROG, &devices.net_names()),
    }
}

/// Run the kernel: attach devices, build guest memory, harden this process
/// and jump. Returns only on error.
pub fn run(
    mut k: Kernel,
    o: &Options,
    dumpcore: Option<&Path>,
) -> Result<std::convert::Infallible, SptError> {
    let mem_size = o.mem_mib << 20;
    let devices = attach(&mut k.manifest, o)?;
    let mut mem = GuestMemory::map(mem_size)?;
    let exe =
        elf::load(&k.file, mem_size).map_err(|e| SptError::Elf(k.path.display().to_string(), e))?;
    if !mem.load(&exe, &k.file) {
        return Err(SptError::Load(k.path.display().to_string()));
    }
    let entry = exe.entry;
    let kernel_end = exe.kernel_end;
    let guard = launch::stack_guard(&k.path, &k.file, mem_size, kernel_end)?;
    // The file's bytes are in guest memory now.
    drop(k.file);
    let (abi, event_fds) = match k.abi {
        SptAbi::Native => {
            // The guest never sees host descriptors in the native ABI.
            let mut m = k.manifest.clone();
            for e in m.entries_mut() {
                e.hostfd = 0;
            }
            let table = &hypercalls::TABLE as *const _ as u64;
            launch::write_native_boot_info(&mut mem, kernel_end, &m.to_bytes(), &o.cmdline, table)?;
            // run() is the only caller and runs once per process.
            // The guard below the stack is neither readable nor writable:
            // a buffer there is refused like one in a read-only segment.
            let guard_range = guard.as_ref().map(|g| (g.start, g.end, 0));
            let segments = exe
                .segments
                .iter()
                .map(|s| (s.start, s.end, s.flags))
                .chain(guard_range);
            let st = host_state(mem_size, &devices).with_segments(segments);
            let _first = hypercalls::install(st);
            (Abi::Native, None)
        }
        SptAbi::V2 => {
            let ev = event_fds(&devices).map_err(SptError::EventFds)?;
            let (epollfd, timerfd) = (ev.epoll.as_raw_fd(), ev.timer.as_raw_fd());
            let mft = k.manifest.to_bytes();
            launch::write_v2_boot_info(&mut mem, kernel_end, &mft, &o.cmdline, epollfd, timerfd)?;
            (Abi::SptV2 { epollfd, timerfd }, Some(ev))
        }
    };
    mem.protect(&exe, o.x_exec_heap)?;
    launch::protect_guard(guard)?;
    if o.x_exec_heap {
        eprintln!("{PROG}: warning: --x-exec-heap: the guest heap is writable and executable");
    }
    let dump = dumpcore.map(dumpcore::Dumpcore::open).transpose()?;
    // Nothing opens or closes a descriptor from here to the guest's end:
    // the lowest free one is what the core file's openat will return.
    let core_fd = match dump {
        Some(_) => dumpcore::lowest_free_fd()
            .map_err(|e| SptError::Dumpcore(dumpcore::DumpcoreError::Open(e)))?,
        None => -1,
    };
    let policy = match &dump {
        Some(d) => {
            solo5_policy::build_with_dumpcore(&abi, &policy_devices(&devices), &d.policy(core_fd))
        }
        None => solo5_policy::build(&abi, &policy_devices(&devices)),
    };
    let filter = policy.compile()?;
    launch::drop_capabilities()?;
    launch::guest_signals()?;
    launch::stop_signals()?;
    if let Some(d) = dump {
        d.check_writable()?;
        let base = solo5_abi::GUEST_MIN;
        d.arm(core_fd, base, mem.size() - base)?;
    }
    // Descriptors and memory must outlive this function: the guest owns
    // them until the process exits.
    std::mem::forget(devices);
    std::mem::forget(event_fds);
    let stack = mem.size() - 8;
    filter.install()?;
    // SAFETY: entry lies inside guest memory above 0x100000 (checked by
    // the ELF parser, as docs/abis.md, "ELF loading", asks; if it is not in an executable segment
    // the guest faults there, SIGSEGV, like any guest bug), the stack is the
    // top of guest memory, and the boot info was written at BOOT_INFO_ADDR
    // above. The tender's own state needed afterwards lives in statics.
    unsafe { launch::jump(entry, stack, solo5_abi::BOOT_INFO_ADDR) }
}
