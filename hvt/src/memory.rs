//! Guest physical memory: one anonymous mapping that KVM sees as memory
//! slot 0 at guest physical address 0, the loaded image with upstream's
//! host-side protections, and the checked accessors the hypercalls use on
//! guest pointers (docs/hvt.md, "Guest pointers").
//!
//! Nothing here hands out Rust references into guest memory: the guest may
//! change any byte of it between two exits, so every access is a raw copy
//! of a bounds-checked range.

use crate::layout;
use crate::sys;
use solo5_tender::elf::{Executable, Segment, PF_W, PF_X};
use std::io;
use thiserror::Error;

/// Host page size.
const PAGE: u64 = 0x1000;

/// What can go wrong while guest memory is set up.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// The mapping itself.
    #[error("Error allocating guest memory")]
    Allocate(#[source] io::Error),
    /// A write of the tender's own data fell outside guest memory.
    #[error("guest memory: {1} bytes at {0:#x} do not fit")]
    OutOfRange(u64, u64),
    /// Host-side protection of a segment.
    #[error("{0}: mprotect failed")]
    Protect(String, #[source] io::Error),
}

/// A guest pointer that failed the check of docs/hvt.md, "Guest pointers".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAccess {
    /// The guest physical address asked for.
    pub gpa: u64,
    /// The length asked for.
    pub len: u64,
}

/// Guest memory. Dropping it unmaps it.
pub struct GuestMemory {
    base: *mut u8,
    alloc: u64,
    mem_size: u64,
    /// `[start, end)` of the segments the host maps read-only: the tender
    /// must never write there on the guest's behalf (it would fault). For
    /// a guest entered at CPL3, also what its page tables give it
    /// read-only (boot info, manifest, command line).
    read_only: Vec<(u64, u64)>,
    /// `[start, end)` ranges a guest pointer may not name at all, neither
    /// to read nor to write: for a guest entered at CPL3, what its own
    /// page tables keep from it (the tender's structures, the stack
    /// guard). Empty for a CPL0 guest, which owns all of its memory.
    hidden: Vec<(u64, u64)>,
}

/// Whether `[gpa, end)` meets one of `ranges`.
fn meets(ranges: &[(u64, u64)], gpa: u64, end: u64) -> bool {
    ranges
        .iter()
        .any(|&(s, e)| gpa < e && (s < end || (gpa == end && s <= gpa)))
}

