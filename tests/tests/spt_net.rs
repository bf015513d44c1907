//! Network devices end to end, under both spt ABIs: the `net`, `net_2if`
//! and `net_mtu` unikernels answer pings from inside a network namespace
//! of the test's own; the container pattern (`@3`, no capabilities, uid
//! 65534); capabilities of a root tender; a net descriptor at end of file;
//! taps that cannot be attached. Every guest runs with `--mem=2`,
//! upstream's memory floor.
//!
//! Every namespace is made by the test and removed on drop, failure or not;
//! no packet leaves it.

use solo5_e2e::{
    assert_refused, cpu_time, guest, pass_as_fd3, ping_stats, proc_status_line, skip_unless_net,
    skip_unless_ping, spt, Netns, Outcome, PingStats, Running, TempDir, FLAVORS,
};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What the network guests print once they serve.
const SERVING0: &str = "[service0] Serving ping on 10.0.0.2, with MAC: ";
const SERVING1: &str = "[service1] Serving ping on 10.1.0.2, with MAC: ";

/// Guest memory for every run: upstream's test suite runs at 2 MiB.
const MEM: &str = "--mem=2";

/// Start `solo5-spt --mem=2 OPTS GUEST ARGS` inside `ns`.
fn tender(ns: &Netns, opts: &[&str], g: &Path, args: &[&str]) -> Running {
    Running::spawn(ns.command(&spt()).arg(MEM).args(opts).arg(g).args(args))
}

/// Wait until `t` prints `text`; panics with its output if it does not
/// within 10 seconds.
fn until(what: &str, t: &mut Running, text: &str) {
    t.expect_output(what, text, Duration::from_secs(10));
}

/// Run ping with `args` inside `ns` (at most `limit`) and return its
/// statistics; panics if ping printed none.
fn ping(ns: &Netns, args: &[&str], limit: Duration) -> (PingStats, Outcome) {
    if let Some(ip) = args.last() {
        ns.resolve(ip);
    }
    let o = ns.ping(args).finish(limit);
    let stats = ping_stats(&o.stdout)
        .unwrap_or_else(|| panic!("ping {args:?} printed no statistics: {}", o.dump()));
    (stats, o)
}

/// At least 99.9% of `want` requests were sent and answered (ping counts
/// its resends after a host-side send error as transmitted too).
fn assert_answered(what: &str, s: &PingStats, want: u64, o: &Outcome) {
    assert!(s.transmitted >= want, "{what}: {}", o.dump());
    assert!(
        s.received * 1000 >= want * 999,
        "{what}: only {} of {want} pings answered: {}",
        s.received,
        o.dump()
    );
}

/// ping's last two lines: statistics and round-trip times.
fn summary(o: &Outcome) -> String {
    let lines: Vec<&str> = o.stdout.lines().collect();
    lines[lines.len().saturating_sub(2)..].join("; ")
}

fn assert_success(what: &str, o: &Outcome) {
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    assert!(o.stdout.contains("\nSUCCESS\n"), "{what}: {}", o.dump());
}

#[test]
fn net_answers_a_100000_ping_flood() {
    if skip_unless_ping() {
        return;
    }
    for f in FLAVORS {
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1500);
        let g = guest(f, "net");
        let mut t = tender(&ns, &["--net:service0=tap0"], &g, &["limit"]);
        until(f, &mut t, SERVING0);
        let start = Instant::now();
        let (s, p) = ping(
            &ns,
            &["-f", "-q", "-c", "100000", "-w", "120", "10.0.0.2"],
            Duration::from_secs(150),
        );
        let took = start.elapsed();
        let o = t.finish(Duration::from_secs(20));
        assert_answered(f, &s, 100_000, &p);
        assert_success(f, &o);
        assert!(o.stdout.contains("Limit reached, exiting"), "{}", o.dump());
        eprintln!("{f}: net: {} in {took:.2?}", summary(&p));
    }
}

