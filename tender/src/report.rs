//! How tenders and tools tell the user what went wrong: one line,
//! `PROG: cause: cause: ...`, each cause once.

use std::error::Error;

/// The error chain of `e` as one line (no newline). The " (os error N)"
/// that std appends to system errors is left out: the message says it. An
/// error that is several lines by nature (upstream's list of unattached
/// devices) gets the program's name in front of each.
pub fn error_line(prog: &str, e: &dyn Error) -> String {
    let mut line = format!("{prog}: {}", clean(e));
    let mut src = e.source();
    while let Some(s) = src {
        line.push_str(": ");
        line.push_str(&clean(s));
        src = s.source();
    }
    line.replace('\n', &format!("\n{prog}: "))
}

fn clean(e: &dyn Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("net 'service0'")]
    struct Outer(#[source] io::Error);

    #[test]
    fn one_line_each_cause_once() {
        let e = Outer(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            error_line("solo5-spt", &e),
            "solo5-spt: net 'service0': No such file or directory"
        );
    }
}
