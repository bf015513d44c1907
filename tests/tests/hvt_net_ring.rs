//! The SDK's hvt guests on the shared net ring (docs/hvt.md, "The net
//! ring"): where
//! the tender offers it, `solo5_net_read`/`net_write`/`yield` go through
//! the ring, and the guest says so in its banner
//! (`Solo5: hvt: net I/O through the shared ring`, at info level). Ours
//! offers it by default to a guest it enters at CPL3 (`--net-ring=auto`),
//! and not with `--net-ring=off`; upstream's tender offers it whenever KVM
//! has ioeventfds. Every case answers a ping flood whose payload ping
//! checks (`-p`), and the frames a guest sends through the ring must come
//! back whole and in order.
//!
//! Skips with a message where /dev/kvm, root or ping are missing, and for
//! upstream's tender where ../shared/upstream-solo5 is absent.

use solo5_e2e::hvt::{ours, spawn_serving, upstream_hvt};
use solo5_e2e::{guest, ping_stats, skip_unless_ping, Netns, Outcome};
use std::path::Path;
use std::time::Duration;

const RING: &str = "\nSolo5: hvt: net I/O through the shared ring\n";
const CPL3: &str =
    "\nSolo5: hvt: entered at CPL3 (tender-owned page tables, descriptor tables, traps)\n";
const PINGS: u64 = 5000;

/// The SDK's `net` guest under `t` with `opts`, flooded with `PINGS`
/// pings carrying a checked payload; the guest's output.
fn flood(who: &str, t: &Path, opts: &[&str]) -> Outcome {
    let ns = Netns::with_prefix("h14");
    ns.tap("tap0", "10.0.0.1/24", 1500);
    let mut cmd = ns.command(t);
    cmd.arg("--mem=2")
        .args(opts)
        .arg("--net:service0=tap0")
        .arg("--");
    cmd.arg(guest("hvt", "net"));
    let mut r = solo5_e2e::Running::spawn(&mut cmd);
    assert!(
        r.wait_for("Serving ping on 10.0.0.2", Duration::from_secs(10)),
        "{who}: never served: {}\n{}",
        r.stdout(),
        r.stderr()
    );
    let c = PINGS.to_string();
    ns.resolve("10.0.0.2");
    let p = ns
        .ping(&[
            "-f", "-q", "-c", &c, "-w", "100", "-p", "deadbeef", "-s", "1000", "10.0.0.2",
        ])
        .finish(Duration::from_secs(110));
    let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{who}: {}", p.dump()));
    assert!(s.transmitted >= PINGS, "{who}: {}", p.dump());
    assert_eq!(s.received, PINGS, "{who}: {}", p.dump());
    assert!(!p.stdout.contains("wrong data"), "{who}: {}", p.dump());
    r.kill()
}

#[test]
fn ours_offers_the_ring_to_cpl3_guests_unless_told_not_to() {
    if skip_unless_ping() {
        return;
    }
    let Some(t) = ours() else { return };
    for (opts, ring) in [
        (&[][..], true),
        (&["--net-ring=auto"][..], true),
        (&["--net-ring=on"][..], true),
        (&["--net-ring=off"][..], false),
    ] {
        let who = format!("ours {opts:?}");
        let o = flood(&who, &t, opts);
        assert!(o.stdout.contains(CPL3), "{who}: {}", o.dump());
        assert_eq!(o.stdout.contains(RING), ring, "{who}: {}", o.dump());
        assert!(!o.stderr.contains("solo5-hvt:"), "{who}: {}", o.dump());
    }
}

#[test]
fn upstreams_tender_gets_the_ring_used_too() {
    if skip_unless_ping() {
        return;
    }
    let Some(t) = upstream_hvt() else { return };
    let o = flood("upstream", &t, &[]);
    assert!(o.stdout.contains(RING), "upstream: {}", o.dump());
}

