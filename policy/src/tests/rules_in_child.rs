//! Every rule tried in a forked child under both ABIs: allowed arguments
//! pass, a changed argument (or a call on no list) dies of SIGSYS.

use std::os::fd::AsRawFd;

use super::calls::{
    arch_prctl_get, arch_prctl_set, clock_gettime, epoll_pwait, exit_group, exit_thread, getpid,
    ppoll, pread, pwrite, read, timerfd_settime, write, write_x32,
};
use super::{expect, fd, Fixture, Outcome, ALLOWED, KILLED};
use crate::rules::ARCH_SET_FS;
use crate::{build, Abi, Block, Devices};

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;
const TFD_TIMER_ABSTIME: u64 = 1;

#[test]
fn console_writes_to_stdout_only() {
    let fx = Fixture::new();
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        expect(&f, ALLOWED, &format!("{abi}: write(1)"), || write(1, 0));
        // The native table's end-of-file notice, with a net device only.
        let notice = if matches!(abi, Abi::Native) {
            ALLOWED
        } else {
            KILLED
        };
        expect(&f, notice, &format!("{abi}: write(2)"), || write(2, 0));
        expect(&f, KILLED, &format!("{abi}: write(0)"), || write(0, 0));
        let no_net = Devices {
            net_fds: Vec::new(),
            ..fx.devices()
        };
        let f = build(&abi, &no_net).compile().expect("policy compiles");
        expect(&f, KILLED, &format!("{abi}, no net: write(2)"), || {
            write(2, 0)
        });
    }
}

#[test]
fn exit_group_passes_the_status_and_exit_is_killed() {
    let fx = Fixture::new();
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        expect(
            &f,
            Outcome::Exited(7),
            &format!("{abi}: exit_group(7)"),
            || exit_group(7),
        );
        expect(&f, KILLED, &format!("{abi}: exit(0)"), || exit_thread(0));
    }
}

#[test]
fn clocks_monotonic_and_realtime_only() {
    let fx = Fixture::new();
    let clock = |id: libc::clockid_t| u64::try_from(id).expect("clock ids are positive");
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        let monotonic = clock(libc::CLOCK_MONOTONIC);
        let realtime = clock(libc::CLOCK_REALTIME);
        expect(&f, ALLOWED, &format!("{abi}: CLOCK_MONOTONIC"), || {
            clock_gettime(monotonic)
        });
        expect(&f, ALLOWED, &format!("{abi}: CLOCK_REALTIME"), || {
            clock_gettime(realtime)
        });
        for other in [
            libc::CLOCK_PROCESS_CPUTIME_ID,
            libc::CLOCK_MONOTONIC_RAW,
            libc::CLOCK_BOOTTIME,
        ] {
            let other = clock(other);
            expect(&f, KILLED, &format!("{abi}: clock {other}"), || {
                clock_gettime(other)
            });
        }
    }
}

#[test]
fn tls_base_set_fs_only() {
    let fx = Fixture::new();
    // The child inherits this thread's bases; setting the same ones keeps
    // its TLS working.
    let fs = u64::try_from(arch_prctl_get(ARCH_GET_FS)).expect("ARCH_GET_FS");
    let gs = u64::try_from(arch_prctl_get(ARCH_GET_GS)).expect("ARCH_GET_GS");
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        expect(&f, ALLOWED, &format!("{abi}: ARCH_SET_FS"), || {
            arch_prctl_set(ARCH_SET_FS, fs)
        });
        expect(&f, KILLED, &format!("{abi}: ARCH_SET_GS"), || {
            arch_prctl_set(ARCH_SET_GS, gs)
        });
        expect(&f, KILLED, &format!("{abi}: ARCH_GET_FS"), || {
            arch_prctl_get(ARCH_GET_FS)
        });
    }
}

