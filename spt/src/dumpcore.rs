//! `--dumpcore=DIR`: when the guest faults (SIGSEGV, SIGBUS, SIGILL,
//! SIGFPE), makes a system call the filter forbids (SIGSYS) or aborts,
//! an ELF core of guest memory and the guest's registers, in the layout
//! of `solo5_tender::core_dump`, that gdb reads with the kernel's symbols
//! (`gdb -batch -ex bt KERNEL DIR/core.solo5-spt.PID`). Upstream's
//! solo5-spt has no core dumps; the file name and lines follow
//! solo5-hvt's.
//!
//! Everything is prepared before the jump: the directory is opened, the
//! core file's name and the lines are formatted, and the descriptor the
//! core file's `openat` will return is known (the lowest free one: under
//! the filter nothing opens or closes a descriptor), so the filter allows
//! `openat` in that directory, `pwrite64` on that descriptor, `mincore`
//! and the tender's lines on stderr (`solo5_policy::build_with_dumpcore`).
//! Calls off the filter's list then raise SIGSYS instead of killing at
//! once, and the handler here writes the core.
//!
//! The handlers run on the tender's signal stack with the guest's FS
//! base: bare system calls only, nothing allocated, no lock.
//!
//! - A fault: the registers of the signal frame; exit status 128 + the
//!   signal (139 for SIGSEGV, as without `--dumpcore`).
//! - A forbidden system call: the same, exit status 159.
//! - An abort: on the native ABI the table's `exit(255)`, whose entry
//!   saves the guest's callee-saved registers, return address and stack
//!   pointer; on the spt v2 ABI the guest's own `exit_group(255)`, which
//!   the filter leaves off its list for this. Exit status 255.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use solo5_tender::core_dump::{self, reg, UserRegs};
use solo5_tender::raw::{self, nr, syscall4};
use std::ffi::CString;
use std::io;
use std::path::Path;
use thiserror::Error;

