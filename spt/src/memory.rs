//! Guest memory: one private anonymous mapping from [`GUEST_MIN`] to
//! `mem_size`, guest address == host address (docs/abis.md, "spt ABI version 2"), loaded
//! segment by segment with exactly their permissions. No page is ever
//! writable and executable unless the user asks for `--x-exec-heap`.

use nix::sys::mman::{MapFlags, ProtFlags};
use solo5_abi::GUEST_MIN;
use solo5_tender::elf::{Executable, PF_R, PF_W, PF_X};
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use thiserror::Error;

/// What can go wrong while setting up guest memory.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// The tender runs with the READ_IMPLIES_EXEC personality, under which
    /// PROT_READ would also mean PROT_EXEC.
    #[error("refusing to run with the READ_IMPLIES_EXEC personality (every readable page would be executable)")]
    ReadImpliesExec,
    /// Part of the tender (code, data, heap or stack) lies inside the range
    /// guest memory needs.
    #[error("the tender's own {0} at {1:#x} lies inside guest memory (below {2:#x}); use a smaller --mem")]
    TenderOverlap(&'static str, u64, u64),
    /// mmap failed.
    #[error("could not map {0} MiB of guest memory")]
    Map(u64, #[source] io::Error),
    /// mprotect failed.
    #[error("could not set page protections at {0:#x}")]
    Protect(u64, #[source] io::Error),
}

/// The guest's memory, mapped into this process.
pub struct GuestMemory {
    size: u64,
}

impl GuestMemory {
    /// Map `size` bytes of guest memory (`size` is a multiple of 1 MiB),
    /// read/write, no swap reserved.
    pub fn map(size: u64) -> Result<GuestMemory, MemoryError> {
        check_personality()?;
        check_tender_above(size)?;
        let map_err = |e: io::Error| MemoryError::Map(size >> 20, e);
        let einval = || map_err(io::Error::from_raw_os_error(libc::EINVAL));
        let len = NonZeroUsize::new((size - GUEST_MIN) as usize).ok_or_else(einval)?;
        let addr = NonZeroUsize::new(GUEST_MIN as usize).ok_or_else(einval)?;
        // SAFETY: a fixed mapping that must not replace anything: the kernel
        // refuses (EEXIST) if any page of the range is in use, so no memory
        // of this process is affected. We check the result below.
        let p = unsafe {
            nix::sys::mman::mmap_anonymous(
                Some(addr),
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_NORESERVE | MapFlags::MAP_FIXED_NOREPLACE,
            )
        }
        .map_err(|e| map_err(e.into()))?;
        if p.as_ptr() as u64 != GUEST_MIN {
            // An old kernel that ignored MAP_FIXED_NOREPLACE placed it
            // elsewhere: undo and fail.
            // SAFETY: p..p+len is the mapping just created, used by nobody.
            let _ = unsafe { nix::sys::mman::munmap(p, len.get()) };
            return Err(MemoryError::Map(
                size >> 20,
                io::Error::from_raw_os_error(libc::EEXIST),
            ));
        }
        Ok(GuestMemory { size })
    }

    /// End of guest memory (exclusive).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Guest memory as bytes, from guest address [`GUEST_MIN`].
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: [GUEST_MIN, size) is our private mapping and `&mut self`
        // makes this the only view. Pages are read/write until `protect`
        // narrows them; `run` writes nothing after calling `protect`.
        unsafe {
            core::slice::from_raw_parts_mut(GUEST_MIN as *mut u8, (self.size - GUEST_MIN) as usize)
        }
    }

    /// Copy `data` to guest address `addr`. The range was validated by the
    /// caller against the memory size; out-of-range copies are refused.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(start) = addr.checked_sub(GUEST_MIN) else {
            return false;
        };
        let start = start as usize;
        match self
            .bytes_mut()
            .get_mut(start..start.saturating_add(data.len()))
        {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// Copy every segment of `exe` (the bytes of `file`) into place. The
    /// tails past `filesz` are already zero: the mapping is fresh.
    ///
    /// Segments are copied, not mapped from the file: a private file
    /// mapping still shows later writes to the file, so copying a new build
    /// over a running unikernel (`cp` keeps the inode) would change or
    /// crash it (tried: it did).
    pub fn load(&mut self, exe: &Executable, file: &[u8]) -> bool {
        exe.segments
            .iter()
            .all(|s| self.write(s.vaddr, s.bytes(file)))
    }

    /// Give each segment exactly its permissions. With `exec_heap`, the
    /// pages from the end of the kernel to the end of memory also become
    /// executable (upstream's `--x-exec-heap`).
    pub fn protect(&self, exe: &Executable, exec_heap: bool) -> Result<(), MemoryError> {
        for s in &exe.segments {
            let mut prot = ProtFlags::PROT_NONE;
            if s.flags & PF_R != 0 {
                prot |= ProtFlags::PROT_READ;
            }
            if s.flags & PF_W != 0 {
                prot |= ProtFlags::PROT_WRITE;
            }
            if s.flags & PF_X != 0 {
                prot |= ProtFlags::PROT_EXEC;
            }
            mprotect(s.start, s.end, prot)?;
        }
        if exec_heap {
            // kernel_end is page aligned: every loaded segment ends on a page.
            let heap = exe.kernel_end.max(solo5_abi::LOAD_MIN);
            mprotect(
                heap,
                self.size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE | ProtFlags::PROT_EXEC,
            )?;
        }
        Ok(())
    }
}

fn mprotect(start: u64, end: u64, prot: ProtFlags) -> Result<(), MemoryError> {
    if start >= end {
        return Ok(());
    }
    // Guest memory starts at GUEST_MIN, above page 0.
    let p = NonNull::new(start as *mut libc::c_void)
        .ok_or_else(|| MemoryError::Protect(start, io::Error::from_raw_os_error(libc::EINVAL)))?;
    // SAFETY: [start, end) lies inside guest memory (segments were
    // validated against its size), which holds no Rust object of ours.
    unsafe { nix::sys::mman::mprotect(p, (end - start) as usize, prot) }
        .map_err(|e| MemoryError::Protect(start, e.into()))
}

fn check_personality() -> Result<(), MemoryError> {
    if solo5_tender::privileges::read_implies_exec() {
        return Err(MemoryError::ReadImpliesExec);
    }
    Ok(())
}

/// The tender is a PIE loaded high; check that its code, data, heap and
/// stack all lie above the guest memory range.
fn check_tender_above(size: u64) -> Result<(), MemoryError> {
    static DATA: u8 = 0;
    let heap = Box::new(0u8);
    let stack = 0u8;
    let parts = [
        ("code", check_tender_above as *const () as u64),
        ("data", &DATA as *const u8 as u64),
        ("heap", &*heap as *const u8 as u64),
        ("stack", &stack as *const u8 as u64),
    ];
    for (what, addr) in parts {
        if addr < size {
            return Err(MemoryError::TenderOverlap(what, addr, size));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x86_64 clears READ_IMPLIES_EXEC on every exec of a 64-bit binary,
    /// so only code in the process can set it: do that in a forked child.
    #[test]
    fn read_implies_exec_is_refused() {
        // SAFETY: the child only makes system calls and _exit-s; the
        // refusal path of `map` returns before allocating.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::personality(libc::READ_IMPLIES_EXEC as libc::c_ulong);
                let refused =
                    matches!(GuestMemory::map(8 << 20), Err(MemoryError::ReadImpliesExec));
                libc::_exit(if refused { 0 } else { 1 });
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "status {status:#x}"
            );
        }
    }
}