#[test]
fn net_read_and_write_on_attached_fds_only() {
    let fx = Fixture::new();
    let (net, peer, other) = (fd(&fx.net), fd(&fx.net_peer), fd(&fx.other_net));
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        // A frame waits on the net fd, so the child's read succeeds.
        assert_eq!(write(peer, 1), 1, "frame for the child");
        expect(&f, ALLOWED, &format!("{abi}: read(net)"), || read(net));
        expect(&f, ALLOWED, &format!("{abi}: write(net)"), || write(net, 1));
        assert_eq!(read(peer), 1, "the child's frame arrived");
        expect(&f, KILLED, &format!("{abi}: read(other socket)"), || {
            read(other)
        });
        expect(&f, KILLED, &format!("{abi}: write(other socket)"), || {
            write(other, 1)
        });
        expect(&f, KILLED, &format!("{abi}: read(peer)"), || read(peer));
        expect(&f, KILLED, &format!("{abi}: read(0)"), || read(0));
        expect(&f, KILLED, &format!("{abi}: read(1)"), || read(1));
    }
}

#[test]
fn block_one_whole_block_inside_the_device() {
    let fx = Fixture::new();
    let (a, b, other, net) = (fd(&fx.blk_a), fd(&fx.blk_b), fd(&fx.other_blk), fd(&fx.net));
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        for (name, call) in [
            ("pread64", pread as fn(u64, u64, u64) -> _),
            ("pwrite64", pwrite),
        ] {
            let ok = |fd, count, offset| {
                let what = format!("{abi}: {name}(fd {fd}, count {count}, offset {offset})");
                expect(&f, ALLOWED, &what, || call(fd, count, offset));
            };
            let killed = |fd, count, offset| {
                let what = format!("{abi}: {name}(fd {fd}, count {count}, offset {offset})");
                expect(&f, KILLED, &what, || call(fd, count, offset));
            };
            // A: 8 blocks of 512, last offset 3584 (exactly at the bound).
            ok(a, 512, 0);
            ok(a, 512, 512);
            ok(a, 512, 3584);
            killed(a, 512, 3585);
            killed(a, 512, 4096);
            // Misaligned offsets inside the device.
            killed(a, 512, 1);
            killed(a, 512, 511);
            killed(a, 512, 1000);
            killed(a, 512, 1 << 32); // low 32 bits 0: offsets compare all 64 bits
            killed(a, 512, 512u64.wrapping_neg()); // offset -512 as loff_t
            killed(a, 511, 0);
            killed(a, 1024, 0); // B's block size on A
            killed(a, (1 << 32) | 512, 0);
            // B: 4 blocks of 1024, last offset 3072.
            ok(b, 1024, 0);
            ok(b, 1024, 3072);
            killed(b, 1024, 3073);
            killed(b, 512, 0); // A's block size on B
                               // Not attached as a block device.
            killed(other, 512, 0);
            killed(net, 512, 0);
        }
    }
}

#[test]
fn no_devices_no_read_nor_block_access() {
    let fx = Fixture::new();
    let (net, a) = (fd(&fx.net), fd(&fx.blk_a));
    for abi in fx.abis() {
        let f = build(&abi, &Devices::default())
            .compile()
            .expect("compiles");
        assert_eq!(write(fd(&fx.net_peer), 1), 1, "frame for the child");
        expect(&f, ALLOWED, &format!("{abi}: write(1)"), || write(1, 0));
        expect(&f, KILLED, &format!("{abi}: read(net)"), || read(net));
        expect(&f, KILLED, &format!("{abi}: read(0)"), || read(0));
        expect(&f, KILLED, &format!("{abi}: write(net)"), || write(net, 1));
        expect(&f, KILLED, &format!("{abi}: pread64"), || pread(a, 512, 0));
        expect(&f, KILLED, &format!("{abi}: pwrite64"), || {
            pwrite(a, 512, 0)
        });
    }
}

