//! `--dumpcore=DIR`: on an abort, an ELF core file of the guest that gdb
//! reads with the kernel's symbols (`gdb KERNEL CORE`), in upstream's
//! format (docs/hvt.md, "Core dumps").
//!
//! At set-up the directory is opened (`O_RDONLY|O_DIRECTORY`) and, once
//! the capabilities are gone, checked writable; both before the seccomp
//! filter. When the guest aborts (HALT with status 255) or the tender's
//! trap stub reports a trap of a guest entered at CPL3, the run loop calls
//! [`Dumpcore::dump`] under the filter: `openat(DIR, "core.solo5-hvt.PID",
//! O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600)`, which returns the descriptor
//! the filter was built for (the lowest free one then: nothing opens or
//! closes a descriptor under the filter), then the headers and one
//! `pwrite64` per run of resident guest pages (`mincore`), at file offset
//! 532 + guest physical address.
//!
//! Layout: ELF64 `ET_CORE`, `EM_X86_64`, OSABI 255; two program headers:
//! `PT_NOTE` at offset 176 (one note, name `CORE` padded to 8, `n_namesz`
//! 8, type `NT_PRSTATUS`, a 336-byte `prstatus`), `PT_LOAD` at offset 532,
//! vaddr and paddr 0, file and memory size = the guest's `mem_size`.
//!
//! Nothing here allocates at dump time: the names and messages are made
//! at set-up, the headers are built on the stack.

use crate::memory::GuestMemory;
use crate::sys::{self, Errno};
use kvm_bindings::{kvm_regs, kvm_sregs};
use solo5_tender::core_dump::{self, reg, UserRegs};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use thiserror::Error;

