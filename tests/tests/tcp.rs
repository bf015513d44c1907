//! The `tcp` example unikernel (smoltcp) end to end, on every tender that
//! can run it: solo5-spt with the native build, solo5-spt with the spt-v2
//! build, and solo5-hvt with the hvt build where that build, the tender
//! and /dev/kvm exist (skipped with a message otherwise). Each guest runs
//! at `--mem=2`, the memory floor of the other test guests.
//!
//! The host side is `tcp-client` (tests/src/bin/tcp-client.rs), a plain
//! `std::net::TcpStream` client run inside a network namespace the test
//! makes (tap `tap0`, host 10.0.0.1/24, guest 10.0.0.2/24), removed on
//! drop. It checks every byte; the tests check what it printed, its exit
//! status, and the guest's exit status and closing line.

use solo5_e2e::{bin, guest, root, skip_unless_net, spt, Netns, Outcome, Running};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Guest memory for every run.
const MEM: &str = "--mem=2";
/// What the guest prints once it serves.
const SERVING: &str = "tcp: serving echo on port";
const ECHO: &str = "10.0.0.2:7";
const SOURCE: &str = "10.0.0.2:19";
/// Namespaces of this suite start with this.
const NS_PREFIX: &str = "h8tcp";

/// A tender and the build of the guest it runs.
struct Case {
    what: &'static str,
    tender: PathBuf,
    guest: PathBuf,
}

/// spt native and spt-v2 always; hvt where it can run.
fn cases() -> Vec<Case> {
    let mut v = vec![
        Case {
            what: "spt native",
            tender: spt(),
            guest: guest("spt", "tcp"),
        },
        Case {
            what: "spt-v2",
            tender: spt(),
            guest: guest("spt-v2", "tcp"),
        },
    ];
    let hvt = root().join("target/release/solo5-hvt");
    let hvt_guest = root().join("target/guests/hvt/tcp");
    assert!(
        hvt.exists() && hvt_guest.exists(),
        "{} or {} is missing: run scripts/build-all",
        hvt.display(),
        hvt_guest.display()
    );
    if !Path::new("/dev/kvm").exists() {
        solo5_e2e::skip!("SKIP hvt: /dev/kvm is absent");
    } else {
        v.push(Case {
            what: "hvt",
            tender: hvt,
            guest: hvt_guest,
        });
    }
    v
}

/// A namespace with tap0 as 10.0.0.1/24.
fn namespace() -> Netns {
    let ns = Netns::with_prefix(NS_PREFIX);
    ns.tap("tap0", "10.0.0.1/24", 1500);
    ns
}

/// Makes the host's side of `ns` talk to the guest from 10.9.0.1, an
/// address off the guest's subnet: on loopback, the source of the route to
/// the guest. ARP requests still come from 10.0.0.1 (`arp_announce`), as
/// a router's would.
fn off_subnet(ns: &Netns) {
    ns.exec(
        "ip addr add 10.9.0.1/32 dev lo && ip route add 10.0.0.2/32 dev tap0 src 10.9.0.1 \
         && sysctl -qw net.ipv4.conf.all.arp_announce=2",
    );
}

/// Starts the guest of `c` in `ns` with `args` and waits until it serves.
fn start(c: &Case, ns: &Netns, args: &[&str]) -> Running {
    let mut t = Running::spawn(
        ns.command(&c.tender)
            .arg(MEM)
            .arg("--net:service0=tap0")
            .arg(&c.guest)
            .args(args),
    );
    assert!(
        t.wait_for(SERVING, Duration::from_secs(10)),
        "{}: never printed {SERVING:?}; exit status {:?}\n--- stdout\n{}--- stderr\n{}",
        c.what,
        t.exit_status(),
        t.stdout(),
        t.stderr()
    );
    t
}

/// Runs `tcp-client ARGS` inside `ns` (at most 120 seconds); it must exit
/// 0 and print one line starting with `want`, which is returned.
fn client(what: &str, ns: &Netns, args: &[&str], want: &str) -> String {
    let mut cmd = ns.command(&bin("tcp-client"));
    cmd.args(args);
    let o = solo5_e2e::run_cmd(&mut cmd, Duration::from_secs(120));
    assert_eq!(o.status, 0, "{what}: tcp-client {args:?}: {}", o.dump());
    let line = o.stdout.trim_end();
    assert!(
        line.starts_with(want) && !line.contains('\n'),
        "{what}: tcp-client {args:?}: {}",
        o.dump()
    );
    line.to_string()
}

/// The guest exits 0 by itself after its connections and says what it
/// served.
fn finished(what: &str, t: Running, totals: &str) -> Outcome {
    let o = t.finish(Duration::from_secs(30));
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    let want = format!("tcp: {totals}, 0 write errors, 0 read errors\n");
    assert!(
        o.stdout.contains(&want),
        "{what}: want {want:?}: {}",
        o.dump()
    );
    o
}

#[test]
fn tcp_streams_50_mb_checked() {
    if skip_unless_net() {
        return;
    }
    for c in cases() {
        let ns = namespace();
        let t = start(&c, &ns, &["ip=10.0.0.2/24", "bytes=50000000", "conns=1"]);
        let line = client(
            c.what,
            &ns,
            &["stream", SOURCE, "50000000"],
            "stream: 50000000 bytes checked",
        );
        finished(
            c.what,
            t,
            "1 connections, 0 bytes echoed, 50000000 bytes sourced",
        );
        eprintln!("{}: {line}", c.what);
    }
}

