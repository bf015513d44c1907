//! Our user-mode note (`solo5_abi::usermode`): an hvt guest built with our
//! SDK says that it can be entered at CPL3, on the tender's page tables,
//! descriptor tables and trap reporting (docs/hvt-user-mode.md).
//!
//! Found like the Solo5 notes and the stack note: the first note header of
//! each `PT_NOTE` segment, here with owner `"Solo5-rs"` and type `USR1`.
//! A binary without it (any upstream binary) is entered at CPL0.

use crate::elf::{self, PT_NOTE};
use solo5_abi::usermode::{self, UserDesc, CPL0, CPL3};
use thiserror::Error;

/// Why a user-mode note was refused. Printed after `PROG: KERNEL: `.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UserNoteError {
    /// The descriptor is not a [`UserDesc`].
    #[error("invalid user-mode note: descriptor of {0} bytes (expected 8)")]
    Size(u64),
    /// Bits other than CPL0 and CPL3, none at all, or a non-zero reserved
    /// word.
    #[error("invalid user-mode note: privilege levels {0:#x}, reserved {1:#x}")]
    Bits(u32, u32),
}

/// Check the descriptor bytes of a user-mode note (`n_descsz` bytes, from
/// offset 24 of the note).
pub fn parse(desc: &[u8]) -> Result<UserDesc, UserNoteError> {
    if desc.len() != usermode::DESC_SIZE as usize {
        return Err(UserNoteError::Size(desc.len() as u64));
    }
    let word = |i: usize| u32::from_le_bytes([desc[i], desc[i + 1], desc[i + 2], desc[i + 3]]);
    let d = UserDesc {
        cpls: word(0),
        reserved: word(4),
    };
    if d.cpls == 0 || d.cpls & !(CPL0 | CPL3) != 0 || d.reserved != 0 {
        return Err(UserNoteError::Bits(d.cpls, d.reserved));
    }
    Ok(d)
}

/// The user-mode note of `file`, if it has one. The ELF header and program
/// headers were checked by the note pass already; a file whose headers
/// cannot be read has no user-mode note here.
pub fn find(file: &[u8]) -> Result<Option<UserDesc>, UserNoteError> {
    let Ok(hdr) = elf::header(file, "note") else {
        return Ok(None);
    };
    for p in hdr.phdrs.iter().filter(|p| p.p_type == PT_NOTE) {
        let head = usermode::DESC_OFFSET as u64;
        if p.filesz < head {
            continue;
        }
        let Some(h) = elf::pread(file, p.offset, head).filter(|h| h.len() as u64 == head) else {
            continue;
        };
        let word = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (namesz, descsz, ty) = (word(0), word(4), word(8));
        if namesz as usize != usermode::NAME.len()
            || h[12..12 + usermode::NAME.len()] != usermode::NAME[..]
            || ty != usermode::TYPE_USER1
        {
            continue;
        }
        let size = u64::from(descsz);
        if size > p.filesz - head {
            return Err(UserNoteError::Size(size));
        }
        let desc = elf::pread(file, p.offset + head, size).unwrap_or(&[]);
        return parse(desc).map(Some);
    }
    Ok(None)
}

/// Whether a guest with note `d` (or none) may be entered at CPL3.
pub fn allows_cpl3(d: Option<UserDesc>) -> bool {
    d.is_some_and(|d| d.cpls & CPL3 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::stack;

    fn desc(cpls: u32, reserved: u32) -> Vec<u8> {
        [cpls, reserved]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    /// An ELF executable whose program headers are PT_NOTEs holding
    /// `notes`, in order.
    fn elf_with_notes(notes: &[&[u8]]) -> Vec<u8> {
        let n = notes.len();
        let mut f = vec![0u8; 64 + 56 * n];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&0x100000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(n as u16).to_le_bytes());
        let mut off = f.len() as u64;
        for (i, note) in notes.iter().enumerate() {
            let ph = &mut f[64 + 56 * i..120 + 56 * i];
            ph[0..4].copy_from_slice(&PT_NOTE.to_le_bytes());
            ph[8..16].copy_from_slice(&off.to_le_bytes());
            ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes());
            off += note.len() as u64;
        }
        for note in notes {
            f.extend_from_slice(note);
        }
        f
    }

    fn note(name: &[u8], namesz: u32, ty: u32, d: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&namesz.to_le_bytes());
        n.extend_from_slice(&(d.len() as u32).to_le_bytes());
        n.extend_from_slice(&ty.to_le_bytes());
        n.extend_from_slice(name);
        n.extend_from_slice(d);
        n
    }

    #[test]
    fn parse_checks_the_bits() {
        assert_eq!(parse(&desc(0x9, 0)), Ok(UserDesc::EITHER));
        assert_eq!(
            parse(&desc(CPL3, 0)),
            Ok(UserDesc {
                cpls: CPL3,
                reserved: 0
            })
        );
        assert_eq!(parse(&desc(0, 0)), Err(UserNoteError::Bits(0, 0)));
        assert_eq!(parse(&desc(0x2, 0)), Err(UserNoteError::Bits(2, 0)));
        assert_eq!(parse(&desc(0x9, 1)), Err(UserNoteError::Bits(9, 1)));
        assert_eq!(parse(&[0; 4]), Err(UserNoteError::Size(4)));
        assert_eq!(
            parse(&[0; 12]).unwrap_err().to_string(),
            "invalid user-mode note: descriptor of 12 bytes (expected 8)"
        );
    }

    #[test]
    fn find_reads_only_our_note_in_any_pt_note() {
        let ours = note(
            &usermode::NAME_PADDED,
            9,
            usermode::TYPE_USER1,
            &desc(0x9, 0),
        );
        assert_eq!(ours.len(), usermode::NOTE_SIZE);
        let abi = note(b"Solo5\0\0\0", 6, 0x3149_4241, &[0; 16]);
        let stk = note(&stack::NAME_PADDED, 9, stack::TYPE_STACK1, &[0; 24]);
        let f = elf_with_notes(&[&abi, &stk, &ours]);
        assert_eq!(find(&f), Ok(Some(UserDesc::EITHER)));
        assert!(allows_cpl3(find(&f).unwrap()));
        // Without it: none (upstream's binaries).
        assert_eq!(find(&elf_with_notes(&[&abi, &stk])), Ok(None));
        assert!(!allows_cpl3(None));
        // Another owner or type: not ours.
        let other = note(b"Solo5-xx\0\0\0\0", 9, usermode::TYPE_USER1, &desc(9, 0));
        assert_eq!(find(&elf_with_notes(&[&other])), Ok(None));
        // CPL0 only: found, but no CPL3 entry.
        let cpl0 = note(&usermode::NAME_PADDED, 9, usermode::TYPE_USER1, &desc(1, 0));
        let d = find(&elf_with_notes(&[&cpl0])).unwrap();
        assert!(!allows_cpl3(d));
        // Ours, but broken.
        let mut past = ours.clone();
        past[4..8].copy_from_slice(&16u32.to_le_bytes());
        assert_eq!(
            find(&elf_with_notes(&[&past])),
            Err(UserNoteError::Size(16))
        );
        assert_eq!(find(b"not an ELF file"), Ok(None));
    }
}