#[test]
fn net_2if_answers_two_floods_at_once() {
    if skip_unless_ping() {
        return;
    }
    for f in FLAVORS {
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1500);
        ns.tap("tap1", "10.1.0.1/24", 1500);
        let g = guest(f, "net_2if");
        let opts = ["--net:service0=tap0", "--net:service1=tap1"];
        let mut t = tender(&ns, &opts, &g, &["limit"]);
        until(f, &mut t, SERVING0);
        until(f, &mut t, SERVING1);
        let start = Instant::now();
        ns.resolve("10.0.0.2");
        ns.resolve("10.1.0.2");
        let floods = ["10.0.0.2", "10.1.0.2"]
            .map(|ip| ns.ping(&["-f", "-q", "-c", "50000", "-w", "120", ip]));
        let [a, b] = floods.map(|p| p.finish(Duration::from_secs(150)));
        let took = start.elapsed();
        let o = t.finish(Duration::from_secs(20));
        for p in [&a, &b] {
            let s = ping_stats(&p.stdout).expect("ping statistics");
            assert_answered(f, &s, 50_000, p);
        }
        assert_success(f, &o);
        // 100000 replies in total from two floods of 50000: each device
        // answered all of its own.
        assert!(
            o.stdout.contains(
                "Limit reached, exiting: 50000 echo replies on service0, 50000 on service1"
            ),
            "{f}: {}",
            o.dump()
        );
        eprintln!(
            "{f}: net_2if: tap0 {}; tap1 {}; in {took:.2?}",
            summary(&a),
            summary(&b)
        );
    }
}

#[test]
fn net_mtu_exchanges_a_maximum_size_frame() {
    if skip_unless_ping() {
        return;
    }
    for mtu in [9000u32, 1500] {
        for f in FLAVORS {
            let what = format!("{f}, MTU {mtu}");
            let ns = Netns::new();
            ns.tap("tap0", "10.0.0.1/24", mtu);
            let g = guest(f, "net_mtu");
            let mut t = tender(&ns, &["--net:service0=tap0"], &g, &[]);
            until(&what, &mut t, SERVING0);
            // An ICMP payload of MTU - 28 fills the frame exactly: 14
            // (Ethernet) + 20 (IP) + 8 (ICMP) + payload = MTU + 14.
            let size = (mtu - 28).to_string();
            let (s, p) = ping(
                &ns,
                &["-c", "1", "-W", "5", "-M", "do", "-s", &size, "10.0.0.2"],
                Duration::from_secs(15),
            );
            let o = t.finish(Duration::from_secs(10));
            assert_eq!((s.transmitted, s.received), (1, 1), "{what}: {}", p.dump());
            let reply = format!("{} bytes from 10.0.0.2", mtu - 20);
            assert!(p.stdout.contains(&reply), "{what}: {}", p.dump());
            assert_success(&what, &o);
            for line in [
                format!("\nMTU is {mtu}\n"),
                "\nA frame of MTU + 15 bytes is refused with EINVAL\n".to_string(),
                format!(
                    "\nAnswered a maximum-size echo request ({} bytes)\n",
                    mtu + 14
                ),
            ] {
                assert!(
                    o.stdout.contains(&line),
                    "{what}: want {line:?}: {}",
                    o.dump()
                );
            }
        }
    }
}

/// The value of a `Name:\tvalue...` line of /proc/PID/status.
fn status_value(pid: u32, field: &str) -> String {
    let line = proc_status_line(pid, field)
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {field} line"));
    line[field.len() + 1..].trim().to_string()
}

