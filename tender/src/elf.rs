//! The ELF loader's decisions, exactly as upstream Solo5 makes them
//! (docs/abis.md, "ELF loading"): which executables
//! are refused, with which line, and where every segment goes.
//!
//! Everything here works on the file's bytes and never panics: every offset
//! and size from the file goes through checked arithmetic. Reading past the
//! end of the file is answered as upstream's `pread` would answer it (a short
//! count), so the same file gets the same verdict and the same message.
//! Nothing is mapped here; a tender copies [`Executable::segments`] into
//! guest memory and gives each its rights.

use solo5_abi::{LOAD_MIN, PAGE_SIZE};
use thiserror::Error;

/// Size of the ELF64 file header.
pub const EHDR_SIZE: usize = 64;
/// Size of one ELF64 program header.
pub const PHDR_SIZE: usize = 56;
/// Loadable segment.
pub const PT_LOAD: u32 = 1;
/// Note segment.
pub const PT_NOTE: u32 = 4;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
/// Segment permission bits (`p_flags`).
pub const PF_X: u32 = 1;
/// Segment is writable.
pub const PF_W: u32 = 2;
/// Segment is readable.
pub const PF_R: u32 = 4;

/// Why an executable was refused. `Display` is upstream's text, which a
/// tender prints after `PROG: KERNEL: `.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    /// The file is shorter than an ELF header.
    #[error("invalid executable: elf header does not match the expected size ({0} != 64)")]
    ShortHeader(usize),
    /// Not an ELF64 little-endian x86_64 `ET_EXEC` with 56-byte program
    /// headers (`stage` says which pass noticed: "note" or "elf").
    #[error("invalid executable: invalid or unsupported executable (elf header invalid while loading {0})")]
    BadHeader(&'static str),
    /// The program header table lies at an offset no file can have.
    #[error("pread_in_full for ph_size returned 18446744073709551615 < 0 while loading {0}")]
    PhdrReadFailed(&'static str),
    /// The program header table runs past the end of the file.
    #[error("invalid executable: program header does not match the expected size ({0} != {1} while loading {2})")]
    ShortPhdrs(usize, usize, &'static str),
    /// `e_entry` outside `[0x100000, mem_size)`.
    #[error("invalid executable: e_entry does not fall within the memory allocation range ({0} < {1} || {0} >= {2})")]
    Entry(u64, u64, u64),
    /// `p_vaddr` below the lowest load address.
    #[error("invalid executable: phdr[{0}].p_vaddr outside of valid memory range ({1} < {2})")]
    VaddrLow(usize, u64, u64),
    /// `p_vaddr` below that of the previous loaded segment.
    #[error("invalid executable: phdr[{0}].p_vaddr is not in ascending order ({1} < {2})")]
    NotAscending(usize, u64, u64),
    /// `p_align` is zero or not a power of two.
    #[error("invalid executable: phdr[{0}].p_vaddr is outside of memory range (align_down with {1} (p_vaddr) and {2} (p_align) failed)")]
    AlignDown(usize, u64, u64),
    /// The aligned-down start lies below the lowest load address.
    #[error("invalid executable: phdr[{0}].p_vaddr_start is outside of memory range ({1} < {2} (p_min_loadaddr))")]
    StartLow(usize, u64, u64),
    /// The aligned-down start lies below the end of an earlier segment.
    #[error("invalid executable: phdr[{0}].p_vaddr_start is outside of memory range ({1} < {2} (e_end))")]
    Overlap(usize, u64, u64),
    /// `p_vaddr` at or above the memory size.
    #[error("invalid executable: phdr[{0}] program file segment falls outside of valid range ({1} >= {2} (mem_size))")]
    FileStart(usize, u64, u64),
    /// `p_vaddr + p_filesz` overflows.
    #[error("invalid executable: phdr[{0}] program file segment falls outside of valid range ({1} (p_vaddr) + {2} (p_filesz) overflow)")]
    FileOverflow(usize, u64, u64),
    /// The file part ends above the memory size.
    #[error("invalid executable: phdr[{0}] program file segment falls outside of valid range ({1} (p_vaddr + p_filesz) > {2} (mem_size))")]
    FileEnd(usize, u64, u64),
    /// `p_memsz < p_filesz`.
    #[error("invalid executable: phdr[{0}] program memory segment falls outside of valid range ({1} (p_memsz) < {2} (p_filesz))")]
    MemSmall(usize, u64, u64),
    /// `p_vaddr + p_memsz` overflows.
    #[error("invalid executable: phdr[{0}] program memory segment falls outside of valid range ({1} (p_vaddr) + {2} (p_memsz) overflow)")]
    MemOverflow(usize, u64, u64),
    /// The end, aligned up to `p_align`, overflows.
    #[error("invalid executable: phdr[{0}] program memory segment falls outside of valid range (align_up with {1} (p_vaddr_end) and {2} (p_align) failed)")]
    AlignUp(usize, u64, u64),
    /// The aligned end lies above the memory size.
    #[error("invalid executable: phdr[{0}] program memory segment falls outside of valid range ({1} (p_vaddr + p_memsz) > {2} (mem_size))")]
    MemEnd(usize, u64, u64),
    /// The file could not supply the segment's bytes (`-1` when the
    /// offset itself is impossible).
    #[error("phdr[{0}] pread_in_full returned {1}")]
    ReadFailed(usize, u64),
    /// The file ends inside the segment's bytes.
    #[error(
        "phdr[{0}] host file segment mismatched (pread_in_full returned {1} != {2} (p_filesz))"
    )]
    ShortSegment(usize, u64, u64),
    /// The aligned start is not on a page.
    #[error("invalid executable: phdr[{0}] p_vaddr_start not aligned with architectural page size ({1} & (4095 - 1))")]
    StartUnaligned(usize, u64),
    /// The aligned end is not on a page.
    #[error("invalid executable: phdr[{0}] p_vaddr_end not aligned with architectural page size ({1} & (4095 - 1))")]
    EndUnaligned(usize, u64),
    /// The segment asks to be writable and executable.
    #[error("invalid executable: phdr[{0}] requests WRITE and EXEC permissions")]
    WriteExec(usize),
}