#[test]
fn tcp_echoes_5_mb_byte_for_byte() {
    if skip_unless_net() {
        return;
    }
    for c in cases() {
        let ns = namespace();
        let t = start(&c, &ns, &["ip=10.0.0.2/24", "conns=1"]);
        let line = client(
            c.what,
            &ns,
            &["echo", ECHO, "5000000"],
            "echo: 5000000 bytes sent and checked back",
        );
        finished(
            c.what,
            t,
            "1 connections, 5000000 bytes echoed, 0 bytes sourced",
        );
        eprintln!("{}: {line}", c.what);
    }
}

/// The client's address is not on the guest's subnet (10.9.0.1, routed to
/// the guest through tap0), so every reply goes through the gateway from
/// the command line.
#[test]
fn tcp_serves_1000_short_connections_through_its_gateway() {
    if skip_unless_net() {
        return;
    }
    // tcp-client sends 1 + (i * 37 % 512) bytes on connection i.
    let echoed: u64 = (0..1000u64).map(|i| 1 + i * 37 % 512).sum();
    for c in cases() {
        let ns = namespace();
        off_subnet(&ns);
        let t = start(
            &c,
            &ns,
            &["ip=10.0.0.2/24", "gw=10.0.0.1", "echo=7", "conns=1000"],
        );
        let line = client(
            c.what,
            &ns,
            &["short", ECHO, "1000"],
            "short: 1000 connections",
        );
        finished(
            c.what,
            t,
            &format!("1000 connections, {echoed} bytes echoed, 0 bytes sourced"),
        );
        eprintln!("{}: {line}", c.what);
    }
}

/// Without a gateway the guest cannot answer a client off its subnet: the
/// same client as above fails to connect (so the test above shows the
/// gateway is used).
#[test]
fn tcp_without_gateway_cannot_reach_another_subnet() {
    if skip_unless_net() {
        return;
    }
    let c = &cases()[0];
    let ns = namespace();
    off_subnet(&ns);
    let t = start(c, &ns, &["ip=10.0.0.2/24", "conns=1"]);
    let mut cmd = ns.command(&bin("tcp-client"));
    cmd.args(["short", ECHO, "1"]);
    let o = solo5_e2e::run_cmd(&mut cmd, Duration::from_secs(60));
    assert_eq!(o.status, 1, "{}", o.dump());
    assert!(
        o.stderr
            .starts_with("tcp-client: connection 0: connect to 10.0.0.2:7: "),
        "{}",
        o.dump()
    );
    let g = t.kill();
    assert!(!g.stdout.contains("tcp: 1 connections"), "{}", g.dump());
}

/// All three services from one guest, which exits after the 1002nd
/// connection.
#[test]
fn tcp_exits_after_its_connections() {
    if skip_unless_net() {
        return;
    }
    // 999 short connections, then one more (its first message: 1 byte).
    let echoed: u64 = 5_000_000 + (0..999u64).map(|i| 1 + i * 37 % 512).sum::<u64>() + 1;
    for c in cases() {
        let ns = namespace();
        let t = start(
            &c,
            &ns,
            &[
                "ip=10.0.0.2/24",
                "gw=10.0.0.1",
                "echo=7",
                "source=19",
                "bytes=50000000",
                "conns=1002",
            ],
        );
        client(c.what, &ns, &["stream", SOURCE, "50000000"], "stream: ");
        client(c.what, &ns, &["echo", ECHO, "5000000"], "echo: ");
        client(
            c.what,
            &ns,
            &["short", ECHO, "999"],
            "short: 999 connections",
        );
        let mut t = t;
        assert!(
            t.is_running(),
            "{}: exited before its last connection: {}",
            c.what,
            t.stdout()
        );
        client(c.what, &ns, &["short", ECHO, "1"], "short: 1 connections");
        finished(
            c.what,
            t,
            &format!("1002 connections, {echoed} bytes echoed, 50000000 bytes sourced"),
        );
    }
}

/// Bad command lines: one line `tcp: ...` and exit status 1, before any
/// packet.
#[test]
fn tcp_refuses_a_bad_command_line() {
    if skip_unless_net() {
        return;
    }
    let bad: [&[&str]; 6] = [
        &[],
        &["ip=10.0.0.2"],
        &["ip=10.0.0.2/33"],
        &["ip=10.0.0.2/24", "gw=10.0.0"],
        &["ip=10.0.0.2/24", "echo=7", "source=7"],
        &["ip=10.0.0.2/24", "conns=many"],
    ];
    for c in cases() {
        let ns = namespace();
        for args in bad {
            let mut cmd = ns.command(&c.tender);
            cmd.args([MEM, "--net:service0=tap0"])
                .arg(&c.guest)
                .arg("--solo5:quiet")
                .args(args);
            let o = solo5_e2e::run_cmd(&mut cmd, Duration::from_secs(30));
            let what = format!("{}: {args:?}", c.what);
            assert_eq!(o.status, 1, "{what}: {}", o.dump());
            let lines: Vec<&str> = o.stdout.lines().collect();
            assert_eq!(lines.len(), 1, "{what}: {}", o.dump());
            assert!(
                lines[0].starts_with("tcp: bad argument: "),
                "{what}: {}",
                o.dump()
            );
        }
    }
}
