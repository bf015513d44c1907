//! What the SDK puts into the executable and reads back from it: the ABI1
//! note, the `PT_INTERP` string, our stack note, and the layout symbols of
//! the linker script (`ld/spt.ld`).

use solo5_abi::note::AbiNote;
use solo5_abi::stack;

/// The ABI1 note: which tender and ABI version this binary is for. The
/// linker script keeps it (`KEEP`, `EXTERN`) in `.note.solo5.abi`, which
/// gets its own `PT_NOTE`.
#[cfg(not(test))]
#[no_mangle]
#[used]
#[link_section = ".note.solo5.abi"]
static SOLO5_ABI_NOTE: AbiNote = ABI_NOTE;

/// The note's value for the selected flavor.
pub(crate) const ABI_NOTE: AbiNote =
    AbiNote::new(crate::platform::ABI_TARGET, crate::platform::ABI_VERSION);

/// `PT_INTERP`: an interpreter that does not exist, so that the host kernel
/// refuses to exec a unikernel directly (docs/abis.md, "ELF loading").
#[cfg(not(test))]
#[no_mangle]
#[used]
#[link_section = ".interp"]
static SOLO5_INTERP: [u8; 20] = *b"/nonexistent/solo5/\0";

/// Bytes of the `PROT_NONE` guard range below the stack that the stack
/// note asks for: 64 KiB, so that a frame of less than that (C code built
/// without stack probes) cannot step over it. Rust code probes every page
/// of a large frame.
pub const GUARD_SIZE: u64 = 64 << 10;

/// The stack note (`solo5_abi::stack`), as the linker completes it: the
/// stack size and the image end are link-time addresses (absolute symbols
/// of the linker script), hence the pointers where `StackDesc` has `u64`s.
#[repr(C)]
struct StackNote {
    n_namesz: u32,
    n_descsz: u32,
    n_type: u32,
    name: [u8; 12],
    stack_size: *const u8,
    guard_size: u64,
    image_end: *const u8,
}

// SAFETY: the note is never written and the pointers are never
// dereferenced: they are numbers the linker fills in.
unsafe impl Sync for StackNote {}

const _: () = assert!(core::mem::size_of::<StackNote>() == stack::NOTE_SIZE);
const _: () = assert!(core::mem::offset_of!(StackNote, stack_size) == stack::DESC_OFFSET);
const _: () = assert!(
    core::mem::offset_of!(StackNote, guard_size)
        == stack::DESC_OFFSET + core::mem::offset_of!(stack::StackDesc, guard_size)
);
const _: () = assert!(
    core::mem::offset_of!(StackNote, image_end)
        == stack::DESC_OFFSET + core::mem::offset_of!(stack::StackDesc, image_end)
);

#[cfg(not(test))]
extern "C" {
    static _end: u8;
    static __solo5_stack_size: u8;
}

/// Tells the tender the stack size, the guard size and the image end, so
/// that it makes the guard range `PROT_NONE` (docs/native-abi.md) or, on
/// hvt at CPL3, leaves it out of the page tables. The linker script keeps
/// it in `.note.solo5rs.stack`, its own `PT_NOTE`.
#[cfg(not(test))]
#[no_mangle]
#[used]
#[link_section = ".note.solo5rs.stack"]
static SOLO5_STACK_NOTE: StackNote = StackNote {
    n_namesz: stack::NAME.len() as u32,
    n_descsz: stack::DESC_SIZE,
    n_type: stack::TYPE_STACK1,
    name: stack::NAME_PADDED,
    stack_size: &raw const __solo5_stack_size,
    guard_size: GUARD_SIZE,
    image_end: &raw const _end,
};

/// Addresses of the executable's parts, from the linker script.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Start of text (0x100000).
    pub stext: usize,
    /// End of text = start of rodata, page aligned.
    pub etext: usize,
    /// End of rodata = start of data, page aligned.
    pub erodata: usize,
    /// End of the image (after .bss), page aligned.
    pub end: usize,
    /// Bytes of stack at the top of guest memory (page aligned).
    pub stack_size: usize,
    /// The TLS initialisation image (.tdata) start.
    pub tdata: usize,
    /// Its length.
    pub tdata_len: usize,
    /// Length of the TLS template from .tdata start to .tbss end.
    pub tls_memsz: usize,
    /// Alignment of the TLS template: blocks are aligned to it, and the
    /// static TLS size is rounded up to it.
    pub tls_align: usize,
}

// Rust before 1.82 wants `unsafe` around addr_of! of an extern static;
// later ones call it unused.
#[cfg(not(test))]
#[allow(unused_unsafe)]
pub(crate) fn layout() -> Layout {
    extern "C" {
        static _stext: u8;
        static _etext: u8;
        static _erodata: u8;
        static _stdata: u8;
        static _etdata: u8;
        static _etbss: u8;
        static _tls_align: u8;
    }
    // Only the addresses of these symbols mean something; nothing is read
    // through them. The stack size and the TLS alignment are absolute
    // symbols: their "address" is the value.
    macro_rules! addr {
        ($s:ident) => {
            // SAFETY: taking the address of a linker-defined symbol reads
            // nothing.
            unsafe { core::ptr::addr_of!($s) as usize }
        };
    }
    let tdata = addr!(_stdata);
    Layout {
        stext: addr!(_stext),
        etext: addr!(_etext),
        erodata: addr!(_erodata),
        end: addr!(_end),
        stack_size: addr!(__solo5_stack_size),
        tdata,
        tdata_len: addr!(_etdata) - tdata,
        tls_memsz: addr!(_etbss) - tdata,
        tls_align: addr!(_tls_align).max(1),
    }
}

/// Unit tests run on the host, without the linker script: a fixed layout
/// with a 16-byte TLS template of which 8 bytes are initialised.
#[cfg(test)]
pub(crate) fn layout() -> Layout {
    static TDATA: [u8; 8] = *b"TLSDATA!";
    Layout {
        stext: 0x100000,
        etext: 0x104000,
        erodata: 0x106000,
        end: 0x109000,
        stack_size: 0x40000,
        tdata: TDATA.as_ptr() as usize,
        tdata_len: 8,
        tls_memsz: 16,
        tls_align: 8,
    }
}

/// The user-mode note (`solo5_abi::usermode`, docs/hvt-user-mode.md): this
/// hvt guest can be entered at CPL0 or CPL3 (`platform/hvt_cpu.rs` checks
/// which). The linker script keeps it in `.note.solo5rs.user`, its own
/// `PT_NOTE`.
#[repr(C)]
struct UserNote {
    n_namesz: u32,
    n_descsz: u32,
    n_type: u32,
    name: [u8; 12],
    desc: solo5_abi::usermode::UserDesc,
}

const _: () = assert!(core::mem::size_of::<UserNote>() == solo5_abi::usermode::NOTE_SIZE);

#[cfg(all(not(test), feature = "hvt"))]
#[no_mangle]
#[used]
#[link_section = ".note.solo5rs.user"]
static SOLO5_USER_NOTE: UserNote = UserNote {
    n_namesz: solo5_abi::usermode::NAME.len() as u32,
    n_descsz: solo5_abi::usermode::DESC_SIZE,
    n_type: solo5_abi::usermode::TYPE_USER1,
    name: solo5_abi::usermode::NAME_PADDED,
    desc: solo5_abi::usermode::UserDesc::EITHER,
};
