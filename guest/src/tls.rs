//! Thread-local storage blocks for the executable's TLS template.
//!
//! Code compiled for x86_64 reaches its thread-locals at negative offsets
//! from the `%fs` base (TLS variant II, local-exec model). A TLS block is
//! laid out as:
//!
//! ```text
//! block                          tp = block + static size
//! | .tdata copy | .tbss zeroes | pad | tp (self pointer, 8 bytes) |
//! ```
//!
//! where the static size is the template's size rounded up as the linker
//! does when it computes the offsets. [`init`] builds such a block and
//! returns `tp`, the value for [`crate::set_tls_base`].
//!
//! Startup sets the TLS base to 0, so a guest that touches a thread-local
//! before setting up a block faults.

use crate::handle::Error;
use crate::image::{layout, Layout};

/// Size of the thread control block: the self pointer at `tp`.
const TCB_SIZE: usize = 8;

fn static_size(l: &Layout) -> usize {
    l.tls_memsz.next_multiple_of(l.tls_align)
}

/// Bytes a TLS block needs, thread control block included.
pub fn size() -> usize {
    static_size(&layout()) + TCB_SIZE
}

/// Alignment a TLS block needs.
pub fn align() -> usize {
    layout().tls_align.max(TCB_SIZE)
}

/// The thread pointer (the value for the TLS base) of the block at
/// `block`.
pub fn tp_offset(block: usize) -> usize {
    block + static_size(&layout())
}

/// Builds a TLS block in `buf` (at least [`size`] bytes, aligned to
/// [`align`]) and returns its thread pointer.
pub fn init_in(buf: &mut [u8]) -> Result<usize, Error> {
    if buf.len() < size() {
        return Err(Error::Invalid);
    }
    // SAFETY: buf is a live exclusive slice of at least size() bytes; init
    // checks alignment and writes only inside [buf, buf + size()).
    unsafe { init(buf.as_mut_ptr()) }
}

/// Builds a TLS block at `block` and returns its thread pointer:
/// copies `.tdata`, zeroes `.tbss` and padding, and stores the thread
/// pointer at itself.
///
/// # Safety
/// `block` must be valid for writes of [`size`] bytes.
pub unsafe fn init(block: *mut u8) -> Result<usize, Error> {
    let l = layout();
    if block.is_null() || !(block as usize).is_multiple_of(align()) {
        return Err(Error::Invalid);
    }
    let size = static_size(&l);
    // SAFETY: the caller guarantees [block, block + size + 8) is writable;
    // the template [tdata, tdata + tdata_len) is part of the loaded image
    // and cannot overlap a block the caller owns; tdata_len <= tls_memsz <=
    // size.
    unsafe {
        core::ptr::copy_nonoverlapping(l.tdata as *const u8, block, l.tdata_len);
        core::ptr::write_bytes(block.add(l.tdata_len), 0, size - l.tdata_len);
        let tp = block.add(size);
        (tp as *mut usize).write_unaligned(tp as usize);
        Ok(tp as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(align(16))]
    struct Block([u8; 64]);

    #[test]
    fn block_has_template_zeroes_and_self_pointer() {
        // The unit-test layout: 16-byte template, 8 bytes of .tdata.
        assert_eq!(size(), 24);
        let mut b = Block([0xEE; 64]);
        let base = b.0.as_ptr() as usize;
        let tp = init_in(&mut b.0).unwrap();
        assert_eq!(tp, base + 16);
        assert_eq!(tp, tp_offset(base));
        assert_eq!(&b.0[..8], b"TLSDATA!");
        assert_eq!(&b.0[8..16], &[0; 8]);
        assert_eq!(usize::from_ne_bytes(b.0[16..24].try_into().unwrap()), tp);
        assert_eq!(b.0[24], 0xEE);
    }

    #[test]
    fn bad_blocks_are_refused() {
        let mut b = Block([0; 64]);
        assert_eq!(init_in(&mut b.0[..8]), Err(Error::Invalid));
        assert_eq!(init_in(&mut b.0[1..]), Err(Error::Invalid));
        // SAFETY: null is checked before any write.
        assert_eq!(unsafe { init(core::ptr::null_mut()) }, Err(Error::Invalid));
    }
}
