//! The command line: leading `--solo5:LEVEL` options belong to the
//! bindings, the rest to the application.
//!
//! Like upstream's bindings: leading whitespace is skipped; then as long as
//! the next whitespace-separated token is `--solo5:quiet`, `--solo5:error`,
//! `--solo5:warn`, `--solo5:info` or `--solo5:debug`, it sets the log level
//! (the last one wins) and is removed together with the whitespace after
//! it. The first other token, even an unknown `--solo5:` one, starts the
//! application's command line.

use crate::log::Level;

const PREFIX: &[u8] = b"--solo5:";

/// What the bindings take from a command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The level the options asked for, if any.
    pub level: Option<Level>,
    /// Where the application's command line starts.
    pub app_start: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Parses the bindings' options off the front of `cmdline` (NUL excluded).
pub(crate) fn parse(cmdline: &[u8]) -> Parsed {
    let skip_space = |mut i: usize| {
        while i < cmdline.len() && is_space(cmdline[i]) {
            i += 1;
        }
        i
    };
    let mut level = None;
    let mut i = skip_space(0);
    while i < cmdline.len() {
        let end = cmdline[i..]
            .iter()
            .position(|&c| is_space(c))
            .map_or(cmdline.len(), |n| i + n);
        let token = &cmdline[i..end];
        let Some(name) = token.strip_prefix(PREFIX) else {
            break;
        };
        let Some(l) = Level::from_name(name) else {
            break;
        };
        level = Some(l);
        i = skip_space(end);
    }
    Parsed {
        level,
        app_start: i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> (&str, Option<Level>) {
        let p = parse(s.as_bytes());
        (&s[p.app_start..], p.level)
    }

    #[test]
    fn no_options() {
        assert_eq!(app(""), ("", None));
        assert_eq!(app("a b"), ("a b", None));
        assert_eq!(app("   a  b "), ("a  b ", None));
    }

    #[test]
    fn leading_options_are_removed() {
        assert_eq!(app("--solo5:quiet"), ("", Some(Level::Quiet)));
        assert_eq!(app("--solo5:quiet a b"), ("a b", Some(Level::Quiet)));
        assert_eq!(
            app(" --solo5:debug\t--solo5:warn  x"),
            ("x", Some(Level::Warn))
        );
        assert_eq!(app("--solo5:error "), ("", Some(Level::Error)));
        assert_eq!(app("--solo5:info x"), ("x", Some(Level::Info)));
    }

    #[test]
    fn only_whole_known_tokens_count() {
        assert_eq!(app("--solo5:quietly a"), ("--solo5:quietly a", None));
        assert_eq!(app("--solo5:loud a"), ("--solo5:loud a", None));
        assert_eq!(app("--solo5: a"), ("--solo5: a", None));
        assert_eq!(app("a --solo5:quiet"), ("a --solo5:quiet", None));
        assert_eq!(
            app("--solo5:warn --solo5:bogus --solo5:quiet"),
            ("--solo5:bogus --solo5:quiet", Some(Level::Warn))
        );
    }
}
