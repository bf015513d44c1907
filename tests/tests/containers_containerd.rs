//! Unikernels driven by containerd, as a user drives it with `ctr`: a
//! containerd of the test's own (own config, root, state and socket in a
//! temporary directory, inside a network namespace the test makes, prefix
//! `h10`), images built with umoci and imported with `ctr images import`,
//! and containers joined to a "pod" network namespace (`--with-ns`) whose
//! `eth0` is a veth to a peer namespace. Upstream's own unikernels
//! (../shared/upstream-solo5) run in them:
//!
//! - through solo5-netns-exec as the image's entrypoint, with plain runc;
//! - through `ctr run --runc-binary solo5-runc` from urunc-style images
//!   that hold only the kernel and `/urunc.json`;
//! - plain images through solo5-runc to runc; broken images refused with
//!   the reason shown to the ctr user; hvt where /dev/kvm exists.
//!
//! Skips with a visible reason without root, containerd, ctr, runc,
//! umoci, ping, or ../shared/upstream-solo5.

use solo5_e2e::containers::{
    assert_tender_holds_nothing, build_image, read, skip_unless_containerd, static_c, upstream,
    urunc_json, wait_file, Containerd, Pod, PLAIN_HELLO_C, SERVING,
};
use solo5_e2e::{ping_summary, TempDir};
use std::path::Path;
use std::time::Duration;

/// 64 MiB: the tender gets `--mem=56`.
const MEM: &str = "--memory-limit=67108864";

/// containerd (which holds solo5-runc's install directory) and a work
/// directory for images, or None (with the reason printed) when a piece
/// is missing.
fn setup() -> Option<(Containerd, TempDir)> {
    if skip_unless_containerd() {
        return None;
    }
    Some((Containerd::start(), TempDir::new("h10-images")))
}

fn file(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Wait for `text` in a detached task's log.
fn until(log: &Path, text: &str) {
    assert!(
        wait_file(log, text, Duration::from_secs(20)),
        "never printed {text:?}:\n{}",
        read(log)
    );
}

/// A 20000-ping flood (or `count`) from the peer through the pod's eth0:
/// all answered, by the unikernel (the pod kernel's InEchos unchanged).
fn flood(pod: &Pod, count: u64, what: &str) {
    let echos = pod.in_echos();
    let c = count.to_string();
    let (s, o) = pod.ping(
        &["-f", "-q", "-c", &c, "-w", "120"],
        Duration::from_secs(150),
    );
    assert!(s.transmitted >= count, "{what}: {}", o.dump());
    assert!(s.received * 1000 >= count * 999, "{what}: {}", o.dump());
    assert_eq!(pod.in_echos(), echos, "{what}: the pod's kernel answered");
    eprintln!("{what}: {}", ping_summary(&o.stdout));
}

/// After the unikernel is gone: no tap, no mirred filter, and the pod's
/// own kernel answers pings again (no hook is left on eth0).
fn pod_is_clean(pod: &Pod, what: &str) {
    assert_eq!(pod.taps(), Vec::<String>::new(), "{what}: a tap is left");
    let f = pod.filters();
    assert!(!f.contains("mirred"), "{what}: a filter is left: {f}");
    let echos = pod.in_echos();
    let (s, o) = pod.ping(
        &["-c", "2", "-i", "0.2", "-w", "10"],
        Duration::from_secs(20),
    );
    assert_eq!(s.received, 2, "{what}: {}", o.dump());
    assert_eq!(
        pod.in_echos(),
        echos + 2,
        "{what}: a hook still takes eth0's traffic"
    );
}

/// SIGKILL task `id`, check its process is gone, delete task and
/// container.
fn sigkill_and_delete(c: &Containerd, id: &str, pid: u32) {
    c.kill(id, "SIGKILL");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "{id}: pid {pid} survived SIGKILL"
    );
    c.remove(id);
}

fn assert_nothing_left(c: &Containerd) {
    assert_eq!(c.leftovers(), Vec::<String>::new(), "left behind");
}

