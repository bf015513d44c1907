//! The helper's command line and the tender command line it wraps.
//!
//! ```text
//! solo5-netns-exec [OPTIONS] -- TENDER [TENDER OPTIONS] KERNEL [ARGS...]
//! ```

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use thiserror::Error;

/// The user and group the tender runs as unless told otherwise (nobody).
pub const NOBODY: u32 = 65534;

/// How tap and uplink are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wiring {
    /// tcx when the kernel and our privileges allow it, else tc mirred.
    Auto,
    /// tcx links only (kernel 6.6+, CAP_BPF and CAP_NET_ADMIN).
    Tcx,
    /// tc ingress qdisc + u32 filter + mirred action (CAP_NET_ADMIN).
    Mirred,
}

/// A command-line mistake; the message is the whole line the user sees.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArgsError {
    /// No `--` and tender command line.
    #[error("missing -- TENDER [TENDER OPTIONS] KERNEL [ARGS...] (try --help)")]
    NoTender,
    /// A tender command line without a kernel.
    #[error("the tender command line names no KERNEL")]
    NoKernel,
    /// An option the helper does not know.
    #[error("unknown option '{0}' (try --help)")]
    Unknown(String),
    /// `--uplink` not NAME=IFACE.
    #[error("--uplink: expected NAME=IFACE, got '{0}'")]
    Uplink(String),
    /// `--uplink` twice for one device.
    #[error("--uplink {0} given more than once")]
    DuplicateUplink(String),
    /// `--user` not UID[:GID].
    #[error("--user: expected UID[:GID] (numbers), got '{0}'")]
    User(String),
    /// `--wiring` not auto, tcx or mirred.
    #[error("--wiring: expected auto, tcx or mirred, got '{0}'")]
    Wiring(String),
    /// An option missing its value.
    #[error("{0} needs a value")]
    NoValue(String),
    /// An argument that is not UTF-8 where text is needed.
    #[error("argument is not valid UTF-8: {0:?}")]
    NotUtf8(OsString),
}

/// What the user asked of the helper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// `--uplink NAME=IFACE`.
    pub uplinks: Vec<(String, String)>,
    /// `--random-mac`: let the tender pick the guest's MAC.
    pub random_mac: bool,
    /// `--mirage`: MirageOS's network arguments before the guest's own.
    pub mirage: bool,
    /// `--user UID[:GID]`.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// `--wiring`.
    pub wiring: Wiring,
    /// `--verbose`: one line on stderr per net device saying how it was
    /// wired.
    pub verbose: bool,
    /// `--reply-egress`: the guest's frames leave through the uplink's
    /// egress even where its peer could take them directly.
    pub reply_egress: bool,
    /// The tender command line, program first.
    pub tender: Vec<OsString>,
    /// Index in `tender` of KERNEL.
    pub kernel_at: usize,
}

/// What the helper should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Wire the devices and exec the tender.
    Run(Args),
    /// Print usage.
    Help,
    /// Print the version.
    Version,
}

