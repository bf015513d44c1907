//! The bindings' own messages ("Solo5: ..."), filtered by log level.
//!
//! The level comes from the leading `--solo5:LEVEL` option of the command
//! line (default `info`). `quiet` silences the bindings completely: no
//! banner, no exit line, no panic message. Applications print with
//! [`crate::println!`], which no level filters.

use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

/// How much the bindings say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// Nothing at all (`--solo5:quiet`).
    Quiet = 0,
    /// Errors only: panics and aborts because of bad input
    /// (`--solo5:error`).
    Error = 1,
    /// Errors and warnings (`--solo5:warn`).
    Warn = 2,
    /// The banner, memory map and exit line too: the default
    /// (`--solo5:info`).
    Info = 3,
    /// Everything (`--solo5:debug`).
    Debug = 4,
}

impl Level {
    /// The level named by a `--solo5:NAME` option.
    pub fn from_name(name: &[u8]) -> Option<Level> {
        Some(match name {
            b"quiet" => Level::Quiet,
            b"error" => Level::Error,
            b"warn" => Level::Warn,
            b"info" => Level::Info,
            b"debug" => Level::Debug,
            _ => return None,
        })
    }

    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Quiet,
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            _ => Level::Debug,
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Sets the level (startup does, from the command line).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether a message of `level` is printed now.
pub fn enabled(level: Level) -> bool {
    level != Level::Quiet && level <= self::level()
}

/// Prints `args` if `level` is enabled. Messages carry their own
/// `Solo5: ` prefix and newline, as upstream's do.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if enabled(level) {
        crate::console::print_fmt(args);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_filter_in_order() {
        let old = level();
        set_level(Level::Warn);
        assert!(enabled(Level::Error));
        assert!(enabled(Level::Warn));
        assert!(!enabled(Level::Info));
        set_level(Level::Quiet);
        assert!(!enabled(Level::Error));
        assert!(!enabled(Level::Quiet));
        set_level(Level::Debug);
        assert!(enabled(Level::Debug));
        set_level(old);
    }

    #[test]
    fn names() {
        assert_eq!(Level::from_name(b"quiet"), Some(Level::Quiet));
        assert_eq!(Level::from_name(b"debug"), Some(Level::Debug));
        assert_eq!(Level::from_name(b"loud"), None);
    }
}
