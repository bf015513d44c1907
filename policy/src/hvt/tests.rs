//! Every rule of the hvt policy tried both ways in a forked child that
//! installs the filter (crate::tests::run): the allowed call passes, a
//! changed argument or a call on no list dies of SIGSYS. Plus what the
//! operator sees, and that the filter reaches every thread.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{build, Hvt};
use crate::tests::{expect, run, Outcome, ALLOWED, KILLED};
use crate::{Block, Filter};

/// `_IO(KVMIO, 0x80)` and `_IOR(KVMIO, 0x81, struct kvm_regs)`: the tender
/// takes the real numbers from its KVM bindings; here any two distinct
/// requests do, these are the real ones for readability.
const KVM_RUN: u64 = 0xae80;
const KVM_GET_REGS: u64 = 0x8090_ae81;
/// The call was allowed and the kernel refused it (e.g. ENOTTY).
const ALLOWED_FAILED: Outcome = Outcome::Exited(1);

fn raw(nr: libc::c_long, args: [u64; 6]) -> libc::c_long {
    let [a, b, c, d, e, f] = args;
    // SAFETY: every caller below passes either integers or pointers to
    // live locals of the right size for call `nr`.
    unsafe { libc::syscall(nr, a, b, c, d, e, f) }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    assert!(fd >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: a descriptor the kernel just returned to us, owned by no one.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn memfd(size: i64) -> OwnedFd {
    // SAFETY: NUL-terminated literal name; the result is checked by owned().
    let fd = owned(unsafe { libc::memfd_create(c"hvt".as_ptr(), libc::MFD_CLOEXEC) });
    // SAFETY: integer arguments on a descriptor we own.
    assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), size) }, 0);
    fd
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    let kind = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is a live array of two ints for the kernel to fill.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0);
    (owned(fds[0]), owned(fds[1]))
}

fn n(fd: &OwnedFd) -> u64 {
    fd.as_raw_fd() as u64
}

fn ioctl(fd: u64, request: u64) -> libc::c_long {
    let mut buf = [0u8; 256];
    raw(
        libc::SYS_ioctl,
        [fd, request, buf.as_mut_ptr() as u64, 0, 0, 0],
    )
}

fn write(fd: u64, len: u64) -> libc::c_long {
    let buf = [b'x'; 1];
    raw(
        libc::SYS_write,
        [fd, buf.as_ptr() as u64, len.min(1), 0, 0, 0],
    )
}

fn read(fd: u64) -> libc::c_long {
    let mut buf = [0u8; 64];
    raw(libc::SYS_read, [fd, buf.as_mut_ptr() as u64, 64, 0, 0, 0])
}

fn pread(fd: u64, count: u64, offset: u64) -> libc::c_long {
    let mut buf = [0u8; 8192];
    let count = count.min(8192);
    raw(
        libc::SYS_pread64,
        [fd, buf.as_mut_ptr() as u64, count, offset, 0, 0],
    )
}

fn pwrite(fd: u64, count: u64, offset: u64) -> libc::c_long {
    let buf = [0u8; 8192];
    let count = count.min(8192);
    raw(
        libc::SYS_pwrite64,
        [fd, buf.as_ptr() as u64, count, offset, 0, 0],
    )
}

fn clock_gettime(id: libc::clockid_t) -> libc::c_long {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let ts_ptr = &mut ts as *mut libc::timespec as u64;
    raw(libc::SYS_clock_gettime, [id as u64, ts_ptr, 0, 0, 0, 0])
}

/// `ppoll(NULL, 0, &0, sigmask)`: returns at once.
fn ppoll(with_sigmask: bool) -> libc::c_long {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: an all-zero sigset_t is a valid, empty set.
    let set: libc::sigset_t = unsafe { core::mem::zeroed() };
    let mask = if with_sigmask {
        &set as *const libc::sigset_t as u64
    } else {
        0
    };
    let size = if with_sigmask { 8 } else { 0 };
    let ts_ptr = &ts as *const libc::timespec as u64;
    raw(libc::SYS_ppoll, [0, 0, ts_ptr, mask, size, 0])
}