/// One program header, as it is in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    /// `p_type`.
    pub p_type: u32,
    /// `p_flags`.
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
}

/// The ELF header fields a tender uses, and the program header table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `e_entry`.
    pub entry: u64,
    /// Every program header, in table order.
    pub phdrs: Vec<Phdr>,
}

/// One loaded segment: a `PT_LOAD` with `p_filesz != 0` that passed every
/// check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest address of the first byte.
    pub vaddr: u64,
    /// Offset of the bytes in the file.
    pub offset: u64,
    /// Bytes copied from the file.
    pub filesz: u64,
    /// Bytes in memory; the tail past `filesz` is zero.
    pub memsz: u64,
    /// `PF_R | PF_W | PF_X` bits (others ignored).
    pub flags: u32,
    /// `vaddr` aligned down to `p_align`: a page boundary.
    pub start: u64,
    /// `vaddr + memsz` aligned up to `p_align`: a page boundary.
    pub end: u64,
}

impl Segment {
    /// The bytes of the file that go to `vaddr`.
    pub fn bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        // load() checked that offset + filesz lies inside the file.
        let (off, len) = (self.offset as usize, self.filesz as usize);
        &file[off..off + len]
    }
}

/// What a tender needs to load an executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// Entry point (guest address).
    pub entry: u64,
    /// Loaded segments in program header order (ascending, disjoint pages).
    pub segments: Vec<Segment>,
    /// The highest aligned end of a loaded segment (upstream's `p_end`,
    /// the boot info's `kernel_end`); 0 when nothing is loaded.
    pub kernel_end: u64,
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// What `pread(fd, buf, count, offset)` of a regular file of `file`'s
/// bytes returns: the bytes it would read, or `None` where the kernel
/// would refuse the offset (negative as an `off_t`, or past `off_t` once
/// the count is added).
pub fn pread(file: &[u8], offset: u64, count: u64) -> Option<&[u8]> {
    if offset > i64::MAX as u64 || offset.checked_add(count)? > i64::MAX as u64 {
        return None;
    }
    let len = file.len() as u64;
    if offset >= len {
        return Some(&[]);
    }
    let end = len.min(offset + count);
    // offset < end <= len, both fit in usize.
    Some(&file[offset as usize..end as usize])
}

/// Read and check the ELF header and program header table, as upstream's
/// note pass (`stage` = "note") or loader (`stage` = "elf") does.
pub fn header(file: &[u8], stage: &'static str) -> Result<Header, ElfError> {
    if file.len() < EHDR_SIZE {
        return Err(ElfError::ShortHeader(file.len()));
    }
    let h = &file[..EHDR_SIZE];
    let half = |o| u16_at(h, o).unwrap_or(0);
    let valid = &h[0..4] == b"\x7fELF"
        && h[4] == 2 // ELFCLASS64
        && h[5] == 1 // ELFDATA2LSB
        && u32_at(h, 20) == Some(1) // e_version, not EI_VERSION
        && half(52) as usize == EHDR_SIZE
        && half(56) >= 1
        && half(54) as usize == PHDR_SIZE
        && half(16) == ET_EXEC
        && half(18) == EM_X86_64;
    if !valid {
        return Err(ElfError::BadHeader(stage));
    }
    let entry = u64_at(h, 24).unwrap_or(0);
    let phoff = u64_at(h, 32).unwrap_or(0);
    let phnum = half(56) as usize;
    let want = phnum * PHDR_SIZE;
    let table = pread(file, phoff, want as u64).ok_or(ElfError::PhdrReadFailed(stage))?;
    if table.len() != want {
        return Err(ElfError::ShortPhdrs(table.len(), want, stage));
    }
    let phdrs = table
        .chunks_exact(PHDR_SIZE)
        .map(|p| Phdr {
            p_type: u32_at(p, 0).unwrap_or(0),
            flags: u32_at(p, 4).unwrap_or(0),
            offset: u64_at(p, 8).unwrap_or(0),
            vaddr: u64_at(p, 16).unwrap_or(0),
            filesz: u64_at(p, 32).unwrap_or(0),
            memsz: u64_at(p, 40).unwrap_or(0),
            align: u64_at(p, 48).unwrap_or(0),
        })
        .collect();
    Ok(Header { entry, phdrs })
}

