//! The stack note: how a guest built with our SDK tells our tender where
//! its stack ends, so that the tender can put an inaccessible guard range
//! below it (docs/native-abi.md, "Stack and heap").
//!
//! The guest's stack starts at the top of guest memory and grows down; its
//! heap starts at the end of its image and grows up. Without a guard, a
//! deep recursion would run into the heap (or the image) and corrupt it
//! silently. The note lets the tender make
//! `[mem_size - stack_size - guard_size, mem_size - stack_size)`
//! `PROT_NONE` before the jump, for both spt ABIs: upstream's v2 guests
//! cannot `mprotect` (its seccomp filter forbids it) and need no new ABI
//! call for it.
//!
//! The note has an owner of its own (`"Solo5-rs"`), so that no Solo5 tool
//! mistakes it for one of upstream's, and a `PT_NOTE` of its own, after the
//! ABI1 and MFT1 ones. Upstream's tenders and elftool read only the first
//! note header of each `PT_NOTE` and skip owners and types they do not
//! know: a binary with this note runs on them unchanged (without a guard).
//!
//! Layout in the file (x86_64, little endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `n_namesz` = 9 |
//! | 4 | 4 | `n_descsz` = 24 |
//! | 8 | 4 | `n_type` = [`TYPE_STACK1`] (`"STK1"`) |
//! | 12 | 12 | `"Solo5-rs\0"` padded with NULs to 12 |
//! | 24 | 24 | [`StackDesc`] |

/// Note owner name, NUL included (`n_namesz` = 9).
pub const NAME: &[u8; 9] = b"Solo5-rs\0";
/// Owner name as it is laid out in the note: padded to 12 bytes, so that
/// the descriptor starts 8-byte aligned (at offset 24).
pub const NAME_PADDED: [u8; 12] = *b"Solo5-rs\0\0\0\0";
/// Note type ("STK1" read as a little-endian u32).
pub const TYPE_STACK1: u32 = u32::from_le_bytes(*b"STK1");
/// `n_descsz` of the note.
pub const DESC_SIZE: u32 = core::mem::size_of::<StackDesc>() as u32;
/// Offset of the descriptor from the start of the note.
pub const DESC_OFFSET: usize = 12 + NAME_PADDED.len();
/// Size of the whole note.
pub const NOTE_SIZE: usize = DESC_OFFSET + DESC_SIZE as usize;

/// The descriptor of the stack note.
///
/// Every field is a multiple of the page size (4096). The tender makes the
/// guard range `PROT_NONE` only if it lies entirely above both the loaded
/// segments and `image_end`; when it does not, the guest has too little
/// memory anyway and stops with "Not enough memory" by itself.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackDesc {
    /// Bytes at the top of guest memory that belong to the stack
    /// (at least one page).
    pub stack_size: u64,
    /// Bytes of the guard range directly below the stack (at least one
    /// page).
    pub guard_size: u64,
    /// End of the guest's image, `.bss` included (the linker's `_end`),
    /// page aligned: where its heap starts.
    pub image_end: u64,
}

const _: () = assert!(core::mem::size_of::<StackDesc>() == 24);
const _: () = assert!(core::mem::offset_of!(StackDesc, guard_size) == 8);
const _: () = assert!(core::mem::offset_of!(StackDesc, image_end) == 16);
const _: () = assert!(DESC_OFFSET == 24 && NOTE_SIZE == 48);
const _: () = assert!(TYPE_STACK1 == 0x314b_5453);
