//! The raw system calls solo5-runc makes: entering a network namespace,
//! and opening files of an image confined to its root file system
//! (`openat2(2)` with `RESOLVE_IN_ROOT`), then `fstat`/`fchown` on the
//! descriptor.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// An `O_PATH | O_DIRECTORY` descriptor of the directory at `path` (a
/// host path from config.json, which the engine wrote: symbolic links in
/// it are followed as runc follows them).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call; open
    // returns a new descriptor or -1 and touches no memory of ours.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive: it cannot
/// be built outside libc).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
/// `path` is resolved as if `root` were `/` (`..` and absolute symbolic
/// links never leave it; `/proc/self/...`-style magic links are refused).
/// `flags` always gets `O_NOFOLLOW | O_CLOEXEC` added, and `O_NONBLOCK`
/// unless it has `O_PATH`: a final symbolic link is not followed (with
/// `O_PATH` the descriptor names the link itself, otherwise the call fails
/// with `ELOOP`), opening a FIFO does not block. A path with a NUL byte
/// is `InvalidInput`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: i32) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // openat2 refuses flags that mean nothing with O_PATH (EINVAL), and
    // an O_PATH descriptor blocks on nothing.
    let nonblock = if flags & libc::O_PATH != 0 {
        0
    } else {
        libc::O_NONBLOCK
    };
    let how = OpenHow {
        flags: (flags | libc::O_NOFOLLOW | nonblock | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: openat2 reads `size_of::<OpenHow>()` bytes at `&how` and the
    // NUL-terminated string `c`, both alive for the call; it returns a new
    // descriptor or -1 and writes no memory of ours.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return of openat2 is a new descriptor owned by
    // nobody else (it fits an i32: descriptors are ints).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `fstat(fd)`.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `struct stat` is a valid value of that plain C
    // struct; fstat overwrites it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `struct stat` for the call; `fd` is
    // an open descriptor we borrow.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// `fchown(fd, uid, gid)`: the file the descriptor names, never a path.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: fchown on a descriptor we borrow; no memory is involved.
    let rc = unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
