//! The one raw system call solo5-runc makes: entering a network
//! namespace.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Move this thread into the network namespace at `path`.
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on a descriptor we hold open; only this thread's
    // namespace changes.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
