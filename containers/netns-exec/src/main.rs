//! solo5-netns-exec: see `solo5_netns_exec` and `--help`. Errors: one
//! line on stderr, exit 1; on success the tender replaces this process.

use solo5_netns_exec::args::{self, Command};

fn main() {
    let code = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", args::usage());
            0
        }
        Ok(Command::Version) => {
            println!("solo5-netns-exec {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Command::Run(a)) => {
            let e = solo5_netns_exec::run(a);
            eprintln!("solo5-netns-exec: {}", chain(&e));
            1
        }
        Err(e) => {
            eprintln!("solo5-netns-exec: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// The error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
