//! test_exception: a write to an address far above guest memory (16 GiB)
//! must end the process with SIGSEGV (exit status 139).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("exception");
    let invalid: u64 = 2 << 33;
    // SAFETY: deliberately faults: nothing is mapped at 16 GiB in a guest
    // (guest memory is 512 MiB by default), so the tender's process dies
    // with SIGSEGV. If it does not, nothing that belongs to Rust is there.
    unsafe { asm!("mov byte ptr [{}], 1", in(reg) invalid, options(nostack)) };
    failure(format_args!("write to {invalid:#x} did not fault"))
}
