//! tap-exec: the privileged half of the container pattern, for the tests.
//!
//! ```text
//! tap-exec TAP -- COMMAND [ARGS...]
//! ```
//!
//! Run as root: opens `/dev/net/tun`, binds it to the existing tap `TAP`
//! (`IFF_TAP | IFF_NO_PI`), puts that descriptor at number 3 without
//! close-on-exec, then becomes uid and gid 65534 (nobody) with no
//! supplementary groups, which leaves no capability in the effective,
//! permitted, inheritable and ambient sets, and execs `COMMAND`. So
//! `tap-exec tap0 -- solo5-spt --net:service0=@3 app` runs the tender
//! unprivileged on a tap it could not open itself. Errors: one line on
//! stderr, exit 1.

use std::ffi::{CString, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
/// The user and group the command runs as.
const NOBODY: u32 = 65534;

fn check(what: &str, rc: libc::c_int) -> Result<libc::c_int, String> {
    if rc < 0 {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    } else {
        Ok(rc)
    }
}

/// Open the tap `name` at descriptor 3.
fn open_tap(name: &str) -> Result<(), String> {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(format!("{name:?}: not an interface name"));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_flags = IFF_TAP | IFF_NO_PI;
    // SAFETY: a constant NUL-terminated path; the result is checked.
    let fd = check("open /dev/net/tun", unsafe {
        libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC)
    })?;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which ifr is.
    check(&format!("attach {name}"), unsafe {
        libc::ioctl(fd, TUNSETIFF, &mut ifr)
    })?;
    if fd == 3 {
        // SAFETY: F_SETFD only changes the descriptor flags of fd.
        check("fcntl", unsafe { libc::fcntl(3, libc::F_SETFD, 0) })?;
    } else {
        // SAFETY: dup2 onto 3 (which has no close-on-exec flag after it),
        // then close our original; both are our own descriptors.
        check("dup2", unsafe { libc::dup2(fd, 3) })?;
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Become nobody: no supplementary groups, then gid, then uid (the last
/// step clears the capability sets, as the uid leaves 0 without
/// PR_SET_KEEPCAPS).
fn drop_privileges() -> Result<(), String> {
    // SAFETY: setgroups with size 0 does not read the list.
    check("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain system calls with integer arguments.
    check("setgid", unsafe { libc::setgid(NOBODY) })?;
    // SAFETY: as above.
    check("setuid", unsafe { libc::setuid(NOBODY) })?;
    Ok(())
}

fn exec(argv: &[OsString]) -> Result<(), String> {
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| "argument contains NUL".to_string()))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: ptrs is a NULL-terminated array of NUL-terminated strings
    // that outlive the call; execvp returns only on failure.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    Err(format!(
        "exec {}: {}",
        argv[0].to_string_lossy(),
        io::Error::last_os_error()
    ))
}

fn run() -> Result<(), String> {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (tap, cmd) = match args.as_slice() {
        [tap, sep, cmd @ ..] if sep == "--" && !cmd.is_empty() => (tap, cmd),
        _ => return Err("usage: tap-exec TAP -- COMMAND [ARGS...]".into()),
    };
    open_tap(&tap.to_string_lossy())?;
    drop_privileges()?;
    exec(cmd)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tap-exec: {e}");
        std::process::exit(1);
    }
}