/// Index of KERNEL in a tender command line (program first), by the
/// tenders' own rule: options start with `--`, `--` ends them, the first
/// other word is KERNEL.
pub fn kernel_index(tender: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < tender.len() {
        let a = tender[i].as_bytes();
        if a == b"--" {
            return (i + 1 < tender.len()).then_some(i + 1);
        }
        if !a.starts_with(b"--") {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn parse_ids(v: &str) -> Option<(u32, u32)> {
    let (u, g) = match v.split_once(':') {
        Some((u, g)) => (u, g),
        None => (v, v),
    };
    let num = |s: &str| {
        Some(s)
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
    };
    Some((num(u)?, num(g)?))
}

/// Parse the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, ArgsError> {
    let mut args = args.into_iter();
    let mut a = Args {
        uplinks: Vec::new(),
        random_mac: false,
        mirage: false,
        uid: NOBODY,
        gid: NOBODY,
        wiring: Wiring::Auto,
        verbose: false,
        reply_egress: false,
        tender: Vec::new(),
        kernel_at: 0,
    };
    loop {
        let Some(arg) = args.next() else {
            return Err(ArgsError::NoTender);
        };
        let arg = arg.into_string().map_err(ArgsError::NotUtf8)?;
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |opt: &str| -> Result<String, ArgsError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args
                    .next()
                    .ok_or_else(|| ArgsError::NoValue(opt.to_string()))?
                    .into_string()
                    .map_err(ArgsError::NotUtf8),
            }
        };
        match opt.as_str() {
            "--" => break,
            "--help" | "-h" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--random-mac" => a.random_mac = true,
            "--mirage" => a.mirage = true,
            "--verbose" => a.verbose = true,
            "--reply-egress" => a.reply_egress = true,
            "--uplink" => {
                let v = value(&opt)?;
                let (n, i) = v
                    .split_once('=')
                    .filter(|(n, i)| !n.is_empty() && !i.is_empty())
                    .ok_or_else(|| ArgsError::Uplink(v.clone()))?;
                if a.uplinks.iter().any(|(m, _)| m == n) {
                    return Err(ArgsError::DuplicateUplink(n.to_string()));
                }
                a.uplinks.push((n.to_string(), i.to_string()));
            }
            "--user" => {
                let v = value(&opt)?;
                (a.uid, a.gid) = parse_ids(&v).ok_or(ArgsError::User(v))?;
            }
            "--wiring" => {
                let v = value(&opt)?;
                a.wiring = match v.as_str() {
                    "auto" => Wiring::Auto,
                    "tcx" => Wiring::Tcx,
                    "mirred" => Wiring::Mirred,
                    _ => return Err(ArgsError::Wiring(v)),
                };
            }
            _ => return Err(ArgsError::Unknown(arg)),
        }
    }
    a.tender = args.collect();
    if a.tender.is_empty() {
        return Err(ArgsError::NoTender);
    }
    a.kernel_at = kernel_index(&a.tender).ok_or(ArgsError::NoKernel)?;
    Ok(Command::Run(a))
}

/// Values for the guest's argument template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    /// `{addr}`.
    pub addr: Option<String>,
    /// `{prefix}`.
    pub prefix: Option<String>,
    /// `{gw}`.
    pub gw: Option<String>,
}

/// A placeholder used with no value to put there.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("guest argument '{arg}' uses {{{key}}}, but {why}")]
pub struct TemplateError {
    /// The argument.
    pub arg: String,
    /// The placeholder, without braces.
    pub key: &'static str,
    /// Why there is no value.
    pub why: String,
}

impl Template {
    /// Replace `{addr}`, `{prefix}` and `{gw}` in `arg`; `why` says why a
    /// missing value is missing.
    pub fn expand(&self, arg: &OsString, why: &str) -> Result<OsString, TemplateError> {
        let Some(s) = arg.to_str() else {
            return Ok(arg.clone());
        };
        let mut out = s.to_string();
        for (key, v) in [
            ("addr", &self.addr),
            ("prefix", &self.prefix),
            ("gw", &self.gw),
        ] {
            let pat = format!("{{{key}}}");
            if out.contains(&pat) {
                let v = v.as_ref().ok_or_else(|| TemplateError {
                    arg: s.to_string(),
                    key,
                    why: why.replace("{key}", key),
                })?;
                out = out.replace(&pat, v);
            }
        }
        Ok(out.into())
    }
}

