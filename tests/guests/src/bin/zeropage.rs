//! test_zeropage: reading address 0 must end the process with SIGSEGV
//! (exit status 139): guest memory starts at 0x10000.
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("zeropage");
    let value: u64;
    // SAFETY: deliberately faults: the zero page is never mapped in a
    // guest. Inline asm, because a null read in Rust is undefined
    // behaviour the compiler may remove.
    unsafe {
        asm!("mov {}, qword ptr [{}]", out(reg) value, in(reg) 0u64, options(nostack, readonly))
    };
    failure(format_args!("read of address 0 returned {value:#x}"))
}
