//! The tender command line (docs/abis.md, "Command line").
//!
//! ```text
//! solo5-spt [--mem=MiB] [--net:NAME=IFACE|@FD] [--net-mac:NAME=HWADDR]
//!           [--block:NAME=PATH] [--block-sector-size:NAME=SIZE]
//!           [--x-exec-heap] [--print-policy] [--help] [--version]
//!           [--] KERNEL [ARGS...]
//! ```
//! Options come before KERNEL; everything after it goes to the guest.

use solo5_abi::{CMDLINE_SIZE, DEFAULT_MEM_MIB};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use thiserror::Error;

/// Smallest guest memory: the 1 MiB below the first segment plus room for
/// a kernel and a stack.
pub const MIN_MEM_MIB: u64 = 2;
/// Largest guest memory (1 TiB): far below where the kernel maps a PIE
/// tender, and more than any unikernel needs.
pub const MAX_MEM_MIB: u64 = 1 << 20;

/// A command-line mistake; the message is the whole line the user sees.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CmdlineError {
    /// No KERNEL argument.
    #[error("missing KERNEL operand (try --help)")]
    NoKernel,
    /// An option this tender does not know.
    #[error("unknown option '{0}' (try --help)")]
    UnknownOption(String),
    /// `--mem` not a number in range.
    #[error("--mem: invalid size '{0}' (a number of MiB from {MIN_MEM_MIB} to {MAX_MEM_MIB})")]
    BadMem(String),
    /// An option of the form `--kind:NAME=VALUE` without `=` or name.
    #[error("{0}: expected --{1}:NAME=VALUE")]
    Malformed(String, &'static str),
    /// `@FD` not a descriptor number.
    #[error("--net:{0}: invalid file descriptor '{1}'")]
    BadFd(String, String),
    /// `--net-mac` value not six hex bytes.
    #[error("--net-mac:{0}: malformed MAC address '{1}'")]
    BadMac(String, String),
    /// `--block-sector-size` value not a power of two >= 512.
    #[error("--block-sector-size:{0}: Block size must be a multiple of 2 greater than or equal 512 (got '{1}')")]
    BadSectorSize(String, String),
    /// The same option twice for one device.
    #[error("--{0}:{1} given more than once")]
    Duplicate(&'static str, String),
    /// An option that is not valid UTF-8.
    #[error("option is not valid UTF-8: {0:?}")]
    NotUtf8(OsString),
    /// Guest arguments longer than the command-line buffer.
    #[error("Guest command line too long (max={} characters)", CMDLINE_SIZE - 1)]
    CmdlineTooLong,
}

/// Where a network device comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetSource {
    /// An existing tap interface, by name.
    Iface(String),
    /// An inherited, already open descriptor.
    Fd(i32),
}

/// Everything the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Guest memory in MiB.
    pub mem_mib: u64,
    /// `--net:NAME=...`, in command-line order.
    pub nets: Vec<(String, NetSource)>,
    /// `--net-mac:NAME=...`.
    pub net_macs: Vec<(String, [u8; 6])>,
    /// `--block:NAME=PATH`.
    pub blocks: Vec<(String, PathBuf)>,
    /// `--block-sector-size:NAME=SIZE`.
    pub sector_sizes: Vec<(String, u64)>,
    /// Make the heap executable (upstream's `--x-exec-heap`).
    pub x_exec_heap: bool,
    /// Print the seccomp policy and exit instead of running.
    pub print_policy: bool,
    /// The unikernel.
    pub kernel: PathBuf,
    /// Guest arguments joined by single spaces, as the guest sees them.
    pub cmdline: Vec<u8>,
}

