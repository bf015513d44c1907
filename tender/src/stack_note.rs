//! Our stack note (`solo5_abi::stack`): the guest SDK tells the tender how
//! large its stack is, how large a guard it wants below it and where its
//! image ends; the tender makes the guard range inaccessible before the
//! jump (docs/native-abi.md, "Stack and heap").
//!
//! The note is found like the Solo5 notes: the first note header of each
//! `PT_NOTE` segment, here with owner `"Solo5-rs"` and type `STK1`. A
//! binary without it (any upstream binary) gets no guard, as upstream.

use crate::notes::{self, DescPastSegment};
use solo5_abi::stack::{self, StackDesc};
use solo5_abi::{LOAD_MIN, PAGE_SIZE};
use thiserror::Error;

/// Why a stack note was refused. Printed after `PROG: KERNEL: `.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StackNoteError {
    /// The descriptor is not a [`StackDesc`].
    #[error("invalid stack note: descriptor of {0} bytes (expected 24)")]
    Size(u64),
    /// A size or address is not a positive multiple of the page size.
    #[error("invalid stack note: {0} {1:#x} is not a non-zero multiple of 4096")]
    Unaligned(&'static str, u64),
    /// The image end lies below the lowest load address.
    #[error("invalid stack note: image end {0:#x} is below 0x100000")]
    ImageEnd(u64),
    /// Stack and guard together overflow.
    #[error("invalid stack note: stack and guard sizes overflow")]
    Overflow,
}

/// The range `[start, end)` to make inaccessible below the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// First byte of the guard (page aligned).
    pub start: u64,
    /// End of the guard = lowest byte of the stack (page aligned).
    pub end: u64,
}

