//! The user-mode note: how an hvt guest built with our SDK tells our
//! tender that it can be entered at CPL3 as well as at CPL0
//! (docs/hvt-user-mode.md).
//!
//! Every Solo5 hvt guest is entered at CPL0 and owns its page tables, GDT
//! and IDT. A guest with this note also starts correctly at CPL3, with
//! everything privileged owned by the tender: page tables with the user
//! bit on its own pages only, a GDT with CPL3 segments, a TSS whose I/O
//! permission bitmap opens the hypercall ports, an IDT whose handlers
//! report traps to the tender, CR4.FSGSBASE (`wrfsbase` for TLS) and a
//! readable TSC. Registers and boot info are those of a CPL0 entry
//! (docs/hvt.md, "CPU state at entry" and "Boot info"). Such a guest must
//! find its CPL at entry (the low two bits of CS) and do nothing
//! privileged at CPL3.
//!
//! The note has our own owner (`"Solo5-rs"`, as the stack note) and a
//! `PT_NOTE` of its own. Upstream's tenders and elftool read only the
//! first note header of each `PT_NOTE` and skip owners and types they do
//! not know, so a binary with the note runs and queries on them exactly
//! as without it (and is entered at CPL0 there).
//!
//! Layout in the file (x86_64, little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `n_namesz` = 9 |
//! | 4 | 4 | `n_descsz` = 8 |
//! | 8 | 4 | `n_type` = [`TYPE_USER1`] (`"USR1"`) |
//! | 12 | 12 | `"Solo5-rs\0"` padded with NULs to 12 |
//! | 24 | 8 | [`UserDesc`] |

pub use crate::stack::{NAME, NAME_PADDED};

/// Note type ("USR1" read as a little-endian u32).
pub const TYPE_USER1: u32 = u32::from_le_bytes(*b"USR1");
/// `n_descsz` of the note.
pub const DESC_SIZE: u32 = core::mem::size_of::<UserDesc>() as u32;
/// Offset of the descriptor from the start of the note.
pub const DESC_OFFSET: usize = 12 + NAME_PADDED.len();
/// Size of the whole note.
pub const NOTE_SIZE: usize = DESC_OFFSET + DESC_SIZE as usize;

/// Bit of [`UserDesc::cpls`]: the guest can be entered at CPL0 (as every
/// Solo5 hvt guest).
pub const CPL0: u32 = 1 << 0;
/// Bit of [`UserDesc::cpls`]: the guest can be entered at CPL3, on the
/// tender's page tables, descriptor tables and trap reporting.
pub const CPL3: u32 = 1 << 3;

/// The descriptor of the user-mode note.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserDesc {
    /// The privilege levels the guest can be entered at, one bit each
    /// ([`CPL0`], [`CPL3`]); no other bit may be set. Our SDK says both.
    pub cpls: u32,
    /// Zero.
    pub reserved: u32,
}

impl UserDesc {
    /// What the SDK's hvt guests say: either CPL.
    pub const EITHER: UserDesc = UserDesc {
        cpls: CPL0 | CPL3,
        reserved: 0,
    };
}

const _: () = assert!(core::mem::size_of::<UserDesc>() == 8);
const _: () = assert!(DESC_OFFSET == 24 && NOTE_SIZE == 32);
const _: () = assert!(TYPE_USER1 == 0x3152_5355);
