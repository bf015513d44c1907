//! What hardening a running guest shows from the outside: no writable and
//! executable mapping, the seccomp filter on, no capabilities, the guard
//! range below the stack, and the syscall matrix: only the calls of the
//! policy survive. Every guest runs with `--mem=2`, upstream's memory
//! floor.

use solo5_e2e::{guest, is_root, spt, spt_run, wait, FLAVORS};
use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Guest memory for every run: upstream's test suite runs at 2 MiB.
const MEM: &str = "--mem=2";

/// `solo5-spt --mem=2 ARGS`.
fn run(args: &[OsString]) -> solo5_e2e::Outcome {
    let mut v: Vec<OsString> = vec![MEM.into()];
    v.extend_from_slice(args);
    spt_run(&v)
}

/// Run the `time` guest (which sleeps for a few seconds) with `opts` and
/// hand its /proc/PID/{maps,status} to `check`.
fn inspect_running(flavor: &str, opts: &[&str], check: impl Fn(&str, &str)) {
    let child = Command::new(spt())
        .arg(MEM)
        .args(opts)
        .arg(guest(flavor, "time"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait until the guest runs: the filter is on once status says so.
    let mut ok = false;
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(10));
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.contains("Seccomp:\t2") {
            ok = true;
            break;
        }
    }
    assert!(ok, "{flavor}: the guest never ran under a seccomp filter");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    check(&maps, &status);
    let o = wait(child, Duration::from_secs(30));
    assert_eq!(o.status, 0, "{}", o.dump());
}

#[test]
fn no_writable_and_executable_mapping() {
    for f in FLAVORS {
        inspect_running(f, &[], |maps, status| {
            for line in maps.lines() {
                let perms = line.split_whitespace().nth(1).unwrap();
                assert!(
                    !(perms.contains('w') && perms.contains('x')),
                    "{f}: W+X mapping: {line}\n{maps}"
                );
            }
            // Guest memory starts at 0x10000 and its code is r-x.
            assert!(maps.lines().any(|l| l.starts_with("00010000-")), "{maps}");
            assert!(
                maps.lines()
                    .any(|l| l.starts_with("00100000-") && l.contains(" r-xp ")),
                "{maps}"
            );
            assert!(status.contains("NoNewPrivs:\t1"), "{status}");
        });
    }
}

#[test]
fn capabilities_are_dropped() {
    if !is_root() {
        solo5_e2e::skip!("SKIP: needs root to see capabilities dropped");
        return;
    }
    for f in FLAVORS {
        inspect_running(f, &[], |_, status| {
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                let line = status.lines().find(|l| l.starts_with(set)).unwrap();
                assert!(line.ends_with("0000000000000000"), "{f}: {line}");
            }
        });
    }
}

/// The allowed calls of each ABI with arguments the policy accepts, and one
/// changed argument that it refuses. `E`/`T` stand for the epoll and timer
/// descriptors of the v2 ABI, `buf` for a zeroed buffer in the guest.
fn allowed(flavor: &str) -> Vec<(u32, Vec<&'static str>, Vec<&'static str>)> {
    let mut v = vec![
        (1, vec!["1", "buf", "0"], vec!["2", "buf", "0"]), // write(1)
        (228, vec!["1", "buf"], vec!["4", "buf"]),         // clock_gettime
        (158, vec!["0x1002", "0"], vec!["0x1001", "0"]),   // arch_prctl
        (231, vec!["7"], vec![]),                          // exit_group
    ];
    if flavor == "spt" {
        v.push((
            271,
            vec!["0", "0", "buf", "0"],
            vec!["0", "0", "buf", "buf"],
        )); // ppoll
    } else {
        v.push((286, vec!["T", "1", "buf", "0"], vec!["T", "0", "buf", "0"])); // timerfd_settime
        v.push((
            281,
            vec!["E", "buf", "1", "0", "0", "8"],
            vec!["T", "buf", "1", "0", "0", "8"],
        )); // epoll_pwait
    }
    v
}

/// The epoll and timer descriptor numbers, from the printed policy.
fn event_fds(flavor: &str) -> (String, String) {
    let o = run(&["--print-policy".into(), guest(flavor, "syscall").into()]);
    assert_eq!(o.status, 0, "{}", o.dump());
    let grab = |key: &str| {
        o.stdout
            .lines()
            .find_map(|l| l.split(key).nth(1))
            .map(|r| {
                r.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .to_string()
            })
            .unwrap_or_default()
    };
    (grab("epoll_pwait(epfd == "), grab("timerfd_settime(fd == "))
}