struct Fixture {
    vcpu: OwnedFd,
    other: OwnedFd,
    net: OwnedFd,
    net_peer: OwnedFd,
    other_net: OwnedFd,
    _other_peer: OwnedFd,
    blk: OwnedFd,
}

impl Fixture {
    fn new() -> Fixture {
        let (net, net_peer) = socketpair();
        let (other_net, other_peer) = socketpair();
        Fixture {
            // Any descriptor stands in for the vcpu: the filter only sees
            // numbers, and ioctl on a memfd fails with ENOTTY once allowed.
            vcpu: memfd(0),
            other: memfd(0),
            net,
            net_peer,
            other_net,
            _other_peer: other_peer,
            blk: memfd(4096),
        }
    }

    fn hvt(&self) -> Hvt {
        Hvt {
            vcpu_fd: self.vcpu.as_raw_fd(),
            kvm_run: KVM_RUN,
            kvm_get_regs: None,
            net_fds: vec![self.net.as_raw_fd()],
            blocks: vec![Block {
                fd: self.blk.as_raw_fd(),
                block_size: 512,
                capacity: 4096,
            }],
            ring_eventfd: None,
            max_block_request: 2048,
            ..Hvt::default()
        }
    }

    fn filter(&self) -> Filter {
        build(&self.hvt()).compile().expect("compiles")
    }
}

#[test]
fn ioctl_is_kvm_run_on_the_vcpu_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    let (vcpu, other) = (n(&fx.vcpu), n(&fx.other));
    expect(&f, ALLOWED_FAILED, "KVM_RUN on the vcpu", || {
        ioctl(vcpu, KVM_RUN)
    });
    expect(&f, KILLED, "KVM_RUN on another fd", || {
        ioctl(other, KVM_RUN)
    });
    expect(&f, KILLED, "KVM_GET_REGS on the vcpu", || {
        ioctl(vcpu, KVM_GET_REGS)
    });
    expect(&f, KILLED, "FIONREAD on the vcpu", || {
        ioctl(vcpu, libc::FIONREAD)
    });
    // Without sync regs, KVM_GET_REGS on the vcpu, and only there.
    let h = Hvt {
        kvm_get_regs: Some(KVM_GET_REGS),
        ..fx.hvt()
    };
    let f = build(&h).compile().expect("compiles");
    expect(&f, ALLOWED_FAILED, "KVM_GET_REGS allowed", || {
        ioctl(vcpu, KVM_GET_REGS)
    });
    expect(&f, KILLED, "KVM_GET_REGS on another fd", || {
        ioctl(other, KVM_GET_REGS)
    });
}

#[test]
fn write_to_stdout_stderr_and_net_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    expect(&f, ALLOWED, "write(1)", || write(1, 0));
    expect(&f, ALLOWED, "write(2)", || write(2, 0));
    expect(&f, KILLED, "write(0)", || write(0, 0));
    expect(&f, KILLED, "write(other net)", || {
        write(n(&fx.other_net), 1)
    });
    let net = n(&fx.net);
    expect(&f, ALLOWED, "write(net)", || write(net, 1));
    assert_eq!(read(n(&fx.net_peer)), 1, "the child's frame arrived");
}

#[test]
fn read_from_net_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    let net = n(&fx.net);
    assert_eq!(write(n(&fx.net_peer), 1), 1);
    expect(&f, ALLOWED, "read(net)", || read(net));
    expect(&f, KILLED, "read(0)", || read(0));
    expect(&f, KILLED, "read(other net)", || read(n(&fx.other_net)));
    expect(&f, KILLED, "read(vcpu)", || read(n(&fx.vcpu)));
    // Without net devices, no read at all.
    let h = Hvt {
        net_fds: Vec::new(),
        ..fx.hvt()
    };
    let f = build(&h).compile().expect("compiles");
    assert_eq!(write(n(&fx.net_peer), 1), 1);
    expect(&f, KILLED, "no net: read(net)", || read(net));
    expect(&f, KILLED, "no net: write(net)", || write(net, 1));
}

