//! test_net_2if: like upstream's. test_net on two devices at once:
//! `service0` as 10.0.0.2 and `service1` as 10.1.0.2. With argument
//! `limit` it prints `Limit reached, exiting` and `SUCCESS` after 100000
//! echo replies in total (and the count per device).
#![no_std]
#![no_main]

use solo5_guest::{println, StartInfo, EXIT_FAILURE};
use solo5_test_guests::net::{serve, Iface, Options, Reply, Stop, LIMIT};
use solo5_test_guests::{banner, success};

solo5_guest::manifest! { net "service0", net "service1" }
solo5_guest::main!(app);

fn app(start: &StartInfo) -> i32 {
    banner("net_2if");
    let Some(opts) = Options::parse(start.cmdline(), "net_2if") else {
        return EXIT_FAILURE;
    };
    let (Some(a), Some(b)) = (
        acquire("service0", [10, 0, 0, 2]),
        acquire("service1", [10, 1, 0, 2]),
    ) else {
        return EXIT_FAILURE;
    };
    a.announce();
    b.announce();
    let mut ifaces = [a, b];
    let mut echoes = [0u64; 2];
    let stop = serve(&mut ifaces, opts.verbose, |i, reply| {
        if let Reply::Echo(_) = reply {
            echoes[i] += 1;
        }
        opts.limit && echoes[0] + echoes[1] >= LIMIT
    });
    if stop != Stop::Done {
        println!("FAILURE");
        return EXIT_FAILURE;
    }
    println!(
        "Limit reached, exiting: {} echo replies on service0, {} on service1",
        echoes[0], echoes[1]
    );
    success()
}

fn acquire(name: &'static str, ip: [u8; 4]) -> Option<Iface> {
    let iface = Iface::acquire(name, ip).ok();
    if iface.is_none() {
        println!("Could not acquire '{name}' network");
    }
    iface
}
