//! `query-manifest` and `query-abi`: read the Solo5 notes of an executable
//! with the tenders' own note reader ([`solo5_tender::notes`]) and print
//! them byte for byte as upstream's elftool does.
//!
//! Only the notes are read, never the loader's rules for `PT_LOAD` segments
//! or the entry point: an orchestrator may query a binary built for a
//! target whose memory layout this machine does not run. The manifest is
//! validated by the tenders' [`Manifest::parse`], so a query refuses
//! exactly the manifests a tender refuses.

use solo5_abi::mft::{self, kind};
use solo5_abi::note::{target, AbiDesc};
use solo5_tender::manifest::Manifest;
use solo5_tender::notes::{self, NoteError};
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a query failed. Each prints as upstream's line after
/// `solo5-elftool: `.
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
    /// The note reader refused the file (ELF header, program headers, or a
    /// Solo5 note of an impossible size), with upstream's text.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// No MFT1 note.
    #[error("No Solo5 manifest found in executable")]
    NoManifest,
    /// The MFT1 note is not a valid manifest (upstream's elftool words it
    /// differently from the tenders' "Solo5 manifest is invalid").
    #[error("Manifest validation failed")]
    InvalidManifest,
    /// No ABI1 note.
    #[error("No Solo5 ABI information found in executable")]
    NoAbi,
}

/// The validated manifest of `file`.
pub fn manifest(file: &[u8]) -> Result<Manifest, BinaryError> {
    let desc = notes::manifest_bytes(file)?.ok_or(BinaryError::NoManifest)?;
    Manifest::parse(desc).map_err(|_| BinaryError::InvalidManifest)
}

/// The ABI1 note of `file`. Target and version are not checked: any value
/// is reported, and the manifest is not looked at.
pub fn abi(file: &[u8]) -> Result<AbiDesc, BinaryError> {
    notes::abi(file)?.ok_or(BinaryError::NoAbi)
}

/// `m` as upstream's `query-manifest` prints it (docs/abis.md,
/// "solo5-elftool"), quirks included:
/// - every entry with a type at or above `1<<30` is left out, not only the
///   reserved entry 0;
/// - a type other than NET_BASIC and BLOCK_BASIC is `"<undefined type>"`;
/// - the comma after a line is decided by the entry's index, so when the
///   last entries are left out the last line printed keeps its comma;
/// - names are the bytes of the binary up to their NUL, not escaped (the
///   validation guarantees the NUL).
pub fn manifest_json(m: &Manifest) -> Vec<u8> {
    let mut out = format!(
        "{{\n  \"type\": \"solo5.manifest\",\n  \"version\": {},\n  \"devices\": [\n",
        mft::VERSION
    )
    .into_bytes();
    let entries = m.entries();
    for (i, e) in entries.iter().enumerate() {
        if e.kind >= kind::RESERVED_FIRST {
            continue;
        }
        out.extend_from_slice(b"    { \"name\": \"");
        out.extend_from_slice(e.name());
        out.extend_from_slice(b"\", \"type\": \"");
        out.extend_from_slice(kind::name(e.kind).as_bytes());
        out.extend_from_slice(b"\" }");
        if i + 1 != entries.len() {
            out.push(b',');
        }
        out.push(b'\n');
    }
    out.extend_from_slice(b"  ]\n}\n");
    out
}

/// Upstream's name of an ABI target: its six, and "unknown" for any other
/// number, except our own native spt target, which is named (upstream calls
/// it "unknown"; docs/differences.md).
pub fn target_name(t: u32) -> &'static str {
    target::name(t).unwrap_or("unknown")
}

/// `abi` as upstream's `query-abi` prints it.
pub fn abi_json(abi: &AbiDesc) -> Vec<u8> {
    format!(
        "{{\n  \"type\": \"solo5.abi\",\n  \"target\": \"{}\",\n  \"version\": {}\n}}\n",
        target_name(abi.abi_target),
        abi.abi_version
    )
    .into_bytes()
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

/// `query-manifest BINARY`: the bytes to print on standard output.
pub fn query_manifest(path: &Path) -> Result<Vec<u8>, QueryError> {
    let file = read(path)?;
    Ok(manifest_json(&manifest(&file).map_err(refused(path))?))
}

/// `query-abi BINARY`: the bytes to print on standard output.
pub fn query_abi(path: &Path) -> Result<Vec<u8>, QueryError> {
    let file = read(path)?;
    Ok(abi_json(&abi(&file).map_err(refused(path))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::mft::Entry;

    fn manifest_of(entries: &[Entry]) -> Manifest {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&mft::VERSION.to_le_bytes());
        bytes.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            let mut raw = [0u8; mft::ENTRY_SIZE];
            raw[..mft::NAME_SIZE].copy_from_slice(&e.name);
            raw[mft::off::TYPE..mft::off::TYPE + 4].copy_from_slice(&e.kind.to_le_bytes());
            bytes.extend_from_slice(&raw);
        }
        Manifest::parse(&bytes).unwrap()
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn json_layout_is_upstreams() {
        let m = manifest_of(&[
            Entry::RESERVED,
            Entry::device("service0", kind::NET_BASIC),
            Entry::device("storage", kind::BLOCK_BASIC),
        ]);
        assert_eq!(
            text(manifest_json(&m)),
            "{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n    \
             { \"name\": \"service0\", \"type\": \"NET_BASIC\" },\n    \
             { \"name\": \"storage\", \"type\": \"BLOCK_BASIC\" }\n  ]\n}\n"
        );
        let m = manifest_of(&[Entry::RESERVED]);
        assert_eq!(
            text(manifest_json(&m)),
            "{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n  ]\n}\n"
        );
        let abi = AbiDesc {
            abi_target: target::HVT,
            abi_version: 2,
            reserved0: 0,
            reserved1: 0,
        };
        assert_eq!(
            text(abi_json(&abi)),
            "{\n  \"type\": \"solo5.abi\",\n  \"target\": \"hvt\",\n  \"version\": 2\n}\n"
        );
        let odd = AbiDesc {
            abi_target: 99,
            ..abi
        };
        assert!(text(abi_json(&odd)).contains("\"target\": \"unknown\""));
    }

    #[test]
    fn upstream_quirks() {
        // Unknown type, a reserved-range type last (the comma stays), a
        // name that JSON would escape, printed raw.
        let m = manifest_of(&[
            Entry::RESERVED,
            Entry::device("a\"b\\", 7),
            Entry::device("net0", kind::NET_BASIC),
            Entry::device("hidden", kind::RESERVED_FIRST + 5),
        ]);
        assert_eq!(
            text(manifest_json(&m)),
            "{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n    \
             { \"name\": \"a\"b\\\", \"type\": \"<undefined type>\" },\n    \
             { \"name\": \"net0\", \"type\": \"NET_BASIC\" },\n  ]\n}\n"
        );
    }
}
