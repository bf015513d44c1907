//! solo5-netns-exec, the container entrypoint helper, end to end with
//! upstream's own unikernels (../shared/upstream-solo5/spt): inside a "pod"
//! network namespace of the test's own whose `eth0` is a veth to a "peer"
//! namespace, as a CNI plugin leaves a pod. Every namespace is made here
//! (prefix `h9`) and removed on drop; no packet leaves them.
//!
//! What a user sees: the guest gets the pod's real address and prefix;
//! a 20000-ping flood is answered by the unikernel and not by the pod's
//! kernel (its `Icmp: InEchos` does not move) under both wirings (tcx and
//! tc mirred); the tender holds nothing; two unikernels run side by side
//! on two uplinks and a third on a busy uplink is refused with one line;
//! after SIGKILL no tap and no hook of ours is left (tcx) or the next
//! start removes the stale one (mirred), and a restart works.

use solo5_e2e::containers::{self, assert_tender_holds_nothing};
use solo5_e2e::{bin, ping_stats, ping_summary, skip_unless_ping, spt, Netns, Outcome, Running};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const SERVING: &str = "[service0] Serving ping on 10.0.0.2, with MAC: ";

/// Upstream's spt unikernel `name`, or None (with a visible message) when
/// ../shared/upstream-solo5 is absent.
fn upstream(name: &str) -> Option<PathBuf> {
    containers::upstream("spt", name)
}

fn helper() -> PathBuf {
    bin("solo5-netns-exec")
}

/// A pod namespace whose `eth{n}` (n = 0, 1, ...) is a veth to peer
/// namespace n; eth0 holds 10.0.0.2/20 and the default route via
/// 10.0.0.1, each peer holds 10.0.0.1/20 (test_net answers at 10.0.0.2).
struct Pod {
    ns: Netns,
    peers: Vec<Netns>,
}

impl Pod {
    fn new(uplinks: usize) -> Pod {
        let ns = Netns::with_prefix("h9pod");
        let mut peers = Vec::new();
        for i in 0..uplinks {
            let peer = Netns::with_prefix("h9peer");
            ns.exec(&format!(
                "ip link add eth{i} type veth peer name up0 netns {p} && \
                 ip addr add 10.0.0.2/20 dev eth{i} && ip link set eth{i} up",
                p = peer.name
            ));
            peer.exec("ip addr add 10.0.0.1/20 dev up0 && ip link set up0 up");
            peers.push(peer);
        }
        ns.exec("ip route add default via 10.0.0.1 dev eth0");
        Pod { ns, peers }
    }

    /// `solo5-netns-exec OPTS -- solo5-spt --mem=2 KERNEL ARGS` in the pod.
    fn start(&self, opts: &[&str], kernel: &PathBuf, args: &[&str]) -> Running {
        Running::spawn(&mut self.command(opts, kernel, args))
    }

    fn command(&self, opts: &[&str], kernel: &PathBuf, args: &[&str]) -> Command {
        let mut c = self.ns.command(&helper());
        c.args(opts)
            .arg("--")
            .arg(spt())
            .arg("--mem=2")
            .arg(kernel)
            .args(args);
        c
    }

    /// The pod kernel's count of echo requests it received.
    fn in_echos(&self) -> u64 {
        self.ns.in_echos()
    }

    /// Our taps in the pod.
    fn taps(&self) -> Vec<String> {
        self.ns.solo5_taps()
    }

    fn mac(&self, iface: &str) -> String {
        self.ns
            .exec(&format!("cat /sys/class/net/{iface}/address"))
            .trim()
            .to_string()
    }

    fn ping(&self, peer: usize, args: &[&str], limit: Duration) -> Outcome {
        self.peers[peer].ping(args).finish(limit)
    }
}

fn until(t: &mut Running, text: &str) {
    assert!(
        t.wait_for(text, Duration::from_secs(10)),
        "never printed {text:?}; status {:?}\n--- stdout\n{}--- stderr\n{}",
        t.exit_status(),
        t.stdout(),
        t.stderr()
    );
}

/// The helper refused: exit 1, one line on stderr naming `want`.
fn assert_one_line(o: &Outcome, want: &str) {
    assert_eq!(o.status, 1, "{}", o.dump());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.dump());
    assert!(lines[0].starts_with("solo5-netns-exec: "), "{}", o.dump());
    assert!(lines[0].contains(want), "want {want:?}: {}", o.dump());
}

