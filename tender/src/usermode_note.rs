//! Our user-mode note (`solo5_abi::usermode`): an hvt guest built with our
//! SDK says that it can be entered at CPL3, on the tender's page tables,
//! descriptor tables and trap reporting (docs/hvt-user-mode.md).
//!
//! Found like the Solo5 notes and the stack note: the first note header of
//! each `PT_NOTE` segment, here with owner `"Solo5-rs"` and type `USR1`.
//! A binary without it (any upstream binary) is entered at CPL0.

use crate::notes::{self, DescPastSegment};
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

/// The user-mode note of `file`, if it has one ([`notes::find_own`]).
pub fn find(file: &[u8]) -> Result<Option<UserDesc>, UserNoteError> {
    match notes::find_own(file, usermode::NAME, usermode::TYPE_USER1) {
        Ok(desc) => desc.map(parse).transpose(),
        Err(DescPastSegment(size)) => Err(UserNoteError::Size(size)),
    }
}

/// Whether a guest with note `d` (or none) may be entered at CPL3.
pub fn allows_cpl3(d: Option<UserDesc>) -> bool {
    d.is_some_and(|d| d.cpls & CPL3 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_elf::{elf_with_notes, note};
    use solo5_abi::stack;

    fn desc(cpls: u32, reserved: u32) -> Vec<u8> {
        [cpls, reserved]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
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