/// Why `--dumpcore=DIR` cannot be used (upstream's lines).
#[derive(Debug, Error)]
pub enum DumpcoreError {
    /// `open(DIR, O_RDONLY|O_DIRECTORY)` failed.
    #[error("dumpcore: cannot open dir")]
    Open(#[source] io::Error),
    /// The tender, without capabilities, may not create files in DIR.
    #[error("dumpcore: dir not writable")]
    NotWritable(#[source] io::Error),
}

/// The flags of the core file's `openat`: the filter allows exactly these.
pub const CORE_FLAGS: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
/// The core file's mode.
pub const CORE_MODE: u32 = 0o600;

pub use solo5_tender::core_dump::{MEM_OFFSET, NOTE_OFFSET, NOTE_SIZE, PRSTATUS_SIZE};

/// Where the registers of the core come from, besides KVM's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Where the guest was.
    pub rip: u64,
    /// Its code segment.
    pub cs: u64,
    /// Its flags.
    pub rflags: u64,
    /// Its stack pointer.
    pub rsp: u64,
    /// Its stack segment.
    pub ss: u64,
    /// RAX and RDX as the tender's trap stub saved them (it uses both).
    pub rax_rdx: Option<(u64, u64)>,
}

/// The signal a core says the guest died of: SIGABRT for an abort, else
/// what Linux sends for the CPU exception `vector`.
pub fn signal_of(vector: Option<u64>) -> i32 {
    match vector {
        None => libc::SIGABRT,
        Some(0 | 16 | 19) => libc::SIGFPE,
        Some(1 | 3) => libc::SIGTRAP,
        Some(6) => libc::SIGILL,
        Some(17) => libc::SIGBUS,
        Some(_) => libc::SIGSEGV,
    }
}

/// `--dumpcore=DIR`, set up.
#[derive(Debug)]
pub struct Dumpcore {
    dirfd: i32,
    /// `core.solo5-hvt.PID`.
    name: CString,
    /// `DIR/core.solo5-hvt.PID`, as the lines print it (DIR as given).
    shown: String,
    /// The descriptor the core file's `openat` must return (the filter
    /// allows `pwrite64` on it alone); -1 until the filter is built.
    core_fd: i32,
}

impl Dumpcore {
    /// Open `dir` for the tender's core files.
    pub fn open(dir: &Path) -> Result<Dumpcore, DumpcoreError> {
        let path = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| DumpcoreError::Open(io::Error::from_raw_os_error(libc::EINVAL)))?;
        // SAFETY: a NUL-terminated path; the result is checked.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(DumpcoreError::Open(io::Error::last_os_error()));
        }
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() };
        let name = format!("core.solo5-hvt.{pid}");
        Ok(Dumpcore {
            dirfd: fd,
            shown: format!("{}/{name}", dir.display()),
            name: CString::new(name).expect("no NUL in a number"),
            core_fd: -1,
        })
    }

    /// Whether the tender, as it is now (after its capabilities are
    /// dropped), may create a file in the directory.
    pub fn check_writable(&self) -> Result<(), DumpcoreError> {
        // SAFETY: "." is NUL-terminated; dirfd is ours.
        let rc =
            unsafe { libc::faccessat(self.dirfd, c".".as_ptr(), libc::W_OK, libc::AT_EACCESS) };
        if rc != 0 {
            return Err(DumpcoreError::NotWritable(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The directory's descriptor, for the filter.
    pub fn dir_fd(&self) -> i32 {
        self.dirfd
    }

    /// The descriptor the core file will get, as the filter allows it.
    pub fn core_fd(&self) -> i32 {
        self.core_fd
    }

    /// Record the descriptor the filter is built for.
    pub fn set_core_fd(&mut self, fd: i32) {
        self.core_fd = fd;
    }

    /// Write the core of the guest in `mem`, with registers `regs` and
    /// `sregs` (those of `frame` replacing theirs), dying of `signal`.
    /// Prints upstream's lines on stderr; errors are lines too, never
    /// fatal: the guest's exit status stays. Returns whether the whole
    /// core was written.
    pub fn dump(
        &self,
        mem: &GuestMemory,
        regs: Option<&kvm_regs>,
        sregs: Option<&kvm_sregs>,
        frame: Option<&Frame>,
        signal: i32,
    ) -> bool {
        // SAFETY: a NUL-terminated name, a descriptor of ours; the result
        // is checked.
        let fd = unsafe {
            libc::openat(
                self.dirfd,
                self.name.as_ptr(),
                CORE_FLAGS,
                CORE_MODE as libc::c_uint,
            )
        };
        if fd < 0 {
            sys::warn(format_args!(
                "dumpcore: open({}): {}",
                self.name.to_string_lossy(),
                Errno::last()
            ));
            failed();
            return false;
        }
        if fd != self.core_fd {
            // The filter would kill the tender on a pwrite64 to it.
            sys::warn(format_args!(
                "dumpcore: open({}) returned descriptor {fd}, not {}",
                self.name.to_string_lossy(),
                self.core_fd
            ));
            failed();
            return false;
        }
        sys::warn(format_args!(
            "dumpcore: dumping guest core to: {}",
            self.shown
        ));
        let size = mem.mem_size();
        let head = core_dump::headers(0, size, &prstatus(regs, sregs, frame, signal));
        // SAFETY: head is a live buffer of its length.
        let mut ok = unsafe { core_dump::pwrite_all(fd, head.as_ptr(), head.len(), 0) }.is_ok();
        // SAFETY: [host_base, + mem_size) is the guest mapping (the slot's
        // first mem_size bytes).
        let (written, total, err) =
            unsafe { core_dump::write_resident(fd, mem.host_base() as *const u8, size) };
        if let Some(e) = err {
            sys::warn(format_args!("dumpcore: write failed: {}", Errno(e)));
            ok = false;
        }
        sys::warn(format_args!(
            "dumpcore: dumped {written} pages of total {total} pages"
        ));
        if !ok {
            failed();
        }
        ok
    }
}

fn failed() {
    sys::warn(format_args!(
        "dumpcore: error(s) dumping core, file may be incomplete"
    ));
}

/// The `prstatus_t`: the signal, and `pr_reg` (a `user_regs_struct`) from
/// KVM's registers, with `frame`'s in their place where given.
pub fn prstatus(
    regs: Option<&kvm_regs>,
    sregs: Option<&kvm_sregs>,
    frame: Option<&Frame>,
    signal: i32,
) -> [u8; PRSTATUS_SIZE] {
    let r = regs.copied().unwrap_or_default();
    let s = sregs.copied().unwrap_or_default();
    let mut v: UserRegs = [
        r.r15,
        r.r14,
        r.r13,
        r.r12,
        r.rbp,
        r.rbx,
        r.r11,
        r.r10,
        r.r9,
        r.r8,
        r.rax,
        r.rcx,
        r.rdx,
        r.rsi,
        r.rdi,
        0, // orig_rax
        r.rip,
        u64::from(s.cs.selector),
        r.rflags,
        r.rsp,
        u64::from(s.ss.selector),
        s.fs.base,
        s.gs.base,
        u64::from(s.ds.selector),
        u64::from(s.es.selector),
        u64::from(s.fs.selector),
        u64::from(s.gs.selector),
    ];
    if let Some(f) = frame {
        v[reg::RIP] = f.rip;
        v[reg::CS] = f.cs;
        v[reg::EFLAGS] = f.rflags;
        v[reg::RSP] = f.rsp;
        v[reg::SS] = f.ss;
        if let Some((rax, rdx)) = f.rax_rdx {
            v[reg::RAX] = rax;
            v[reg::RDX] = rdx;
        }
    }
    core_dump::prstatus(&v, signal)
}

/// The ELF header, both program headers and the note, for a guest of
/// `mem_size` bytes at guest physical address 0.
pub fn headers(mem_size: u64, prstatus: &[u8; PRSTATUS_SIZE]) -> [u8; MEM_OFFSET as usize] {
    core_dump::headers(0, mem_size, prstatus)
}

/// The lowest descriptor number not open now: what the next `openat`
/// returns if nothing is opened or closed before it.
pub fn lowest_free_fd() -> io::Result<i32> {
    // SAFETY: F_DUPFD_CLOEXEC on descriptor 0, 1 or 2 (always open: the
    // tender makes sure at start) returns a new descriptor we close.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: closing the duplicate just made.
    unsafe { libc::close(fd) };
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_upstreams() {
        let mut r = kvm_regs {
            rip: 0x10332f,
            rsp: 0x3fffa0,
            rbx: 0x10000,
            rdi: 0xff,
            rflags: 0x56,
            ..Default::default()
        };
        let mut s = kvm_sregs::default();
        s.cs.selector = 8;
        s.ss.selector = 0x10;
        let p = prstatus(Some(&r), Some(&s), None, libc::SIGABRT);
        let h = headers(4 << 20, &p);
        assert_eq!(h.len(), 532);
        assert_eq!(&h[..8], &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0xff]);
        // PT_NOTE at 176, 356 bytes; PT_LOAD at 532 of 4 MiB.
        assert_eq!(u64::from_le_bytes(h[72..80].try_into().unwrap()), 176);
        assert_eq!(u64::from_le_bytes(h[96..104].try_into().unwrap()), 356);
        assert_eq!(u64::from_le_bytes(h[128..136].try_into().unwrap()), 532);
        assert_eq!(u64::from_le_bytes(h[152..160].try_into().unwrap()), 4 << 20);
        assert_eq!(&h[176..188], &[8, 0, 0, 0, 0x50, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&h[188..196], b"CORE\0\0\0\0");
        // pr_reg: rip is entry 16, rbx entry 5, cs 17.
        let reg = |i: usize| u64::from_le_bytes(h[196 + 112 + i * 8..][..8].try_into().unwrap());
        assert_eq!(
            (reg(16), reg(5), reg(17), reg(18)),
            (0x10332f, 0x10000, 8, 0x56)
        );
        // A trap frame replaces rip, cs, rflags, rsp, ss (and rax, rdx).
        r.rax = 1;
        let f = Frame {
            rip: 0x1000,
            cs: 0x23,
            rflags: 0x10202,
            rsp: 0x2000,
            ss: 0x1b,
            rax_rdx: Some((7, 9)),
        };
        let p = prstatus(Some(&r), Some(&s), Some(&f), libc::SIGSEGV);
        let reg = |i: usize| u64::from_le_bytes(p[112 + i * 8..][..8].try_into().unwrap());
        assert_eq!(
            [
                reg(16),
                reg(17),
                reg(18),
                reg(19),
                reg(20),
                reg(10),
                reg(12)
            ],
            [0x1000, 0x23, 0x10202, 0x2000, 0x1b, 7, 9]
        );
        assert_eq!(
            i32::from_le_bytes(p[..4].try_into().unwrap()),
            libc::SIGSEGV
        );
    }

    #[test]
    fn signals_follow_linux() {
        assert_eq!(signal_of(None), libc::SIGABRT);
        assert_eq!(signal_of(Some(14)), libc::SIGSEGV);
        assert_eq!(signal_of(Some(13)), libc::SIGSEGV);
        assert_eq!(signal_of(Some(6)), libc::SIGILL);
        assert_eq!(signal_of(Some(0)), libc::SIGFPE);
        assert_eq!(signal_of(Some(3)), libc::SIGTRAP);
    }

    #[test]
    fn a_core_holds_the_resident_pages_at_their_offsets() {
        let mut mem = GuestMemory::new(4 << 20).unwrap();
        mem.write(0x100000, b"text").unwrap();
        mem.write(0x3ff000, b"stack").unwrap();
        let dir = std::env::temp_dir().join(format!("hvt-dumpcore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Dumpcore::open(&dir).unwrap();
        d.check_writable().unwrap();
        d.set_core_fd(lowest_free_fd().unwrap());
        // Another test thread may open a descriptor in between: then the
        // dump refuses, which is what it must do.
        let ok = d.dump(&mem, None, None, None, libc::SIGABRT);
        let path = dir.join(d.name.to_str().unwrap());
        if ok {
            let core = std::fs::read(&path).unwrap();
            assert_eq!(core.len() as u64, MEM_OFFSET + (4 << 20));
            assert_eq!(&core[532 + 0x100000..][..4], b"text");
            assert_eq!(&core[532 + 0x3ff000..][..5], b"stack");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Dumpcore::open(Path::new("/nonexistent/dir")).is_err());
    }
}
