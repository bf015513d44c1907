//! Solo5 ELF notes: ABI1 (which tender, which ABI version) and MFT1 (the
//! manifest), found as upstream's `elf_load_note` finds them (docs/abis.md,
//! "ELF notes"): only the first
//! note header of each `PT_NOTE` segment is read, and the first Solo5 note of
//! the wanted type ends the walk. Same verdicts, same messages.

use crate::elf::{self, ElfError, Header, PT_NOTE};
use crate::manifest::{Manifest, ManifestError};
use solo5_abi::mft;
use solo5_abi::note::{self, target, version, AbiDesc};
use thiserror::Error;

/// `Elf64_Nhdr`: namesz, descsz, type.
const NHDR: u64 = 12;
/// A Solo5 note header: `Elf64_Nhdr` + "Solo5\0" padded to 8.
const SOLO5_NHDR: u64 = 20;
/// Upstream's largest ABI1 descriptor (`ABI1_NOTE_MAX_SIZE`).
pub const ABI1_MAX_DESC: u64 = 32;
/// Alignment of the ABI1 descriptor's data (no padding).
const ABI1_ALIGN: u64 = 4;
/// Alignment of the manifest inside the MFT1 descriptor (4 bytes of pad).
const MFT1_ALIGN: u64 = 8;
/// Bytes of the ABI1 descriptor a tender reads: target and version.
/// Upstream reads them whatever the size (past its buffer when the
/// descriptor is shorter); we refuse a shorter one.
const ABI1_MIN_DATA: u64 = 8;

/// Why the notes of an executable were refused. `Display` is upstream's
/// text, printed after `PROG: KERNEL: `.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    /// The ELF header or program header table was refused.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// A `PT_NOTE` too small to hold any note header.
    #[error(
        "invalid executable: phdr[{0}].p_filesz note does not fall within valid size ({1} < 12)"
    )]
    SegmentTooSmall(usize, u64),
    /// A note header at an offset no file can have.
    #[error("phdr[{0}] pread_in_full returned 18446744073709551615")]
    HeaderReadFailed(usize),
    /// The file ends inside a note header.
    #[error("phdr[{0}] bytes read mismatches note size ({1} != 20)")]
    HeaderShort(usize, usize),
    /// A Solo5 note of the wanted type with an empty or oversized
    /// descriptor.
    #[error(
        "invalid executable: phdr[{0}] note does not fall within valid size ({1} < 1 || {1} > {2})"
    )]
    DescSize(usize, u32, u64),
    /// The descriptor runs past its segment.
    #[error("invalid executable: phdr[{0}] note does not fall within valid size ({1} < {2})")]
    DescPastSegment(usize, u64, u64),
    /// The descriptor is no larger than its internal padding (upstream's
    /// literal `INV_EXE:`, and its wrapped-around size).
    #[error("INV_EXE: phdr[{0}] note does not fall within valid size ({1} <= 0 || {1} > {2})")]
    DescPad(usize, u64, u32),
    /// A descriptor at an offset no file can have.
    #[error("phdr[{0}] pread_in_full for note_data returned 18446744073709551615 < 0")]
    DescReadFailed(usize),
    /// The file ends inside the descriptor.
    #[error("phdr[{0}] bytes read mismatches note size ({1} != {2})")]
    DescShort(usize, usize, u64),
    /// An ABI1 descriptor too short to hold target and version (upstream
    /// reads past its buffer here; we refuse).
    #[error("invalid executable: phdr[{0}] note does not fall within valid size ({1} < 8)")]
    AbiTooShort(usize, u64),
    /// No ABI1 note.
    #[error("No Solo5 ABI information found in executable")]
    NoAbi,
    /// The ABI1 note names another tender.
    #[error("Executable is not for the solo5-{0} target")]
    WrongTarget(&'static str),
    /// The ABI1 note names a version this tender does not implement.
    #[error("Executable requests unsupported ABI version {0}")]
    UnsupportedVersion(u32),
    /// No MFT1 note.
    #[error("No Solo5 manifest found in executable")]
    NoManifest,
    /// The manifest failed validation.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// A Solo5 note found: which program header, and its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    /// Index of its `PT_NOTE` program header.
    pub phdr: usize,
    /// The descriptor after its internal padding.
    pub data: &'a [u8],
}

/// Find the Solo5 note of type `n_type` as upstream's `elf_load_note`
/// does: descriptor at most `max_desc` bytes, data aligned to `align`
/// (a power of two) from the note's start.
pub fn find<'a>(
    file: &'a [u8],
    hdr: &Header,
    n_type: u32,
    align: u64,
    max_desc: u64,
) -> Result<Option<Found<'a>>, NoteError> {
    for (i, p) in hdr.phdrs.iter().enumerate() {
        if p.p_type != PT_NOTE {
            continue;
        }
        if p.filesz < NHDR {
            return Err(NoteError::SegmentTooSmall(i, p.filesz));
        }
        if p.filesz < SOLO5_NHDR {
            continue;
        }
        let h = elf::pread(file, p.offset, SOLO5_NHDR).ok_or(NoteError::HeaderReadFailed(i))?;
        if h.len() as u64 != SOLO5_NHDR {
            return Err(NoteError::HeaderShort(i, h.len()));
        }
        let word = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (namesz, descsz, ty) = (word(0), word(4), word(8));
        // strncmp(name, "Solo5", 6): the bytes up to and including the NUL.
        if namesz as usize != note::NAME.len() || h[12..18] != note::NAME[..] || ty != n_type {
            continue;
        }
        if descsz < 1 || u64::from(descsz) > max_desc {
            return Err(NoteError::DescSize(i, descsz, max_desc));
        }
        let need = SOLO5_NHDR + u64::from(descsz);
        if p.filesz < need {
            return Err(NoteError::DescPastSegment(i, p.filesz, need));
        }
        let data_off = (SOLO5_NHDR + align - 1) & !(align - 1);
        let size = u64::from(descsz).wrapping_sub(data_off - SOLO5_NHDR);
        if size == 0 || size > u64::from(descsz) {
            return Err(NoteError::DescPad(i, size, descsz));
        }
        // p.offset <= i64::MAX: the header was read from there.
        let data =
            elf::pread(file, p.offset + data_off, size).ok_or(NoteError::DescReadFailed(i))?;
        if data.len() as u64 != size {
            return Err(NoteError::DescShort(i, data.len(), size));
        }
        return Ok(Some(Found { phdr: i, data }));
    }
    Ok(None)
}