#[test]
fn container_pattern_runs_unprivileged_on_fd_3() {
    if skip_unless_ping() {
        return;
    }
    // Copies that uid 65534 can surely reach and execute.
    let dir = TempDir::new("container");
    let tap_exec = Path::new(env!("CARGO_BIN_EXE_tap-exec"));
    let tender = dir.copy_exec(&spt(), "solo5-spt");
    for f in FLAVORS {
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1400);
        let g = dir.copy_exec(&guest(f, "net"), &format!("net-{f}"));
        let mut t = Running::spawn(
            ns.command(tap_exec)
                .args(["tap0", "--"])
                .arg(&tender)
                .arg(MEM)
                .arg("--net:service0=@3")
                .arg(&g),
        );
        until(f, &mut t, SERVING0);
        let pid = t.pid();
        assert_eq!(
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .unwrap_or_default()
                .trim(),
            "solo5-spt",
            "{f}: pid {pid} is not the tender"
        );
        assert_eq!(
            status_value(pid, "Uid"),
            "65534\t65534\t65534\t65534",
            "{f}"
        );
        assert_eq!(
            status_value(pid, "Gid"),
            "65534\t65534\t65534\t65534",
            "{f}"
        );
        assert_eq!(status_value(pid, "Groups"), "", "{f}");
        for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            assert_eq!(status_value(pid, set), "0000000000000000", "{f}: {set}");
        }
        // The MTU comes from the tap behind the descriptor.
        assert!(t.stdout().contains(", MTU 1400\n"), "{f}: {}", t.stdout());
        let (s, p) = ping(
            &ns,
            &["-f", "-q", "-c", "1000", "-w", "30", "10.0.0.2"],
            Duration::from_secs(40),
        );
        let still_running = t.is_running();
        let o = t.kill();
        assert_answered(f, &s, 1000, &p);
        assert!(still_running, "{f}: the tender exited: {}", o.dump());
        assert!(!o.stdout.contains("error"), "{f}: {}", o.dump());
        eprintln!("{f}: container: {}", summary(&p));
    }
}

#[test]
fn root_tender_drops_every_capability_with_a_tap_and_serves() {
    if skip_unless_ping() {
        return;
    }
    for f in FLAVORS {
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1500);
        let g = guest(f, "net");
        let opts = [
            "--net:service0=tap0",
            "--net-mac:service0=02:00:5e:10:00:2a",
        ];
        let mut t = tender(&ns, &opts, &g, &[]);
        until(f, &mut t, SERVING0);
        let pid = t.pid();
        assert_eq!(status_value(pid, "Uid"), "0\t0\t0\t0", "{f}");
        for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
            assert_eq!(status_value(pid, set), "0000000000000000", "{f}: {set}");
        }
        assert_eq!(status_value(pid, "NoNewPrivs"), "1", "{f}");
        assert_eq!(status_value(pid, "Seccomp"), "2", "{f}");
        // And the device works without them.
        let (s, p) = ping(
            &ns,
            &["-c", "20", "-i", "0.01", "-w", "10", "10.0.0.2"],
            Duration::from_secs(15),
        );
        // The replies came from the MAC address given on the command line.
        let neigh = ns.exec("ip neigh show 10.0.0.2 dev tap0");
        let o = t.kill();
        assert_eq!((s.transmitted, s.received), (20, 20), "{f}: {}", p.dump());
        assert!(neigh.contains("lladdr 02:00:5e:10:00:2a"), "{f}: {neigh}");
        assert!(
            o.stdout
                .contains("[service0] MAC 02:00:5e:10:00:2a, MTU 1500\n"),
            "{f}: {}",
            o.dump()
        );
        assert_eq!(o.status, -1, "{f}: the tender exited early: {}", o.dump());
    }
}

/// The ABIs that stop polling a net device at end of file. Upstream's spt
/// v2 ABI cannot: the guest polls its own epoll set and its policy has no
/// `epoll_ctl`, so a guest that keeps yielding on a hung-up device wakes at
/// once, every time (the known upstream bug; docs/abis.md). Under v2 the
/// SDK's `net_read` still reports end of file as an error, and SIGPIPE no
/// longer kills the tender: `net_write_to_a_hung_up_peer_fails_cleanly`.
const EOF_FLAVORS: [&str; 1] = ["spt"];

