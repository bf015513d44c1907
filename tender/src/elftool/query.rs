//! `query-manifest` and `query-abi`: read the Solo5 notes of an executable
//! and print them as the JSON documents upstream's elftool prints.
//!
//! Only the notes are read. Like upstream's `elf_load_note`, the reader
//! checks the ELF header and the program headers but none of the loader's
//! rules for `PT_LOAD` segments or the entry point ([`crate::elf::parse`]
//! applies those for a tender): an orchestrator may query a binary built
//! for a target whose memory layout this tender does not run.

use crate::elf::{u16_at, u32_at, u64_at, Executable, NoteSegment};
use crate::manifest::Manifest;
use crate::notes::{self, NoteError};
use solo5_abi::mft::{self, kind};
use solo5_abi::note::{target, AbiDesc};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const PT_NOTE: u32 = 4;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
/// Smallest note: its 12-byte header.
const NHDR_SIZE: u64 = 12;

/// Why a query failed.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The binary could not be read.
    #[error("{}: Could not open", path.display())]
    Open {
        /// The binary.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The binary was read but refused.
    #[error("{}", path.display())]
    Binary {
        /// The binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: BinaryError,
    },
}

/// Why the bytes of a binary were refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BinaryError {
    /// Not an ELF64 little-endian x86_64 `ET_EXEC` with sane program
    /// headers.
    #[error("invalid executable: {0}")]
    Invalid(&'static str),
    /// A Solo5 note with an impossible size.
    #[error("invalid executable")]
    Note(#[source] NoteError),
    /// No MFT1 note.
    #[error("No Solo5 manifest found in executable")]
    NoManifest,
    /// The MFT1 note is not a valid manifest.
    #[error("Manifest validation failed")]
    InvalidManifest,
    /// No ABI1 note.
    #[error("No Solo5 ABI information found in executable")]
    NoAbi,
}

/// Read the ELF header and program headers of `file` and return its
/// `PT_NOTE` segments, the way upstream's `elf_load_note` accepts a file.
/// The returned [`Executable`] has no `PT_LOAD` segments and entry 0: it is
/// only for [`notes::find`].
pub fn note_segments(file: &[u8]) -> Result<Executable, BinaryError> {
    use BinaryError::Invalid;
    if file.len() < EHDR_SIZE || &file[0..4] != b"\x7fELF" {
        return Err(Invalid("not an ELF file"));
    }
    let field16 = |off| u16_at(file, off).ok_or(Invalid("truncated ELF header"));
    // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB, e_version = EV_CURRENT,
    // e_ehsize = 64, e_phentsize = 56, like upstream's ehdr_is_valid().
    let version = u32_at(file, 20).ok_or(Invalid("truncated ELF header"))?;
    if file[4] != 2 || file[5] != 1 || version != 1 || field16(52)? != EHDR_SIZE as u16 {
        return Err(Invalid("not a 64-bit little-endian ELF file"));
    }
    if field16(16)? != ET_EXEC || field16(18)? != EM_X86_64 {
        return Err(Invalid("not an x86_64 static executable"));
    }
    let phnum = field16(56)? as usize;
    if field16(54)? != PHDR_SIZE as u16 || phnum == 0 {
        return Err(Invalid("no program headers"));
    }
    let phoff = u64_at(file, 32).ok_or(Invalid("truncated ELF header"))?;
    let phdrs = usize::try_from(phoff)
        .ok()
        .and_then(|start| file.get(start..start.checked_add(phnum * PHDR_SIZE)?))
        .ok_or(Invalid("program headers beyond end of file"))?;
    let mut exe = Executable {
        entry: 0,
        segments: Vec::new(),
        notes: Vec::new(),
        kernel_end: 0,
    };
    for ph in phdrs.chunks_exact(PHDR_SIZE) {
        if u32_at(ph, 0) != Some(PT_NOTE) {
            continue;
        }
        let (Some(offset), Some(size)) = (u64_at(ph, 8), u64_at(ph, 32)) else {
            return Err(Invalid("truncated program header"));
        };
        if size < NHDR_SIZE {
            return Err(Invalid("note segment smaller than a note header"));
        }
        match offset.checked_add(size) {
            Some(end) if end <= file.len() as u64 => {}
            _ => return Err(Invalid("note segment beyond end of file")),
        }
        // Both fit in usize: they are bounded by file.len().
        exe.notes.push(NoteSegment {
            offset: offset as usize,
            size: size as usize,
        });
    }
    Ok(exe)
}

/// The validated manifest of `file`.
pub fn manifest(file: &[u8]) -> Result<Manifest, BinaryError> {
    let exe = note_segments(file)?;
    notes::manifest(file, &exe).map_err(|e| match e {
        NoteError::NoManifest => BinaryError::NoManifest,
        NoteError::Manifest(_) => BinaryError::InvalidManifest,
        e => BinaryError::Note(e),
    })
}

/// The ABI1 note of `file`. Target and version are not checked: any value
/// is reported.
pub fn abi(file: &[u8]) -> Result<AbiDesc, BinaryError> {
    let exe = note_segments(file)?;
    notes::abi(file, &exe)
        .map_err(BinaryError::Note)?
        .ok_or(BinaryError::NoAbi)
}

/// Quote `s` as a JSON string. Valid manifests only hold alphanumeric
/// names; anything else is escaped rather than printed raw.
fn json_string(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for c in String::from_utf8_lossy(s).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `m` as upstream's `query-manifest` prints it: the reserved entry 0 left
/// out, one device per line.
pub fn manifest_json(m: &Manifest) -> String {
    let mut out = format!(
        "{{\n  \"type\": \"solo5.manifest\",\n  \"version\": {},\n  \"devices\": [\n",
        mft::VERSION
    );
    let devices: Vec<_> = m.devices().collect();
    for (i, (_, e)) in devices.iter().enumerate() {
        let comma = if i + 1 == devices.len() { "" } else { "," };
        let _ = writeln!(
            out,
            "    {{ \"name\": {}, \"type\": \"{}\" }}{comma}",
            json_string(e.name()),
            kind::name(e.kind)
        );
    }
    out.push_str("  ]\n}\n");
    out
}

/// `abi` as upstream's `query-abi` prints it; targets this project does not
/// know are called "unknown", as upstream does.
pub fn abi_json(abi: &AbiDesc) -> String {
    format!(
        "{{\n  \"type\": \"solo5.abi\",\n  \"target\": \"{}\",\n  \"version\": {}\n}}\n",
        target::name(abi.abi_target).unwrap_or("unknown"),
        abi.abi_version
    )
}

fn read(path: &Path) -> Result<Vec<u8>, QueryError> {
    std::fs::read(path).map_err(|source| QueryError::Open {
        path: path.to_owned(),
        source,
    })
}

fn refused(path: &Path) -> impl FnOnce(BinaryError) -> QueryError + '_ {
    move |source| QueryError::Binary {
        path: path.to_owned(),
        source,
    }
}

/// `query-manifest BINARY`: the text to print on standard output.
pub fn query_manifest(path: &Path) -> Result<String, QueryError> {
    let file = read(path)?;
    Ok(manifest_json(&manifest(&file).map_err(refused(path))?))
}

/// `query-abi BINARY`: the text to print on standard output.
pub fn query_abi(path: &Path) -> Result<String, QueryError> {
    let file = read(path)?;
    Ok(abi_json(&abi(&file).map_err(refused(path))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::mft::Entry;

    #[test]
    fn json_layout_is_upstreams() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&3u32.to_le_bytes());
        for e in [
            Entry::RESERVED,
            Entry::device("service0", kind::NET_BASIC),
            Entry::device("storage", kind::BLOCK_BASIC),
        ] {
            let mut raw = [0u8; mft::ENTRY_SIZE];
            raw[..mft::NAME_SIZE].copy_from_slice(&e.name);
            raw[mft::off::TYPE..mft::off::TYPE + 4].copy_from_slice(&e.kind.to_le_bytes());
            bytes.extend_from_slice(&raw);
        }
        let m = Manifest::parse(&bytes).unwrap();
        assert_eq!(
            manifest_json(&m),
            "{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n    \
             { \"name\": \"service0\", \"type\": \"NET_BASIC\" },\n    \
             { \"name\": \"storage\", \"type\": \"BLOCK_BASIC\" }\n  ]\n}\n"
        );
        let abi = AbiDesc {
            abi_target: target::HVT,
            abi_version: 2,
            reserved0: 0,
            reserved1: 0,
        };
        assert_eq!(
            abi_json(&abi),
            "{\n  \"type\": \"solo5.abi\",\n  \"target\": \"hvt\",\n  \"version\": 2\n}\n"
        );
        let odd = AbiDesc {
            abi_target: 99,
            ..abi
        };
        assert!(abi_json(&odd).contains("\"target\": \"unknown\""));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(
            json_string(b"a\"b\\c\n\xff"),
            "\"a\\\"b\\\\c\\u000a\u{fffd}\""
        );
    }

    #[test]
    fn refuses_non_elf() {
        assert_eq!(
            note_segments(b"hello"),
            Err(BinaryError::Invalid("not an ELF file"))
        );
    }
}
