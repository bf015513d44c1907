//! The last steps before the guest runs: boot info, the stack guard,
//! signal handlers, capabilities, and the jump onto a fresh stack.

use crate::memory::GuestMemory;
use nix::sys::mman::ProtFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use solo5_abi::{native, sptv2, BOOT_INFO_ADDR};
use solo5_tender::stack_note::{self, Guard, StackNoteError};
use std::io;
use std::path::Path;
use std::ptr::NonNull;
use thiserror::Error;

/// What can fail in the last steps.
#[derive(Debug, Error)]
pub enum LaunchError {
    /// The boot info did not fit below the first segment.
    #[error("boot info does not fit in guest memory")]
    BootInfo,
    /// sigaction failed.
    #[error("could not set the action of signal {0}")]
    Signal(i32, #[source] io::Error),
    /// Dropping a capability set failed.
    #[error(transparent)]
    DropCaps(#[from] solo5_tender::privileges::DropCapsError),
    /// The kernel's stack note is malformed.
    #[error("{0}")]
    StackNote(String, #[source] StackNoteError),
    /// mprotect of the stack guard failed.
    #[error("could not protect the stack guard at {0:#x}")]
    Guard(u64, #[source] io::Error),
}

/// The guard range the kernel at `path` (bytes `file`) asks for below its
/// stack, placed for `mem_size` bytes of guest memory and loaded segments
/// ending at `kernel_end` (docs/native-abi.md, "Stack and heap"). `None`
/// for a kernel without a stack note (any upstream one: no guard, as
/// upstream) or when the guard would not lie above the image (the guest
/// then stops with "Not enough memory" by itself).
pub fn stack_guard(
    path: &Path,
    file: &[u8],
    mem_size: u64,
    kernel_end: u64,
) -> Result<Option<Guard>, LaunchError> {
    let note = stack_note::find(file)
        .map_err(|e| LaunchError::StackNote(path.display().to_string(), e))?;
    Ok(note.and_then(|d| stack_note::guard(&d, mem_size, kernel_end)))
}

/// Make the guard range inaccessible (`PROT_NONE`). Called after the
/// segments got their permissions (and after `--x-exec-heap` made the rest
/// of guest memory executable), so nothing widens it again.
pub fn protect_guard(guard: Option<Guard>) -> Result<(), LaunchError> {
    let Some(g) = guard else {
        return Ok(());
    };
    // The guard lies above the image, which starts above page 0.
    let start = NonNull::new(g.start as *mut libc::c_void)
        .ok_or_else(|| LaunchError::Guard(g.start, io::Error::from_raw_os_error(libc::EINVAL)))?;
    // SAFETY: stack_note::guard placed [start, end) page aligned, above the
    // image and below mem_size: inside guest memory, which holds no Rust
    // object of ours; nothing of the tender touches it afterwards.
    unsafe { nix::sys::mman::mprotect(start, (g.end - g.start) as usize, ProtFlags::PROT_NONE) }
        .map_err(|e| LaunchError::Guard(g.start, e.into()))
}

/// View a `#[repr(C)]` boot info struct as bytes.
trait AsBytes: Sized {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: implemented only for the boot info structs below, which
        // are repr(C) with no padding (their size and offsets are asserted
        // in solo5-abi), so every byte is initialised.
        unsafe {
            core::slice::from_raw_parts((self as *const Self).cast(), core::mem::size_of::<Self>())
        }
    }
}
impl AsBytes for native::BootInfo {}
impl AsBytes for sptv2::BootInfo {}

fn align8(x: u64) -> u64 {
    x.div_ceil(8) * 8
}

/// Write the native boot info at `BOOT_INFO_ADDR`, the manifest after it
/// and the NUL-terminated command line after that.
pub fn write_native_boot_info(
    mem: &mut GuestMemory,
    kernel_end: u64,
    mft: &[u8],
    cmdline: &[u8],
    hypercalls: u64,
) -> Result<(), LaunchError> {
    let mft_addr = align8(BOOT_INFO_ADDR + core::mem::size_of::<native::BootInfo>() as u64);
    let cmd_addr = align8(mft_addr + mft.len() as u64);
    let bi = native::BootInfo {
        magic: native::BOOT_MAGIC,
        version: native::BOOT_VERSION,
        size: core::mem::size_of::<native::BootInfo>() as u32,
        mem_size: mem.size(),
        kernel_end,
        cmdline: cmd_addr,
        cmdline_len: cmdline.len() as u64,
        mft: mft_addr,
        mft_size: mft.len() as u64,
        hypercalls,
        max_block_request: solo5_abi::MAX_BLOCK_REQUEST,
    };
    let ok = mem.write(BOOT_INFO_ADDR, bi.as_bytes())
        && mem.write(mft_addr, mft)
        && mem.write(cmd_addr, cmdline)
        && mem.write(cmd_addr + cmdline.len() as u64, &[0]);
    ok.then_some(()).ok_or(LaunchError::BootInfo)
}

/// Write upstream's spt v2 boot info at `BOOT_INFO_ADDR`, the manifest
/// directly after it and then the command-line buffer.
pub fn write_v2_boot_info(
    mem: &mut GuestMemory,
    kernel_end: u64,
    mft: &[u8],
    cmdline: &[u8],
    epollfd: i32,
    timerfd: i32,
) -> Result<(), LaunchError> {
    let mft_addr = BOOT_INFO_ADDR + core::mem::size_of::<sptv2::BootInfo>() as u64;
    let cmd_addr = mft_addr + mft.len() as u64;
    let bi = sptv2::BootInfo {
        mem_size: mem.size(),
        kernel_end,
        cmdline: cmd_addr,
        mft: mft_addr,
        epollfd,
        timerfd,
    };
    let ok = mem.write(BOOT_INFO_ADDR, bi.as_bytes())
        && mem.write(mft_addr, mft)
        && mem.write(cmd_addr, cmdline)
        && mem.write(cmd_addr + cmdline.len() as u64, &[0]);
    ok.then_some(()).ok_or(LaunchError::BootInfo)
}

/// Signal dispositions for the guest: SIGSEGV, SIGBUS, SIGILL and SIGFPE
/// get their default action back (Rust's runtime may install handlers) and
/// are unblocked, so a guest fault ends the process with that signal (exit
/// status 139 for SIGSEGV); SIGPIPE is ignored, so a write to a net device
/// whose peer hung up fails with an error the guest sees instead of killing
/// the process.
pub fn guest_signals() -> Result<(), LaunchError> {
    let actions = [
        (Signal::SIGSEGV, SigHandler::SigDfl),
        (Signal::SIGBUS, SigHandler::SigDfl),
        (Signal::SIGILL, SigHandler::SigDfl),
        (Signal::SIGFPE, SigHandler::SigDfl),
        (Signal::SIGPIPE, SigHandler::SigIgn),
    ];
    for (sig, action) in actions {
        let sa = SigAction::new(action, SaFlags::empty(), SigSet::empty());
        // SAFETY: SIG_DFL or SIG_IGN with an empty mask installs no code of
        // ours; the previous action returned is dropped unread.
        unsafe { nix::sys::signal::sigaction(sig, &sa) }
            .map_err(|e| LaunchError::Signal(sig as i32, e.into()))?;
        unblock(sig);
    }
    Ok(())
}

/// Unblock `sig` in this (the only) thread. pthread_sigmask cannot fail
/// with SIG_UNBLOCK and a valid set.
fn unblock(sig: Signal) {
    let mut set = SigSet::empty();
    set.add(sig);
    let _ = set.thread_unblock();
}

/// Bytes of the stack the stop handler runs on: the guest's own stack
/// pointer is the guest's business, so the handler never uses it.
const STOP_STACK: usize = 16 << 10;

/// The stop handler's stack, outside guest memory.
struct StopStack(core::cell::UnsafeCell<[u8; STOP_STACK]>);

// SAFETY: only the kernel writes it, on signal delivery to the one
// thread the tender has; no Rust code reads or writes it.
unsafe impl Sync for StopStack {}

static STOP_STACK_MEM: StopStack = StopStack(core::cell::UnsafeCell::new([0; STOP_STACK]));

/// The signals that stop a guest: what `docker stop`, `kill`, a
/// terminal's Ctrl-C and a hang-up send.
pub const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// [`STOP_SIGNALS`] as `nix` names them.
const STOP: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
const _: () = assert!(
    STOP[0] as i32 == STOP_SIGNALS[0]
        && STOP[1] as i32 == STOP_SIGNALS[1]
        && STOP[2] as i32 == STOP_SIGNALS[2]
);

/// SIGTERM, SIGINT, SIGHUP: end the process at once with status 128 + the
/// signal, the status a shell shows for a process the signal killed.
/// Installed as a handler, not left at the default action, because a
/// container's PID 1 does not die of a default-action signal: the kernel
/// drops it. It runs on its own stack, after the filter, with the guest's
/// FS base: one raw `exit_group`, which every spt filter allows; no
/// allocation, no lock, no thread-local, no libc.
extern "C" fn on_stop(sig: libc::c_int) {
    crate::sys::exit_group(128 + sig)
}

/// Install [`on_stop`] for [`STOP_SIGNALS`] on its own stack, with every
/// signal blocked while it runs, and unblock those signals.
pub fn stop_signals() -> Result<(), LaunchError> {
    let ss = libc::stack_t {
        ss_sp: STOP_STACK_MEM.0.get().cast(),
        ss_flags: 0,
        ss_size: STOP_STACK,
    };
    // A raw sigaltstack: `nix` has none.
    // SAFETY: ss describes a static buffer of STOP_STACK bytes that lives
    // as long as the process and that nothing else uses.
    if unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) } != 0 {
        return Err(LaunchError::Signal(
            libc::SIGTERM,
            io::Error::last_os_error(),
        ));
    }
    let sa = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::SA_ONSTACK,
        SigSet::all(),
    );
    for sig in STOP {
        // SAFETY: the handler makes one raw system call and never returns
        // (async-signal-safe); the previous action returned is dropped
        // unread.
        unsafe { nix::sys::signal::sigaction(sig, &sa) }
            .map_err(|e| LaunchError::Signal(sig as i32, e.into()))?;
        unblock(sig);
    }
    Ok(())
}

