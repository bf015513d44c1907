//! solo5-runc: see `solo5_runc`. Exit status: runc's, or 1 with one
//! error line (on stderr and in the `--log` file).

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(solo5_runc::run(argv));
}
