//! solo5-elftool: parse the command line, call the library, print the
//! output or the error chain as one line. Exit status 0 on success, 1 on any
//! error or a wrong command line (usage on standard error), as upstream.

#![forbid(unsafe_code)]

use solo5_elftool::{self as elftool, Command};
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

const PROG: &str = "solo5-elftool";

/// Print `text` on standard error. Nothing is left to report to if that
/// fails.
fn to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    to_stderr(&format!("{}\n", solo5_tender::report::error_line(PROG, e)));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(cmd) = Command::parse(&args) else {
        to_stderr(&elftool::usage(PROG));
        return ExitCode::FAILURE;
    };
    match elftool::run(&cmd) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&out).and_then(|()| stdout.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Err(e) => fail(&e),
    }
}
