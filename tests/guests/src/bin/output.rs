//! test_output: one large console write of known lines, then SUCCESS.
//!
//! Each line is `**** Solo5 standalone test_output **** (N characters)`
//! where N counts every byte written so far, this line and its newline
//! included; the text ends at 4143 bytes with one write, like upstream's.
#![no_std]
#![no_main]

use solo5_guest::{console, StartInfo};
use solo5_test_guests::{check, success};

solo5_guest::manifest! {}
solo5_guest::main!(app);

const PREFIX: &[u8] = b"**** Solo5 standalone test_output **** (";
const SUFFIX: &[u8] = b" characters)\n";
/// Stop after the first line that brings the total to this or more.
const TARGET: usize = 4096;

fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

fn push(buf: &mut [u8], at: &mut usize, bytes: &[u8]) {
    buf[*at..*at + bytes.len()].copy_from_slice(bytes);
    *at += bytes.len();
}

fn app(_start: &StartInfo) -> i32 {
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while len < TARGET {
        // The line's own length depends on how many digits the new total
        // has: pick the width that is consistent.
        let fixed = PREFIX.len() + SUFFIX.len();
        let Some(d) = (1..=5).find(|&d| digits(len + fixed + d) == d) else {
            return solo5_test_guests::failure(format_args!("no consistent line length"));
        };
        let total = len + fixed + d;
        push(&mut buf, &mut len, PREFIX);
        let mut num = [0u8; 5];
        let mut n = total;
        for i in (0..d).rev() {
            num[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        push(&mut buf, &mut len, &num[..d]);
        push(&mut buf, &mut len, SUFFIX);
        check!(len == total, "line ends at {len}, announced {total}");
    }
    check!(len == 4143, "text is {len} bytes, expected 4143");
    console::write(&buf[..len]);
    success()
}
