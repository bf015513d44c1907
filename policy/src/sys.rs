//! The raw system calls that install a filter. Nothing here allocates: it
//! runs right before the tender jumps into the guest, possibly in a child
//! just after `fork`.

use std::io;

/// `prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)`: required before an
/// unprivileged process may install a seccomp filter, and inherited by
/// every child and across `execve`.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes only integer arguments and touches
    // no memory of ours; it only sets a flag on the calling thread.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::c_ulong::from(libc::PR_SET_NO_NEW_PRIVS.unsigned_abs()),
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        // Reads errno; builds the error without allocating.
        Err(io::Error::last_os_error())
    }
}

/// Which threads a filter goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread (and the threads it creates afterwards).
    Calling,
    /// Every thread of the process at once (`SECCOMP_FILTER_FLAG_TSYNC`),
    /// or none.
    All,
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`. Does not allocate.
pub(crate) fn set_mode_filter(program: &[libc::sock_filter], threads: Threads) -> io::Result<()> {
    let Ok(len) = u16::try_from(program.len()) else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program (it copies it before returning).
        filter: program.as_ptr().cast_mut(),
    };
    let flags: libc::c_ulong = match threads {
        Threads::Calling => 0,
        Threads::All => libc::SECCOMP_FILTER_FLAG_TSYNC,
    };
    // SAFETY: `prog` points to `len` initialized sock_filter instructions
    // borrowed from `program`, which outlives this call; the kernel copies
    // them and keeps no pointer into our memory. The flags only choose the
    // threads the filter goes on.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    match ret {
        0 => Ok(()),
        // With TSYNC, a positive value is the id of a thread that could not
        // take the filter (it has an incompatible one of its own).
        r if r > 0 => Err(io::Error::from_raw_os_error(libc::ESRCH)),
        _ => Err(io::Error::last_os_error()),
    }
}
