//! What the SDK puts into the executable and reads back from it: the ABI1
//! note, the `PT_INTERP` string, and the layout symbols of the linker
//! script (`ld/spt.ld`).

use solo5_abi::note::AbiNote;

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
/// refuses to exec a unikernel directly (ABI.md section 1).
#[cfg(not(test))]
#[no_mangle]
#[used]
#[link_section = ".interp"]
static SOLO5_INTERP: [u8; 20] = *b"/nonexistent/solo5/\0";

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
        static _end: u8;
        static _stdata: u8;
        static _etdata: u8;
        static _etbss: u8;
        static _tls_align: u8;
    }
    // Only the addresses of these symbols mean something; nothing is read
    // through them. The two alignments are absolute symbols: their
    // "address" is the value.
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
        tdata: TDATA.as_ptr() as usize,
        tdata_len: 8,
        tls_memsz: 16,
        tls_align: 8,
    }
}