#[test]
fn block_smaller_than_one_block_allows_no_offset() {
    let fx = Fixture::new();
    let a = fd(&fx.blk_a);
    let raw = fx.blk_a.as_raw_fd();
    for abi in fx.abis() {
        for capacity in [0, 256, 511] {
            let devices = Devices {
                max_block_request: 0,
                net_fds: Vec::new(),
                blocks: vec![Block {
                    fd: raw,
                    block_size: 512,
                    capacity,
                }],
            };
            let policy = build(&abi, &devices);
            assert!(!policy.to_string().contains("pread64"), "{policy}");
            let f = policy.compile().expect("compiles");
            let what = format!("{abi}: capacity {capacity}");
            expect(&f, KILLED, &what, || pread(a, 512, 0));
            expect(&f, KILLED, &what, || pwrite(a, 512, 0));
            expect(&f, KILLED, &what, || pread(a, 0, 0));
        }
        // Exactly one block: offset 0 only.
        let one = Devices {
            max_block_request: 0,
            net_fds: Vec::new(),
            blocks: vec![Block {
                fd: raw,
                block_size: 512,
                capacity: 512,
            }],
        };
        let f = build(&abi, &one).compile().expect("compiles");
        expect(&f, ALLOWED, &format!("{abi}: one block, offset 0"), || {
            pread(a, 512, 0)
        });
        expect(&f, KILLED, &format!("{abi}: one block, offset 1"), || {
            pread(a, 512, 1)
        });
        expect(&f, KILLED, &format!("{abi}: one block, offset 512"), || {
            pwrite(a, 512, 512)
        });
    }
}

#[test]
fn native_yield_is_ppoll_without_sigmask() {
    let fx = Fixture::new();
    let f = fx.filter(&Abi::Native);
    expect(&f, ALLOWED, "ppoll(sigmask NULL)", || ppoll(false));
    expect(&f, KILLED, "ppoll(sigmask set)", || ppoll(true));
    // The upstream ABI's yield calls are not allowed here.
    let (epoll, timer) = (fd(&fx.epoll), fd(&fx.timer));
    expect(&f, KILLED, "timerfd_settime", || {
        timerfd_settime(timer, TFD_TIMER_ABSTIME)
    });
    expect(&f, KILLED, "epoll_pwait", || epoll_pwait(epoll));
}

#[test]
fn spt_v2_yield_is_timerfd_and_epoll_on_given_fds() {
    let fx = Fixture::new();
    let [_, abi] = fx.abis();
    let f = fx.filter(&abi);
    let (epoll, timer) = (fd(&fx.epoll), fd(&fx.timer));
    let (other_epoll, other_timer) = (fd(&fx.other_epoll), fd(&fx.other_timer));
    expect(&f, ALLOWED, "timerfd_settime(timerfd, ABSTIME)", || {
        timerfd_settime(timer, TFD_TIMER_ABSTIME)
    });
    expect(&f, KILLED, "timerfd_settime(timerfd, 0)", || {
        timerfd_settime(timer, 0)
    });
    expect(&f, KILLED, "timerfd_settime(other timer, ABSTIME)", || {
        timerfd_settime(other_timer, TFD_TIMER_ABSTIME)
    });
    expect(&f, ALLOWED, "epoll_pwait(epollfd)", || epoll_pwait(epoll));
    expect(&f, KILLED, "epoll_pwait(other epoll)", || {
        epoll_pwait(other_epoll)
    });
    // The native ABI's yield call is not allowed here.
    expect(&f, KILLED, "ppoll", || ppoll(false));
}

#[test]
fn calls_on_no_list_are_killed() {
    let fx = Fixture::new();
    for abi in fx.abis() {
        let f = fx.filter(&abi);
        expect(&f, KILLED, &format!("{abi}: getpid"), getpid);
        expect(&f, KILLED, &format!("{abi}: x32 write(1)"), write_x32);
    }
}