/// One of our own notes whose `n_descsz` runs past its `PT_NOTE` segment;
/// carries `n_descsz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DescPastSegment(pub u64);

/// Find a note of ours (owner `owner`, its bytes up to and including the
/// NUL, e.g. `solo5_abi::stack::NAME`) of type `n_type`, by upstream's rule:
/// only the first note header of each `PT_NOTE` segment is read. Gives the
/// `n_descsz` bytes after the owner's padding (fewer where the file ends
/// first: the caller's size check refuses them). The ELF header and program
/// headers were checked by the Solo5 note pass already; a file whose headers
/// cannot be read, or a segment too short or unreadable for the header,
/// holds no such note here.
pub fn find_own<'a>(
    file: &'a [u8],
    owner: &[u8],
    n_type: u32,
) -> Result<Option<&'a [u8]>, DescPastSegment> {
    let Ok(hdr) = elf::header(file, "note") else {
        return Ok(None);
    };
    let head = NHDR + (owner.len() as u64).next_multiple_of(4);
    for p in hdr.phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        if p.filesz < head {
            continue;
        }
        let Some(h) = elf::pread(file, p.offset, head).filter(|h| h.len() as u64 == head) else {
            continue;
        };
        let word = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (namesz, descsz, ty) = (word(0), word(4), word(8));
        if namesz as usize != owner.len() || h[12..12 + owner.len()] != *owner || ty != n_type {
            continue;
        }
        let size = u64::from(descsz);
        if size > p.filesz - head {
            return Err(DescPastSegment(size));
        }
        return Ok(Some(elf::pread(file, p.offset + head, size).unwrap_or(&[])));
    }
    Ok(None)
}

/// The ABI1 descriptor of an executable, if it has one. Reserved fields
/// past a short descriptor read as zero.
pub fn abi(file: &[u8]) -> Result<Option<AbiDesc>, NoteError> {
    let hdr = elf::header(file, "note")?;
    let Some(f) = find(file, &hdr, note::TYPE_ABI1, ABI1_ALIGN, ABI1_MAX_DESC)? else {
        return Ok(None);
    };
    if (f.data.len() as u64) < ABI1_MIN_DATA {
        return Err(NoteError::AbiTooShort(f.phdr, f.data.len() as u64));
    }
    let word = |i: usize| elf::u32_at(f.data, i * 4).unwrap_or(0);
    Ok(Some(AbiDesc {
        abi_target: word(0),
        abi_version: word(1),
        reserved0: word(2),
        reserved1: word(3),
    }))
}

/// Check that an executable is for `tender` (`"spt"`, `"hvt"`): target
/// first, then version, with upstream's lines.
pub fn check_abi(
    file: &[u8],
    want_target: u32,
    want_version: u32,
    tender: &'static str,
) -> Result<AbiDesc, NoteError> {
    let a = abi(file)?.ok_or(NoteError::NoAbi)?;
    if a.abi_target != want_target {
        return Err(NoteError::WrongTarget(tender));
    }
    if a.abi_version != want_version {
        return Err(NoteError::UnsupportedVersion(a.abi_version));
    }
    Ok(a)
}

/// The ABI a binary asks for, among those solo5-spt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SptAbi {
    /// Our function-table ABI (docs/native-abi.md).
    Native,
    /// Upstream's syscall ABI, version 2.
    V2,
}

/// Which spt ABI an executable asks for; upstream's error lines when it
/// asks for something else.
pub fn spt_abi(file: &[u8]) -> Result<SptAbi, NoteError> {
    let a = abi(file)?.ok_or(NoteError::NoAbi)?;
    match (a.abi_target, a.abi_version) {
        (target::SPT, version::SPT) => Ok(SptAbi::V2),
        (target::SPT_NATIVE, version::SPT_NATIVE) => Ok(SptAbi::Native),
        (target::SPT | target::SPT_NATIVE, v) => Err(NoteError::UnsupportedVersion(v)),
        _ => Err(NoteError::WrongTarget("spt")),
    }
}

/// The manifest bytes of an executable (after the descriptor's padding),
/// not yet validated.
pub fn manifest_bytes(file: &[u8]) -> Result<Option<&[u8]>, NoteError> {
    let hdr = elf::header(file, "note")?;
    let max = mft::MAX_NOTE_DESC_SIZE as u64;
    Ok(find(file, &hdr, note::TYPE_MFT1, MFT1_ALIGN, max)?.map(|f| f.data))
}

/// The validated manifest of an executable.
pub fn manifest(file: &[u8]) -> Result<Manifest, NoteError> {
    let bytes = manifest_bytes(file)?.ok_or(NoteError::NoManifest)?;
    Ok(Manifest::parse(bytes)?)
}
