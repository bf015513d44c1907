//! test_net_mtu: prints `MTU is N` for device `service0` (like upstream's),
//! then exchanges a maximum-size frame:
//!
//! 1. writing a frame of MTU + 15 bytes (one more than a frame can have)
//!    must fail with EINVAL;
//! 2. it serves ARP and ping as 10.0.0.2, reading into a buffer of exactly
//!    MTU + 14 bytes, until it has answered an echo request whose frame is
//!    exactly MTU + 14 bytes long (`ping -s MTU-28 -M do 10.0.0.2`): that
//!    frame arrived whole and the reply of the same size went out. It
//!    prints `Answered a maximum-size echo request (N bytes)` and
//!    `SUCCESS`.
#![no_std]
#![no_main]

use solo5_guest::net::HLEN;
use solo5_guest::{println, Error, StartInfo, EXIT_FAILURE};
use solo5_test_guests::net::{serve, Iface, Options, Reply, Stop, MAX_FRAME};
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! { net "service0" }
solo5_guest::main!(app);

fn app(start: &StartInfo) -> i32 {
    banner("net_mtu");
    let Some(opts) = Options::parse(start.cmdline(), "net_mtu") else {
        return EXIT_FAILURE;
    };
    let Ok(iface) = Iface::acquire("service0", [10, 0, 0, 2]) else {
        println!("Could not acquire 'service0' network");
        return EXIT_FAILURE;
    };
    let mtu = iface.net.mtu();
    println!("MTU is {mtu}");

    let too_big = [0u8; MAX_FRAME + 1];
    let r = iface.net.write(&too_big[..mtu + HLEN + 1]);
    check!(
        r == Err(Error::Invalid),
        "writing a frame of {} bytes (MTU + 15) returned {r:?}, not EINVAL",
        mtu + HLEN + 1
    );
    println!("A frame of MTU + 15 bytes is refused with EINVAL");

    iface.announce();
    let max = mtu + HLEN;
    let mut ifaces = [iface];
    let stop = serve(&mut ifaces, opts.verbose, |_, reply| {
        reply == Reply::Echo(max)
    });
    if stop != Stop::Done {
        println!("FAILURE");
        return EXIT_FAILURE;
    }
    println!("Answered a maximum-size echo request ({max} bytes)");
    success()
}
