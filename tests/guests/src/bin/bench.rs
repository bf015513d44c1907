//! bench: the cost of one Solo5 call, for `scripts/bench-spt` (not a test).
//!
//! ```text
//! solo5-spt bench --solo5:quiet MODE N
//! ```
//!
//! makes N calls of MODE, timed with `solo5_clock_monotonic` around the
//! loop, and prints one line (the format of `spt/examples/bench_baseline`):
//!
//! ```text
//! bench MODE n=N ns_per_call=X.XXX
//! ```
//!
//! | MODE    | call                                                |
//! |---------|-----------------------------------------------------|
//! | `clock` | `solo5_clock_monotonic()`                            |
//! | `wall`  | `solo5_clock_wall()`                                 |
//! | `write` | `solo5_console_write` of one byte                    |
//! | `yield` | `solo5_yield(0, ..)`: a deadline long past           |
//! | `none`  | nothing: the cost of the loop itself                 |
//!
//! With `write`, the result line goes where the N bytes went (the script
//! sends both to /dev/null and times the process from outside). A bad
//! command line prints a usage line and exits 2.
#![no_std]
#![no_main]

use core::hint::black_box;

use solo5_guest::clock;
use solo5_guest::{console, println, yield_until, StartInfo};

solo5_guest::manifest! {}
solo5_guest::main!(app);

#[derive(Clone, Copy)]
enum Mode {
    Clock,
    Wall,
    Write,
    Yield,
    None,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "clock" => Mode::Clock,
            "wall" => Mode::Wall,
            "write" => Mode::Write,
            "yield" => Mode::Yield,
            "none" => Mode::None,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Clock => "clock",
            Mode::Wall => "wall",
            Mode::Write => "write",
            Mode::Yield => "yield",
            Mode::None => "none",
        }
    }
}

/// Makes `n` calls of `mode`; returns the elapsed nanoseconds.
fn run(mode: Mode, n: u64) -> u64 {
    let start = clock::monotonic();
    for _ in 0..n {
        match mode {
            Mode::Clock => {
                black_box(clock::monotonic());
            }
            Mode::Wall => {
                black_box(clock::wall());
            }
            Mode::Write => console::write(b"."),
            Mode::Yield => {
                black_box(yield_until(0));
            }
            Mode::None => {
                black_box(());
            }
        }
    }
    clock::monotonic() - start
}

fn app(start: &StartInfo) -> i32 {
    let mut args = start.cmdline().split_ascii_whitespace();
    let parsed = match (args.next(), args.next(), args.next()) {
        (Some(m), Some(n), None) => Mode::parse(m).zip(n.parse::<u64>().ok()),
        _ => None,
    };
    let Some((mode, n)) = parsed.filter(|&(_, n)| n > 0) else {
        println!("usage: bench clock|wall|write|yield|none N");
        return 2;
    };
    let elapsed = run(mode, n);
    // ns per call with three decimals, in integers (no floats needed).
    let milli = u128::from(elapsed) * 1000 / u128::from(n);
    println!(
        "bench {} n={} ns_per_call={}.{:03}",
        mode.name(),
        n,
        milli / 1000,
        milli % 1000
    );
    0
}