/// Run `net` on descriptor `fd` (whose other end is already closed) for two
/// seconds: it must stay alive and idle, and the tender must say once that
/// the device is closed.
fn idle_at_eof(flavor: &str, kind: &str, fd: OwnedFd) {
    let what = format!("{flavor}: {kind}");
    let what = what.as_str();
    let mut cmd = Command::new(spt());
    cmd.arg(MEM)
        .arg("--net:service0=@3")
        .arg(guest(flavor, "net"));
    pass_as_fd3(&mut cmd, &fd);
    let mut t = Running::spawn(&mut cmd);
    drop(fd);
    until(what, &mut t, SERVING0);
    // Let the guest reach its loop and meet the end of file.
    std::thread::sleep(Duration::from_millis(300));
    let pid = t.pid();
    let before = cpu_time(pid);
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let after = cpu_time(pid);
    let wall = wall.elapsed();
    let alive = t.is_running();
    let o = t.kill();
    assert!(alive, "{what}: the tender exited: {}", o.dump());
    let used = after.unwrap() - before.unwrap();
    assert!(
        used < Duration::from_millis(200),
        "{what}: used {used:?} of CPU in {wall:?} with its only net device at end of file: {}",
        o.dump()
    );
    // One line on stderr, none in the guest's console output.
    let warning = "solo5-spt: warning: net 'service0': closed by the host";
    let warnings = o.stderr.lines().filter(|l| l.starts_with(warning)).count();
    assert_eq!(warnings, 1, "{what}: want one warning: {}", o.dump());
    assert!(
        !o.stdout.contains("closed by the host"),
        "{what}: {}",
        o.dump()
    );
    eprintln!("{what}: {used:?} of CPU in {wall:?}");
}

/// A socketpair of type `ty`: the end to pass on, the other one closed.
fn socketpair_closed(ty: libc::c_int) -> OwnedFd {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two descriptors into sv.
    let rc =
        unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by us; the
    // first is closed right away.
    drop(unsafe { OwnedFd::from_raw_fd(sv[0]) });
    // SAFETY: as above.
    unsafe { OwnedFd::from_raw_fd(sv[1]) }
}

#[test]
fn net_fd_at_eof_leaves_the_process_idle_seqpacket() {
    for f in EOF_FLAVORS {
        idle_at_eof(
            f,
            "seqpacket socketpair",
            socketpair_closed(libc::SOCK_SEQPACKET),
        );
    }
}

/// Also: the guest's writes to the hung-up stream (its gratuitous ARP)
/// fail with an error, they do not kill the tender with SIGPIPE.
#[test]
fn net_fd_at_eof_leaves_the_process_idle_stream() {
    for f in EOF_FLAVORS {
        idle_at_eof(f, "stream socketpair", socketpair_closed(libc::SOCK_STREAM));
    }
}

#[test]
fn net_fd_at_eof_leaves_the_process_idle_pipe() {
    for f in EOF_FLAVORS {
        let mut p = [0; 2];
        // SAFETY: pipe2 writes two descriptors into p.
        let rc = unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are owned by us.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
        drop(write);
        idle_at_eof(f, "pipe", read);
    }
}

#[test]
fn taps_that_cannot_be_attached() {
    if skip_unless_net() {
        return;
    }
    let ns = Netns::new();
    // tap1 exists but is down.
    ns.exec("ip tuntap add tap1 mode tap");
    for f in FLAVORS {
        let g = guest(f, "net");
        let run = |tap: &str| {
            let opt = format!("--net:service0={tap}");
            tender(&ns, &[&opt], &g, &[]).finish(Duration::from_secs(10))
        };
        assert_refused(
            f,
            &run("tap0"),
            Some("service0"),
            "could not attach tap0: no such interface",
        );
        assert_refused(
            f,
            &run("tap1"),
            Some("service0"),
            "could not attach tap1: interface is down",
        );
        assert_refused(
            f,
            &run("lo"),
            Some("service0"),
            "could not attach lo: it is not a tap interface",
        );
    }
}

/// Under both ABIs, the guest's writes to a hung-up stream (its gratuitous
/// ARP) fail with an error the guest sees: SIGPIPE does not kill the
/// tender.
#[test]
fn net_write_to_a_hung_up_peer_fails_cleanly() {
    for f in FLAVORS {
        let mut cmd = Command::new(spt());
        cmd.arg(MEM).arg("--net:service0=@3").arg(guest(f, "net"));
        let fd = socketpair_closed(libc::SOCK_STREAM);
        pass_as_fd3(&mut cmd, &fd);
        let mut t = Running::spawn(&mut cmd);
        drop(fd);
        until(f, &mut t, SERVING0);
        std::thread::sleep(Duration::from_millis(500));
        let alive = t.is_running();
        let o = t.kill();
        assert!(alive, "{f}: the tender died: {}", o.dump());
        assert_ne!(o.status, 128 + libc::SIGPIPE, "{f}: {}", o.dump());
    }
}