#[test]
fn block_offsets_inside_the_device_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    let (blk, other) = (n(&fx.blk), n(&fx.other));
    expect(&f, ALLOWED, "pread(0)", || pread(blk, 512, 0));
    expect(&f, ALLOWED, "pwrite(3584)", || pwrite(blk, 512, 3584));
    expect(&f, ALLOWED, "pread(4 blocks at 0)", || pread(blk, 2048, 0));
    expect(&f, ALLOWED, "pwrite(4 blocks at 2048)", || {
        pwrite(blk, 2048, 2048)
    });
    // Whole blocks only, at most the largest request, aligned offsets.
    for count in [0, 1, 511, 513, 1000] {
        expect(&f, KILLED, &format!("pread(count {count})"), || {
            pread(blk, count, 0)
        });
        expect(&f, KILLED, &format!("pwrite(count {count})"), || {
            pwrite(blk, count, 0)
        });
    }
    expect(&f, KILLED, "pread(5 blocks)", || pread(blk, 2560, 0));
    expect(&f, KILLED, "pwrite(8 blocks)", || pwrite(blk, 4096, 0));
    for offset in [1, 511, 513, 4095] {
        expect(&f, KILLED, &format!("pwrite(offset {offset})"), || {
            pwrite(blk, 512, offset)
        });
    }
    expect(&f, KILLED, "pread(4096)", || pread(blk, 512, 4096));
    expect(&f, KILLED, "pwrite(4096)", || pwrite(blk, 512, 4096));
    expect(&f, KILLED, "pwrite(-512)", || {
        pwrite(blk, 512, 512u64.wrapping_neg())
    });
    expect(&f, KILLED, "pread(other fd)", || pread(other, 512, 0));
    // An empty device gets no rule at all.
    let h = Hvt {
        blocks: vec![Block {
            fd: fx.blk.as_raw_fd(),
            block_size: 512,
            capacity: 0,
        }],
        ..fx.hvt()
    };
    let policy = build(&h);
    assert!(!policy.to_string().contains("pread64"), "{policy}");
    let f = policy.compile().expect("compiles");
    expect(&f, KILLED, "empty: pread(0)", || pread(blk, 512, 0));
}

#[test]
fn clock_is_realtime_and_monotonic_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    expect(&f, ALLOWED, "CLOCK_REALTIME", || {
        clock_gettime(libc::CLOCK_REALTIME)
    });
    expect(&f, ALLOWED, "CLOCK_MONOTONIC", || {
        clock_gettime(libc::CLOCK_MONOTONIC)
    });
    for other in [libc::CLOCK_PROCESS_CPUTIME_ID, libc::CLOCK_BOOTTIME] {
        expect(&f, KILLED, &format!("clock {other}"), || {
            clock_gettime(other)
        });
    }
}

#[test]
fn ppoll_without_sigmask_only() {
    let fx = Fixture::new();
    let f = fx.filter();
    expect(&f, ALLOWED, "ppoll(sigmask NULL)", || ppoll(false));
    expect(&f, KILLED, "ppoll(sigmask set)", || ppoll(true));
}

#[test]
fn exit_group_only_and_nothing_else() {
    let fx = Fixture::new();
    let f = fx.filter();
    expect(&f, Outcome::Exited(7), "exit_group(7)", || {
        raw(libc::SYS_exit_group, [7, 0, 0, 0, 0, 0])
    });
    expect(&f, KILLED, "exit", || raw(libc::SYS_exit, [0; 6]));
    expect(&f, KILLED, "getpid", || raw(libc::SYS_getpid, [0; 6]));
    expect(&f, KILLED, "mmap", || {
        raw(libc::SYS_mmap, [0, 4096, 3, 0x22, u64::MAX, 0])
    });
    expect(&f, KILLED, "openat", || {
        raw(libc::SYS_openat, [0, c"/".as_ptr() as u64, 0, 0, 0, 0])
    });
    expect(&f, KILLED, "x32 write(1)", || {
        raw(0x4000_0000 | libc::SYS_write, [1, 0, 0, 0, 0, 0])
    });
}

