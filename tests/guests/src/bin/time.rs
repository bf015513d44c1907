//! test_time: like upstream's. Monotonic time passes; a deadline in the
//! past returns at once; five one-second yields each last at least one
//! second and at most 1.1 s; wall time is 2017 or later and advances with
//! monotonic time.
#![no_std]
#![no_main]

use solo5_guest::clock::{self, NSEC_PER_SEC};
use solo5_guest::{println, yield_until, StartInfo, EXIT_FAILURE};
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// How late a wake-up may be.
const SLACK: u64 = 100_000_000;

fn app(_start: &StartInfo) -> i32 {
    banner("time");

    let ta = clock::monotonic();
    let mut tb = clock::monotonic();
    let mut iters = 5;
    while ta == tb && iters > 0 {
        tb = clock::monotonic();
        iters -= 1;
    }
    check!(tb > ta, "time is not passing");

    // Deadlines in the past (including 0) return at once.
    let ta = clock::monotonic();
    yield_until(ta);
    yield_until(0);
    let tb = clock::monotonic();
    println!("Overhead of solo5_yield(): {} ns", tb - ta);
    check!(
        tb - ta < SLACK,
        "yield to a past deadline took {} ns",
        tb - ta
    );

    let wall_start = clock::wall();
    let mono_start = clock::monotonic();
    let mut failed = false;
    for i in (1..=5).rev() {
        println!("[{i}] Sleeping for one second...");
        let ta = clock::monotonic();
        let ready = yield_until(ta + NSEC_PER_SEC);
        let tb = clock::monotonic();
        if tb < ta {
            println!("[{i}] ERROR: time is not passing");
            failed = true;
            continue;
        }
        let delta = tb - ta;
        println!("[{i}] Slept for {delta} ns");
        if !ready.is_empty() {
            println!(
                "[{i}] ERROR: woke up with handles ready: {:#x}",
                ready.bits()
            );
            failed = true;
        }
        if delta < NSEC_PER_SEC {
            println!("[{i}] ERROR: slept too little (expected at least {NSEC_PER_SEC} ns)");
            failed = true;
        } else if delta > NSEC_PER_SEC + SLACK {
            println!("[{i}] ERROR: slept too much (expected at most {SLACK} ns more)");
            failed = true;
        }
    }
    if failed {
        println!("FAILURE: see the errors above");
        return EXIT_FAILURE;
    }

    let wall = clock::wall();
    check!(
        wall >= 1_483_228_800 * NSEC_PER_SEC,
        "wall time is not 2017 or later (got {wall} ns)"
    );
    let wall_delta = wall.saturating_sub(wall_start);
    let mono_delta = clock::monotonic() - mono_start;
    check!(
        wall_delta.abs_diff(mono_delta) < SLACK,
        "wall time advanced {wall_delta} ns while monotonic advanced {mono_delta} ns"
    );
    success()
}
