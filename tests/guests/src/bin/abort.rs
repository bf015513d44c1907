//! test_abort: solo5_abort() ends the guest with status 255.
#![no_std]
#![no_main]

use solo5_guest::StartInfo;
use solo5_test_guests::banner;

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("abort");
    solo5_guest::abort()
}
