//! test_xnow: code copied into writable memory (the heap) must not run:
//! calling it ends the process with SIGSEGV (exit status 139).
//!
//! With the tender's `--x-exec-heap` the heap is executable, the call
//! returns and the test prints a FAILURE line saying so (exit status 1).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(start: &StartInfo) -> i32 {
    banner("xnow");
    let code = start.heap_start() as *mut u8;
    // SAFETY: the heap belongs to the application and is writable; one
    // byte, `ret`, is stored at its start.
    unsafe { code.write_volatile(0xc3) };
    // SAFETY: deliberately faults: the heap is not executable, so the call
    // ends with SIGSEGV. Should it run, the code is a lone `ret`, which
    // returns here with every register as the call left it.
    unsafe { asm!("call {}", in(reg) code, clobber_abi("C")) };
    failure(format_args!(
        "executed code at {:#x} in the heap",
        code as usize
    ))
}
