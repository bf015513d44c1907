//! The hvt flavor's one way to call the tender: an `outl` of the guest
//! physical address of an argument struct to the hypercall's port. Used by
//! the platform code (`hvt.rs`) and by the start-up and trap code
//! (`hvt_cpu.rs`), which otherwise know nothing of each other's parts.

use solo5_abi::hvt::{Halt, HC_HALT, PIO_BASE};

/// Makes hypercall `n` with the argument struct `arg`.
///
/// Guest addresses are physical addresses (identity map) below 4 GiB, so
/// the struct's address fits the 32-bit port write.
#[inline(always)]
pub(crate) fn hypercall<T>(n: u16, arg: &mut T) {
    let port = PIO_BASE + n;
    let gpa = arg as *mut T as usize as u32;
    // SAFETY: the TSS I/O bitmap allows this port at CPL3; the tender
    // reads and writes only `arg` (a live exclusive borrow) and the guest
    // buffers it names, which the callers own for the call. "memory" is
    // implied: the tender may write through the pointers.
    unsafe {
        core::arch::asm!("out dx, eax", in("dx") port, in("eax") gpa, options(nostack, preserves_flags))
    };
}

/// HALT with `status` and `cookie` (a guest address or 0); never returns.
pub(crate) fn halt(status: i32, cookie: u64) -> ! {
    let mut a = Halt {
        cookie,
        exit_status: status,
    };
    loop {
        hypercall(HC_HALT, &mut a);
    }
}
