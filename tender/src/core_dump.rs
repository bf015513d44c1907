//! ELF core files of a guest, as gdb reads them with the kernel's symbols
//! (`gdb KERNEL CORE`), in upstream Solo5's layout (docs/hvt.md, "Core
//! dumps"): ELF64 `ET_CORE`, `EM_X86_64`, OSABI 255; a `PT_NOTE` at offset
//! 176 (one note, name `CORE` padded to 8, type `NT_PRSTATUS`, a 336-byte
//! `prstatus` whose `pr_reg` is a `user_regs_struct`), then one `PT_LOAD`
//! at offset 532 for guest memory, written sparsely: only the pages the
//! host has resident (`mincore`).
//!
//! This is the code a signal handler runs (solo5-spt's `--dumpcore`, on
//! the guest's FS base): the headers are built on the stack, the writes
//! are bare system calls ([`crate::raw`]), nothing allocates.

use crate::raw::{self, nr, syscall4};

/// Offset of the `PT_NOTE` data: after the ELF header and two program
/// headers.
pub const NOTE_OFFSET: u64 = 64 + 2 * 56;
/// Size of `prstatus_t` on x86_64.
pub const PRSTATUS_SIZE: usize = 336;
/// The note: header (12), name (8), descriptor.
pub const NOTE_SIZE: u64 = 12 + 8 + PRSTATUS_SIZE as u64;
/// File offset of the first byte of guest memory.
pub const MEM_OFFSET: u64 = NOTE_OFFSET + NOTE_SIZE;
/// Offset of `pr_reg` in `prstatus_t`.
const PR_REG: usize = 112;
/// Offset of `pr_cursig` in `prstatus_t`.
const PR_CURSIG: usize = 12;
/// Host page size.
const PAGE: u64 = 4096;
/// Pages asked of `mincore` at a time (its vector on the stack).
const CHUNK: usize = 1024;

/// `user_regs_struct`, in its order: r15 r14 r13 r12 rbp rbx r11 r10 r9
/// r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base
/// ds es fs gs.
pub type UserRegs = [u64; 27];

/// Indexes into [`UserRegs`].
pub mod reg {
    /// r15.
    pub const R15: usize = 0;
    /// r14.
    pub const R14: usize = 1;
    /// r13.
    pub const R13: usize = 2;
    /// r12.
    pub const R12: usize = 3;
    /// rbp.
    pub const RBP: usize = 4;
    /// rbx.
    pub const RBX: usize = 5;
    /// r11.
    pub const R11: usize = 6;
    /// r10.
    pub const R10: usize = 7;
    /// r9.
    pub const R9: usize = 8;
    /// r8.
    pub const R8: usize = 9;
    /// rax.
    pub const RAX: usize = 10;
    /// rcx.
    pub const RCX: usize = 11;
    /// rdx.
    pub const RDX: usize = 12;
    /// rsi.
    pub const RSI: usize = 13;
    /// rdi.
    pub const RDI: usize = 14;
    /// rip.
    pub const RIP: usize = 16;
    /// cs.
    pub const CS: usize = 17;
    /// eflags.
    pub const EFLAGS: usize = 18;
    /// rsp.
    pub const RSP: usize = 19;
    /// ss.
    pub const SS: usize = 20;
    /// fs_base.
    pub const FS_BASE: usize = 21;
}