fn align_down(addr: u64, align: u64) -> Option<u64> {
    align.is_power_of_two().then(|| addr & !(align - 1))
}

fn align_up(addr: u64, align: u64) -> Option<u64> {
    if !align.is_power_of_two() {
        return None;
    }
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// Decide how `file` loads into `mem_size` bytes of guest memory: every
/// check of upstream's `elf_load`, in its order, with its messages.
/// `PT_LOAD`s with `p_filesz == 0` are skipped before any check, whatever
/// their address and `p_memsz`; every other program header type is ignored.
pub fn load(file: &[u8], mem_size: u64) -> Result<Executable, ElfError> {
    let h = header(file, "elf")?;
    let min = LOAD_MIN;
    if h.entry < min || h.entry >= mem_size {
        return Err(ElfError::Entry(h.entry, min, mem_size));
    }
    let mut e_end = 0u64;
    let mut last_vaddr = 0u64;
    let mut segments = Vec::new();
    for (i, p) in h.phdrs.iter().enumerate() {
        if p.filesz == 0 || p.p_type != PT_LOAD {
            continue;
        }
        let seg = check_segment(i, p, min, mem_size, e_end, last_vaddr)?;
        last_vaddr = p.vaddr;
        e_end = e_end.max(seg.end);
        match pread(file, p.offset, p.filesz) {
            None => return Err(ElfError::ReadFailed(i, u64::MAX)),
            Some(b) if b.len() as u64 != p.filesz => {
                return Err(ElfError::ShortSegment(i, b.len() as u64, p.filesz))
            }
            Some(_) => {}
        }
        if seg.start & (PAGE_SIZE - 1) != 0 {
            return Err(ElfError::StartUnaligned(i, seg.start));
        }
        if seg.end & (PAGE_SIZE - 1) != 0 {
            return Err(ElfError::EndUnaligned(i, seg.end));
        }
        if p.flags & PF_W != 0 && p.flags & PF_X != 0 {
            return Err(ElfError::WriteExec(i));
        }
        segments.push(seg);
    }
    Ok(Executable {
        entry: h.entry,
        segments,
        kernel_end: e_end,
    })
}

/// Checks 1 to 11 of docs/abis.md, "ELF loading" for program header `i`.
fn check_segment(
    i: usize,
    p: &Phdr,
    min: u64,
    mem_size: u64,
    e_end: u64,
    last_vaddr: u64,
) -> Result<Segment, ElfError> {
    let v = p.vaddr;
    if v < min {
        return Err(ElfError::VaddrLow(i, v, min));
    }
    if v < last_vaddr {
        return Err(ElfError::NotAscending(i, v, last_vaddr));
    }
    let start = align_down(v, p.align).ok_or(ElfError::AlignDown(i, v, p.align))?;
    if start < min {
        return Err(ElfError::StartLow(i, start, min));
    }
    if start < e_end {
        return Err(ElfError::Overlap(i, start, e_end));
    }
    if v >= mem_size {
        return Err(ElfError::FileStart(i, v, mem_size));
    }
    let file_end = v
        .checked_add(p.filesz)
        .ok_or(ElfError::FileOverflow(i, v, p.filesz))?;
    if file_end > mem_size {
        return Err(ElfError::FileEnd(i, file_end, mem_size));
    }
    if p.memsz < p.filesz {
        return Err(ElfError::MemSmall(i, p.memsz, p.filesz));
    }
    let mem_end = v
        .checked_add(p.memsz)
        .ok_or(ElfError::MemOverflow(i, v, p.memsz))?;
    let end = align_up(mem_end, p.align).ok_or(ElfError::AlignUp(i, mem_end, p.align))?;
    if end > mem_size {
        return Err(ElfError::MemEnd(i, end, mem_size));
    }
    Ok(Segment {
        vaddr: v,
        offset: p.offset,
        filesz: p.filesz,
        memsz: p.memsz,
        flags: p.flags,
        start,
        end,
    })
}