fn setup() -> Option<(PathBuf, PathBuf)> {
    if skip_unless_ping() {
        return None;
    }
    Some((upstream("test_hello.spt")?, upstream("test_net.spt")?))
}

#[test]
fn helper_is_statically_linked() {
    let elf = std::fs::read(helper()).expect("read helper");
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(elf[54..56].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(elf[56..58].try_into().unwrap()) as usize;
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    assert!(
        !interp,
        "solo5-netns-exec has a PT_INTERP: build it with scripts/build-all"
    );
}

#[test]
fn hello_gets_the_pods_real_address_prefix_and_gateway() {
    let Some((hello, _)) = setup() else { return };
    let pod = Pod::new(1);
    let o = pod
        .start(
            &[],
            &hello,
            &["addr={addr}", "net={addr}/{prefix}", "gw={gw}"],
        )
        .finish(Duration::from_secs(20));
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(
        o.stdout
            .contains("Command line is: 'addr=10.0.0.2 net=10.0.0.2/20 gw=10.0.0.1'"),
        "{}",
        o.dump()
    );
    let o = pod
        .start(&["--mirage"], &hello, &["x y"])
        .finish(Duration::from_secs(20));
    assert_eq!(o.status, 0, "{}", o.dump());
    // The argument "x y" stays one vector element (the guest sees it
    // joined by the tender, as any argument).
    assert!(
        o.stdout
            .contains("Command line is: '--ipv4=10.0.0.2/20 --ipv4-gateway=10.0.0.1 x y'"),
        "{}",
        o.dump()
    );
    // No namespace network at all: a placeholder is one clear line.
    let bare = Netns::with_prefix("h9bare");
    let o = Running::spawn(
        bare.command(&helper())
            .args(["--", spt().to_str().unwrap(), "--mem=2"])
            .arg(&hello)
            .arg("{gw}"),
    )
    .finish(Duration::from_secs(20));
    assert_one_line(&o, "uses {gw}, but this namespace has no default route");
}

#[test]
fn flood_is_answered_by_the_unikernel_and_the_tender_holds_nothing() {
    let Some((_, net)) = setup() else { return };
    for wiring in ["tcx", "mirred"] {
        let pod = Pod::new(1);
        let echos = pod.in_echos();
        let mut t = pod.start(&["--wiring", wiring], &net, &["limit"]);
        until(&mut t, SERVING);
        // The guest serves with eth0's MAC.
        let mac = pod.mac("eth0").replace(':', "");
        assert!(
            t.stdout().contains(&format!("{SERVING}{mac}")),
            "{wiring}: {}",
            t.stdout()
        );
        let pid = t.pid();
        eprintln!("{wiring}: the tender's privileges");
        assert_tender_holds_nothing(pid, "solo5-spt");
        let taps = pod.taps();
        assert_eq!(taps.len(), 1, "{wiring}: {taps:?}");
        assert_eq!(
            pod.ns
                .exec(&format!("cat /sys/class/net/{}/mtu", taps[0]))
                .trim(),
            "1500"
        );
        let p = pod.ping(
            0,
            &["-f", "-q", "-c", "20000", "-w", "120", "10.0.0.2"],
            Duration::from_secs(150),
        );
        let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{wiring}: {}", p.dump()));
        assert!(s.transmitted >= 20000, "{wiring}: {}", p.dump());
        assert!(s.received * 1000 >= 20000 * 999, "{wiring}: {}", p.dump());
        assert_eq!(
            pod.in_echos(),
            echos,
            "{wiring}: the pod's kernel answered pings"
        );
        let neigh = pod.peers[0].exec("ip neigh show 10.0.0.2");
        assert!(neigh.contains(&pod.mac("eth0")), "{wiring}: {neigh}");
        let o = t.kill();
        eprintln!("{wiring}: {}", ping_summary(&p.stdout));
        assert!(
            o.stderr.is_empty() || !o.stderr.contains("solo5-netns-exec"),
            "{}",
            o.dump()
        );
    }
}

/// Counter `what` (e.g. `tx_packets`) of interface `iface` in `ns`.
fn counter(ns: &Netns, iface: &str, what: &str) -> u64 {
    let v = ns.exec(&format!("cat /sys/class/net/{iface}/statistics/{what}"));
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{iface} {what}: {v:?}"))
}

/// The one line `--verbose` printed.
fn wiring_said(t: &Running) -> String {
    let said: Vec<String> = t
        .stderr()
        .lines()
        .filter(|l| l.starts_with("solo5-netns-exec: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(said.len(), 1, "{}", t.stderr());
    said[0].clone()
}

#[test]
fn tcx_hands_the_guests_frames_to_the_veths_peer_unless_told_otherwise() {
    let Some((_, net)) = setup() else { return };
    for reply_egress in [false, true] {
        let pod = Pod::new(1);
        let mut opts = vec!["--verbose", "--wiring", "tcx"];
        if reply_egress {
            opts.push("--reply-egress");
        }
        let mut t = pod.start(&opts, &net, &["limit"]);
        until(&mut t, SERVING);
        let said = wiring_said(&t);
        let line = "solo5-netns-exec: net 'service0': solo5tap0 <-> eth0 by tcx";
        match reply_egress {
            false => assert_eq!(
                said,
                format!("{line}, the guest's frames straight to eth0's peer")
            ),
            true => assert_eq!(said, line),
        }
        let sent = counter(&pod.ns, "eth0", "tx_packets");
        let got = counter(&pod.peers[0], "up0", "rx_packets");
        let p = pod.ping(
            0,
            &["-f", "-q", "-c", "2000", "-w", "60", "10.0.0.2"],
            Duration::from_secs(90),
        );
        let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{}", p.dump()));
        assert!(s.received * 1000 >= 2000 * 999, "{}", p.dump());
        let sent = counter(&pod.ns, "eth0", "tx_packets") - sent;
        let got = counter(&pod.peers[0], "up0", "rx_packets") - got;
        // Every reply reaches the peer; only through eth0's transmit path
        // with --reply-egress (the pod's own kernel may send a few frames
        // of its own meanwhile, IPv6 neighbour discovery).
        assert!(got >= s.received, "peer received {got} for {s:?}");
        match reply_egress {
            false => assert!(sent < 20, "eth0 sent {sent} frames for {s:?}"),
            true => assert!(sent >= s.received, "eth0 sent {sent} for {s:?}"),
        }
        eprintln!("reply_egress={reply_egress}: eth0 sent {sent}, the peer received {got}");
        t.kill();
    }
    // A veth whose peer is in the same namespace cannot take the frames
    // that way (the kernel would drop them): plain egress.
    let ns = Netns::with_prefix("h9pod");
    ns.exec(
        "ip link add eth0 type veth peer name up0 && ip link set up0 up && \
         ip addr add 10.0.0.2/20 dev eth0 && ip link set eth0 up && \
         ip route add default via 10.0.0.1 dev eth0",
    );
    let mut c = ns.command(&helper());
    c.args(["--verbose", "--wiring", "tcx", "--"])
        .arg(spt())
        .arg("--mem=2")
        .arg(&net);
    let mut t = Running::spawn(&mut c);
    until(&mut t, SERVING);
    assert_eq!(
        wiring_said(&t),
        "solo5-netns-exec: net 'service0': solo5tap0 <-> eth0 by tcx"
    );
    t.kill();
}

#[test]
fn two_unikernels_on_two_uplinks_and_a_busy_uplink_is_refused() {
    let Some((_, net)) = setup() else { return };
    let pod = Pod::new(2);
    let mut first = pod.start(&[], &net, &["limit"]);
    until(&mut first, SERVING);
    let mut second = pod.start(&["--uplink", "service0=eth1"], &net, &["limit"]);
    until(&mut second, SERVING);
    assert_eq!(pod.taps().len(), 2, "{:?}", pod.taps());
    // A third on eth0 would steal the first's traffic: refused.
    let o = pod
        .start(&[], &net, &["limit"])
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "eth0 already carries another unikernel");
    let echos = pod.in_echos();
    for peer in 0..2 {
        let p = pod.ping(
            peer,
            &["-c", "5", "-i", "0.2", "-w", "20", "10.0.0.2"],
            Duration::from_secs(30),
        );
        let s = ping_stats(&p.stdout).expect("ping statistics");
        assert_eq!(s.received, 5, "uplink {peer}: {}", p.dump());
    }
    assert_eq!(pod.in_echos(), echos);
    assert!(first.is_running() && second.is_running());
}

#[test]
fn sigkill_leaves_nothing_and_a_restart_works() {
    let Some((_, net)) = setup() else { return };
    for wiring in ["tcx", "mirred"] {
        let pod = Pod::new(1);
        let mut t = pod.start(&["--wiring", wiring], &net, &["limit"]);
        until(&mut t, SERVING);
        // SIGKILL (what Running::kill sends): the tender cannot clean up.
        t.kill();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(pod.taps(), Vec::<String>::new(), "{wiring}: a tap is left");
        let filters = pod.ns.exec("tc filter show dev eth0 ingress");
        if wiring == "tcx" {
            // No hook left: the pod's own kernel answers again.
            assert!(filters.is_empty(), "{filters}");
            let echos = pod.in_echos();
            let p = pod.ping(
                0,
                &["-c", "2", "-i", "0.2", "-w", "10", "10.0.0.2"],
                Duration::from_secs(20),
            );
            assert_eq!(
                ping_stats(&p.stdout).expect("stats").received,
                2,
                "{}",
                p.dump()
            );
            assert_eq!(pod.in_echos(), echos + 2);
        } else {
            // A mirred filter of ours outlives the tender...
            assert!(filters.contains("mirred"), "{filters}");
        }
        let mut again = pod.start(&["--wiring", wiring], &net, &["limit"]);
        until(&mut again, SERVING);
        let filters = pod.ns.exec("tc filter show dev eth0 ingress");
        // ...and the next start removes it: exactly one redirect.
        assert!(filters.matches("mirred").count() <= 1, "{filters}");
        let echos = pod.in_echos();
        let p = pod.ping(
            0,
            &["-c", "3", "-i", "0.2", "-w", "10", "10.0.0.2"],
            Duration::from_secs(20),
        );
        assert_eq!(
            ping_stats(&p.stdout).expect("stats").received,
            3,
            "{wiring}: {}",
            p.dump()
        );
        assert_eq!(pod.in_echos(), echos, "{wiring}");
    }
}

#[test]
fn mistakes_are_one_line_and_leave_nothing() {
    let Some((hello, net)) = setup() else { return };
    let pod = Pod::new(1);
    let o = pod
        .start(&["--uplink", "service9=eth0"], &net, &["limit"])
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "--uplink service9: ");
    let o = pod
        .start(&["--uplink", "service0=eth7"], &net, &["limit"])
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "net 'service0': no interface eth7");
    let o = pod
        .start(&[], &hello.with_extension("nope"), &[])
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "could not read");
    let o = pod.start(&[], &spt(), &[]).finish(Duration::from_secs(20));
    assert_one_line(&o, "solo5-spt: invalid executable");
    let o = pod
        .start(&["--user", "x"], &net, &[])
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "--user: expected UID[:GID]");
    let o = pod.start(&[], &hello, &[]).finish(Duration::from_secs(20));
    assert_eq!(o.status, 0, "{}", o.dump());
    // A second net device with no uplink, through test_net's manifest:
    // the device is named.
    let bare = Netns::with_prefix("h9bare");
    let o = Running::spawn(
        bare.command(&helper())
            .args(["--", spt().to_str().unwrap(), "--mem=2"])
            .arg(&net)
            .arg("limit"),
    )
    .finish(Duration::from_secs(20));
    assert_one_line(
        &o,
        "net 'service0': no uplink (this namespace has no default route",
    );
    assert_eq!(pod.taps(), Vec::<String>::new());
    assert!(pod.ns.exec("tc filter show dev eth0 ingress").is_empty());
}