/// Image `h10-helper-NAME`: solo5-netns-exec, solo5-spt and `kernel`,
/// entrypoint `/solo5-netns-exec -- /solo5-spt --mem=2 /KERNEL` with
/// `args`; imported into `c`.
fn helper_image(
    c: &Containerd,
    work: &TempDir,
    name: &str,
    kernel: &Path,
    args: &[&str],
) -> String {
    let k = format!("/{}", kernel.file_name().unwrap().to_str().unwrap());
    let tar = build_image(
        &work.path,
        &format!("helper-{name}"),
        &[
            (
                "/solo5-netns-exec",
                file(&c.install.path("solo5-netns-exec")),
            ),
            ("/solo5-spt", file(&c.install.path("solo5-spt"))),
            (k.as_str(), file(kernel)),
        ],
        &["/solo5-netns-exec", "--", "/solo5-spt", "--mem=2", &k],
        args,
    );
    c.import(&tar, &format!("h10-helper-{name}"))
}

#[test]
fn hello_through_the_helper_as_entrypoint() {
    let Some((c, work)) = setup() else {
        return;
    };
    let Some(hello) = upstream("spt", "test_hello.spt") else {
        return;
    };
    let pod = Pod::new();
    let image = helper_image(
        &c,
        &work,
        "hello",
        &hello,
        &["addr={addr}/{prefix}", "gw={gw}"],
    );
    let o = c.run(
        &[&pod.with_ns()],
        &image,
        "h10-hello",
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stdout.contains("Hello, World"), "{}", o.dump());
    assert!(
        o.stdout
            .contains("Command line is: 'addr=10.0.0.2/20 gw=10.0.0.1'"),
        "{}",
        o.dump()
    );
    assert_nothing_left(&c);
}

#[test]
fn helper_entrypoint_flood_reaches_the_unikernel_which_holds_nothing_and_restarts_after_sigkill() {
    let Some((c, work)) = setup() else {
        return;
    };
    let Some(net) = upstream("spt", "test_net.spt") else {
        return;
    };
    let pod = Pod::new();
    let image = helper_image(&c, &work, "net", &net, &["limit"]);
    let with_ns = pod.with_ns();
    // The helper needs CAP_NET_ADMIN (CAP_BPF for tcx) and /dev/net/tun;
    // the image's entrypoint runs as root, the tender will not.
    let base = [
        with_ns.as_str(),
        "--cap-add=CAP_NET_ADMIN",
        "--cap-add=CAP_BPF",
        "--device=/dev/net/tun",
    ];
    for round in 0..2 {
        let what = format!("helper, round {round}");
        let (o, log) = c.run_detached(&base, &image, "h10-net", &[]);
        assert_eq!(o.status, 0, "{what}: {}", o.dump());
        until(&log, SERVING);
        let pid = c.pid("h10-net").expect("the task's pid");
        assert_tender_holds_nothing(pid, "solo5-spt");
        assert_eq!(pod.taps().len(), 1, "{what}: {:?}", pod.taps());
        // With CAP_BPF the wiring is tcx: nothing in tc's tables.
        assert_eq!(pod.filters(), "", "{what}: expected tcx wiring");
        flood(&pod, if round == 0 { 20000 } else { 500 }, &what);
        sigkill_and_delete(&c, "h10-net", pid);
        pod_is_clean(&pod, &what);
    }
    assert_nothing_left(&c);
}

/// A urunc-style image: `/unikernel/KERNEL` and `/urunc.json`, nothing
/// else (no tender, no entrypoint, no command).
fn urunc_image(
    c: &Containerd,
    work: &TempDir,
    name: &str,
    kernel: &Path,
    hv: &str,
    cmdline: &str,
) -> String {
    let k = format!(
        "/unikernel/{}",
        kernel.file_name().unwrap().to_str().unwrap()
    );
    let tar = build_image(
        &work.path,
        name,
        &[
            (k.as_str(), file(kernel)),
            (
                "/urunc.json",
                urunc_json(&[
                    ("hypervisor", hv),
                    ("binary", &k),
                    ("unikernelType", "solo5"),
                    ("cmdline", cmdline),
                ]),
            ),
        ],
        &[],
        &[],
    );
    c.import(&tar, name)
}

