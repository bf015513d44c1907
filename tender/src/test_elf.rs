//! Fixtures for the note finders' unit tests: a minimal ELF executable
//! made of program headers that are all `PT_NOTE`, and one note.

use crate::elf::PT_NOTE;

/// An ELF64 x86_64 executable whose program headers are PT_NOTEs holding
/// `notes`, in order, one note per segment.
pub fn elf_with_notes(notes: &[&[u8]]) -> Vec<u8> {
    let n = notes.len();
    let mut f = vec![0u8; 64 + 56 * n];
    f[0..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little endian
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86_64
    f[20..24].copy_from_slice(&1u32.to_le_bytes()); // e_version
    f[24..32].copy_from_slice(&0x100000u64.to_le_bytes()); // e_entry
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    f[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    f[56..58].copy_from_slice(&(n as u16).to_le_bytes()); // e_phnum
    let mut off = f.len() as u64;
    for (i, note) in notes.iter().enumerate() {
        let ph = &mut f[64 + 56 * i..120 + 56 * i];
        ph[0..4].copy_from_slice(&PT_NOTE.to_le_bytes());
        ph[8..16].copy_from_slice(&off.to_le_bytes()); // p_offset
        ph[32..40].copy_from_slice(&(note.len() as u64).to_le_bytes()); // p_filesz
        off += note.len() as u64;
    }
    for note in notes {
        f.extend_from_slice(note);
    }
    f
}

/// A note: `namesz`, the size of `desc`, `ty`, then `name` (already
/// padded) and `desc`.
pub fn note(name: &[u8], namesz: u32, ty: u32, desc: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    n.extend_from_slice(&namesz.to_le_bytes());
    n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    n.extend_from_slice(&ty.to_le_bytes());
    n.extend_from_slice(name);
    n.extend_from_slice(desc);
    n
}
