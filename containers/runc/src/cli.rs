//! runc's command line, as containerd's runc shim and Docker send it:
//! global flags, a subcommand, its flags, the container id. Only what
//! solo5-runc needs is interpreted; the whole line goes to runc as it is.

use std::path::PathBuf;

/// Global flags that take a value (`--root R` or `--root=R`).
const GLOBAL_VALUED: &[&str] = &["--root", "--log", "--log-format", "--criu", "--rootless"];
/// `create`/`run` flags that take a value.
const CREATE_VALUED: &[&str] = &[
    "--bundle",
    "-b",
    "--console-socket",
    "--pid-file",
    "--preserve-fds",
];

/// What solo5-runc reads of a runc command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Every argument, unchanged (runc gets them all).
    pub argv: Vec<String>,
    /// Global flags, in order, with their values.
    pub globals: Vec<String>,
    /// `--log FILE`.
    pub log: Option<PathBuf>,
    /// `--log-format json`.
    pub log_json: bool,
    /// The subcommand (`create`, `start`, `delete`, ...).
    pub command: Option<String>,
    /// `--bundle` of create/run (default: the working directory).
    pub bundle: Option<PathBuf>,
    /// The container id: the first operand after the subcommand.
    pub id: Option<String>,
}

fn split(a: &str) -> (&str, Option<&str>) {
    match a.split_once('=') {
        Some((f, v)) if f.starts_with('-') => (f, Some(v)),
        _ => (a, None),
    }
}

/// Read a runc command line (without the program name).
pub fn parse(argv: Vec<String>) -> Invocation {
    let mut inv = Invocation {
        argv: argv.clone(),
        ..Invocation::default()
    };
    let mut it = argv.into_iter().peekable();
    while let Some(a) = it.next() {
        if !a.starts_with('-') {
            inv.command = Some(a);
            break;
        }
        let (flag, inline) = split(&a);
        let flag = flag.to_string();
        let normal = format!("--{}", flag.trim_start_matches('-'));
        inv.globals.push(a.clone());
        if GLOBAL_VALUED.contains(&normal.as_str()) {
            let v = match inline {
                Some(v) => v.to_string(),
                None => {
                    let v = it.next().unwrap_or_default();
                    inv.globals.push(v.clone());
                    v
                }
            };
            match normal.as_str() {
                "--log" => inv.log = Some(PathBuf::from(v)),
                "--log-format" => inv.log_json = v == "json",
                _ => {}
            }
        }
    }
    let creating = matches!(inv.command.as_deref(), Some("create" | "run"));
    while let Some(a) = it.next() {
        if a.starts_with('-') && a != "-" {
            let (flag, inline) = split(&a);
            if creating && CREATE_VALUED.contains(&flag) {
                let v = inline.map(str::to_string).or_else(|| it.next());
                if matches!(flag, "--bundle" | "-b") {
                    inv.bundle = v.map(PathBuf::from);
                }
            }
            continue;
        }
        if inv.id.is_none() {
            inv.id = Some(a);
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn reads_containerds_create_line() {
        let i = parse(v(
            "--root /r --log /l/log.json --log-format json create --bundle /b --pid-file /p id1",
        ));
        assert_eq!(i.command.as_deref(), Some("create"));
        assert_eq!(i.bundle, Some(PathBuf::from("/b")));
        assert_eq!(i.id.as_deref(), Some("id1"));
        assert_eq!(i.log, Some(PathBuf::from("/l/log.json")));
        assert!(i.log_json);
        assert_eq!(
            i.globals,
            v("--root /r --log /l/log.json --log-format json")
        );
    }

    #[test]
    fn reads_inline_values_and_other_commands() {
        let i = parse(v("--root=/r --debug --systemd-cgroup kill id2 9 --all"));
        assert_eq!(i.command.as_deref(), Some("kill"));
        assert_eq!(i.id.as_deref(), Some("id2"));
        assert_eq!(i.bundle, None);
        let i = parse(v("--log=/x delete --force id3"));
        assert_eq!(
            (i.command.as_deref(), i.id.as_deref()),
            (Some("delete"), Some("id3"))
        );
        assert_eq!(i.log, Some(PathBuf::from("/x")));
        assert!(!i.log_json);
        let i = parse(v("create -b=/bb --console-socket /s id4"));
        assert_eq!(
            (i.bundle, i.id.as_deref()),
            (Some(PathBuf::from("/bb")), Some("id4"))
        );
    }
}