#[test]
fn prints_every_rule_with_its_reason() {
    let h = Hvt {
        vcpu_fd: 9,
        kvm_run: KVM_RUN,
        kvm_get_regs: None,
        net_fds: vec![5],
        blocks: vec![Block {
            fd: 6,
            block_size: 512,
            capacity: 4096,
        }],
        ring_eventfd: Some(7),
        max_block_request: 1 << 20,
        ..Hvt::default()
    };
    let expected = "\
# seccomp policy of solo5-hvt, hvt ABI 2, x86_64
# any other system call or argument kills the process (SIGSYS, exit status 159)
ioctl(fd == 9, request == KVM_RUN)                                                            # run loop
write(fd == 1)                                                                                # PUTS (solo5_console_write)
write(fd == 2)                                                                                # fatal error line
clock_gettime(clk_id == CLOCK_REALTIME)                                                       # WALLTIME (solo5_clock_wall)
ppoll(sigmask == NULL)                                                                        # POLL (solo5_yield)
clock_gettime(clk_id == CLOCK_MONOTONIC)                                                      # POLL deadline (host clock without vDSO)
exit_group                                                                                    # HALT (solo5_exit, solo5_abort), fatal errors
read(fd == 5)                                                                                 # NET_READ
write(fd == 5)                                                                                # NET_WRITE
read(fd == 7)                                                                                 # net ring I/O thread (sleeps on the kick eventfd)
write(fd == 7)                                                                                # HALT, POLL (wake the net ring thread)
pread64(fd == 6, 512 <= count <= 4096, count % 512 == 0, offset <= 3584, offset % 512 == 0)   # BLOCK_READ
pwrite64(fd == 6, 512 <= count <= 4096, count % 512 == 0, offset <= 3584, offset % 512 == 0)  # BLOCK_WRITE
";
    assert_eq!(build(&h).to_string(), expected);
}

/// Set by the child's main thread once the filter is on.
static FILTER_ON: AtomicBool = AtomicBool::new(false);
/// Set by the second thread once its getpid returned.
static GETPID_DONE: AtomicBool = AtomicBool::new(false);

extern "C" fn second_thread(_: *mut libc::c_void) -> libc::c_int {
    while !FILTER_ON.load(Ordering::SeqCst) {
        std::hint::spin_loop();
    }
    raw(libc::SYS_getpid, [0; 6]);
    GETPID_DONE.store(true, Ordering::SeqCst);
    0
}

/// Forks; the child starts a second thread (raw clone on a stack made
/// before the fork), installs the filter with `install`, then lets the
/// thread call getpid. Returns how the child ended.
fn with_second_thread(filter: &Filter, all_threads: bool) -> Outcome {
    let mut stack = vec![0u8; 64 * 1024];
    let top = stack.as_mut_ptr().wrapping_add(stack.len()) as *mut libc::c_void;
    // SAFETY: the child only clones a thread that runs `second_thread`
    // (atomics and one raw system call, on its own stack that outlives the
    // child), installs the filter (no allocation), spins and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let flags = libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM;
        // SAFETY: `top` is the 16-byte aligned end of a live 64 KiB stack
        // used by nothing else; the thread function touches no TLS.
        let tid = unsafe { libc::clone(second_thread, top, flags, core::ptr::null_mut()) };
        let installed = if tid < 0 {
            Err(())
        } else if all_threads {
            filter.install_all_threads().map_err(|_| ())
        } else {
            filter.install().map_err(|_| ())
        };
        if installed.is_err() {
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(2) }
        }
        FILTER_ON.store(true, Ordering::SeqCst);
        while !GETPID_DONE.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        raw(libc::SYS_exit_group, [0; 6]);
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a live int.
    while unsafe { libc::waitpid(pid, &mut status, 0) } != pid {}
    drop(stack);
    if libc::WIFSIGNALED(status) {
        Outcome::Killed(libc::WTERMSIG(status))
    } else {
        Outcome::Exited(libc::WEXITSTATUS(status))
    }
}

#[test]
fn the_filter_reaches_threads_that_already_run() {
    let fx = Fixture::new();
    let f = fx.filter();
    // Installed on the calling thread only, the other thread's getpid
    // passes: the control case.
    assert_eq!(with_second_thread(&f, false), Outcome::Exited(0));
    // With TSYNC the other thread is filtered too and its getpid kills the
    // whole process.
    assert_eq!(with_second_thread(&f, true), KILLED);
}

