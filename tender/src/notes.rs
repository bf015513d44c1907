//! Solo5 ELF notes: ABI1 (which tender, which ABI version) and MFT1 (the
//! manifest), found by walking the `PT_NOTE` segments (ABI.md section 2).

use crate::elf::{u32_at, Executable};
use crate::manifest::{Manifest, ManifestError};
use solo5_abi::mft;
use solo5_abi::note::{self, target, version, AbiDesc};
use thiserror::Error;

/// Note header: namesz, descsz, type.
const NOTE_HDR: usize = 12;

/// Why the notes of an executable were refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    /// A Solo5 note whose descriptor is empty, too large for its type or
    /// larger than its segment.
    #[error("note does not fall within valid size")]
    BadSize,
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

/// The ABI a binary asks for, among those solo5-spt runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SptAbi {
    /// Our function-table ABI (docs/native-abi.md).
    Native,
    /// Upstream's syscall ABI, version 2.
    V2,
}

/// Find the descriptor of the first Solo5 note of type `n_type`, bounded by
/// `max_desc`. Notes of other owners or types are skipped.
pub fn find<'a>(
    file: &'a [u8],
    exe: &Executable,
    n_type: u32,
    max_desc: usize,
) -> Result<Option<&'a [u8]>, NoteError> {
    for seg in &exe.notes {
        // parse() checked that the segment lies inside the file.
        let Some(data) = file.get(seg.offset..seg.offset + seg.size) else {
            continue;
        };
        let mut at = 0usize;
        while at + NOTE_HDR <= data.len() {
            let (Some(namesz), Some(descsz), Some(ty)) =
                (u32_at(data, at), u32_at(data, at + 4), u32_at(data, at + 8))
            else {
                break;
            };
            let name_off = at + NOTE_HDR;
            let desc_off = name_off.saturating_add(align4(namesz as usize));
            let next = desc_off.saturating_add(align4(descsz as usize));
            let owner = data.get(name_off..name_off.saturating_add(namesz as usize));
            if owner == Some(&note::NAME[..]) && ty == n_type {
                let descsz = descsz as usize;
                if descsz == 0 || descsz > max_desc {
                    return Err(NoteError::BadSize);
                }
                return match data.get(desc_off..desc_off.saturating_add(descsz)) {
                    Some(desc) => Ok(Some(desc)),
                    None => Err(NoteError::BadSize),
                };
            }
            if next <= at || next > data.len() {
                break;
            }
            at = next;
        }
    }
    Ok(None)
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// The ABI1 descriptor of an executable, if it has one.
pub fn abi(file: &[u8], exe: &Executable) -> Result<Option<AbiDesc>, NoteError> {
    let Some(d) = find(file, exe, note::TYPE_ABI1, note::ABI1_DESC_SIZE as usize)? else {
        return Ok(None);
    };
    if d.len() != note::ABI1_DESC_SIZE as usize {
        return Err(NoteError::BadSize);
    }
    let word = |i: usize| u32_at(d, i * 4).ok_or(NoteError::BadSize);
    Ok(Some(AbiDesc {
        abi_target: word(0)?,
        abi_version: word(1)?,
        reserved0: word(2)?,
        reserved1: word(3)?,
    }))
}

/// Which spt ABI an executable asks for; the upstream error lines when it
/// asks for something else.
pub fn spt_abi(file: &[u8], exe: &Executable) -> Result<SptAbi, NoteError> {
    let abi = abi(file, exe)?.ok_or(NoteError::NoAbi)?;
    match (abi.abi_target, abi.abi_version) {
        (target::SPT, version::SPT) => Ok(SptAbi::V2),
        (target::SPT_NATIVE, version::SPT_NATIVE) => Ok(SptAbi::Native),
        (target::SPT | target::SPT_NATIVE, v) => Err(NoteError::UnsupportedVersion(v)),
        _ => Err(NoteError::WrongTarget("spt")),
    }
}

/// The validated manifest of an executable.
pub fn manifest(file: &[u8], exe: &Executable) -> Result<Manifest, NoteError> {
    let desc =
        find(file, exe, note::TYPE_MFT1, mft::MAX_NOTE_DESC_SIZE)?.ok_or(NoteError::NoManifest)?;
    // The manifest follows 4 bytes of padding inside the descriptor.
    let bytes = desc
        .get(mft::NOTE_DESC_PAD..)
        .ok_or(ManifestError::Invalid)?;
    Ok(Manifest::parse(bytes)?)
}