fn run_syscall(flavor: &str, nr: u32, args: &[&str], fds: &(String, String)) -> solo5_e2e::Outcome {
    let mut v: Vec<OsString> = vec![guest(flavor, "syscall").into(), nr.to_string().into()];
    for a in args {
        v.push(match *a {
            "E" => fds.0.clone().into(),
            "T" => fds.1.clone().into(),
            other => other.into(),
        });
    }
    run(&v)
}

/// x86_64 `uretprobe` and `uprobe`: the kernel exempts them from seccomp.
const URETPROBE: u32 = 335;
const UPROBE: u32 = 336;

#[test]
fn syscall_matrix() {
    for f in FLAVORS {
        let fds = event_fds(f);
        let allow = allowed(f);
        let mut numbers: Vec<u32> = (0..=512).collect();
        // x32 numbers of allowed calls must die too.
        numbers.extend([0x4000_0000 | 1, 0x4000_0000 | 228, 0x4000_0000 | 231]);
        for nr in numbers {
            match allow.iter().find(|(n, _, _)| *n == nr) {
                Some((_, good, bad)) => {
                    let o = run_syscall(f, nr, good, &fds);
                    if nr == 231 {
                        assert_eq!(o.status, 7, "{f}: exit_group: {}", o.dump());
                    } else {
                        assert_eq!(o.status, 0, "{f}: syscall {nr}: {}", o.dump());
                        assert!(
                            o.stdout.contains(&format!("SURVIVED {nr} ")),
                            "{f}: {}",
                            o.dump()
                        );
                    }
                    if !bad.is_empty() {
                        let o = run_syscall(f, nr, bad, &fds);
                        assert_eq!(o.status, 159, "{f}: syscall {nr} {bad:?}: {}", o.dump());
                    }
                }
                None if nr == UPROBE || nr == URETPROBE => {
                    // The kernel (6.11+/6.18+) runs these two before and
                    // without seccomp, by design: outside a uprobe
                    // trampoline, uretprobe sends SIGILL and uprobe returns
                    // -ENXIO. Older kernels have no such bypass (SIGSYS).
                    let o = run_syscall(f, nr, &[], &fds);
                    let bypass_ok = if nr == URETPROBE {
                        o.status == 128 + libc::SIGILL
                    } else {
                        o.status == 0 && o.stdout.contains(&format!("SURVIVED {nr} = -6"))
                    };
                    assert!(
                        o.status == 159 || bypass_ok,
                        "{f}: syscall {nr}: {}",
                        o.dump()
                    );
                }
                None => {
                    let o = run_syscall(f, nr, &[], &fds);
                    assert_eq!(o.status, 159, "{f}: syscall {nr} survived: {}", o.dump());
                }
            }
        }
    }
}

#[test]
fn x_exec_heap_makes_the_heap_executable_and_says_so() {
    for f in FLAVORS {
        // Without the option, executing from the heap faults...
        let o = run(&[guest(f, "xnow").into()]);
        assert_eq!(o.status, 139, "{}", o.dump());
        // ...with it, the code runs (xnow reports that as its failure).
        let o = run(&["--x-exec-heap".into(), guest(f, "xnow").into()]);
        assert_eq!(o.status, 1, "{}", o.dump());
        assert!(o.stdout.contains("executed code at"), "{}", o.dump());
        assert!(
            o.stderr
                .contains("--x-exec-heap: the guest heap is writable and executable"),
            "{}",
            o.dump()
        );
    }
}

/// The guard range of an SDK guest at `--mem=2`: the stack is the top 256
/// KiB (the SDK's default `__solo5_stack_size`), the guard the 64 KiB below
/// it (`solo5_guest::GUARD_SIZE`), as the guest's stack note asks.
const GUARD_LINE: &str = "001b0000-001c0000 ---p ";

#[test]
fn the_stack_has_an_inaccessible_guard_below_it() {
    for f in FLAVORS {
        for opts in [&[][..], &["--x-exec-heap"][..]] {
            inspect_running(f, opts, |maps, _| {
                assert!(
                    maps.lines().any(|l| l.starts_with(GUARD_LINE)),
                    "{f} {opts:?}: no PROT_NONE guard at 0x1b0000-0x1c0000:\n{maps}"
                );
                // The stack above it is read/write, never executable
                // unless --x-exec-heap asks.
                let stack = maps
                    .lines()
                    .find(|l| l.starts_with("001c0000-00200000 "))
                    .unwrap_or_else(|| panic!("{f}: no stack mapping:\n{maps}"));
                let want = if opts.is_empty() { " rw-p " } else { " rwxp " };
                assert!(stack.contains(want), "{f} {opts:?}: {stack}");
            });
        }
    }
}