// SAFETY: the mapping is reached only through raw, bounds-checked
// copies (no Rust reference into it is ever made), so a copy on one thread
// and another on a second thread are no worse than the guest writing while
// the tender reads, which every hypercall already allows for. `read_only`
// is only changed through `&mut self`, before the guest runs.
unsafe impl Send for GuestMemory {}
// SAFETY: as for Send.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Map `alloc` bytes of zeroed memory. The guest's `mem_size` starts
    /// as the whole allocation.
    pub fn new(alloc: u64) -> Result<GuestMemory, MemoryError> {
        let len = usize::try_from(alloc)
            .map_err(|_| MemoryError::Allocate(io::Error::from_raw_os_error(libc::ENOMEM)))?;
        let base = sys::map_anonymous(len).map_err(MemoryError::Allocate)?;
        Ok(GuestMemory {
            base,
            alloc,
            mem_size: alloc,
            read_only: Vec::new(),
            hidden: Vec::new(),
        })
    }

    /// Host address of guest physical address 0, for KVM.
    pub fn host_base(&self) -> u64 {
        self.base as u64
    }

    /// Bytes mapped (what KVM's memory slot covers).
    pub fn alloc_size(&self) -> u64 {
        self.alloc
    }

    /// Bytes the guest may use: the allocation, less a net ring carved off
    /// the top when one is reserved. Hypercall pointers are checked
    /// against this.
    pub fn mem_size(&self) -> u64 {
        self.mem_size
    }

    /// Reserve `[new_size, alloc)` for the tender (the net ring).
    pub fn set_mem_size(&mut self, new_size: u64) {
        self.mem_size = new_size.min(self.alloc);
    }

    /// Hold every guest pointer to what a guest entered at CPL3 may reach
    /// itself: nothing the tender owns in low memory (the zero page, the
    /// GDT and page tables below the boot info; the IDT, TSS, trap stub
    /// and trap stack in [`layout::user`]), nothing in the stack guard
    /// `guard`, and nothing written into the read-only boot info area
    /// (boot info, manifest, command line). The guest's page tables give
    /// it exactly these rights (`paging::Mode::User`), so a hypercall
    /// cannot do on its behalf what the guest could not do itself.
    pub fn restrict_to_user(&mut self, guard: Option<(u64, u64)>) {
        self.hidden.push((0, layout::BOOT_INFO_ADDR));
        self.hidden
            .push((layout::user::IDT_ADDR, layout::user::KSTACK_END));
        if let Some(g) = guard {
            self.hidden.push(g);
        }
        self.read_only
            .push((layout::BOOT_INFO_ADDR, layout::GUEST_MIN_BASE));
    }

    /// Copy the tender's own data (page tables, boot info) into guest
    /// memory at `gpa`; checked against the allocation.
    pub fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        let len = bytes.len() as u64;
        match gpa.checked_add(len) {
            Some(end) if end <= self.alloc => {}
            _ => return Err(MemoryError::OutOfRange(gpa, len)),
        }
        // SAFETY: [gpa, gpa + len) lies inside the mapping (checked above);
        // `bytes` is a host buffer, so the ranges do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(gpa as usize), bytes.len())
        };
        Ok(())
    }

    /// Copy every segment of `exe` from `file` to its address (the rest of
    /// each segment stays zero: the memory is fresh), then give each
    /// segment's pages upstream's host protection: read-only unless
    /// writable, never executable (`prog` names the kernel in errors).
    pub fn load(&mut self, exe: &Executable, file: &[u8], prog: &str) -> Result<(), MemoryError> {
        for seg in &exe.segments {
            self.write(seg.vaddr, seg.bytes(file))?;
        }
        for seg in &exe.segments {
            self.protect(seg, prog)?;
        }
        Ok(())
    }

    fn protect(&mut self, seg: &Segment, prog: &str) -> Result<(), MemoryError> {
        // elf::load checked start < end <= alloc, both page aligned.
        let (start, end) = (seg.start, seg.end.min(self.alloc));
        if start >= end {
            return Ok(());
        }
        let writable = seg.flags & PF_W != 0 && seg.flags & PF_X == 0;
        let prot = if writable {
            sys::ProtFlags::PROT_READ | sys::ProtFlags::PROT_WRITE
        } else {
            // Execute becomes read: the host never maps guest memory
            // executable. A segment with no rights stays readable so the
            // tender can still read what the guest hands it.
            self.read_only.push((start, end));
            sys::ProtFlags::PROT_READ
        };
        debug_assert!(start.is_multiple_of(PAGE) && end.is_multiple_of(PAGE));
        // SAFETY: [start, end) lies inside our mapping (checked by the
        // loader against the allocation and clamped above); no Rust
        // reference into guest memory exists.
        unsafe { sys::protect(self.base.add(start as usize), (end - start) as usize, prot) }
            .map_err(|e| MemoryError::Protect(prog.to_string(), e))
    }

    /// docs/hvt.md, "Guest pointers": `[gpa, gpa + len)` must lie inside `mem_size`, and (as
    /// upstream) may not end exactly at the top; for a guest entered at
    /// CPL3 it must also keep out of the hidden ranges
    /// ([`restrict_to_user`](Self::restrict_to_user)).
    pub fn check(&self, gpa: u64, len: u64) -> Result<u64, BadAccess> {
        match gpa.checked_add(len) {
            Some(end)
                if gpa < self.mem_size && end < self.mem_size && !meets(&self.hidden, gpa, end) =>
            {
                Ok(gpa)
            }
            _ => Err(BadAccess { gpa, len }),
        }
    }

    /// As [`check`](Self::check), and the tender may write there: not in a
    /// segment the host maps read-only.
    pub fn check_writable(&self, gpa: u64, len: u64) -> Result<u64, BadAccess> {
        self.check(gpa, len)?;
        if meets(&self.read_only, gpa, gpa + len) {
            return Err(BadAccess { gpa, len });
        }
        Ok(gpa)
    }

    /// A host pointer to `[gpa, gpa + len)`, after [`check`](Self::check).
    pub fn ptr(&self, gpa: u64, len: u64) -> Result<*mut u8, BadAccess> {
        self.check(gpa, len)?;
        // In bounds: checked against mem_size <= alloc.
        Ok(self.base.wrapping_add(gpa as usize))
    }

    /// A host pointer to `[gpa, gpa + len)` of the whole allocation, the
    /// part reserved for the tender (the net ring) included.
    pub fn reserved_ptr(&self, gpa: u64, len: u64) -> Result<*mut u8, BadAccess> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.alloc => Ok(self.base.wrapping_add(gpa as usize)),
            _ => Err(BadAccess { gpa, len }),
        }
    }

    /// Read the u64 at `gpa` of the tender's own part of memory (the trap
    /// frame its stub pushed on the trap stack), checked against the
    /// allocation only.
    pub fn read_own_u64(&self, gpa: u64) -> Result<u64, BadAccess> {
        let p = self.reserved_ptr(gpa, 8)?;
        // SAFETY: 8 bytes at p lie inside the mapping (checked); unaligned
        // read of plain bytes.
        Ok(unsafe { core::ptr::read_unaligned(p.cast::<u64>()) })
    }

    /// Copy `out.len()` bytes at `gpa` (checked as a guest pointer) into
    /// `out`.
    pub fn read_into(&self, gpa: u64, out: &mut [u8]) -> Result<(), BadAccess> {
        let p = self.ptr(gpa, out.len() as u64)?;
        // SAFETY: out.len() bytes at p lie inside the mapping (checked);
        // `out` is a distinct buffer of the tender's.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Read the u64 at `gpa` (already checked with its struct).
    pub fn read_u64(&self, gpa: u64) -> Result<u64, BadAccess> {
        let p = self.ptr(gpa, 8)?;
        // SAFETY: 8 bytes at p lie inside the mapping (checked); unaligned
        // read of plain bytes.
        Ok(unsafe { core::ptr::read_unaligned(p.cast::<u64>()) })
    }

    /// Read the i32 at `gpa`.
    pub fn read_i32(&self, gpa: u64) -> Result<i32, BadAccess> {
        let p = self.ptr(gpa, 4)?;
        // SAFETY: 4 bytes at p lie inside the mapping (checked).
        Ok(unsafe { core::ptr::read_unaligned(p.cast::<i32>()) })
    }

    /// Write the u64 at `gpa`, refused in read-only segments.
    pub fn write_u64(&self, gpa: u64, v: u64) -> Result<(), BadAccess> {
        self.check_writable(gpa, 8)?;
        let p = self.ptr(gpa, 8)?;
        // SAFETY: 8 bytes at p lie inside a writable part of the mapping
        // (checked); unaligned write of plain bytes.
        unsafe { core::ptr::write_unaligned(p.cast::<u64>(), v) };
        Ok(())
    }

    /// Write the i32 at `gpa`, refused in read-only segments.
    pub fn write_i32(&self, gpa: u64, v: i32) -> Result<(), BadAccess> {
        self.check_writable(gpa, 4)?;
        let p = self.ptr(gpa, 4)?;
        // SAFETY: as write_u64, for 4 bytes.
        unsafe { core::ptr::write_unaligned(p.cast::<i32>(), v) };
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by new() with this length; no
        // pointer into it outlives self (KVM's slot goes with the VM fd,
        // which the tender drops first or never).
        unsafe { sys::unmap(self.base, self.alloc as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_follow_upstream() {
        let mut m = GuestMemory::new(4 << 20).unwrap();
        let top = m.mem_size();
        assert_eq!(m.check(0x10000, 16), Ok(0x10000));
        assert!(m.check(top - 16, 15).is_ok());
        // Ending exactly at the top is refused, as upstream.
        assert!(m.check(top - 16, 16).is_err());
        assert!(m.check(top, 0).is_err());
        assert!(m.check(u64::MAX - 4, 16).is_err());
        m.set_mem_size(2 << 20);
        assert!(m.check((2 << 20) - 8, 4).is_ok());
        assert!(m.check((2 << 20) + 8, 4).is_err());
    }

    #[test]
    fn read_only_segments_are_not_written_for_the_guest() {
        let mut m = GuestMemory::new(4 << 20).unwrap();
        let file = vec![0x90u8; 0x3000];
        let exe = Executable {
            entry: 0x100000,
            segments: vec![
                Segment {
                    vaddr: 0x100000,
                    offset: 0,
                    filesz: 0x1800,
                    memsz: 0x1800,
                    flags: PF_X,
                    start: 0x100000,
                    end: 0x102000,
                },
                Segment {
                    vaddr: 0x102000,
                    offset: 0x2000,
                    filesz: 0x10,
                    memsz: 0x2000,
                    flags: PF_W | 4,
                    start: 0x102000,
                    end: 0x104000,
                },
            ],
            kernel_end: 0x104000,
        };
        m.load(&exe, &file, "k").unwrap();
        assert_eq!(m.read_u64(0x100000).unwrap(), 0x9090_9090_9090_9090);
        assert_eq!(m.read_u64(0x102010).unwrap(), 0, "bss tail is zero");
        assert!(m.write_u64(0x100008, 1).is_err());
        assert!(m.write_i32(0x101ffe, 1).is_err(), "straddles into text");
        m.write_u64(0x102000, 7).unwrap();
        assert_eq!(m.read_u64(0x102000).unwrap(), 7);
        m.write_i32(0x200000, -3).unwrap();
        assert_eq!(m.read_i32(0x200000).unwrap(), -3);
    }
}
