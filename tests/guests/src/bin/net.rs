//! test_net: like upstream's. Answers ARP and ICMP echo requests as
//! 10.0.0.2 on device `service0`, after printing
//! `[service0] Serving ping on 10.0.0.2, with MAC: ...`. With argument
//! `limit` it prints `Limit reached, exiting` and `SUCCESS` after 100000
//! echo replies; `verbose` reports every frame. Without `limit` it serves
//! until killed.
#![no_std]
#![no_main]

use solo5_guest::{println, StartInfo, EXIT_FAILURE};
use solo5_test_guests::net::{serve, Iface, Options, Reply, Stop, LIMIT};
use solo5_test_guests::{banner, success};

solo5_guest::manifest! { net "service0" }
solo5_guest::main!(app);

fn app(start: &StartInfo) -> i32 {
    banner("net");
    let Some(opts) = Options::parse(start.cmdline(), "net") else {
        return EXIT_FAILURE;
    };
    let Ok(iface) = Iface::acquire("service0", [10, 0, 0, 2]) else {
        println!("Could not acquire 'service0' network");
        return EXIT_FAILURE;
    };
    iface.announce();
    let mut ifaces = [iface];
    let mut echoes = 0u64;
    let stop = serve(&mut ifaces, opts.verbose, |_, reply| {
        if let Reply::Echo(_) = reply {
            echoes += 1;
        }
        opts.limit && echoes >= LIMIT
    });
    if stop != Stop::Done {
        println!("FAILURE");
        return EXIT_FAILURE;
    }
    println!("Limit reached, exiting");
    success()
}
