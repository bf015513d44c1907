//! solo5-hvt: parse the command line, call the library, print the error
//! as one line, exit 1. Once the guest runs, the process ends with the
//! guest's own exit status (from the run loop, never back here).
//!
//! `no_main`: the C `main` below skips the Rust runtime's start-up (stack
//! guard discovery through /proc/self/maps, a SIGSEGV handler on an
//! alternate stack): the tender's start-up time is part of every
//! unikernel's.
#![no_main]

use solo5_hvt::{usage, Cpl3Choice, DebugOptions, HvtError, RingChoice, PROG};
use solo5_tender::cmdline::{self, CmdlineError, Command};
use std::io::Write;

/// Exit status of a tender that could not start or run its guest.
const FAILURE: i32 = 1;

fn fail(e: &dyn std::error::Error) -> i32 {
    let line = solo5_tender::report::error_line(PROG, e) + "\n";
    // Nothing is left to report to if standard error fails too.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    FAILURE
}

/// Print `text` on standard output; a failed write is an error line.
fn output(text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// The process entry, called by the C runtime; the arguments reach
/// `std::env::args_os` through glibc.
#[no_mangle]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    tender_main()
}

/// Take hvt's own options out of the command line (the words before `--`
/// or the kernel): `--net-ring=auto|on|off`, `--cpl3=auto|on|off` and the debugging options
/// `--dumpcore=DIR`, `--gdb`, `--gdb-port=N`, `--gdb-listen=ADDR`. The
/// last one given wins.
fn hvt_options(
    args: Vec<std::ffi::OsString>,
) -> Result<
    (
        Vec<std::ffi::OsString>,
        RingChoice,
        Cpl3Choice,
        DebugOptions,
    ),
    String,
> {
    let mut ring = RingChoice::default();
    let mut cpl3 = Cpl3Choice::default();
    let mut dbg = DebugOptions::default();
    let (mut gdb, mut port, mut listen) = (false, None, None);
    let mut out = Vec::with_capacity(args.len());
    let mut options = true;
    for a in args {
        if options {
            let s = a.to_string_lossy();
            if s == "--" || !s.starts_with('-') {
                options = false;
            } else if let Some(v) = s.strip_prefix("--net-ring=") {
                ring = RingChoice::parse(v)
                    .ok_or_else(|| format!("--net-ring: expected auto, on or off, not '{v}'"))?;
                continue;
            } else if let Some(v) = s.strip_prefix("--cpl3=") {
                cpl3 = Cpl3Choice::parse(v)
                    .ok_or_else(|| format!("--cpl3: expected auto, on or off, not '{v}'"))?;
                continue;
            } else if let Some(v) = s.strip_prefix("--dumpcore=") {
                if v.is_empty() {
                    return Err("--dumpcore: expected --dumpcore=DIR".into());
                }
                // The directory as given (it need not be UTF-8).
                let raw = &a.as_encoded_bytes()["--dumpcore=".len()..];
                // SAFETY: a suffix after an ASCII prefix of an OsStr's
                // encoded bytes is a valid encoding.
                let dir = unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(raw) };
                dbg.dumpcore = Some(dir.into());
                continue;
            } else if s == "--gdb" {
                gdb = true;
                continue;
            } else if let Some(v) = s.strip_prefix("--gdb-port=") {
                port = Some(
                    v.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or("Malformed argument to --gdb-port")?,
                );
                continue;
            } else if let Some(v) = s.strip_prefix("--gdb-listen=") {
                listen = Some(
                    v.parse::<std::net::IpAddr>()
                        .map_err(|_| format!("--gdb-listen: invalid IP address '{v}'"))?,
                );
                continue;
            }
        }
        out.push(a);
    }
    if gdb {
        dbg.gdb = Some(std::net::SocketAddr::new(
            listen.unwrap_or(solo5_hvt::gdb::DEFAULT_ADDR),
            port.unwrap_or(solo5_hvt::gdb::DEFAULT_PORT),
        ));
    } else if port.is_some() {
        return Err("--gdb-port given without --gdb".into());
    } else if listen.is_some() {
        return Err("--gdb-listen given without --gdb".into());
    }
    Ok((out, ring, cpl3, dbg))
}

fn tender_main() -> i32 {
    if let Err(e) = solo5_tender::stdfds::ensure_open() {
        return fail(&e);
    }
    let (args, ring, cpl3, dbg) = match hvt_options(std::env::args_os().skip(1).collect()) {
        Ok(v) => v,
        Err(line) => {
            let _ = std::io::stderr()
                .lock()
                .write_all(format!("{PROG}: {line}\n").as_bytes());
            return FAILURE;
        }
    };
    let o = match cmdline::parse(args) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => return output(&usage(PROG)),
        Ok(Command::Version) => {
            return output(&format!(
                "{PROG} {}\nABI version {}\n",
                env!("CARGO_PKG_VERSION"),
                solo5_abi::note::version::HVT
            ))
        }
        Err(e) => return fail(&e),
    };
    if o.x_exec_heap {
        // An spt option: hvt has no host-side heap mapping to change.
        return fail(&CmdlineError::UnknownOption("--x-exec-heap".into()));
    }
    let prepared = match solo5_hvt::prepare(&o, ring, cpl3, &dbg) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if o.print_policy {
        return match prepared.print_policy() {
            Ok(p) => output(&p.to_string()),
            Err(e) => fail(&e),
        };
    }
    match prepared.run() {
        Ok(never) => match never {},
        Err(e) => fail(&e as &HvtError),
    }
}
