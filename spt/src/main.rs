//! solo5-spt: parse the command line, call the library, print the error
//! chain as one line, exit 1. The guest's own exit status passes through.

use solo5_tender::cmdline::{self, Command};
use std::process::ExitCode;

const PROG: &str = "solo5-spt";

fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut line = format!("{PROG}: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        line.push_str(&format!(": {s}"));
        src = s.source();
    }
    eprintln!("{line}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let o = match cmdline::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{}", cmdline::usage(PROG));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{PROG} {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
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
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    match solo5_spt::run(kernel, &o) {
        Ok(never) => match never {},
        Err(e) => fail(&e),
    }
}
