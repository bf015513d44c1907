//! Tests. Every rule is tried both ways in a forked child that installs the
//! filter: allowed arguments pass, a changed argument dies of SIGSYS.
//!
//! The test harness is multi-threaded, so after `fork` the child makes raw
//! system calls only and leaves with `_exit`: no allocation, no printing.
//! Filters are compiled before the fork.

mod calls;
mod display;
mod rules_in_child;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{build, Abi, Block, Devices, Filter};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// `_exit(code)`: 0 means the call was allowed and succeeded, 1 that it
    /// was allowed but failed, 2 that the filter could not be installed.
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
}

/// The call was allowed and succeeded.
pub(super) const ALLOWED: Outcome = Outcome::Exited(0);
/// The filter killed the process.
pub(super) const KILLED: Outcome = Outcome::Killed(libc::SIGSYS);

/// Forks; the child installs `filter`, runs `call` and exits 0 if it
/// returned >= 0, 1 if it failed. Returns how the child ended.
pub(super) fn run(filter: &Filter, call: impl Fn() -> libc::c_long) -> Outcome {
    // SAFETY: the child runs only `Filter::install` (no allocation), the raw
    // system call in `call` and `_exit`, so no lock held by another thread
    // of the harness at fork time is ever needed in the child.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match filter.install() {
            Err(_) => 2,
            Ok(()) if call() >= 0 => 0,
            Ok(()) => 1,
        };
        // SAFETY: `_exit` ends the child at once, running no atexit
        // handlers or destructors that belong to the parent's state.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live c_int the kernel writes the child's
        // status into; `pid` is our own child.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::Interrupted,
            "waitpid: {err}"
        );
    }
    if libc::WIFEXITED(status) {
        Outcome::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Outcome::Killed(libc::WTERMSIG(status))
    } else {
        panic!("child neither exited nor was killed: status {status:#x}")
    }
}

/// Runs `call` under `filter` and checks how the child ended.
#[track_caller]
pub(super) fn expect(
    filter: &Filter,
    expected: Outcome,
    what: &str,
    call: impl Fn() -> libc::c_long,
) {
    assert_eq!(run(filter, call), expected, "{what}");
}

/// Takes ownership of a descriptor a system call just returned.
fn owned(fd: libc::c_int, what: &str) -> OwnedFd {
    assert!(fd >= 0, "{what}: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was just returned by the kernel to us and nothing else
    // owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    let kind = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a live array of two c_ints for the kernel to fill.
    let ret = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    assert_eq!(ret, 0, "socketpair: {}", std::io::Error::last_os_error());
    (owned(fds[0], "socketpair"), owned(fds[1], "socketpair"))
}

/// An in-memory file of `size` bytes, standing in for a block device.
fn disk(size: u64) -> OwnedFd {
    // SAFETY: the name is a NUL-terminated string literal.
    let fd = owned(
        unsafe { libc::memfd_create(c"disk".as_ptr(), libc::MFD_CLOEXEC) },
        "memfd",
    );
    let len = libc::off_t::try_from(size).expect("disk size fits off_t");
    // SAFETY: ftruncate on a descriptor we own, integer arguments only.
    let ret = unsafe { libc::ftruncate(fd.as_raw_fd(), len) };
    assert_eq!(ret, 0, "ftruncate: {}", std::io::Error::last_os_error());
    fd
}

/// Real descriptors: some attached to the guest, some not.
pub(super) struct Fixture {
    /// The attached net device and its peer (write here, the guest reads).
    pub(super) net: OwnedFd,
    pub(super) net_peer: OwnedFd,
    /// A socket that is not attached.
    pub(super) other_net: OwnedFd,
    _other_peer: OwnedFd,
    /// Attached: 8 blocks of 512 bytes.
    pub(super) blk_a: OwnedFd,
    /// Attached: 4 blocks of 1024 bytes.
    pub(super) blk_b: OwnedFd,
    /// Not attached, 4096 bytes.
    pub(super) other_blk: OwnedFd,
    /// Given to the spt ABI 2 policy.
    pub(super) epoll: OwnedFd,
    pub(super) timer: OwnedFd,
    /// Not given to any policy.
    pub(super) other_epoll: OwnedFd,
    pub(super) other_timer: OwnedFd,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let (net, net_peer) = socketpair();
        let (other_net, other_peer) = socketpair();
        // SAFETY: integer arguments only; the result is checked by `owned`.
        let epoll = || owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }, "epoll");
        let timer = || {
            let flags = libc::TFD_CLOEXEC | libc::TFD_NONBLOCK;
            // SAFETY: integer arguments only; checked by `owned`.
            owned(
                unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) },
                "timerfd",
            )
        };
        Fixture {
            net,
            net_peer,
            other_net,
            _other_peer: other_peer,
            blk_a: disk(8 * 512),
            blk_b: disk(4 * 1024),
            other_blk: disk(4096),
            epoll: epoll(),
            timer: timer(),
            other_epoll: epoll(),
            other_timer: timer(),
        }
    }

    /// What is attached: one net device, blocks A and B.
    pub(super) fn devices(&self) -> Devices {
        Devices {
            max_block_request: 0,
            net_fds: vec![self.net.as_raw_fd()],
            blocks: vec![
                Block {
                    fd: self.blk_a.as_raw_fd(),
                    block_size: 512,
                    capacity: 8 * 512,
                },
                Block {
                    fd: self.blk_b.as_raw_fd(),
                    block_size: 1024,
                    capacity: 4 * 1024,
                },
            ],
        }
    }

    /// Both ABIs, the upstream one with this fixture's epoll set and timer.
    pub(super) fn abis(&self) -> [Abi; 2] {
        [
            Abi::Native,
            Abi::SptV2 {
                epollfd: self.epoll.as_raw_fd(),
                timerfd: self.timer.as_raw_fd(),
            },
        ]
    }

    /// The compiled filter for `abi` with this fixture's devices.
    pub(super) fn filter(&self, abi: &Abi) -> Filter {
        build(abi, &self.devices())
            .compile()
            .expect("policy compiles")
    }
}

/// A descriptor as a system call argument.
pub(super) fn fd(fd: &OwnedFd) -> u64 {
    u64::try_from(fd.as_raw_fd()).expect("descriptors are not negative")
}