#[test]
fn runtime_runs_a_urunc_image_that_answers_a_flood_holds_nothing_and_restarts_after_sigkill() {
    let Some((c, work)) = setup() else {
        return;
    };
    let install = &c.install;
    let Some(net) = upstream("spt", "test_net.spt") else {
        return;
    };
    let pod = Pod::new();
    let image = urunc_image(&c, &work, "h10-urunc-net", &net, "spt", "limit");
    let with_ns = pod.with_ns();
    let runtime = format!("--runc-binary={}", install.runc());
    for round in 0..2 {
        // The second round also runs under containerd's default seccomp
        // profile: the tender's own filter goes on top.
        let mut opts = vec![with_ns.as_str(), runtime.as_str(), MEM];
        if round == 1 {
            opts.push("--seccomp");
        }
        let what = format!("solo5-runc, round {round}");
        let (o, log) = c.run_detached(&opts, &image, "h10-urunc", &[]);
        assert_eq!(o.status, 0, "{what}: {}", o.dump());
        until(&log, SERVING);
        assert!(read(&log).contains("Memory map: 56 MB"), "{}", read(&log));
        let pid = c.pid("h10-urunc").expect("the task's pid");
        assert_tender_holds_nothing(pid, "solo5-spt");
        flood(&pod, if round == 0 { 20000 } else { 500 }, &what);
        if round == 0 {
            // A second unikernel on the same uplink is refused with one
            // line in its output, and the first keeps answering.
            let o = c.run(&opts, &image, "h10-second", &[], Duration::from_secs(60));
            assert_eq!(o.status, 1, "{}", o.dump());
            let lines: Vec<&str> = o.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "{}", o.dump());
            assert!(
                lines[0].starts_with("solo5-netns-exec: ")
                    && lines[0].contains("eth0 already carries another unikernel"),
                "{}",
                o.dump()
            );
            assert_eq!(pod.taps().len(), 1, "{:?}", pod.taps());
            flood(&pod, 500, "first unikernel, after the refused second");
        }
        // Under containerd's seccomp profile bpf(2) may be refused and
        // the helper falls back to tc mirred, whose filter on eth0
        // outlives a SIGKILLed tender: solo5-runc's delete removes it.
        let mirred = pod.filters().contains("mirred");
        eprintln!("{what}: wiring {}", if mirred { "mirred" } else { "tcx" });
        c.kill("h10-urunc", "SIGKILL");
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert_eq!(pod.filters().contains("mirred"), mirred, "{what}");
        c.remove("h10-urunc");
        pod_is_clean(&pod, &what);
    }
    assert_nothing_left(&c);
}

#[test]
fn a_plain_image_goes_through_solo5_runc_to_runc() {
    let Some((c, work)) = setup() else {
        return;
    };
    let install = &c.install;
    let Some(hello) = static_c(&work.path, "hello", PLAIN_HELLO_C) else {
        return;
    };
    let tar = build_image(
        &work.path,
        "plain",
        &[("/hello", file(&hello))],
        &["/hello"],
        &[],
    );
    let image = c.import(&tar, "h10-plain");
    let runtime = format!("--runc-binary={}", install.runc());
    let o = c.run(
        &[&runtime],
        &image,
        "h10-plain",
        // ctr's arguments replace the image's entrypoint and command.
        &["/hello", "a", "b c"],
        Duration::from_secs(60),
    );
    // runc ran it as it is: arguments as a vector, its exit status.
    assert_eq!(o.status, 7, "{}", o.dump());
    assert_eq!(
        o.stdout,
        "hello from a plain container: a|b c\n",
        "{}",
        o.dump()
    );
    assert_nothing_left(&c);
}