#[test]
fn run_helper_sees_a_kill() {
    // The fixture's filter really is installed in the child.
    let fx = Fixture::new();
    assert_eq!(run(&fx.filter(), || raw(libc::SYS_getppid, [0; 6])), KILLED);
}

const KVM_SET_REGS: u64 = 0x4090_ae82;
const KVM_GET_SREGS: u64 = 0x8138_ae83;
const KVM_SET_SREGS: u64 = 0x4138_ae84;
const KVM_SET_GUEST_DEBUG: u64 = 0x4048_ae9b;
const CORE_FLAGS: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;

fn kvm_debug() -> super::KvmDebug {
    super::KvmDebug {
        get_regs: KVM_GET_REGS,
        set_regs: KVM_SET_REGS,
        get_sregs: KVM_GET_SREGS,
        set_sregs: KVM_SET_SREGS,
        set_guest_debug: KVM_SET_GUEST_DEBUG,
    }
}

fn openat(dfd: u64, path: &std::ffi::CStr, flags: i32, mode: u64) -> libc::c_long {
    raw(
        libc::SYS_openat,
        [dfd, path.as_ptr() as u64, flags as u64, mode, 0, 0],
    )
}

fn mincore() -> libc::c_long {
    let page = [0u8; 8192];
    let aligned = (page.as_ptr() as u64 + 4095) & !4095;
    let mut vec = [0u8; 1];
    raw(
        libc::SYS_mincore,
        [aligned, 4096, vec.as_mut_ptr() as u64, 0, 0, 0],
    )
}

/// A directory of its own for the openat tries (each child creates a
/// file of another name, so O_EXCL never refuses).
fn temp_dir() -> (std::path::PathBuf, OwnedFd) {
    let dir = std::env::temp_dir().join(format!(
        "solo5-policy-dumpcore-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; checked by owned().
    let fd = owned(unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) });
    (dir, fd)
}

#[test]
fn dumpcore_creates_one_new_file_in_its_directory_and_writes_one_descriptor() {
    let fx = Fixture::new();
    let (dir, dirfd) = temp_dir();
    let core = memfd(0);
    let h = Hvt {
        dumpcore: Some(super::Dumpcore {
            dir_fd: dirfd.as_raw_fd(),
            core_fd: core.as_raw_fd(),
            flags: CORE_FLAGS,
            mode: 0o600,
        }),
        kvm_debug: kvm_debug(),
        ..fx.hvt()
    };
    let f = build(&h).compile().expect("compiles");
    let (d, other) = (n(&dirfd), n(&fx.other));
    expect(&f, ALLOWED, "openat(dir, exact flags, 0600)", || {
        openat(d, c"core.1", CORE_FLAGS, 0o600)
    });
    assert!(dir.join("core.1").exists());
    expect(&f, KILLED, "openat(other dirfd)", || {
        openat(other, c"core.2", CORE_FLAGS, 0o600)
    });
    expect(&f, KILLED, "openat(AT_FDCWD)", || {
        openat(libc::AT_FDCWD as u64, c"core.3", CORE_FLAGS, 0o600)
    });
    for (what, flags) in [
        ("without O_EXCL", CORE_FLAGS & !libc::O_EXCL),
        ("with O_TRUNC", CORE_FLAGS | libc::O_TRUNC),
        ("O_RDWR", (CORE_FLAGS & !libc::O_WRONLY) | libc::O_RDWR),
        ("O_RDONLY", libc::O_RDONLY),
        ("without O_CLOEXEC", CORE_FLAGS & !libc::O_CLOEXEC),
    ] {
        expect(&f, KILLED, &format!("openat {what}"), || {
            openat(d, c"core.4", flags, 0o600)
        });
    }
    expect(&f, KILLED, "openat mode 0644", || {
        openat(d, c"core.5", CORE_FLAGS, 0o644)
    });
    expect(&f, ALLOWED, "pwrite64(core fd)", || {
        pwrite(n(&core), 512, 12345)
    });
    expect(&f, KILLED, "pwrite64(other fd)", || pwrite(other, 512, 0));
    expect(&f, ALLOWED, "mincore", mincore);
    let vcpu = n(&fx.vcpu);
    expect(&f, ALLOWED_FAILED, "KVM_GET_SREGS on the vcpu", || {
        ioctl(vcpu, KVM_GET_SREGS)
    });
    expect(&f, KILLED, "KVM_GET_SREGS on another fd", || {
        ioctl(other, KVM_GET_SREGS)
    });
    expect(&f, KILLED, "KVM_SET_REGS on the vcpu", || {
        ioctl(vcpu, KVM_SET_REGS)
    });
    expect(&f, KILLED, "KVM_SET_GUEST_DEBUG", || {
        ioctl(vcpu, KVM_SET_GUEST_DEBUG)
    });
    expect(&f, KILLED, "rt_sigreturn without --gdb", || {
        raw(libc::SYS_rt_sigreturn, [0; 6])
    });
    // Without --dumpcore: none of it.
    let f = fx.filter();
    expect(&f, KILLED, "no dumpcore: openat", || {
        openat(d, c"core.6", CORE_FLAGS, 0o600)
    });
    expect(&f, KILLED, "no dumpcore: mincore", mincore);
    expect(&f, KILLED, "no dumpcore: pwrite64(core fd)", || {
        pwrite(n(&core), 512, 0)
    });
    expect(&f, KILLED, "no dumpcore: KVM_GET_SREGS", || {
        ioctl(vcpu, KVM_GET_SREGS)
    });
    let _ = std::fs::remove_dir_all(&dir);
}

static TRAPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

extern "C" fn on_trap(_: libc::c_int) {
    TRAPS.fetch_add(1, Ordering::SeqCst);
}

/// `int3`: a SIGTRAP the kernel delivers without a system call; its
/// handler (inherited from the test process) returns with rt_sigreturn.
fn trap_and_return() -> libc::c_long {
    // SAFETY: int3 raises SIGTRAP, whose handler only counts.
    unsafe { core::arch::asm!("int3") };
    0
}

#[test]
fn gdb_reads_and_writes_its_socket_and_may_return_from_a_signal() {
    let fx = Fixture::new();
    let (sock, peer) = socketpair();
    let h = Hvt {
        gdb_fd: Some(sock.as_raw_fd()),
        kvm_debug: kvm_debug(),
        ..fx.hvt()
    };
    let f = build(&h).compile().expect("compiles");
    let s = n(&sock);
    expect(&f, ALLOWED, "write(gdb socket)", || write(s, 1));
    assert_eq!(read(n(&peer)), 1);
    assert_eq!(write(n(&peer), 1), 1);
    expect(&f, ALLOWED, "read(gdb socket)", || read(s));
    expect(&f, KILLED, "read(other)", || read(n(&fx.other_net)));
    let (vcpu, other) = (n(&fx.vcpu), n(&fx.other));
    for (what, req) in [
        ("KVM_GET_REGS", KVM_GET_REGS),
        ("KVM_SET_REGS", KVM_SET_REGS),
        ("KVM_GET_SREGS", KVM_GET_SREGS),
        ("KVM_SET_GUEST_DEBUG", KVM_SET_GUEST_DEBUG),
    ] {
        expect(&f, ALLOWED_FAILED, &format!("{what} on the vcpu"), || {
            ioctl(vcpu, req)
        });
        expect(&f, KILLED, &format!("{what} on another fd"), || {
            ioctl(other, req)
        });
    }
    expect(&f, KILLED, "KVM_SET_SREGS", || ioctl(vcpu, 0x4138_ae84));
    expect(&f, KILLED, "openat", || {
        openat(libc::AT_FDCWD as u64, c"/tmp/x", CORE_FLAGS, 0o600)
    });
    // A returning signal handler: allowed with --gdb, killed without.
    // SAFETY: the handler only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_trap as extern "C" fn(libc::c_int) as usize;
        assert_eq!(
            libc::sigaction(libc::SIGTRAP, &sa, core::ptr::null_mut()),
            0
        );
    }
    expect(&f, ALLOWED, "rt_sigreturn with --gdb", trap_and_return);
    expect(
        &fx.filter(),
        KILLED,
        "rt_sigreturn without --gdb",
        trap_and_return,
    );
    // Without --gdb, no socket rules and no debug ioctls.
    let f = fx.filter();
    expect(&f, KILLED, "no gdb: write(socket)", || write(s, 1));
    expect(&f, KILLED, "no gdb: KVM_SET_GUEST_DEBUG", || {
        ioctl(vcpu, KVM_SET_GUEST_DEBUG)
    });
}