/// Drop every capability set (the tenders' shared code).
pub fn drop_capabilities() -> Result<(), LaunchError> {
    Ok(solo5_tender::privileges::drop_capabilities()?)
}

core::arch::global_asm!(
    ".pushsection .text.solo5_spt_jump,\"ax\",@progbits",
    ".globl solo5_spt_jump",
    ".type solo5_spt_jump,@function",
    "solo5_spt_jump:",
    // rdi = entry, rsi = stack pointer, rdx = boot info.
    "mov rsp, rsi",
    "mov rax, rdi",
    "mov rdi, rdx",
    // Leave nothing of the tender in registers the guest can see.
    "xor esi, esi",
    "xor edx, edx",
    "xor ecx, ecx",
    "xor r8d, r8d",
    "xor r9d, r9d",
    "xor r10d, r10d",
    "xor r11d, r11d",
    "xor ebx, ebx",
    "xor ebp, ebp",
    "xor r12d, r12d",
    "xor r13d, r13d",
    "xor r14d, r14d",
    "xor r15d, r15d",
    "jmp rax",
    ".size solo5_spt_jump, . - solo5_spt_jump",
    ".popsection",
);

extern "C" {
    /// Switch to `stack` and jump to `entry` with `rdi` = `arg`.
    fn solo5_spt_jump(entry: u64, stack: u64, arg: u64) -> !;
}

/// Jump into the guest. Called after the filter is installed: it makes no
/// system call and touches no memory but the new stack pointer.
///
/// # Safety
/// `entry` must be the guest's entry point inside loaded, executable guest
/// memory, `stack` the top of guest memory minus 8, `arg` the boot info.
/// Nothing of the tender runs afterwards except the hypercall table.
pub unsafe fn jump(entry: u64, stack: u64, arg: u64) -> ! {
    // SAFETY: forwarded from the caller.
    unsafe { solo5_spt_jump(entry, stack, arg) }
}
