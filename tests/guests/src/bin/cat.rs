//! cat: copies its network device `stdin`, read as a byte stream, to the
//! console, and exits 0 at end of file. One source for every flavor:
//!
//! ```text
//! uptime | solo5-spt --net:stdin=@0 target/guests/spt/cat
//! uptime | solo5-hvt --net:stdin=@0 target/guests/hvt/cat
//! ```
//!
//! Whatever the host side of the device delivers per read (a frame from a
//! tap, any number of bytes from a pipe or a file) is written out as it
//! is. A read with nothing to return waits (`yield`) until the device is
//! readable; the end of input is a read that fails with
//! `SOLO5_R_EUNSPEC`, which every tender gives once the host side is
//! closed. Any other error ends the program with status 1.
#![no_std]
#![no_main]

use solo5_guest::{
    clock, console, net, yield_until, Error, Net, StartInfo, EXIT_FAILURE, EXIT_SUCCESS,
};

solo5_guest::manifest! { net "stdin" }
solo5_guest::main!(app);

/// Largest read: a maximal frame of the largest MTU a tender reports.
const BUF: usize = 9000 + net::HLEN;

fn app(_start: &StartInfo) -> i32 {
    let dev = match Net::acquire("stdin") {
        Ok(d) => d,
        Err(e) => {
            solo5_guest::println!("cat: cannot acquire net device 'stdin': {e:?}");
            return EXIT_FAILURE;
        }
    };
    let mut buf = [0u8; BUF];
    let len = (dev.info().mtu + net::HLEN).clamp(net::HLEN + 1, BUF);
    loop {
        match dev.read(&mut buf[..len]) {
            Ok(n) => console::write(&buf[..n]),
            Err(Error::Again) => {
                yield_until(clock::monotonic().saturating_add(clock::NSEC_PER_SEC));
            }
            Err(Error::Unspecified) => return EXIT_SUCCESS,
            Err(e) => {
                solo5_guest::println!("cat: read failed: {e:?}");
                return EXIT_FAILURE;
            }
        }
    }
}