/// Usage text.
pub fn usage() -> String {
    "usage: solo5-netns-exec [OPTIONS] -- TENDER [TENDER OPTIONS] KERNEL [ARGS...]\n\
     Run as root with CAP_NET_ADMIN (and CAP_BPF for tcx) inside a network\n\
     namespace: attaches each NET_BASIC device of KERNEL's manifest that the\n\
     tender command line does not attach itself to a new tap wired to an\n\
     uplink, opens --block files, drops every privilege and execs TENDER.\n\
     \n\
     Options:\n\
     \x20 --uplink NAME=IFACE  attach net device NAME to IFACE (default: the first\n\
     \x20                      net device to the interface of the default route)\n\
     \x20 --random-mac         a random guest MAC instead of the uplink's\n\
     \x20 --mirage             put --ipv4={addr}/{prefix} --ipv4-gateway={gw}\n\
     \x20                      before the guest's arguments\n\
     \x20 --user UID[:GID]     run the tender as UID:GID (default 65534:65534)\n\
     \x20 --wiring auto|tcx|mirred  how taps meet uplinks (default auto: tcx,\n\
     \x20                      else tc mirred)\n\
     \x20 --reply-egress       with tcx on a veth uplink, send the guest's frames\n\
     \x20                      out of the uplink (its qdisc, tc egress hooks and\n\
     \x20                      counters) rather than straight to its peer\n\
     \x20 --verbose            say on stderr how each net device was wired\n\
     \x20 --help, --version\n\
     Guest arguments may use {addr}, {prefix} and {gw}: the uplink's IPv4\n\
     address, prefix length and default gateway.\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(v: &[&str]) -> Result<Args, ArgsError> {
        match parse(os(v))? {
            Command::Run(a) => Ok(a),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn splits_helper_and_tender_command_lines() {
        let a = run(&[
            "--uplink",
            "s1=eth1",
            "--user=1000:100",
            "--mirage",
            "--",
            "solo5-spt",
            "--mem=4",
            "k.spt",
            "--x",
            "y",
        ])
        .unwrap();
        assert_eq!(a.uplinks, vec![("s1".into(), "eth1".into())]);
        assert_eq!(
            (a.uid, a.gid, a.mirage, a.random_mac),
            (1000, 100, true, false)
        );
        assert_eq!(a.kernel_at, 2);
        assert_eq!(a.tender[a.kernel_at], "k.spt");
        assert!(!a.verbose);
        assert!(run(&["--verbose", "--", "t", "k"]).unwrap().verbose);
    }

    #[test]
    fn kernel_after_double_dash() {
        assert_eq!(
            kernel_index(&os(&["t", "--mem=2", "--", "--odd-name"])),
            Some(3)
        );
        assert_eq!(kernel_index(&os(&["t", "--mem=2"])), None);
        assert_eq!(kernel_index(&os(&["t", "--"])), None);
    }

    #[test]
    fn refuses_bad_options() {
        assert_eq!(
            run(&["--uplink", "x", "--", "t", "k"]),
            Err(ArgsError::Uplink("x".into()))
        );
        assert_eq!(
            run(&["--user", "nobody", "--", "t", "k"]),
            Err(ArgsError::User("nobody".into()))
        );
        assert_eq!(
            run(&["--wiring=bridge", "--", "t", "k"]),
            Err(ArgsError::Wiring("bridge".into()))
        );
        assert_eq!(
            run(&["--bogus", "--", "t", "k"]),
            Err(ArgsError::Unknown("--bogus".into()))
        );
        assert_eq!(run(&["--mirage"]), Err(ArgsError::NoTender));
        assert_eq!(run(&["--", "t", "--mem=2"]), Err(ArgsError::NoKernel));
        assert_eq!(
            run(&["--uplink", "a=x", "--uplink", "a=y", "--", "t", "k"]),
            Err(ArgsError::DuplicateUplink("a".into()))
        );
    }

    #[test]
    fn template_expands_or_says_what_is_missing() {
        let t = Template {
            addr: Some("10.1.2.3".into()),
            prefix: Some("20".into()),
            gw: None,
        };
        let e = t
            .expand(&"--ipv4={addr}/{prefix}".into(), "no gateway")
            .unwrap();
        assert_eq!(e, "--ipv4=10.1.2.3/20");
        let err = t
            .expand(&"--gw={gw}".into(), "eth0 has no default gateway")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "guest argument '--gw={gw}' uses {gw}, but eth0 has no default gateway"
        );
        assert_eq!(t.expand(&"plain".into(), "").unwrap(), "plain");
    }
}
