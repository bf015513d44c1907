//! test_notls: startup sets the TLS base to 0, so a %fs-relative access
//! before the application sets one reads page 0 and ends the process with
//! SIGSEGV (exit status 139).
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("notls");
    let value: u64;
    // SAFETY: deliberately faults: %fs base is 0, and 0x28 (where the
    // stack protector canary would be) is not mapped.
    unsafe { asm!("mov {}, qword ptr fs:[0x28]", out(reg) value, options(nostack, readonly)) };
    failure(format_args!("read %fs:0x28 = {value:#x} with no TLS base"))
}