/// Check the descriptor bytes of a stack note (`n_descsz` bytes, from
/// offset 24 of the note).
pub fn parse(desc: &[u8]) -> Result<StackDesc, StackNoteError> {
    if desc.len() != stack::DESC_SIZE as usize {
        return Err(StackNoteError::Size(desc.len() as u64));
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&desc[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    let d = StackDesc {
        stack_size: word(0),
        guard_size: word(1),
        image_end: word(2),
    };
    for (what, v) in [
        ("stack size", d.stack_size),
        ("guard size", d.guard_size),
        ("image end", d.image_end),
    ] {
        if v == 0 || v % PAGE_SIZE != 0 {
            return Err(StackNoteError::Unaligned(what, v));
        }
    }
    if d.image_end < LOAD_MIN {
        return Err(StackNoteError::ImageEnd(d.image_end));
    }
    d.stack_size
        .checked_add(d.guard_size)
        .ok_or(StackNoteError::Overflow)?;
    Ok(d)
}

/// The stack note of `file`, if it has one ([`notes::find_own`]).
pub fn find(file: &[u8]) -> Result<Option<StackDesc>, StackNoteError> {
    match notes::find_own(file, stack::NAME, stack::TYPE_STACK1) {
        Ok(desc) => desc.map(parse).transpose(),
        Err(DescPastSegment(size)) => Err(StackNoteError::Size(size)),
    }
}

/// Where the guard goes in `mem_size` bytes of guest memory: directly below
/// the top `stack_size` bytes. `None` when it would not lie entirely above
/// the image (its loaded segments end at `kernel_end`, its `.bss` at
/// `image_end`): the guest then has too little memory and says so itself.
pub fn guard(d: &StackDesc, mem_size: u64, kernel_end: u64) -> Option<Guard> {
    let end = mem_size.checked_sub(d.stack_size)?;
    let start = end.checked_sub(d.guard_size)?;
    let image = kernel_end
        .max(d.image_end)
        .checked_next_multiple_of(PAGE_SIZE)?;
    (start >= image && end % PAGE_SIZE == 0).then_some(Guard { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_elf::{elf_with_notes, note};

    fn desc(stack: u64, guard: u64, end: u64) -> Vec<u8> {
        [stack, guard, end]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    #[test]
    fn parse_checks_every_field() {
        let d = parse(&desc(0x40000, 0x10000, 0x105000)).unwrap();
        assert_eq!(
            d,
            StackDesc {
                stack_size: 0x40000,
                guard_size: 0x10000,
                image_end: 0x105000
            }
        );
        assert_eq!(parse(&[0; 16]), Err(StackNoteError::Size(16)));
        assert_eq!(
            parse(&desc(0x40001, 0x10000, 0x105000)),
            Err(StackNoteError::Unaligned("stack size", 0x40001))
        );
        assert_eq!(
            parse(&desc(0x40000, 0, 0x105000)),
            Err(StackNoteError::Unaligned("guard size", 0))
        );
        assert_eq!(
            parse(&desc(0x40000, 0x1000, 0xff000)),
            Err(StackNoteError::ImageEnd(0xff000))
        );
        assert_eq!(
            parse(&desc(!0xfff, 0x2000, 0x105000)),
            Err(StackNoteError::Overflow)
        );
        assert_eq!(
            parse(&desc(0x40000, 0x1000, 0x105001))
                .unwrap_err()
                .to_string(),
            "invalid stack note: image end 0x105001 is not a non-zero multiple of 4096"
        );
    }

    /// An ELF executable whose only program header is a PT_NOTE holding
    /// `note`.
    fn elf_with_note(note: &[u8]) -> Vec<u8> {
        elf_with_notes(&[note])
    }

    #[test]
    fn find_reads_only_our_note() {
        let d = desc(0x40000, 0x10000, 0x105000);
        let ours = note(&stack::NAME_PADDED, 9, stack::TYPE_STACK1, &d);
        assert_eq!(ours.len(), stack::NOTE_SIZE);
        assert_eq!(find(&elf_with_note(&ours)), Ok(Some(parse(&d).unwrap())));
        // Another owner, another type, a Solo5 note: not ours.
        let other = note(b"Solo5-xx\0\0\0\0", 9, stack::TYPE_STACK1, &d);
        assert_eq!(find(&elf_with_note(&other)), Ok(None));
        let other = note(&stack::NAME_PADDED, 9, 0x3149_4241, &d);
        assert_eq!(find(&elf_with_note(&other)), Ok(None));
        let solo5 = note(b"Solo5\0\0\0", 6, 0x3149_4241, &[0; 16]);
        assert_eq!(find(&elf_with_note(&solo5)), Ok(None));
        // Ours, but broken: refused.
        let short = note(&stack::NAME_PADDED, 9, stack::TYPE_STACK1, &d[..16]);
        assert_eq!(find(&elf_with_note(&short)), Err(StackNoteError::Size(16)));
        let mut past = ours.clone();
        past[4..8].copy_from_slice(&32u32.to_le_bytes());
        assert_eq!(find(&elf_with_note(&past)), Err(StackNoteError::Size(32)));
        // Not an ELF file at all: no note (the note pass reports it).
        assert_eq!(find(b"not an ELF file"), Ok(None));
    }

    #[test]
    fn guard_lies_below_the_stack_and_above_the_image() {
        let d = StackDesc {
            stack_size: 0x40000,
            guard_size: 0x10000,
            image_end: 0x105000,
        };
        assert_eq!(
            guard(&d, 2 << 20, 0x105000),
            Some(Guard {
                start: 0x1b0000,
                end: 0x1c0000
            })
        );
        // The image end counts even where the loaded segments end lower
        // (a .bss the tender did not load).
        let big = StackDesc {
            image_end: 0x1b1000,
            ..d
        };
        assert_eq!(guard(&big, 2 << 20, 0x105000), None);
        // ... and the loaded segments count too.
        assert_eq!(guard(&d, 2 << 20, 0x1b0001), None);
        assert!(guard(&d, 2 << 20, 0x1b0000).is_some());
        // Too little memory for stack and guard at all.
        assert_eq!(guard(&d, 0x40000, 0x105000), None);
        assert_eq!(guard(&d, 0x4f000, 0x105000), None);
    }
}