#[test]
fn broken_images_show_the_reason_to_the_ctr_user_and_leave_nothing() {
    let Some((c, work)) = setup() else {
        return;
    };
    let install = &c.install;
    let Some(net) = upstream("spt", "test_net.spt") else {
        return;
    };
    let Some(native) = static_c(&work.path, "hello", PLAIN_HELLO_C) else {
        return;
    };
    let net = file(&net);
    let u = |hv: &str, binary: &str| {
        urunc_json(&[
            ("hypervisor", hv),
            ("binary", binary),
            ("unikernelType", "solo5"),
        ])
    };
    type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "notjson",
            vec![("/urunc.json", b"{not json".to_vec())],
            MEM,
            "/urunc.json is not valid",
        ),
        (
            "qemu",
            vec![("/k", net.clone()), ("/urunc.json", u("qemu", "/k"))],
            MEM,
            "unikernel hypervisor 'qemu' is not supported",
        ),
        (
            "nokernel",
            vec![("/urunc.json", u("spt", "/nowhere"))],
            MEM,
            "unikernel binary /nowhere is not in the image",
        ),
        (
            "notsolo5",
            vec![("/k", file(&native)), ("/urunc.json", u("spt", "/k"))],
            MEM,
            "unikernel binary /k is not a Solo5 spt binary",
        ),
        (
            "wronghv",
            vec![("/k", net.clone()), ("/urunc.json", u("hvt", "/k"))],
            MEM,
            "unikernel binary /k is not a Solo5 hvt binary",
        ),
        (
            "lowmem",
            vec![("/k", net), ("/urunc.json", u("spt", "/k"))],
            "--memory-limit=8388608",
            "memory limit of 8 MiB leaves less than",
        ),
    ];
    let runtime = format!("--runc-binary={}", install.runc());
    for (name, files, mem, want) in cases {
        let tar = build_image(&work.path, name, &files, &[], &["x"]);
        let image = c.import(&tar, &format!("h10-bad-{name}"));
        let o = c.run(
            &[&runtime, mem],
            &image,
            "h10-bad",
            &[],
            Duration::from_secs(60),
        );
        assert_ne!(o.status, 0, "{name}: {}", o.dump());
        // What ctr prints: the runtime's own line, through the shim.
        let line = o
            .stderr
            .lines()
            .find(|l| l.contains("OCI runtime create failed"))
            .unwrap_or_else(|| panic!("{name}: {}", o.dump()));
        let reason = line
            .split("OCI runtime create failed: ")
            .nth(1)
            .unwrap_or_default();
        assert!(
            reason.starts_with("solo5-runc: ") && reason.contains(want),
            "{name}: want {want:?}: {}",
            o.dump()
        );
        eprintln!("{name}: {line}");
        assert_nothing_left(&c);
    }
}

#[test]
fn hvt_unikernels_through_solo5_runc() {
    if !Path::new("/dev/kvm").exists() {
        solo5_e2e::skip!("SKIP: needs /dev/kvm for hvt");
        return;
    }
    let Some((c, work)) = setup() else {
        return;
    };
    let install = &c.install;
    let Some(hello) = upstream("hvt", "test_hello.hvt") else {
        return;
    };
    let runtime = format!("--runc-binary={}", install.runc());
    let image = urunc_image(&c, &work, "h10-hvt-hello", &hello, "hvt", "hvt hello");
    let o = c.run(
        &[&runtime, MEM],
        &image,
        "h10-hvt-hello",
        &["x"],
        Duration::from_secs(60),
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stdout.contains("Memory map: 56 MB"), "{}", o.dump());
    assert!(
        o.stdout.contains("Command line is: 'hvt hello x'"),
        "{}",
        o.dump()
    );
    assert_nothing_left(&c);

    let Some(net) = upstream("hvt", "test_net.hvt") else {
        return;
    };
    let pod = Pod::new();
    let image = urunc_image(&c, &work, "h10-hvt-net", &net, "hvt", "limit");
    let with_ns = pod.with_ns();
    let (o, log) = c.run_detached(&[&with_ns, &runtime, MEM], &image, "h10-hvt-net", &[]);
    assert_eq!(o.status, 0, "{}", o.dump());
    until(&log, SERVING);
    let pid = c.pid("h10-hvt-net").expect("the task's pid");
    assert_tender_holds_nothing(pid, "solo5-hvt");
    flood(&pod, 20000, "hvt");
    sigkill_and_delete(&c, "h10-hvt-net", pid);
    pod_is_clean(&pod, "hvt");
    assert_nothing_left(&c);
}