/// `setpriv` (util-linux) in PATH, or a visible skip.
fn setpriv() -> bool {
    if Command::new("setpriv").arg("--version").output().is_err() {
        solo5_e2e::skip!("SKIP: needs setpriv (util-linux)");
        return false;
    }
    true
}

impl Pod {
    /// The helper, run by root holding only the capabilities `caps`
    /// (setpriv's syntax: `+net_admin,+setuid`): bounding set limited to
    /// them, nothing inheritable, so root's exec keeps exactly those.
    fn command_with_caps(
        &self,
        caps: &str,
        opts: &[&str],
        kernel: &PathBuf,
        args: &[&str],
    ) -> Command {
        let mut c = self.ns.command(std::path::Path::new("setpriv"));
        c.arg("--inh-caps=-all")
            .arg(format!("--bounding-set=-all,{caps}"))
            .arg("--")
            .arg(helper())
            .args(opts)
            .arg("--")
            .arg(spt())
            .arg("--mem=2")
            .arg(kernel)
            .args(args);
        c
    }
}

/// CAP_NET_ADMIN as the only network capability (what plain runc and a
/// Kubernetes securityContext adding NET_ADMIN give), plus the three the
/// helper needs to drop its privileges (in every engine's default set).
const NET_ADMIN_ONLY: &str = "+net_admin,+setuid,+setgid,+setpcap";

