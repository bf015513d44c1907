//! The application manifest, validated as untrusted data (docs/abis.md, "The manifest").

use crate::elf::{u32_at, u64_at};
use solo5_abi::mft::{self, kind, off, Entry};
use thiserror::Error;

/// Why a manifest was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    /// Any violation of the manifest rules.
    #[error("Solo5 manifest is invalid")]
    Invalid,
}

/// A validated manifest (docs/abis.md, "The manifest"): entry 0 is the reserved entry,
/// every name is NUL-terminated. Names may repeat. Device types are
/// not checked here, as upstream: a type no tender knows can never be
/// attached, which the tender reports by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<Entry>,
}

impl Manifest {
    /// Validate `bytes` (the manifest, without the note's 4 bytes of
    /// padding). Its size must be exactly that of its entries.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        use ManifestError::Invalid;
        let version = u32_at(bytes, 0).ok_or(Invalid)?;
        let count = u32_at(bytes, 4).ok_or(Invalid)? as usize;
        if version != mft::VERSION || count == 0 || count > mft::MAX_ENTRIES {
            return Err(Invalid);
        }
        if bytes.len() != mft::size(count) {
            return Err(Invalid);
        }
        let mut entries = Vec::with_capacity(count);
        for raw in bytes[mft::HEADER_SIZE..].chunks_exact(mft::ENTRY_SIZE) {
            entries.push(read_entry(raw).ok_or(Invalid)?);
        }
        let first = &entries[0];
        if first.kind != kind::RESERVED_FIRST || !first.name().is_empty() {
            return Err(Invalid);
        }
        // As upstream: names need not be unique (only the first of a
        // name and type can be attached), nor be of any alphabet.
        for e in &entries {
            if e.name[mft::NAME_MAX] != 0 || e.attached != 0 {
                return Err(Invalid);
            }
        }
        Ok(Manifest { entries })
    }

    /// All entries, the reserved one first. Indexes are Solo5 handles.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Mutable entries, for the tender to fill in attached devices.
    pub fn entries_mut(&mut self) -> &mut [Entry] {
        &mut self.entries
    }

    /// The declared devices: every entry but the reserved one, with its
    /// index.
    pub fn devices(&self) -> impl Iterator<Item = (usize, &Entry)> {
        self.entries.iter().enumerate().skip(1)
    }

    /// The device called `name`, of any type.
    pub fn by_name(&self, name: &str) -> Option<(usize, &Entry)> {
        self.devices().find(|(_, e)| e.name() == name.as_bytes())
    }

    /// The manifest as it lies in memory, for the guest's copy.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(mft::size(self.entries.len()));
        out.extend_from_slice(&mft::VERSION.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&e.kind.to_le_bytes());
            out.extend_from_slice(&e.u);
            out.extend_from_slice(&e.hostfd.to_le_bytes());
            out.push(e.attached);
            out.extend_from_slice(&e.pad);
        }
        out
    }
}

fn read_entry(raw: &[u8]) -> Option<Entry> {
    let mut e = Entry::EMPTY;
    e.name
        .copy_from_slice(raw.get(off::NAME..off::NAME + mft::NAME_SIZE)?);
    e.kind = u32_at(raw, off::TYPE)?;
    e.u.copy_from_slice(raw.get(off::BLOCK_CAPACITY..off::HOSTFD)?);
    e.hostfd = u64_at(raw, off::HOSTFD)?;
    e.attached = *raw.get(off::ATTACHED)?;
    e.pad
        .copy_from_slice(raw.get(off::ATTACHED + 1..mft::ENTRY_SIZE)?);
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        Manifest {
            entries: vec![
                Entry::RESERVED,
                Entry::device("service0", kind::NET_BASIC),
                Entry::device("storage", kind::BLOCK_BASIC),
            ],
        }
        .to_bytes()
    }

    #[test]
    fn round_trip() {
        let m = Manifest::parse(&sample()).unwrap();
        assert_eq!(m.entries().len(), 3);
        assert_eq!(m.by_name("storage").unwrap().0, 2);
        assert_eq!(m.to_bytes(), sample());
    }

    #[test]
    fn rejects_every_rule() {
        let good = sample();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let mut b = good.clone();
        b[0] = 2; // version
        cases.push(b);
        let mut b = good.clone();
        b[4] = 0; // no entries
        cases.push(b);
        let mut b = good.clone();
        b[4] = 65; // too many
        cases.push(b);
        cases.push(good[..good.len() - 1].to_vec()); // size
        let mut b = good.clone();
        b[8 + off::TYPE] = 1; // entry 0 not reserved
        cases.push(b);
        let mut b = good.clone();
        b[8 + 104 + 67] = b'x'; // unterminated name
        cases.push(b);
        let mut b = good.clone();
        b[8 + 104 + off::ATTACHED] = 1; // attached
        cases.push(b);
        for (i, c) in cases.iter().enumerate() {
            assert_eq!(Manifest::parse(c), Err(ManifestError::Invalid), "case {i}");
        }
    }
}