/// Median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `ctr ARGS`: seconds until its first byte of standard output (the
/// container's first output), seconds until it exited, and the output.
fn time_first_output(c: &Containerd, args: &[&str]) -> (f64, f64, String) {
    use std::io::Read;
    let start = std::time::Instant::now();
    let mut child = c
        .ctr_command()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ctr");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    let n = out.read(&mut first).expect("read ctr's output");
    let t_first = start.elapsed().as_secs_f64();
    let mut rest = Vec::new();
    let _ = out.read_to_end(&mut rest);
    let status = child.wait().expect("wait for ctr");
    let t_exit = start.elapsed().as_secs_f64();
    let mut text = String::from_utf8_lossy(&first[..n]).into_owned();
    text.push_str(&String::from_utf8_lossy(&rest));
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    assert!(n == 1, "no output: {status:?} {err}");
    (t_first, t_exit, text)
}

/// Ping flood elapsed (ms, as ping prints it) from `ns` to `dst`, or
/// ping's output when pings were lost.
fn flood_ms(ns: &solo5_e2e::Netns, dst: &str, count: u64) -> Result<f64, String> {
    let c = count.to_string();
    let o = ns
        .ping(&["-f", "-q", "-c", &c, "-w", "120", dst])
        .finish(Duration::from_secs(150));
    match solo5_e2e::ping_stats(&o.stdout) {
        Some(s) if s.received * 1000 >= count * 999 => {}
        _ => return Err(o.dump()),
    }
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_default();
    line.rsplit("time ")
        .next()
        .and_then(|t| t.trim_end_matches("ms").trim().parse().ok())
        .ok_or_else(|| format!("no time in {line}"))
}

