//! solo5-spt: parse the command line, call the library, print the error
//! chain as one line, exit 1. The guest's own exit status passes through.
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (stack
//! guard discovery through /proc/self/maps, a SIGSEGV handler on an
//! alternate stack, SIGPIPE ignored): a tender's start-up time is part of
//! every unikernel's, and the guest wants default signal actions anyway.
#![no_main]

use solo5_tender::cmdline::{self, Command};
use std::io::Write;

use solo5_spt::PROG;

fn fail(e: &dyn std::error::Error) -> Result<(), ()> {
    let line = solo5_tender::report::error_line(PROG, e) + "\n";
    // Nothing is left to report to if standard error fails too.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    Err(())
}

/// Print `text` on standard output; a failed write (a full disk, a closed
/// pipe) is an error line and exit 1, not a panic.
fn output(text: &str) -> Result<(), ()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) => fail(&e),
    }
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

/// Take `--dumpcore=DIR` out of the options (the words before `--` or the
/// kernel); the last one given wins.
fn dumpcore_option(
    args: Vec<std::ffi::OsString>,
) -> Result<(Vec<std::ffi::OsString>, Option<std::path::PathBuf>), String> {
    let mut dir = None;
    let mut out = Vec::with_capacity(args.len());
    let mut options = true;
    for a in args {
        if options {
            let s = a.to_string_lossy();
            if s == "--" || !s.starts_with('-') {
                options = false;
            } else if let Some(v) = s.strip_prefix("--dumpcore=") {
                if v.is_empty() {
                    return Err("--dumpcore: expected --dumpcore=DIR".into());
                }
                let raw = &a.as_encoded_bytes()["--dumpcore=".len()..];
                // SAFETY: a suffix after an ASCII prefix of an OsStr's
                // encoded bytes is a valid encoding.
                dir = Some(unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(raw) }.into());
                continue;
            }
        }
        out.push(a);
    }
    Ok((out, dir))
}

fn tender_main() -> Result<(), ()> {
    // With descriptor 0, 1 or 2 closed, the next file the tender opens would
    // take its number: the console would write into a disk image or a tap.
    if let Err(e) = solo5_tender::stdfds::ensure_open() {
        return fail(&e);
    }
    let (args, dumpcore) = match dumpcore_option(std::env::args_os().skip(1).collect()) {
        Ok(v) => v,
        Err(line) => {
            let _ = std::io::stderr()
                .lock()
                .write_all(format!("{PROG}: {line}\n").as_bytes());
            return Err(());
        }
    };
    let o = match cmdline::parse(args) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            return output(&cmdline::usage(PROG));
        }
        Ok(Command::Version) => {
            return output(&format!("{PROG} {}\n", env!("CARGO_PKG_VERSION")));
        }
        Err(e) => return fail(&e),
    };
    let mut kernel = match solo5_spt::load_kernel(o.kernel.clone()) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    if o.print_policy {
        return match solo5_spt::policy_for(&mut kernel, &o, dumpcore.as_deref()) {
            Ok(p) => output(&p.to_string()),
            Err(e) => fail(&e),
        };
    }
    match solo5_spt::run(kernel, &o, dumpcore.as_deref()) {
        Ok(never) => match never {},
        Err(e) => fail(&e),
    }
}