/// What the tender should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run a unikernel.
    Run(Options),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Parse the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, CmdlineError> {
    let mut args = args.into_iter();
    let mut o = Options {
        mem_mib: DEFAULT_MEM_MIB,
        nets: Vec::new(),
        net_macs: Vec::new(),
        blocks: Vec::new(),
        sector_sizes: Vec::new(),
        x_exec_heap: false,
        print_policy: false,
        kernel: PathBuf::new(),
        cmdline: Vec::new(),
    };
    let kernel = loop {
        let Some(arg) = args.next() else {
            return Err(CmdlineError::NoKernel);
        };
        if arg == "--" {
            break args.next().ok_or(CmdlineError::NoKernel)?;
        }
        // As upstream: every word that starts with '-' before KERNEL is an
        // option (a kernel called "-x" is given after "--").
        if !arg.as_encoded_bytes().starts_with(b"-") {
            break arg;
        }
        let arg = arg.into_string().map_err(CmdlineError::NotUtf8)?;
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            _ if !arg.starts_with("--") => return Err(CmdlineError::UnknownOption(arg)),
            "--version" => return Ok(Command::Version),
            "--x-exec-heap" => o.x_exec_heap = true,
            "--print-policy" => o.print_policy = true,
            _ => option(&mut o, &arg)?,
        }
    };
    o.kernel = PathBuf::from(kernel);
    for (i, a) in args.enumerate() {
        if i > 0 {
            o.cmdline.push(b' ');
        }
        o.cmdline.extend_from_slice(&a.into_vec());
    }
    if o.cmdline.len() >= CMDLINE_SIZE {
        return Err(CmdlineError::CmdlineTooLong);
    }
    Ok(Command::Run(o))
}

fn option(o: &mut Options, arg: &str) -> Result<(), CmdlineError> {
    if let Some(v) = arg.strip_prefix("--mem=") {
        o.mem_mib = Some(v)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|m| (MIN_MEM_MIB..=MAX_MEM_MIB).contains(m))
            .ok_or_else(|| CmdlineError::BadMem(v.to_string()))?;
        return Ok(());
    }
    let Some((kind, rest)) = arg[2..].split_once(':') else {
        return Err(CmdlineError::UnknownOption(arg.to_string()));
    };
    let kind: &'static str = match kind {
        "net" => "net",
        "net-mac" => "net-mac",
        "block" => "block",
        "block-sector-size" => "block-sector-size",
        _ => return Err(CmdlineError::UnknownOption(arg.to_string())),
    };
    let (name, value) = rest
        .split_once('=')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| CmdlineError::Malformed(arg.to_string(), kind))?;
    let name = name.to_string();
    let taken = match kind {
        "net" => o.nets.iter().any(|(n, _)| *n == name),
        "net-mac" => o.net_macs.iter().any(|(n, _)| *n == name),
        "block" => o.blocks.iter().any(|(n, _)| *n == name),
        _ => o.sector_sizes.iter().any(|(n, _)| *n == name),
    };
    if taken {
        return Err(CmdlineError::Duplicate(kind, name));
    }
    match kind {
        "net" => {
            let source = match value.strip_prefix('@') {
                Some(fd) => NetSource::Fd(
                    fd.parse::<i32>()
                        .ok()
                        .filter(|fd| *fd >= 0)
                        .ok_or_else(|| CmdlineError::BadFd(name.clone(), value.to_string()))?,
                ),
                None => NetSource::Iface(value.to_string()),
            };
            o.nets.push((name, source));
        }
        "net-mac" => {
            let mac = parse_mac(value)
                .ok_or_else(|| CmdlineError::BadMac(name.clone(), value.to_string()))?;
            o.net_macs.push((name, mac));
        }
        "block" => o.blocks.push((name, PathBuf::from(value))),
        _ => {
            let size = value
                .parse::<u64>()
                .ok()
                .filter(|s| *s >= 512 && s.is_power_of_two() && *s <= u64::from(u16::MAX))
                .ok_or_else(|| CmdlineError::BadSectorSize(name.clone(), value.to_string()))?;
            o.sector_sizes.push((name, size));
        }
    }
    Ok(())
}

