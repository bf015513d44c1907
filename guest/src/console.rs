//! The console: bytes written here go to the tender's standard output.
//!
//! Writing is best effort and never fails (`solo5_console_write`).
//! [`crate::print!`] and [`crate::println!`] format with `core::fmt` into a
//! buffer on the stack, without allocating, and write it out in as few
//! host calls as it takes (one per 512 bytes).

use core::fmt;

use crate::platform;

/// Writes `buf` to the console.
pub fn write(buf: &[u8]) {
    platform::console_write(buf);
}

/// Writes `s` to the console.
pub fn write_str(s: &str) {
    write(s.as_bytes());
}

/// The console as a [`fmt::Write`] sink, unbuffered: every piece of a
/// formatted message is a host call. [`Buffered`] batches them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write(s.as_bytes());
        Ok(())
    }
}

/// A [`fmt::Write`] sink that collects output in an `N`-byte buffer and
/// writes it to the console when full and on [`Buffered::flush`] (also on
/// drop).
pub struct Buffered<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Buffered<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Buffered {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends bytes, writing out the buffer whenever it fills up.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == N {
                self.flush();
            }
            let n = bytes.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    /// The bytes collected and not yet written.
    pub fn pending(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl<const N: usize> Default for Buffered<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for Buffered<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Drop for Buffered<N> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats `args` to the console; what [`crate::print!`] expands to.
pub fn print_fmt(args: fmt::Arguments<'_>) {
    let mut out = Buffered::<512>::new();
    let _ = fmt::Write::write_fmt(&mut out, args);
    out.flush();
}

/// Prints to the console, like `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::print_fmt(::core::format_args!($($arg)*))
    };
}

/// Prints to the console with a newline, like `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::write(b"\n")
    };
    ($($arg:tt)*) => {
        $crate::console::print_fmt(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_keeps_everything_in_order() {
        // N = 4 forces flushes; in unit tests the console is not set up, so
        // only the pending tail is observable.
        let mut b = Buffered::<4>::new();
        b.push(b"ab");
        assert_eq!(b.pending(), b"ab");
        b.push(b"cd");
        assert_eq!(b.pending(), b"abcd");
        b.len = 0; // pretend it was written
        b.push(b"xyz");
        assert_eq!(b.pending(), b"xyz");
        b.len = 0;
    }
}
