//! The syscall matrix program: `syscall N [A0 .. A5]` issues raw system
//! call N with the given arguments and prints `SURVIVED N = RESULT`.
//!
//! Numbers are decimal (optionally negative) or `0x` hexadecimal; the
//! token `buf` stands for the address of a zeroed 4096-byte static buffer;
//! missing arguments are 0. The tender's tests use it to check which calls
//! and arguments its seccomp filter lets through: a forbidden call dies
//! with SIGSYS (exit status 159) before printing anything.
#![no_std]
#![no_main]

use solo5_guest::{println, StartInfo};
use solo5_test_guests::{failure, raw_syscall, Global};

solo5_guest::manifest! {}
solo5_guest::main!(app);

static BUF: Global<[u8; 4096]> = Global::new([0; 4096]);

fn parse(token: &str) -> Option<u64> {
    if token == "buf" {
        return Some(BUF.as_ptr() as u64);
    }
    if let Some(hex) = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
    {
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some(neg) = token.strip_prefix('-') {
        return neg.parse::<i64>().ok().map(|v| v.wrapping_neg() as u64);
    }
    token.parse::<u64>().ok()
}

fn app(start: &StartInfo) -> i32 {
    let mut tokens = start.cmdline().split_ascii_whitespace();
    let Some(nr_token) = tokens.next() else {
        return failure(format_args!("usage: syscall N [A0 .. A5]"));
    };
    let Some(nr) = parse(nr_token) else {
        return failure(format_args!("bad syscall number '{nr_token}'"));
    };
    let mut args = [0u64; 6];
    for (i, token) in tokens.enumerate() {
        if i == args.len() {
            return failure(format_args!("more than 6 arguments"));
        }
        let Some(v) = parse(token) else {
            return failure(format_args!("bad argument '{token}'"));
        };
        args[i] = v;
    }
    // SAFETY: that is the point of this program: whatever the call does,
    // the tender's filter decides whether it runs.
    let ret = unsafe { raw_syscall(nr, args) };
    println!("SURVIVED {nr} = {ret}");
    0
}