/// `limit`: the guest exits with SUCCESS after 100000 echo replies, all
/// through the ring: every one answered, nothing lost at the exit.
#[test]
fn a_guest_on_the_ring_answers_100000_pings_and_exits_cleanly() {
    if skip_unless_ping() {
        return;
    }
    let Some(t) = ours() else { return };
    let ns = Netns::with_prefix("h14");
    ns.tap("tap0", "10.0.0.1/24", 1500);
    let r = spawn_serving("ring", &ns, &t, &guest("hvt", "net"), &["limit"]);
    ns.resolve("10.0.0.2");
    let p = ns
        .ping(&["-f", "-q", "-c", "100000", "-w", "140", "10.0.0.2"])
        .finish(Duration::from_secs(150));
    let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{}", p.dump()));
    assert_eq!(s.received, 100_000, "{}", p.dump());
    let o = r.finish(Duration::from_secs(20));
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stdout.contains(RING), "{}", o.dump());
    assert!(o.stdout.contains("Limit reached, exiting"), "{}", o.dump());
    assert!(o.stdout.contains("\nSUCCESS\n"), "{}", o.dump());
}

/// Every thread of `pid` (`/proc/PID/task/*/status`), once all of them are
/// under the filter (within 10 s).
fn thread_statuses(pid: u32) -> Vec<String> {
    let start = std::time::Instant::now();
    let mut statuses = Vec::new();
    while start.elapsed() < Duration::from_secs(10) {
        statuses = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if statuses.len() >= 2 && statuses.iter().all(|s| s.contains("Seccomp:\t2")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    statuses
}

/// Run as root, attaching a tap by name (so the tender starts with every
/// capability) with `--net-ring=on`: the tender has the run loop's and
/// the ring's threads, and each holds no capability in any set, has
/// no_new_privs and runs under the filter. Upstream's `test_net.hvt`
/// (entered at CPL0) and the SDK's net guest (entered at CPL3).
#[test]
fn every_thread_holds_nothing_with_the_ring_on() {
    if skip_unless_ping() {
        return;
    }
    let Some(t) = ours() else { return };
    let Some(f) = solo5_e2e::hvt::fixtures() else {
        return;
    };
    let cases = [
        ("upstream test_net.hvt (CPL0)", f.join("hvt/test_net.hvt")),
        ("SDK net (CPL3)", guest("hvt", "net")),
    ];
    for (who, kernel) in cases {
        let ns = Netns::with_prefix("h14");
        ns.tap("tap0", "10.0.0.1/24", 1500);
        let mut cmd = ns.command(&t);
        cmd.args(["--mem=32", "--net-ring=on", "--net:service0=tap0", "--"])
            .arg(&kernel);
        let mut r = solo5_e2e::Running::spawn(&mut cmd);
        assert!(
            r.wait_for("Serving ping on 10.0.0.2", Duration::from_secs(30)),
            "{who}: never served: {}\n{}",
            r.stdout(),
            r.stderr()
        );
        let statuses = thread_statuses(r.pid());
        // The pings go through the ring thread while it is looked at.
        ns.resolve("10.0.0.2");
        let p = ns
            .ping(&["-f", "-q", "-c", "500", "-w", "60", "10.0.0.2"])
            .finish(Duration::from_secs(70));
        let o = r.kill();
        if who.starts_with("SDK") {
            assert!(o.stdout.contains(RING), "{who}: no ring: {}", o.dump());
        }
        // The run loop, the ring's thread (and, on some hosts, KVM's own
        // `kvm-nx-lpage-recovery` worker, which counts as a thread of the
        // process and must hold nothing either).
        assert!(
            statuses.iter().any(|s| s.starts_with("Name:\tnet-ring\n")),
            "{who}: no ring thread: {statuses:#?}"
        );
        for s in &statuses {
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                assert!(
                    s.contains(&format!("{set}:\t0000000000000000")),
                    "{who}: {set}: {s}"
                );
            }
            assert!(s.contains("NoNewPrivs:\t1"), "{who}: {s}");
            assert!(s.contains("Seccomp:\t2"), "{who}: {s}");
        }
        let st = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{who}: {}", p.dump()));
        assert_eq!(st.received, 500, "{who}: {}", p.dump());
    }
}
