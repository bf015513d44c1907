//! test_globals: initialised statics (.data) hold their values, zeroed ones
//! (.bss) are zero, and both are writable.
#![no_std]
#![no_main]

use solo5_guest::{console, StartInfo};
use solo5_test_guests::{banner, check, Global};

solo5_guest::manifest! {}
solo5_guest::main!(app);

static D8: Global<u8> = Global::new(0x5a);
static D16: Global<u16> = Global::new(0xbeef);
static D32: Global<u32> = Global::new(0xdead_beef);
static D64: Global<u64> = Global::new(0x0123_4567_89ab_cdef);
static DARRAY: Global<[u32; 64]> = Global::new(pattern());
static B32: Global<u32> = Global::new(0);
static BARRAY: Global<[u64; 4096]> = Global::new([0; 4096]);
/// Upstream's check: "RUCCESS" with its first letter incremented.
static MESSAGE: Global<[u8; 8]> = Global::new(*b"RUCCESS\n");

const fn pattern() -> [u32; 64] {
    let mut a = [0u32; 64];
    let mut i = 0;
    while i < 64 {
        a[i] = (i as u32).wrapping_mul(0x9e37_79b9);
        i += 1;
    }
    a
}

fn app(_start: &StartInfo) -> i32 {
    banner("globals");

    check!(D8.read() == 0x5a, "u8 in .data is {:#x}", D8.read());
    check!(D16.read() == 0xbeef, "u16 in .data is {:#x}", D16.read());
    check!(
        D32.read() == 0xdead_beef,
        "u32 in .data is {:#x}",
        D32.read()
    );
    check!(
        D64.read() == 0x0123_4567_89ab_cdef,
        "u64 in .data is {:#x}",
        D64.read()
    );
    check!(DARRAY.read() == pattern(), "array in .data differs");
    check!(B32.read() == 0, "u32 in .bss is {:#x}", B32.read());
    let bss = BARRAY.read();
    check!(bss.iter().all(|&v| v == 0), "array in .bss is not zero");

    D64.write(42);
    B32.write(7);
    let mut a = BARRAY.read();
    a[4095] = 0xfeed;
    BARRAY.write(a);
    check!(D64.read() == 42, "u64 in .data not writable");
    check!(B32.read() == 7, "u32 in .bss not writable");
    check!(BARRAY.read()[4095] == 0xfeed, "array in .bss not writable");

    let mut m = MESSAGE.read();
    m[0] += 1;
    MESSAGE.write(m);
    console::write(&MESSAGE.read());
    0
}