#[test]
fn prints_the_debug_rules() {
    let h = Hvt {
        vcpu_fd: 9,
        kvm_run: KVM_RUN,
        kvm_debug: kvm_debug(),
        dumpcore: Some(super::Dumpcore {
            dir_fd: 3,
            core_fd: 11,
            flags: CORE_FLAGS,
            mode: 0o600,
        }),
        gdb_fd: Some(10),
        ..Hvt::default()
    };
    let expected = "\
# seccomp policy of solo5-hvt, hvt ABI 2, x86_64
# any other system call or argument kills the process (SIGSYS, exit status 159)
ioctl(fd == 9, request == KVM_RUN)                                          # run loop
ioctl(fd == 9, request == KVM_GET_REGS)                                     # gdb: registers (g, p); core registers
ioctl(fd == 9, request == KVM_GET_SREGS)                                    # gdb: CR3 (page walks), segments; core segment registers
ioctl(fd == 9, request == KVM_SET_REGS)                                     # gdb: write registers (G, P)
ioctl(fd == 9, request == KVM_SET_GUEST_DEBUG)                              # gdb: breakpoints, single step
write(fd == 1)                                                              # PUTS (solo5_console_write)
write(fd == 2)                                                              # fatal error line
clock_gettime(clk_id == CLOCK_REALTIME)                                     # WALLTIME (solo5_clock_wall)
ppoll(sigmask == NULL)                                                      # POLL (solo5_yield)
clock_gettime(clk_id == CLOCK_MONOTONIC)                                    # POLL deadline (host clock without vDSO)
exit_group                                                                  # HALT (solo5_exit, solo5_abort), fatal errors
read(fd == 10)                                                              # gdb remote protocol
write(fd == 10)                                                             # gdb remote protocol
rt_sigreturn                                                                # gdb: Ctrl-C (a timer signal interrupts KVM_RUN)
openat(dfd == 3, flags == O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode == 0600)  # dumpcore: create the core file
mincore                                                                     # dumpcore: which guest pages are resident
pwrite64(fd == 11)                                                          # dumpcore: write the core file (the descriptor openat returns)
";
    assert_eq!(build(&h).to_string(), expected);
}

/// The four register ioctls, each allowed once, on the vcpu (fd 9).
fn each_register_ioctl_once(p: &str) {
    for name in [
        "KVM_GET_REGS",
        "KVM_SET_REGS",
        "KVM_GET_SREGS",
        "KVM_SET_SREGS",
    ] {
        let line = format!("ioctl(fd == 9, request == {name})");
        assert_eq!(p.matches(&line).count(), 1, "{name}: {p}");
    }
}

#[test]
fn a_demoted_kernel_adds_the_register_ioctls_on_the_vcpu_only() {
    let base = Hvt {
        vcpu_fd: 9,
        kvm_run: KVM_RUN,
        kvm_debug: kvm_debug(),
        ..Hvt::default()
    };
    let plain = super::build(&base).to_string();
    assert!(!plain.contains("SREGS"), "{plain}");
    let h = Hvt {
        demoted: true,
        ..base.clone()
    };
    let p = super::build(&h).to_string();
    each_register_ioctl_once(&p);
    // With --dumpcore's rules there already, nothing twice.
    let h = Hvt {
        demoted: true,
        dumpcore: Some(super::Dumpcore {
            dir_fd: 3,
            core_fd: 11,
            flags: CORE_FLAGS,
            mode: 0o600,
        }),
        ..base
    };
    let p = super::build(&h).to_string();
    each_register_ioctl_once(&p);
    assert_eq!(p.matches("ioctl(").count(), 5, "{p}");
}