/// The `prstatus_t` of a guest that died of `signal` with registers `r`.
pub fn prstatus(r: &UserRegs, signal: i32) -> [u8; PRSTATUS_SIZE] {
    let mut b = [0u8; PRSTATUS_SIZE];
    // pr_info.si_signo and pr_cursig; no pid (the guest is not a host
    // process), as upstream.
    b[0..4].copy_from_slice(&signal.to_le_bytes());
    b[PR_CURSIG..PR_CURSIG + 2].copy_from_slice(&(signal as u16).to_le_bytes());
    for (i, x) in r.iter().enumerate() {
        b[PR_REG + i * 8..PR_REG + i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// The ELF header, both program headers and the note: the first
/// [`MEM_OFFSET`] bytes of the file, for guest memory of `size` bytes at
/// guest address `vaddr` (0 on hvt; the start of guest memory on spt).
pub fn headers(vaddr: u64, size: u64, prstatus: &[u8; PRSTATUS_SIZE]) -> [u8; MEM_OFFSET as usize] {
    let mut b = [0u8; MEM_OFFSET as usize];
    let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OSABI 255.
    put(0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0xff]);
    put(16, &4u16.to_le_bytes()); // e_type ET_CORE
    put(18, &62u16.to_le_bytes()); // e_machine EM_X86_64
    put(20, &1u32.to_le_bytes()); // e_version
    put(32, &64u64.to_le_bytes()); // e_phoff
    put(52, &64u16.to_le_bytes()); // e_ehsize
    put(54, &56u16.to_le_bytes()); // e_phentsize
    put(56, &2u16.to_le_bytes()); // e_phnum
                                  // PT_NOTE: flags 0, align 0, vaddr 0.
    put(64, &4u32.to_le_bytes());
    put(64 + 8, &NOTE_OFFSET.to_le_bytes());
    put(64 + 32, &NOTE_SIZE.to_le_bytes());
    put(64 + 40, &NOTE_SIZE.to_le_bytes());
    // PT_LOAD of guest memory; flags 0 and align 0, as upstream writes it
    // (gdb reads the memory whatever the flags).
    put(120, &1u32.to_le_bytes());
    put(120 + 8, &MEM_OFFSET.to_le_bytes());
    put(120 + 16, &vaddr.to_le_bytes());
    put(120 + 24, &vaddr.to_le_bytes());
    put(120 + 32, &size.to_le_bytes());
    put(120 + 40, &size.to_le_bytes());
    // The note: namesz 8 (upstream's `char name[8]`), descsz, NT_PRSTATUS.
    let n = NOTE_OFFSET as usize;
    put(n, &8u32.to_le_bytes());
    put(n + 4, &(PRSTATUS_SIZE as u32).to_le_bytes());
    put(n + 8, &1u32.to_le_bytes());
    put(n + 12, b"CORE\0\0\0\0");
    put(n + 20, prstatus);
    b
}

/// `pwrite64` of all `len` bytes at `p` to offset `off` of `fd`, again
/// after a signal or a partial write; `Err(errno)` on a failure.
///
/// # Safety
/// `p` must be readable for `len` bytes.
pub unsafe fn pwrite_all(
    fd: i32,
    mut p: *const u8,
    mut len: usize,
    mut off: u64,
) -> Result<(), i32> {
    while len > 0 {
        // SAFETY: the caller's buffer is readable for `len` bytes.
        let n = unsafe { raw::pwrite(fd, p, len, off) };
        match n {
            n if n > 0 => {
                p = p.wrapping_add(n as usize);
                len -= n as usize;
                off += n as u64;
            }
            0 => return Err(libc::EIO),
            e if e == -(libc::EINTR as isize) => {}
            e => return Err(-e as i32),
        }
    }
    Ok(())
}

/// Write every resident page of the guest memory at `base` (`size`
/// bytes, page aligned) to `fd` at [`MEM_OFFSET`] + its offset, one
/// `pwrite64` per run of resident pages, and a zero byte at the very end
/// if the last page is not resident (the file then has its full length).
/// Returns (pages written, total pages, the first errno).
///
/// # Safety
/// `[base, base + size)` must be one mapping of this process.
pub unsafe fn write_resident(fd: i32, base: *const u8, size: u64) -> (u64, u64, Option<i32>) {
    let total = size / PAGE;
    let mut vec = [0u8; CHUNK];
    let (mut written, mut page, mut last_resident) = (0, 0, false);
    while page < total {
        let n = (total - page).min(CHUNK as u64) as usize;
        let at = base.wrapping_add((page * PAGE) as usize);
        // SAFETY: [at, at + n pages) lies inside the mapping (the caller's
        // promise), page aligned; `vec` holds n >= the pages asked bytes.
        let rc = unsafe {
            syscall4(
                nr::MINCORE,
                at as usize,
                n * PAGE as usize,
                vec.as_mut_ptr() as usize,
                0,
            )
        };
        if rc != 0 {
            return (written, total, Some(-rc as i32));
        }
        let mut i = 0;
        while i < n {
            if vec[i] & 1 == 0 {
                last_resident = false;
                i += 1;
                continue;
            }
            let start = i;
            while i < n && vec[i] & 1 != 0 {
                i += 1;
            }
            last_resident = true;
            let off = (page + start as u64) * PAGE;
            let len = (i - start) * PAGE as usize;
            let run = base.wrapping_add(off as usize);
            // SAFETY: the run lies inside the mapping (above).
            let wrote = unsafe { pwrite_all(fd, run, len, MEM_OFFSET + off) };
            if let Err(e) = wrote {
                return (written, total, Some(e));
            }
            written += (i - start) as u64;
        }
        page += n as u64;
    }
    if !last_resident && size > 0 {
        let zero = 0u8;
        // SAFETY: one byte of a live local.
        if let Err(e) = unsafe { pwrite_all(fd, &zero, 1, MEM_OFFSET + size - 1) } {
            return (written, total, Some(e));
        }
    }
    (written, total, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_upstreams_layout() {
        let mut r: UserRegs = [0; 27];
        r[reg::RIP] = 0x10332f;
        r[reg::RBX] = 0x10000;
        r[reg::CS] = 0x33;
        let h = headers(0x10000, 4 << 20, &prstatus(&r, libc::SIGSEGV));
        assert_eq!(h.len(), 532);
        assert_eq!(&h[..8], &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0xff]);
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().unwrap());
        assert_eq!((u64_at(72), u64_at(96)), (176, 356), "PT_NOTE");
        assert_eq!(
            (u64_at(128), u64_at(136), u64_at(152)),
            (532, 0x10000, 4 << 20),
            "PT_LOAD"
        );
        assert_eq!(&h[176..188], &[8, 0, 0, 0, 0x50, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&h[188..196], b"CORE\0\0\0\0");
        let reg_at = |i: usize| u64_at(196 + 112 + i * 8);
        assert_eq!(
            (reg_at(16), reg_at(5), reg_at(17)),
            (0x10332f, 0x10000, 0x33)
        );
        assert_eq!(
            i32::from_le_bytes(h[196..200].try_into().unwrap()),
            libc::SIGSEGV
        );
    }
}