#[test]
fn without_cap_bpf_the_helper_falls_back_to_mirred_and_says_so_when_asked() {
    let Some((hello, net)) = setup() else { return };
    if !setpriv() {
        return;
    }
    let pod = Pod::new(1);
    let echos = pod.in_echos();
    // bpf(2) loads no program without CAP_BPF (EPERM), after the query
    // (CAP_NET_ADMIN) succeeded: the helper falls back to mirred.
    let mut t = Running::spawn(&mut pod.command_with_caps(
        NET_ADMIN_ONLY,
        &["--verbose"],
        &net,
        &["limit"],
    ));
    until(&mut t, SERVING);
    let said = [wiring_said(&t)];
    assert!(
        said[0].starts_with("solo5-netns-exec: net 'service0': solo5tap0 <-> eth0 by tc mirred (")
            && said[0].contains("Operation not permitted"),
        "{}",
        said[0]
    );
    eprintln!("{}", said[0]);
    assert!(pod
        .ns
        .exec("tc filter show dev eth0 ingress")
        .contains("mirred"));
    assert_tender_holds_nothing(t.pid(), "solo5-spt");
    let p = pod.ping(
        0,
        &["-f", "-q", "-c", "20000", "-w", "120", "10.0.0.2"],
        Duration::from_secs(150),
    );
    let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{}", p.dump()));
    assert!(s.transmitted >= 20000, "{}", p.dump());
    assert!(s.received * 1000 >= 20000 * 999, "{}", p.dump());
    assert_eq!(pod.in_echos(), echos, "the pod's kernel answered pings");
    eprintln!("CAP_NET_ADMIN only: {}", ping_summary(&p.stdout));
    t.kill();

    // Not asked: not a word from the helper.
    let o = Running::spawn(&mut pod.command_with_caps(NET_ADMIN_ONLY, &[], &net, &["limit"]));
    let mut o = o;
    until(&mut o, SERVING);
    assert!(!o.stderr().contains("solo5-netns-exec"), "{}", o.stderr());
    o.kill();

    // Exactly CAP_NET_ADMIN: the wiring works, the privilege drop cannot,
    // and the line says which capability it takes; nothing is left.
    let o = Running::spawn(&mut pod.command_with_caps("+net_admin", &[], &hello, &[]))
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "needs CAP_SETPCAP");
    let o = Running::spawn(&mut pod.command_with_caps("+net_admin", &[], &net, &["limit"]))
        .finish(Duration::from_secs(20));
    assert_one_line(&o, "needs CAP_SETPCAP");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(pod.taps(), Vec::<String>::new());
    assert!(!pod
        .ns
        .exec("tc filter show dev eth0 ingress")
        .contains("mirred"));

    // --wiring tcx fails instead, with one line that says what tcx needs.
    let o = Running::spawn(&mut pod.command_with_caps(
        NET_ADMIN_ONLY,
        &["--wiring", "tcx"],
        &net,
        &["limit"],
    ))
    .finish(Duration::from_secs(20));
    assert_one_line(&o, "could not attach a tcx redirect on solo5tap0");
    assert_one_line(&o, "CAP_BPF");
}

#[test]
fn without_dev_net_tun_the_error_names_the_device() {
    let Some((_, net)) = setup() else { return };
    let pod = Pod::new(1);
    // A mount namespace of its own where /dev/net is an empty tmpfs.
    let mut c = pod.ns.command(std::path::Path::new("unshare"));
    c.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs tmpfs /dev/net && exec \"$@\"",
        "sh",
    ])
    .arg(helper())
    .arg("--")
    .arg(spt())
    .arg("--mem=2")
    .arg(&net)
    .arg("limit");
    let o = Running::spawn(&mut c).finish(Duration::from_secs(20));
    assert_one_line(&o, "net 'service0': could not open /dev/net/tun");
    assert_one_line(&o, "No such file or directory");
    eprintln!("{}", o.stderr.trim());
    assert_eq!(pod.taps(), Vec::<String>::new());
    assert!(!pod
        .ns
        .exec("tc filter show dev eth0 ingress")
        .contains("mirred"));
}
