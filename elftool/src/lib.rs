//! `solo5-elftool`, a drop-in for upstream Solo5's elftool (docs/abis.md,
//! "solo5-elftool"):
//!
//! - `gen-manifest SOURCE OUTPUT`: manifest source (JSON) to a C file that
//!   defines the MFT1 note; build systems such as MirageOS call it. `-`
//!   stands for standard input or output.
//! - `query-manifest BINARY`: the manifest of an executable, as JSON.
//! - `query-abi BINARY`: the ABI target and version of an executable, as
//!   JSON.
//!
//! Usage text, output layout and exit codes are upstream's: any error is one
//! line on standard error and exit status 1, and so is a wrong command line
//! (the usage text, on standard error). The executable's notes are read by
//! the tenders' own code (`solo5_tender::notes`), so a query accepts and
//! refuses exactly what a tender does. Where this tool departs from
//! upstream's, and why, is in docs/differences.md.

#![forbid(unsafe_code)]

pub mod gen;
pub mod json;
pub mod query;
pub mod spec;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use thiserror::Error;

/// A command of `solo5-elftool`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `gen-manifest SOURCE OUTPUT`.
    GenManifest {
        /// The JSON manifest source.
        source: PathBuf,
        /// The C file to write.
        output: PathBuf,
    },
    /// `query-manifest BINARY`.
    QueryManifest {
        /// The executable.
        binary: PathBuf,
    },
    /// `query-abi BINARY`.
    QueryAbi {
        /// The executable.
        binary: PathBuf,
    },
}

impl Command {
    /// The command for `args` (program name excluded), or `None` when the
    /// usage text should be printed instead. Like upstream, there are no
    /// options: `--help` is an unknown command.
    pub fn parse(args: &[OsString]) -> Option<Command> {
        let (cmd, rest) = args.split_first()?;
        let cmd: &OsStr = cmd;
        match (cmd.to_str()?, rest) {
            ("gen-manifest", [source, output]) => Some(Command::GenManifest {
                source: source.into(),
                output: output.into(),
            }),
            ("query-manifest", [binary]) => Some(Command::QueryManifest {
                binary: binary.into(),
            }),
            ("query-abi", [binary]) => Some(Command::QueryAbi {
                binary: binary.into(),
            }),
            _ => None,
        }
    }
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum Error {
    /// `gen-manifest` failed.
    #[error(transparent)]
    Gen(#[from] gen::GenError),
    /// `query-manifest` or `query-abi` failed.
    #[error(transparent)]
    Query(#[from] query::QueryError),
}

/// Run `cmd`; on success, the bytes for standard output (empty for
/// `gen-manifest`, which writes its output itself). Query output is bytes,
/// not text: upstream prints device names as they are in the binary.
pub fn run(cmd: &Command) -> Result<Vec<u8>, Error> {
    match cmd {
        Command::GenManifest { source, output } => {
            gen::gen_manifest(source, output)?;
            Ok(Vec::new())
        }
        Command::QueryManifest { binary } => Ok(query::query_manifest(binary)?),
        Command::QueryAbi { binary } => Ok(query::query_abi(binary)?),
    }
}

/// Upstream's usage text, for standard error.
pub fn usage(prog: &str) -> String {
    format!(
        "usage: {prog} COMMAND ...\n\
         {prog} version {version}\n\
         \n\
         COMMAND is:\n\
         \x20   gen-manifest SOURCE OUTPUT:\n\
         \x20       Generate application manifest from SOURCE, writing to OUTPUT.\n\
         \x20   query-abi BINARY:\n\
         \x20       Display the ABI target and version from BINARY.\n\
         \x20   query-manifest BINARY:\n\
         \x20       Display the application manifest from BINARY.\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Option<Command> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Command::parse(&args)
    }

    #[test]
    fn command_line() {
        assert_eq!(
            parse(&["gen-manifest", "a.json", "a.c"]),
            Some(Command::GenManifest {
                source: "a.json".into(),
                output: "a.c".into()
            })
        );
        assert_eq!(
            parse(&["query-abi", "x"]),
            Some(Command::QueryAbi { binary: "x".into() })
        );
        for bad in [
            &[][..],
            &["--help"],
            &["gen-manifest", "a.json"],
            &["query-manifest"],
            &["query-manifest", "a", "b"],
            &["dump", "x"],
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn usage_text() {
        let u = usage("solo5-elftool");
        assert!(u.starts_with("usage: solo5-elftool COMMAND ...\nsolo5-elftool version "));
        assert!(u.contains("\n    query-abi BINARY:\n        Display the ABI target"));
    }
}
