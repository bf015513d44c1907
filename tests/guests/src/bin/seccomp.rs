//! test_seccomp: a system call the tender's filter does not allow
//! (getpid) ends the process with SIGSYS (exit status 159).
#![no_std]
#![no_main]

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure, raw_syscall};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// getpid(2) on x86_64.
const SYS_GETPID: u64 = 39;

fn app(_start: &StartInfo) -> i32 {
    banner("seccomp");
    // SAFETY: getpid has no arguments and no effect, if it runs at all.
    let pid = unsafe { raw_syscall(SYS_GETPID, [0; 6]) };
    failure(format_args!("getpid() was allowed and returned {pid}"))
}