/// Why `--dumpcore=DIR` cannot be used (solo5-hvt's lines).
#[derive(Debug, Error)]
pub enum DumpcoreError {
    /// `open(DIR, O_RDONLY|O_DIRECTORY)` failed.
    #[error("dumpcore: cannot open dir")]
    Open(#[source] io::Error),
    /// The tender, without capabilities, may not create files in DIR.
    #[error("dumpcore: dir not writable")]
    NotWritable(#[source] io::Error),
    /// The signal handlers.
    #[error("dumpcore: could not install the fault handlers")]
    Handlers(#[source] io::Error),
}

/// The core file's `openat` flags: the filter allows exactly these.
pub const CORE_FLAGS: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
/// The core file's mode.
pub const CORE_MODE: u32 = 0o600;
/// The exit status after an abort's core: 255 to the parent, a value the
/// spt v2 filter allows (its `exit_group(255)` raises SIGSYS).
const ABORT_EXIT: i32 = 255 | 0x100;

/// What the handlers need, fixed before the jump.
struct Armed {
    dirfd: i32,
    core_fd: i32,
    /// `core.solo5-spt.PID`, NUL-terminated.
    name: CString,
    /// `solo5-spt: dumpcore: dumping guest core to: DIR/core.solo5-spt.PID\n`.
    line: Vec<u8>,
    /// Guest memory: its first address and size.
    base: u64,
    size: u64,
}

struct ArmedCell(UnsafeCell<Option<Armed>>);

// SAFETY: written once by `arm`, before the jump, while the tender has
// one thread and no handler is installed; only read afterwards.
unsafe impl Sync for ArmedCell {}

static ARMED: ArmedCell = ArmedCell(UnsafeCell::new(None));
/// Set by the first dump: a second fault (in the handler itself) exits.
static DUMPING: AtomicBool = AtomicBool::new(false);

/// `--dumpcore=DIR`, opened.
#[derive(Debug)]
pub struct Dumpcore {
    dirfd: i32,
    shown: String,
    name: CString,
}

impl Dumpcore {
    /// Open `dir` for the tender's core files.
    pub fn open(dir: &Path) -> Result<Dumpcore, DumpcoreError> {
        let fd = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| DumpcoreError::Open(e.into()))?;
        let name = format!("core.solo5-spt.{}", std::process::id());
        Ok(Dumpcore {
            dirfd: std::os::fd::IntoRawFd::into_raw_fd(fd),
            shown: format!("{}/{name}", dir.display()),
            name: CString::new(name).expect("no NUL in a number"),
        })
    }

    /// Whether the tender, as it is now (capabilities dropped), may create
    /// a file in the directory.
    pub fn check_writable(&self) -> Result<(), DumpcoreError> {
        // SAFETY: "." is NUL-terminated; dirfd is ours.
        let rc =
            unsafe { libc::faccessat(self.dirfd, c".".as_ptr(), libc::W_OK, libc::AT_EACCESS) };
        if rc != 0 {
            return Err(DumpcoreError::NotWritable(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// What the filter must allow, `core_fd` being the descriptor the
    /// core file will get.
    pub fn policy(&self, core_fd: i32) -> solo5_policy::hvt::Dumpcore {
        solo5_policy::hvt::Dumpcore {
            dir_fd: self.dirfd,
            core_fd,
            flags: CORE_FLAGS,
            mode: CORE_MODE,
        }
    }

    /// Fix the state for the handlers (guest memory `[base, base + size)`)
    /// and install them for the fault signals and SIGSYS, on the tender's
    /// signal stack (set up by `launch::stop_signals`, called first).
    pub fn arm(self, core_fd: i32, base: u64, size: u64) -> Result<(), DumpcoreError> {
        let line = format!(
            "solo5-spt: dumpcore: dumping guest core to: {}\n",
            self.shown
        )
        .into_bytes();
        // SAFETY: before the jump, one thread, no handler installed yet:
        // nothing reads ARMED now.
        unsafe {
            *ARMED.0.get() = Some(Armed {
                dirfd: self.dirfd,
                core_fd,
                name: self.name,
                line,
                base,
                size,
            })
        };
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGSYS,
        ] {
            // SAFETY: sa is fully initialised; the handler makes bare system
            // calls only and never returns.
            let rc = unsafe {
                let mut sa: libc::sigaction = core::mem::zeroed();
                sa.sa_sigaction = on_fault
                    as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                    as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigfillset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, core::ptr::null_mut())
            };
            if rc != 0 {
                return Err(DumpcoreError::Handlers(io::Error::last_os_error()));
            }
        }
        Ok(())
    }
}

/// The lowest descriptor number not open now: what the next `openat`
/// returns when nothing is opened or closed before it.
pub fn lowest_free_fd() -> io::Result<i32> {
    use std::os::fd::{AsFd, AsRawFd};
    // A duplicate of stderr takes the lowest free number (descriptors 0
    // to 2 are always open: the tender makes sure at start); dropped at
    // once.
    let dup = std::io::stderr().as_fd().try_clone_to_owned()?;
    Ok(dup.as_raw_fd())
}

/// Bare `write(2, ...)` of all of `b`.
fn say(b: &[u8]) {
    // SAFETY: a live buffer of b.len() bytes.
    let _ = unsafe { raw::write_all(2, b.as_ptr(), b.len()) };
}

/// `n` in decimal into `buf`; the digits' slice.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// Write the core for `signal` with registers `r`, saying so on stderr.
/// Never allocates; a failure is a line, never fatal.
fn dump(r: &UserRegs, signal: i32) {
    if DUMPING.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: ARMED was written before the jump and is only read now.
    let Some(a) = (unsafe { &*ARMED.0.get() }) else {
        return;
    };
    // SAFETY: a NUL-terminated name, a directory descriptor of ours.
    let fd = unsafe {
        syscall4(
            nr::OPENAT,
            a.dirfd as usize,
            a.name.as_ptr() as usize,
            CORE_FLAGS as usize,
            CORE_MODE as usize,
        )
    };
    if fd != a.core_fd as isize {
        say(b"solo5-spt: dumpcore: could not create the core file\n");
        say(b"solo5-spt: dumpcore: error(s) dumping core, file may be incomplete\n");
        return;
    }
    say(&a.line);
    let head = core_dump::headers(a.base, a.size, &core_dump::prstatus(r, signal));
    // SAFETY: head is a live buffer of its length.
    let mut ok = unsafe { core_dump::pwrite_all(a.core_fd, head.as_ptr(), head.len(), 0) }.is_ok();
    // SAFETY: [base, base + size) is guest memory, one mapping of ours.
    let (written, total, err) =
        unsafe { core_dump::write_resident(a.core_fd, a.base as *const u8, a.size) };
    ok &= err.is_none();
    let (mut b1, mut b2) = ([0u8; 20], [0u8; 20]);
    let mut line = [0u8; 128];
    let mut len = 0;
    for part in [
        &b"solo5-spt: dumpcore: dumped "[..],
        decimal(written, &mut b1),
        b" pages of total ",
        decimal(total, &mut b2),
        b" pages\n",
    ] {
        line[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    say(&line[..len]);
    if !ok {
        say(b"solo5-spt: dumpcore: error(s) dumping core, file may be incomplete\n");
    }
}

/// The fault and SIGSYS handler: the core, then the exit.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a ucontext_t for an SA_SIGINFO handler.
    let g = unsafe { &(*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
    let v = |i: i32| g[i as usize] as u64;
    let mut r: UserRegs = [0; 27];
    for (to, from) in [
        (reg::R15, libc::REG_R15),
        (reg::R14, libc::REG_R14),
        (reg::R13, libc::REG_R13),
        (reg::R12, libc::REG_R12),
        (reg::RBP, libc::REG_RBP),
        (reg::RBX, libc::REG_RBX),
        (reg::R11, libc::REG_R11),
        (reg::R10, libc::REG_R10),
        (reg::R9, libc::REG_R9),
        (reg::R8, libc::REG_R8),
        (reg::RAX, libc::REG_RAX),
        (reg::RCX, libc::REG_RCX),
        (reg::RDX, libc::REG_RDX),
        (reg::RSI, libc::REG_RSI),
        (reg::RDI, libc::REG_RDI),
        (reg::RIP, libc::REG_RIP),
        (reg::EFLAGS, libc::REG_EFL),
        (reg::RSP, libc::REG_RSP),
    ] {
        r[to] = v(from);
    }
    // CSGSFS: cs in the low 16 bits; a user process's ss is 0x2b.
    r[reg::CS] = v(libc::REG_CSGSFS) & 0xffff;
    r[reg::SS] = 0x2b;
    // A SIGSYS for exit_group(255) is the spt v2 guest's abort.
    // SAFETY: for SIGSYS the kernel fills the _sigsys member: the system
    // call number is the int at offset 24 of siginfo_t.
    let syscall = unsafe { info.cast::<u8>().add(24).cast::<i32>().read() };
    let abort =
        sig == libc::SIGSYS && syscall as usize == nr::EXIT_GROUP && r[reg::RDI] as i32 == 255;
    dump(&r, if abort { libc::SIGABRT } else { sig });
    crate::sys::exit_group(if abort { ABORT_EXIT } else { 128 + sig })
}

/// An abort through the native table: the core, with the guest's
/// registers `r` at its call (saved by the table's `exit` entry), then
/// the table's exit 255.
pub fn native_abort(r: &UserRegs) {
    // SAFETY: ARMED is written before the jump; read only.
    if unsafe { (*ARMED.0.get()).is_none() } {
        return;
    }
    dump(r, libc::SIGABRT);
}
