//! test_quiet: run with `--solo5:quiet`, the bindings print nothing (no
//! banner, no memory map, no exit line); only the application's own lines
//! appear.
#![no_std]
#![no_main]

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, success};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("quiet");
    success()
}
