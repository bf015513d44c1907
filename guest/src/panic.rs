//! The panic handler: one line on the console, then exit status 255.
//!
//! The message is formatted with `core::fmt` into a buffer on the stack
//! (no allocation) and printed at `error` level as
//! `Solo5: PANIC: panicked at FILE:LINE:COL: MESSAGE`; guest binaries are
//! built with `panic = "abort"`, so nothing unwinds.

use core::fmt::{self, Write};

/// Formats into a fixed buffer, dropping what does not fit and turning
/// newlines into spaces so the message stays on one line.
pub(crate) struct LineBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> LineBuf<N> {
    pub const fn new() -> Self {
        LineBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Write for LineBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &c in s.as_bytes() {
            if self.len == N {
                break;
            }
            self.buf[self.len] = if c == b'\n' { b' ' } else { c };
            self.len += 1;
        }
        Ok(())
    }
}

/// The whole panic line for `info`, newline included; at most N bytes plus
/// the newline.
pub(crate) fn panic_line<const N: usize>(info: &dyn fmt::Display) -> LineBuf<N> {
    let mut line = LineBuf::<N>::new();
    let _ = write!(line, "Solo5: PANIC: {info}");
    // Make room for the newline if the message filled the buffer.
    if line.len == N {
        line.len -= 1;
    }
    let _ = line.write_str("\n");
    // write_str maps '\n' to ' ': put the real newline back.
    line.buf[line.len - 1] = b'\n';
    line
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if crate::log::enabled(crate::log::Level::Error) {
        let line = panic_line::<256>(info);
        crate::console::write(line.as_bytes());
    }
    crate::platform::exit(crate::EXIT_ABORT)
}

/// The prebuilt `core` refers to the personality routine of unwinding
/// builds; nothing unwinds in a guest, so it is never called.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_line_is_one_line() {
        let l = panic_line::<64>(&"panicked at src/x.rs:1:2:\nboom");
        assert_eq!(
            l.as_bytes(),
            b"Solo5: PANIC: panicked at src/x.rs:1:2: boom\n"
        );
    }

    #[test]
    fn panic_line_truncates() {
        let l = panic_line::<16>(&"0123456789abcdefghij");
        assert_eq!(l.as_bytes(), b"Solo5: PANIC: 0\n");
    }
}
