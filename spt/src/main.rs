//! solo5-spt: parse the command line, call the library, print the error
//! chain as one line, exit 1. The guest's own exit status passes through.
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (stack
//! guard discovery through /proc/self/maps, a SIGSEGV handler on an
//! alternate stack, SIGPIPE ignored): a tender's start-up time is part of
//! every unikernel's, and the guest wants default signal actions anyway.
#![no_main]

use solo5_tender::cmdline::{self, Command};

const PROG: &str = "solo5-spt";

fn fail(e: &dyn std::error::Error) -> Result<(), ()> {
    eprintln!("{}", solo5_tender::report::error_line(PROG, e));
    Err(())
}

/// The process entry, called by the C runtime; arguments come from
/// `std::env::args_os`, which glibc hands to Rust's std at start-up.
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    match tender_main() {
        Ok(()) => 0,
        Err(()) => 1,
    }
}

fn tender_main() -> Result<(), ()> {
    let o = match cmdline::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{}", cmdline::usage(PROG));
            return Ok(());
        }
        Ok(Command::Version) => {
            println!("{PROG} {}", env!("CARGO_PKG_VERSION"));
            return Ok(());
        }
        Err(e) => return fail(&e),
    };
    let mut kernel = match solo5_spt::load_kernel(o.kernel.clone(), o.mem_mib << 20) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    if o.print_policy {
        return match solo5_spt::policy_for(&mut kernel, &o) {
            Ok(p) => {
                print!("{p}");
                Ok(())
            }
            Err(e) => fail(&e),
        };
    }
    match solo5_spt::run(kernel, &o) {
        Ok(never) => match never {},
        Err(e) => fail(&e),
    }
}