/// The native table moves whole blocks up to its largest request with
/// one call; upstream's spt v2 ABI one block. Device A: 8 blocks of 512,
/// largest request 2048 bytes (4 blocks).
#[test]
fn native_block_requests_are_whole_blocks_up_to_the_largest() {
    let fx = Fixture::new();
    let a = fd(&fx.blk_a);
    let devices = Devices {
        max_block_request: 2048,
        ..fx.devices()
    };
    for abi in fx.abis() {
        let f = build(&abi, &devices).compile().expect("compiles");
        let native = matches!(abi, Abi::Native);
        let multi = if native { ALLOWED } else { KILLED };
        for (name, call) in [
            ("pread64", pread as fn(u64, u64, u64) -> _),
            ("pwrite64", pwrite),
        ] {
            let what = |count, offset| format!("{abi}: {name}(count {count}, offset {offset})");
            expect(&f, ALLOWED, &what(512, 0), || call(a, 512, 0));
            for (count, offset) in [(1024, 0), (2048, 0), (2048, 2048), (1536, 512)] {
                expect(&f, multi, &what(count, offset), || call(a, count, offset));
            }
            // Not whole blocks, above the largest request, misaligned.
            for (count, offset) in [(1000, 0), (2560, 0), (4096, 0), (1024, 100), (0, 0)] {
                expect(&f, KILLED, &what(count, offset), || call(a, count, offset));
            }
        }
    }
}

/// solo5-spt's `--dumpcore` rules: the core file created in the
/// directory with exactly the flags and mode, written through the
/// descriptor openat returns, `mincore`; calls off the list raise SIGSYS
/// (Trap: without a handler, the child dies of it as with a kill); on the
/// spt v2 ABI `exit_group(255)` raises it too, any other status passes.
#[test]
fn dumpcore_rules_create_and_write_the_core_only() {
    use crate::hvt::Dumpcore;
    let fx = Fixture::new();
    let dir = std::env::temp_dir().join(format!("policy-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dirfd = std::fs::File::open(&dir).unwrap();
    let core = fd(&fx.other_blk);
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
    let d = Dumpcore {
        dir_fd: dirfd.as_raw_fd(),
        core_fd: fx.other_blk.as_raw_fd(),
        flags,
        mode: 0o600,
    };
    let dfd = dirfd.as_raw_fd() as u64;
    // Made before the fork: the child may not allocate under the filter.
    let name = std::ffi::CString::new(format!("core.{}", std::process::id())).unwrap();
    let openat = |dfd: u64, flags: i32, mode: u64| {
        // SAFETY: a NUL-terminated name; integers otherwise.
        unsafe { libc::syscall(libc::SYS_openat, dfd, name.as_ptr(), flags as u64, mode) }
    };
    for abi in fx.abis() {
        let f = crate::build_with_dumpcore(&abi, &fx.devices(), &d)
            .compile()
            .expect("compiles");
        let v2 = !matches!(abi, Abi::Native);
        // The file may exist from the other ABI's run: EEXIST still shows
        // the call was allowed (Exited(1)).
        let created = run_openat(&f, || openat(dfd, flags, 0o600));
        assert!(
            created == ALLOWED || created == Outcome::Exited(1),
            "{abi}: {created:?}"
        );
        expect(&f, KILLED, &format!("{abi}: openat without O_EXCL"), || {
            openat(dfd, flags & !libc::O_EXCL, 0o600)
        });
        expect(&f, KILLED, &format!("{abi}: openat mode 0644"), || {
            openat(dfd, flags, 0o644)
        });
        expect(&f, KILLED, &format!("{abi}: openat elsewhere"), || {
            openat(libc::AT_FDCWD as u64, flags, 0o600)
        });
        expect(&f, ALLOWED, &format!("{abi}: pwrite64 core"), || {
            pwrite(core, 512, 0)
        });
        expect(&f, KILLED, &format!("{abi}: pwrite64 other"), || {
            pwrite(1, 1, 0)
        });
        let status = if v2 { KILLED } else { Outcome::Exited(255) };
        expect(&f, status, &format!("{abi}: exit_group(255)"), || {
            exit_group(255)
        });
        expect(
            &f,
            Outcome::Exited(255),
            &format!("{abi}: exit_group(511)"),
            || exit_group(511),
        );
        expect(
            &f,
            Outcome::Exited(159),
            &format!("{abi}: exit_group(159)"),
            || exit_group(159),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_openat(f: &crate::Filter, call: impl Fn() -> libc::c_long) -> Outcome {
    super::run(f, call)
}
