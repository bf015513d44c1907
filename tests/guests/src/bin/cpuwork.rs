//! cpuwork: CPU-bound work for docs/benchmarks.md (not a test).
//!
//! ```text
//! solo5-hvt cpuwork MODE N
//! ```
//!
//! | MODE | work |
//! |---|---|
//! | `checksum` | N passes of a 64-bit sum over 1 MiB of the heap |
//! | `float` | N iterations of a double-precision multiply-add |
//!
//! timed with `solo5_clock_monotonic` around the work; prints
//! `cpuwork MODE n=N ns=T result=R` and exits 0. A bad command line exits 2.
#![no_std]
#![no_main]

use core::hint::black_box;

use solo5_guest::{clock, println, StartInfo};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Bytes the checksum reads per pass.
const SPAN: usize = 1 << 20;

fn checksum(start: &StartInfo, n: u64) -> Option<u64> {
    if start.heap_size() < SPAN {
        return None;
    }
    let base = start.heap_start() as *mut u64;
    let words = SPAN / 8;
    for i in 0..words {
        // SAFETY: the heap belongs to the application; i < words keeps
        // the write inside its first SPAN bytes (checked above).
        unsafe { base.add(i).write_volatile(i as u64) };
    }
    let mut sum = 0u64;
    for _ in 0..n {
        for i in 0..words {
            // SAFETY: as above, a read of a word written above.
            sum = sum.wrapping_add(unsafe { base.add(i).read_volatile() });
        }
    }
    Some(sum)
}

fn float(n: u64) -> u64 {
    let (mut x, a, b) = (
        black_box(1.0f64),
        black_box(0.999_999),
        black_box(0.000_001),
    );
    for _ in 0..n {
        x = x * a + b;
    }
    x.to_bits()
}

fn app(start: &StartInfo) -> i32 {
    let mut words = start.cmdline().split_whitespace();
    let (mode, n) = match (
        words.next(),
        words.next().and_then(|w| w.parse::<u64>().ok()),
    ) {
        (Some(m @ ("checksum" | "float")), Some(n)) => (m, n),
        _ => {
            println!("usage: cpuwork checksum|float N");
            return 2;
        }
    };
    let t0 = clock::monotonic();
    let result = if mode == "checksum" {
        match checksum(start, n) {
            Some(r) => r,
            None => {
                println!("cpuwork: heap smaller than {SPAN} bytes");
                return 2;
            }
        }
    } else {
        float(n)
    };
    let ns = clock::monotonic() - t0;
    println!("cpuwork {mode} n={n} ns={ns} result={result:#x}");
    0
}