/// Parse `xx:xx:xx:xx:xx:xx` (hex digits, either case).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Usage text for a tender called `prog`.
pub fn usage(prog: &str) -> String {
    format!(
        "usage: {prog} [OPTIONS] [--] KERNEL [ARGS...]\n\
         KERNEL is the filename of the unikernel to run.\n\
         ARGS are optional arguments passed to KERNEL.\n\
         Options:\n\
         \x20 --mem=MiB                    guest memory in MiB (default: {DEFAULT_MEM_MIB})\n\
         \x20 --net:NAME=IFACE | @FD       attach tap interface IFACE, or the open descriptor FD,\n\
         \x20                              as network device NAME\n\
         \x20 --net-mac:NAME=HWADDR        set the guest MAC address of NAME (default: random)\n\
         \x20 --block:NAME=PATH            attach the file or block device PATH as block device NAME\n\
         \x20 --block-sector-size:NAME=N   sector size of NAME, a power of two >= 512 (default: 512)\n\
         \x20 --x-exec-heap                make the guest heap executable (it stays writable)\n\
         \x20 --print-policy               print the seccomp policy KERNEL would get, do not run it\n\
         \x20 --help                       display this help\n\
         \x20 --version                    display version information\n\
         Exit status: the guest's own, or 1 when {prog} cannot start it.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, CmdlineError> {
        match parse(args.iter().map(OsString::from))? {
            Command::Run(o) => Ok(o),
            c => panic!("unexpected {c:?}"),
        }
    }

    #[test]
    fn kernel_and_args() {
        let o = run(&["--mem=64", "--net:service0=tap0", "k.spt", "a", "--b"]).unwrap();
        assert_eq!(o.mem_mib, 64);
        assert_eq!(
            o.nets,
            vec![("service0".into(), NetSource::Iface("tap0".into()))]
        );
        assert_eq!(o.kernel, PathBuf::from("k.spt"));
        assert_eq!(o.cmdline, b"a --b");
    }

    #[test]
    fn errors() {
        assert_eq!(run(&[]), Err(CmdlineError::NoKernel));
        assert_eq!(
            run(&["--mem=abc", "k"]),
            Err(CmdlineError::BadMem("abc".into()))
        );
        assert_eq!(
            run(&["--mem=1", "k"]),
            Err(CmdlineError::BadMem("1".into()))
        );
        assert!(matches!(
            run(&["--bogus", "k"]),
            Err(CmdlineError::UnknownOption(_))
        ));
        assert!(matches!(
            run(&["--net:x", "k"]),
            Err(CmdlineError::Malformed(..))
        ));
        assert!(matches!(
            run(&["--net:x=@-1", "k"]),
            Err(CmdlineError::BadFd(..))
        ));
        assert!(matches!(
            run(&["--net-mac:x=01:02", "k"]),
            Err(CmdlineError::BadMac(..))
        ));
        assert!(matches!(
            run(&["--block-sector-size:x=1000", "k"]),
            Err(CmdlineError::BadSectorSize(..))
        ));
        assert!(matches!(
            run(&["--block:x=a", "--block:x=b", "k"]),
            Err(CmdlineError::Duplicate(..))
        ));
        let long = "x".repeat(CMDLINE_SIZE);
        assert_eq!(run(&["k", &long]), Err(CmdlineError::CmdlineTooLong));
    }

    #[test]
    fn double_dash_and_fd() {
        let o = run(&["--net:n=@3", "--", "--weird-kernel"]).unwrap();
        assert_eq!(o.nets[0].1, NetSource::Fd(3));
        assert_eq!(o.kernel, PathBuf::from("--weird-kernel"));
        // A single dash is an option too, as upstream: never a kernel.
        assert_eq!(
            run(&["-x", "k"]),
            Err(CmdlineError::UnknownOption("-x".into()))
        );
        assert_eq!(run(&["--", "-x"]).unwrap().kernel, PathBuf::from("-x"));
        assert_eq!(
            parse_mac("02:aB:00:11:22:ff"),
            Some([2, 0xab, 0, 0x11, 0x22, 0xff])
        );
    }
}
