//! A small, bounds-checked reader for the static ELF64 executables Solo5
//! runs (ABI.md section 1). It never panics on any input: every offset and
//! size from the file goes through checked arithmetic before it is used.

use solo5_abi::{LOAD_MIN, PAGE_SIZE};
use thiserror::Error;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
/// Segment permission bits (`p_flags`).
pub const PF_X: u32 = 1;
/// Segment is writable.
pub const PF_W: u32 = 2;
/// Segment is readable.
pub const PF_R: u32 = 4;
/// More program headers than this is not a Solo5 executable.
const MAX_PHDRS: usize = 256;

/// Why an executable was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    /// Not ELF64 little-endian x86_64 `ET_EXEC`, or a header out of bounds.
    #[error("Invalid or unsupported executable")]
    Unsupported,
    /// A `PT_LOAD` segment lies outside guest memory, overlaps another one,
    /// or has inconsistent sizes or alignment.
    #[error("Invalid or unsupported executable: {0}")]
    BadSegment(&'static str),
    /// A segment asks for both write and execute permissions.
    #[error("requests WRITE and EXEC permissions")]
    WriteExec,
    /// The entry point is outside `[0x100000, mem_size)`.
    #[error("Invalid or unsupported executable: entry point outside guest memory")]
    BadEntry,
}

/// One `PT_LOAD` segment, validated against guest memory.
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
    /// `PF_R | PF_W | PF_X` bits.
    pub flags: u32,
}

impl Segment {
    /// First page of the segment.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }
    /// End of the last page of the segment (exclusive), saturating at the
    /// last page boundary of the address space. `vaddr + memsz` cannot
    /// overflow: it was checked against `mem_size` when the segment was read.
    pub fn page_end(&self) -> u64 {
        self.vaddr
            .saturating_add(self.memsz)
            .checked_next_multiple_of(PAGE_SIZE)
            .unwrap_or(!(PAGE_SIZE - 1))
    }
}

/// A `PT_NOTE` segment: where it lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteSegment {
    /// File offset.
    pub offset: usize,
    /// Size in the file.
    pub size: usize,
}

/// A parsed executable: what the loader needs, nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    /// Entry point (guest address).
    pub entry: u64,
    /// `PT_LOAD` segments in ascending address order, non-overlapping.
    pub segments: Vec<Segment>,
    /// `PT_NOTE` segments in program-header order.
    pub notes: Vec<NoteSegment>,
    /// End of the highest segment in memory.
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

/// Parse and validate `file` for a guest memory of `mem_size` bytes.
pub fn parse(file: &[u8], mem_size: u64) -> Result<Executable, ElfError> {
    use ElfError::Unsupported;
    if file.len() < EHDR_SIZE || &file[0..4] != b"\x7fELF" {
        return Err(Unsupported);
    }
    // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, EI_VERSION = EV_CURRENT.
    if file[4] != 2 || file[5] != 1 || file[6] != 1 {
        return Err(Unsupported);
    }
    let e_type = u16_at(file, 16).ok_or(Unsupported)?;
    let e_machine = u16_at(file, 18).ok_or(Unsupported)?;
    let e_version = u32_at(file, 20).ok_or(Unsupported)?;
    let entry = u64_at(file, 24).ok_or(Unsupported)?;
    let phoff = u64_at(file, 32).ok_or(Unsupported)?;
    let phentsize = u16_at(file, 54).ok_or(Unsupported)?;
    let phnum = u16_at(file, 56).ok_or(Unsupported)? as usize;
    if e_type != ET_EXEC || e_machine != EM_X86_64 || e_version != 1 {
        return Err(Unsupported);
    }
    if phentsize as usize != PHDR_SIZE || phnum == 0 || phnum > MAX_PHDRS {
        return Err(Unsupported);
    }
    let phoff = usize::try_from(phoff).map_err(|_| Unsupported)?;
    let ph_end = phoff.checked_add(phnum * PHDR_SIZE).ok_or(Unsupported)?;
    let phdrs = file.get(phoff..ph_end).ok_or(Unsupported)?;

    let mut exe = Executable {
        entry,
        segments: Vec::new(),
        notes: Vec::new(),
        kernel_end: 0,
    };
    for ph in phdrs.chunks_exact(PHDR_SIZE) {
        // Every field lies inside the 56-byte chunk, so these reads succeed.
        let p_type = u32_at(ph, 0).ok_or(Unsupported)?;
        let p_flags = u32_at(ph, 4).ok_or(Unsupported)?;
        let p_offset = u64_at(ph, 8).ok_or(Unsupported)?;
        let p_vaddr = u64_at(ph, 16).ok_or(Unsupported)?;
        let p_filesz = u64_at(ph, 32).ok_or(Unsupported)?;
        let p_memsz = u64_at(ph, 40).ok_or(Unsupported)?;
        let p_align = u64_at(ph, 48).ok_or(Unsupported)?;
        let in_file = p_offset
            .checked_add(p_filesz)
            .is_some_and(|end| end <= file.len() as u64);
        match p_type {
            PT_LOAD => {
                let seg = load_segment(
                    p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align, mem_size,
                )?;
                if !in_file {
                    return Err(ElfError::BadSegment("segment beyond end of file"));
                }
                if seg.memsz == 0 {
                    continue;
                }
                if let Some(prev) = exe.segments.last() {
                    if seg.page_start() < prev.page_end() {
                        return Err(ElfError::BadSegment(
                            "segments overlap or are not in ascending order",
                        ));
                    }
                }
                exe.kernel_end = seg.vaddr + seg.memsz;
                exe.segments.push(seg);
            }
            PT_NOTE => {
                if !in_file {
                    return Err(ElfError::BadSegment("note segment beyond end of file"));
                }
                // Both fit in usize: they are bounded by file.len().
                exe.notes.push(NoteSegment {
                    offset: p_offset as usize,
                    size: p_filesz as usize,
                });
            }
            _ => {}
        }
    }
    if exe.segments.is_empty() {
        return Err(ElfError::BadSegment("no loadable segment"));
    }
    if entry < LOAD_MIN || entry >= mem_size {
        return Err(ElfError::BadEntry);
    }
    Ok(exe)
}

fn load_segment(
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
    mem_size: u64,
) -> Result<Segment, ElfError> {
    if flags & PF_W != 0 && flags & PF_X != 0 {
        return Err(ElfError::WriteExec);
    }
    if memsz < filesz {
        return Err(ElfError::BadSegment("p_memsz is smaller than p_filesz"));
    }
    if align > 1 && !align.is_power_of_two() {
        return Err(ElfError::BadSegment("p_align is not a power of two"));
    }
    // Rounded down to its alignment, the segment must start on a page.
    let align = align.max(1);
    if !(vaddr & !(align - 1)).is_multiple_of(PAGE_SIZE) {
        return Err(ElfError::BadSegment("segment is not page aligned"));
    }
    let end = vaddr
        .checked_add(memsz)
        .ok_or(ElfError::BadSegment("segment outside guest memory"))?;
    if vaddr < LOAD_MIN || end > mem_size {
        return Err(ElfError::BadSegment("segment outside guest memory"));
    }
    Ok(Segment {
        vaddr,
        offset,
        filesz,
        memsz,
        flags,
    })
}