/// The container benchmarks, run by scripts/bench-containers (ignored by
/// `cargo test`): prints markdown tables.
///
/// 1. Container start to first output, `ctr run --rm` of a urunc-style
///    image holding upstream's `test_hello.spt` through solo5-runc, vs
///    runc starting a static native hello program (gcc -static) from a
///    scratch image, same memory limit, same containerd; the native image
///    through solo5-runc too (its pass-through cost).
/// 2. Ping flood elapsed, `test_net.spt` in a pod through eth0 (solo5-runc,
///    tcx wiring; and tc mirred, under containerd's seccomp profile) vs
///    the same unikernel on a plain tap (`solo5-spt --net:service0=tap0`).
///
/// Rounds alternate the order; ratios are paired (within a round), then
/// the median over rounds.
#[test]
#[ignore]
fn bench_containers() {
    let Some((c, work)) = setup() else {
        return;
    };
    let install = &c.install;
    let (Some(hello), Some(net)) = (
        upstream("spt", "test_hello.spt"),
        upstream("spt", "test_net.spt"),
    ) else {
        return;
    };
    let Some(native) = static_c(
        &work.path,
        "native-hello",
        "#include <stdio.h>\nint main(void) { puts(\"Hello, World\"); return 0; }\n",
    ) else {
        return;
    };
    let rounds = env_or("BENCH_ROUNDS", 21) as usize;
    let pings = env_or("BENCH_PINGS", 10000).clamp(100, 30000);
    let runtime = format!("--runc-binary={}", install.runc());
    let runc_root = format!("--runc-root={}", c.runc_root().display());
    let uni = urunc_image(&c, &work, "h10-bench-hello", &hello, "spt", "");
    let tar = build_image(
        &work.path,
        "native",
        &[("/hello", file(&native))],
        &["/hello"],
        &[],
    );
    let nat = c.import(&tar, "h10-bench-native");

    // 1. Start to first output.
    type Cmd = (&'static str, Vec<String>);
    let cmds: Vec<Cmd> = vec![
        (
            "unikernel (`test_hello.spt`) through solo5-runc",
            vec![runtime.clone(), uni.clone()],
        ),
        ("static native hello through runc", vec![nat.clone()]),
        (
            "static native hello through solo5-runc (passed to runc)",
            vec![runtime.clone(), nat.clone()],
        ),
    ];
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); cmds.len()];
    let mut exit: Vec<Vec<f64>> = vec![Vec::new(); cmds.len()];
    let mut ratio_first = Vec::new();
    let mut ratio_exit = Vec::new();
    for r in 0..rounds + 1 {
        let mut this = vec![(0.0, 0.0); cmds.len()];
        for k in 0..cmds.len() {
            let i = (k + r) % cmds.len();
            let id = format!("h10-bench-{i}");
            let mut args: Vec<&str> = vec!["run", "--rm", &runc_root, MEM];
            args.extend(cmds[i].1.iter().map(String::as_str));
            args.push(&id);
            let (f, e, text) = time_first_output(&c, &args);
            assert!(text.contains("Hello, World"), "{text}");
            this[i] = (f, e);
        }
        // Round 0 warms caches (page cache, containerd's snapshots).
        if r == 0 {
            continue;
        }
        for i in 0..cmds.len() {
            first[i].push(this[i].0 * 1e3);
            exit[i].push(this[i].1 * 1e3);
        }
        ratio_first.push(this[0].0 / this[1].0);
        ratio_exit.push(this[0].1 / this[1].1);
    }
    println!("\n#### Container start to first output ({rounds} rounds, ms)\n");
    println!("| container | first output, median | exit, median |");
    println!("|---|---|---|");
    for (i, (name, _)) in cmds.iter().enumerate() {
        println!(
            "| {name} | {:.1} | {:.1} |",
            median(&mut first[i]),
            median(&mut exit[i])
        );
    }
    println!(
        "\nunikernel / native through runc, paired median: first output {:.3}x, exit {:.3}x",
        median(&mut ratio_first),
        median(&mut ratio_exit)
    );
    assert_nothing_left(&c);

    // 2. Ping flood: pods (tcx; mirred under --seccomp) and a plain tap.
    // test_net without "limit" serves until it is killed (containerd's
    // teardown, or kill() below).
    let image = urunc_image(&c, &work, "h10-bench-net", &net, "spt", "");
    let pod_tcx = Pod::new();
    let pod_mirred = Pod::new();
    for (pod, id, extra) in [
        (&pod_tcx, "h10-bench-tcx", None),
        (&pod_mirred, "h10-bench-mirred", Some("--seccomp")),
    ] {
        let with_ns = pod.with_ns();
        let mut opts = vec![with_ns.as_str(), runtime.as_str(), MEM];
        opts.extend(extra);
        let (o, log) = c.run_detached(&opts, &image, id, &[]);
        assert_eq!(o.status, 0, "{}", o.dump());
        until(&log, SERVING);
    }
    assert!(!pod_tcx.filters().contains("mirred"));
    let mirred_ok = pod_mirred.filters().contains("mirred");
    // The wiring before replies went straight to the veth's peer: the
    // helper alone in a pod, `--reply-egress`.
    let pod_egress = Pod::new();
    let mut egress = solo5_e2e::Running::spawn(
        pod_egress
            .ns
            .command(&install.path("solo5-netns-exec"))
            .args(["--verbose", "--reply-egress", "--"])
            .arg(install.path("solo5-spt"))
            .arg("--mem=56")
            .arg(&net),
    );
    assert!(egress.wait_for(SERVING, Duration::from_secs(20)));
    let tap = solo5_e2e::Netns::with_prefix("h10tap");
    tap.tap("tap0", "10.0.0.1/20", 1500);
    let mut plain = solo5_e2e::Running::spawn(
        tap.command(&install.path("solo5-spt"))
            .arg("--mem=56")
            .arg("--net:service0=tap0")
            .arg(&net),
    );
    assert!(plain.wait_for(SERVING, Duration::from_secs(20)));
    // Where the difference comes from: the same flood answered by a
    // namespace's own kernel through a veth (what every pod's eth0 is)
    // and over loopback (no veth).
    let pod_kernel = Pod::new();
    let peers: Vec<(&str, &solo5_e2e::Netns, &str)> = vec![
        ("pod eth0, tcx (solo5-runc)", &pod_tcx.peer, "10.0.0.2"),
        (
            "pod eth0, tc mirred (solo5-runc, --seccomp)",
            &pod_mirred.peer,
            "10.0.0.2",
        ),
        (
            "pod eth0, tcx, replies out of eth0 (helper alone, --reply-egress)",
            &pod_egress.peer,
            "10.0.0.2",
        ),
        (
            "plain tap (solo5-spt --net:service0=tap0)",
            &tap,
            "10.0.0.2",
        ),
        (
            "no unikernel: the pod's own kernel, through the veth",
            &pod_kernel.peer,
            "10.0.0.2",
        ),
        (
            "no unikernel: a namespace's own kernel, over loopback",
            &pod_kernel.peer,
            "127.0.0.1",
        ),
    ];
    let flood_rounds = (rounds / 2).max(3);
    let fail = |what: &str, e: String| {
        format!(
            "{what}: {e}\n--- plain tap's tender\n{}\n--- egress pod's tender\n{}",
            plain.stdout(),
            egress.stdout()
        )
    };
    // Twice: with the CPUs idling as configured (on a VM, usually a halt
    // that exits to the host, whose wake-up dominates a one-in-flight
    // flood), then with every CPU kept in its polling idle state while a
    // PM QoS request of 0 µs (/dev/cpu_dma_latency) is held, which leaves
    // the path's own cost.
    for poll in [false, true] {
        let _hold = poll.then(|| {
            hold_cpu_latency_zero()
                .unwrap_or_else(|e| panic!("{}", fail("/dev/cpu_dma_latency", e)))
        });
        let how = match poll {
            false => "CPUs idle as configured",
            true => "CPUs held in polling idle (/dev/cpu_dma_latency = 0)",
        };
        let ms = flood_rounds_ms(&peers, flood_rounds, pings)
            .unwrap_or_else(|e| panic!("{}", fail("flood", e)));
        println!(
            "\n#### Ping flood, `ping -f -q -c {pings}` elapsed, {how} ({flood_rounds} rounds, ms)\n"
        );
        println!("| responder | elapsed, median | per ping (µs) | vs plain tap, paired median (min-max) |");
        println!("|---|---|---|---|");
        let mut per = Vec::new();
        for (i, (name, _, _)) in peers.iter().enumerate() {
            let ratio = match i {
                0..=2 => {
                    let mut r: Vec<f64> = ms.iter().map(|round| round[i] / round[3]).collect();
                    let (lo, hi) = min_max(&r);
                    format!("{:.3}x ({lo:.3}-{hi:.3})", median(&mut r))
                }
                3 => "1".to_string(),
                _ => "-".to_string(),
            };
            let mut m: Vec<f64> = ms.iter().map(|round| round[i]).collect();
            let m = median(&mut m);
            per.push(m * 1e3 / pings as f64);
            println!("| {name} | {m:.0} | {:.2} | {ratio} |", per[i]);
        }
        println!(
            "\nper ping: pod tcx - plain tap = {:.2} µs; replies out of eth0 - straight to its peer = {:.2} µs; \
             veth - loopback (kernel answering) = {:.2} µs",
            per[0] - per[3],
            per[2] - per[0],
            per[4] - per[5]
        );
    }
    if !mirred_ok {
        println!("\n(the --seccomp pod got tcx too: bpf(2) was allowed)");
    }
    plain.kill();
    egress.kill();
}

/// Hold a PM QoS CPU latency request of 0 µs for as long as the file is
/// open: the kernel then keeps idle CPUs in their polling state.
fn hold_cpu_latency_zero() -> Result<std::fs::File, String> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .map_err(|e| e.to_string())?;
    f.write_all(&0i32.to_ne_bytes())
        .map_err(|e| e.to_string())?;
    Ok(f)
}

/// One warm-up round, then `rounds` rounds of a flood at every peer, the
/// order rotating: the elapsed ms, per round and peer.
fn flood_rounds_ms(
    peers: &[(&str, &solo5_e2e::Netns, &str)],
    rounds: usize,
    pings: u64,
) -> Result<Vec<Vec<f64>>, String> {
    let mut out = Vec::new();
    for r in 0..rounds + 1 {
        let mut this = vec![0.0; peers.len()];
        for k in 0..peers.len() {
            let i = (k + r) % peers.len();
            this[i] = flood_ms(peers[i].1, peers[i].2, pings)
                .map_err(|e| format!("{}: {e}", peers[i].0))?;
        }
        if r > 0 {
            out.push(this);
        }
    }
    Ok(out)
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}
