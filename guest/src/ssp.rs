//! The stack protector of C code: `__stack_chk_guard` and
//! `__stack_chk_fail`, as upstream's bindings provide them.
//!
//! C applications built with `-fstack-protector-strong
//! -mstack-protector-guard=global` keep a copy of the guard in each
//! protected frame and call `__stack_chk_fail` when it changed on return.
//! The guard is a global (not `%fs:0x28`, which needs TLS before the
//! application sets any), set at startup from the time-stamp counter with
//! its low byte zero, so that a string overflow cannot write it back.
//! A failure prints `Solo5: ABORT: Stack corruption detected` and exits
//! with status 255. (Rust code has no stack protector on stable Rust.)

use core::sync::atomic::{AtomicUsize, Ordering};

/// The guard C code compares against; a fixed value until [`init`].
#[no_mangle]
#[used]
static __stack_chk_guard: AtomicUsize = AtomicUsize::new(0x00e2_1a5c_0ffe_e100);

/// Sets a fresh guard; startup calls this before the application runs.
pub(crate) fn init() {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc reads the time-stamp counter; no memory is touched.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    let tsc = (u64::from(hi) << 32) | u64::from(lo);
    let mixed = tsc.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x00e2_1a5c_0ffe_e100;
    __stack_chk_guard.store((mixed & !0xff) as usize, Ordering::Relaxed);
}

/// Called by protected C code whose frame's guard was overwritten.
#[no_mangle]
pub extern "C" fn __stack_chk_fail() -> ! {
    crate::log::log(
        crate::log::Level::Error,
        format_args!("Solo5: ABORT: Stack corruption detected\n"),
    );
    crate::platform::exit(crate::EXIT_ABORT)
}
