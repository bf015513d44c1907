//! The system calls solo5-runc makes, through `nix`: entering a network
//! namespace, and opening files of an image confined to its root file
//! system (`openat2(2)` with `RESOLVE_IN_ROOT`), then `fstat`/`fchown` on
//! the descriptor.

use nix::fcntl::{open, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::{fstat as nix_fstat, Mode};
use nix::unistd::{fchown as nix_fchown, Gid, Uid};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

/// Move this thread into the network namespace at `path`.
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // Only this thread's namespace changes.
    Ok(setns(&f, CloneFlags::CLONE_NEWNET)?)
}

/// `InvalidInput` for a path with a NUL byte (which no system call can
/// take), as `CString::new` would say.
fn no_nul(path: &[u8]) -> io::Result<()> {
    if path.contains(&0) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(())
}

/// An `O_PATH | O_DIRECTORY` descriptor of the directory at `path` (a
/// host path from config.json, which the engine wrote: symbolic links in
/// it are followed as runc follows them).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    no_nul(path.as_os_str().as_encoded_bytes())?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    Ok(open(path, flags, Mode::empty())?)
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
/// `path` is resolved as if `root` were `/` (`..` and absolute symbolic
/// links never leave it; `/proc/self/...`-style magic links are refused).
/// `flags` always gets `O_NOFOLLOW | O_CLOEXEC` added, and `O_NONBLOCK`
/// unless it has `O_PATH`: a final symbolic link is not followed (with
/// `O_PATH` the descriptor names the link itself, otherwise the call fails
/// with `ELOOP`), opening a FIFO does not block. A path with a NUL byte
/// is `InvalidInput`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: OFlag) -> io::Result<OwnedFd> {
    no_nul(path.as_bytes())?;
    // openat2 refuses flags that mean nothing with O_PATH (EINVAL), and
    // an O_PATH descriptor blocks on nothing.
    let nonblock = if flags.contains(OFlag::O_PATH) {
        OFlag::empty()
    } else {
        OFlag::O_NONBLOCK
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_NOFOLLOW | nonblock | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Ok(openat2(root, path, how)?)
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    Ok(nix_fstat(fd)?)
}

/// `fchown(fd, uid, gid)`: the file the descriptor names, never a path.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    Ok(nix_fchown(fd, Some(uid), Some(gid))?)
}
