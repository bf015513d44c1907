//! solo5-hvt devices end to end: every device case of the
//! fixtures' README table on upstream's own hvt unikernels, each inside a
//! network namespace the test creates and removes (prefix `h6`); `@FD`
//! with a tender that holds no capability; the net ring forced on and off;
//! and net descriptors at end of file, which must never make the tender
//! spin, on hvt and on spt's native ABI.
//!
//! Tests skip with a message where /dev/kvm, root, ping or
//! ../shared/upstream-solo5 is missing.

use solo5_e2e::hvt::{have_kvm, hvt};
use solo5_e2e::{
    cpu_time, guest, ping_stats, run_cmd, skip_unless_ping, spt, Netns, Outcome, Running, TempDir,
};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The floods must end within this (kvm_pvm; 60 s on hardware KVM).
const FLOOD_LIMIT: Duration = Duration::from_secs(150);
const SERVING0: &str = "[service0] Serving ping on 10.0.0.2";
const SERVING1: &str = "[service1] Serving ping on 10.1.0.2";

/// Upstream's hvt unikernels.
fn fixtures() -> Option<PathBuf> {
    solo5_e2e::hvt::fixtures().map(|p| p.join("hvt"))
}

/// Fixtures, KVM, root, ip and ping; or a reason printed and None.
fn setup() -> Option<PathBuf> {
    let f = fixtures()?;
    if !have_kvm() || skip_unless_ping() {
        return None;
    }
    Some(f)
}

fn ns() -> Netns {
    Netns::with_prefix("h6")
}

fn success(what: &str, o: &Outcome) {
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    assert!(o.stdout.contains("\nSUCCESS\n"), "{what}: {}", o.dump());
    assert!(o.stderr.is_empty(), "{what}: {}", o.dump());
}

/// `solo5-hvt --mem=4096 ARGS` inside `ns`, as upstream's `hvt_run`.
fn hvt_in(ns: &Netns, args: &[OsString]) -> Command {
    let mut c = ns.command(&hvt());
    c.arg("--mem=4096").args(args);
    c
}

fn wait_for(what: &str, t: &mut Running, text: &str) {
    t.expect_output(what, text, Duration::from_secs(20));
}

fn flood(ns: &Netns, count: u64, extra: &[&str], ip: &str) -> Running {
    ns.resolve(ip);
    let c = count.to_string();
    let mut args = vec!["-f", "-q", "-c", &c, "-w", "140"];
    args.extend_from_slice(extra);
    args.push(ip);
    ns.ping(&args)
}

fn answered(what: &str, p: &Outcome, want: u64) {
    let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{what}: no statistics: {}", p.dump()));
    assert!(s.transmitted >= want, "{what}: {}", p.dump());
    assert_eq!(s.received, want, "{what}: {}", p.dump());
}

fn blk_file(tmp: &TempDir, name: &str, size: usize) -> PathBuf {
    tmp.file(name, &vec![0u8; size])
}

#[test]
fn blk_and_its_four_variants() {
    let Some(f) = setup() else { return };
    let ns = ns();
    let tmp = TempDir::new("h6-blk");
    let blk = f.join("test_blk.hvt");
    let run = |file: &Path, sector: Option<u32>| {
        let mut a = vec![OsString::from(format!(
            "--block:storage={}",
            file.display()
        ))];
        if let Some(s) = sector {
            a.push(format!("--block-sector-size:storage={s}").into());
        }
        a.push("--".into());
        a.push(blk.clone().into());
        run_cmd(&mut hvt_in(&ns, &a), Duration::from_secs(60))
    };
    let four = blk_file(&tmp, "4m.img", 4 << 20);
    success("blk", &run(&four, None));
    success("blk 4096", &run(&four, Some(4096)));
    // The guest wrote its pattern: the file is no longer all zeroes, and
    // it kept its size.
    let back = std::fs::read(&four).unwrap();
    assert_eq!(back.len(), 4 << 20);
    assert!(back.iter().any(|&b| b != 0), "test_blk wrote nothing");
    for (what, size, sector, want) in [
        (
            "misaligned",
            6 << 10,
            4096,
            "Backing storage size must be block aligned",
        ),
        ("odd", 1563, 521, "Block size must be a multiple of 2"),
        (
            "too small",
            256,
            256,
            "Block size must be a multiple of 2 greater than or equal 512",
        ),
    ] {
        let file = blk_file(&tmp, &format!("{size}.img"), size);
        let o = run(&file, Some(sector));
        assert_eq!(o.status, 1, "{what}: {}", o.dump());
        assert!(o.stdout.is_empty(), "{what}: {}", o.dump());
        assert_eq!(o.stderr.lines().count(), 1, "{what}: {}", o.dump());
        assert!(o.stderr.starts_with("solo5-hvt: "), "{what}: {}", o.dump());
        assert!(o.stderr.contains(want), "{what}: {}", o.dump());
    }
}

#[test]
fn mft_maxdevices_with_63_block_devices() {
    let Some(f) = setup() else { return };
    let ns = ns();
    let tmp = TempDir::new("h6-mft");
    let mut a = Vec::new();
    for n in 0..63 {
        let file = blk_file(&tmp, &format!("s{n}.img"), 4096);
        a.push(OsString::from(format!(
            "--block:storage{n}={}",
            file.display()
        )));
    }
    a.push("--".into());
    a.push(f.join("test_mft_maxdevices.hvt").into());
    success(
        "mft_maxdevices",
        &run_cmd(&mut hvt_in(&ns, &a), Duration::from_secs(60)),
    );
}

/// The 100000-ping flood upstream's hvt cannot finish here.
#[test]
fn net_answers_100000_pings() {
    let Some(f) = setup() else { return };
    let ns = ns();
    ns.tap("tap100", "10.0.0.1/24", 1500);
    let a = vec![
        "--net:service0=tap100".into(),
        "--".into(),
        f.join("test_net.hvt").into(),
        "limit".into(),
    ];
    let mut t = Running::spawn(&mut hvt_in(&ns, &a));
    wait_for("net", &mut t, SERVING0);
    let start = Instant::now();
    let p = flood(&ns, 100_000, &[], "10.0.0.2").finish(FLOOD_LIMIT);
    let took = start.elapsed();
    let o = t.finish(Duration::from_secs(20));
    answered("net", &p, 100_000);
    success("net", &o);
    assert!(o.stdout.contains("Limit reached, exiting"), "{}", o.dump());
    assert!(took < FLOOD_LIMIT, "net: {took:?}");
    eprintln!("net: 100000 pings in {took:.2?}");
}

#[test]
fn net_2if_answers_two_floods_of_50000() {
    let Some(f) = setup() else { return };
    let ns = ns();
    ns.tap("tap100", "10.0.0.1/24", 1500);
    ns.tap("tap101", "10.1.0.1/24", 1500);
    let a = vec![
        "--net:service0=tap100".into(),
        "--net:service1=tap101".into(),
        "--".into(),
        f.join("test_net_2if.hvt").into(),
        "limit".into(),
    ];
    let mut t = Running::spawn(&mut hvt_in(&ns, &a));
    wait_for("net_2if", &mut t, SERVING0);
    wait_for("net_2if", &mut t, SERVING1);
    let start = Instant::now();
    let floods = ["10.0.0.2", "10.1.0.2"].map(|ip| flood(&ns, 50_000, &[], ip));
    let [a, b] = floods.map(|p| p.finish(FLOOD_LIMIT));
    let took = start.elapsed();
    let o = t.finish(Duration::from_secs(20));
    answered("net_2if tap100", &a, 50_000);
    answered("net_2if tap101", &b, 50_000);
    success("net_2if", &o);
    assert!(took < FLOOD_LIMIT, "net_2if: {took:?}");
    eprintln!("net_2if: 2 x 50000 pings in {took:.2?}");
}

#[test]
fn net_mtu_reads_9000_from_the_tap() {
    let Some(f) = setup() else { return };
    let ns = ns();
    ns.tap("tap102", "10.0.0.1/24", 9000);
    let a = vec![
        "--net:service0=tap102".into(),
        "--".into(),
        f.join("test_net_mtu.hvt").into(),
    ];
    let o = run_cmd(&mut hvt_in(&ns, &a), Duration::from_secs(60));
    success("net_mtu", &o);
    assert!(o.stdout.contains("MTU is 9000"), "{}", o.dump());
}

/// test_net_ring checks the payload of every echo request (`-p
/// deadbeef`), over the ring or over hypercalls: both are run.
#[test]
fn net_ring_10000_pings_with_the_ring_on_and_off() {
    let Some(f) = setup() else { return };
    for ring in ["--net-ring=on", "--net-ring=off"] {
        let ns = ns();
        ns.tap("tap100", "10.0.0.1/24", 1500);
        let a = vec![
            ring.into(),
            "--net:service0=tap100".into(),
            "--".into(),
            f.join("test_net_ring.hvt").into(),
        ];
        let mut t = Running::spawn(&mut hvt_in(&ns, &a));
        wait_for(ring, &mut t, "Target: 10000 verified packets");
        let start = Instant::now();
        let p = flood(&ns, 10_000, &["-p", "deadbeef"], "10.0.0.2").finish(FLOOD_LIMIT);
        let took = start.elapsed();
        let o = t.finish(Duration::from_secs(20));
        answered(ring, &p, 10_000);
        success(ring, &o);
        assert!(
            o.stdout.contains("Verified 10000 packets, 0 corrupted"),
            "{ring}: {}",
            o.dump()
        );
        eprintln!("net_ring {ring}: 10000 pings in {took:.2?}");
    }
}

/// The value of a `Name:\tvalue` line of /proc/PID/status.
fn status(pid: u32, field: &str) -> String {
    let line = solo5_e2e::proc_status_line(pid, field).unwrap_or_default();
    line.get(field.len() + 1..).unwrap_or("").trim().to_string()
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// `solo5-hvt ARGS` that starts inside `ns` with tap `tap` open at
/// descriptor 3 and no capability at all (bounding set included), as a
/// container entrypoint would run it: the parent (this closure, in the
/// forked child before exec) does the privileged part.
fn unprivileged_on_fd3(ns: &Netns, tap: &str, args: &[OsString]) -> Command {
    let netns = std::ffi::CString::new(format!("/run/netns/{}", ns.name)).unwrap();
    let mut ifr_name = [0 as libc::c_char; libc::IFNAMSIZ];
    for (d, s) in ifr_name.iter_mut().zip(tap.bytes()) {
        *d = s as libc::c_char;
    }
    let mut c = Command::new(hvt());
    c.args(args);
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls on its own stack data.
    unsafe {
        c.pre_exec(move || {
            let err = || Err(std::io::Error::last_os_error());
            let nsfd = libc::open(netns.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if nsfd < 0 || libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                return err();
            }
            let fd = libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR);
            if fd < 0 {
                return err();
            }
            let mut ifr: libc::ifreq = std::mem::zeroed();
            ifr.ifr_name = ifr_name;
            ifr.ifr_ifru.ifru_flags = 0x0002 | 0x1000; // IFF_TAP | IFF_NO_PI
            if libc::ioctl(fd, TUNSETIFF, &mut ifr) != 0 || libc::dup2(fd, 3) != 3 {
                return err();
            }
            for cap in 0..64 {
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            // capset(version 3, this process) with every set empty.
            let hdr = [0x2008_0522u32, 0];
            let data = [0u32; 6];
            if libc::syscall(libc::SYS_capset, hdr.as_ptr(), data.as_ptr()) != 0 {
                return err();
            }
            Ok(())
        });
    }
    c
}

#[test]
fn fd_tap_works_with_no_capabilities_ring_on_and_off() {
    let Some(f) = setup() else { return };
    for ring in ["--net-ring=on", "--net-ring=off"] {
        let ns = ns();
        ns.tap("tap100", "10.0.0.1/24", 1500);
        let a = vec![
            ring.into(),
            "--mem=64".into(),
            "--net:service0=@3".into(),
            "--".into(),
            f.join("test_net.hvt").into(),
        ];
        let mut t = Running::spawn(&mut unprivileged_on_fd3(&ns, "tap100", &a));
        wait_for(ring, &mut t, SERVING0);
        let pid = t.pid();
        for set in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
            assert_eq!(status(pid, set), "0000000000000000", "{ring}: {set}");
        }
        assert_eq!(status(pid, "Seccomp"), "2", "{ring}");
        let p = flood(&ns, 2000, &[], "10.0.0.2").finish(Duration::from_secs(60));
        let alive = t.is_running();
        let o = t.kill();
        answered(ring, &p, 2000);
        assert!(alive, "{ring}: {}", o.dump());
        assert!(
            o.stdout.contains("Solo5: Memory map: 64 MB addressable"),
            "{ring}: {}",
            o.dump()
        );
    }
}

#[test]
fn bad_net_ring_values_are_one_line() {
    let Some(f) = fixtures() else { return };
    let o = run_cmd(
        Command::new(hvt())
            .arg("--net-ring=maybe")
            .arg(f.join("test_hello.hvt")),
        Duration::from_secs(10),
    );
    assert_eq!(o.status, 1, "{}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-hvt: --net-ring: expected auto, on or off, not 'maybe'\n"
    );
    // After the kernel it is the guest's.
    if !have_kvm() {
        return;
    }
    let o = run_cmd(
        Command::new(hvt())
            .arg(f.join("test_hello.hvt"))
            .arg("--net-ring=on"),
        Duration::from_secs(10),
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(
        o.stdout.contains("Command line is: '--net-ring=on'"),
        "{}",
        o.dump()
    );
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two descriptors into p.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both were just created and are ours alone.
    unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) }
}

/// A stream socketpair: (the end to pass, the peer).
fn stream_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two descriptors into sv.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both were just created and are ours alone.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// Make the child of `cmd` get `fd` as its standard input (after
/// `Running::spawn` has set stdin to /dev/null); the caller keeps `fd`
/// open until the spawn.
fn as_fd0(cmd: &mut Command, fd: &OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: dup2 is async-signal-safe; `raw` is open in the parent (and
    // so in the forked child) until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `solo5-hvt RING --mem=64 --net:service0=@0 -- test_net.hvt` with `fd`
/// as its standard input; `fd` is closed here once the tender has it.
fn test_net_on_fd0(f: &Path, ring: &str, fd: OwnedFd) -> Running {
    let mut c = Command::new(hvt());
    c.args([ring, "--mem=64", "--net:service0=@0", "--"])
        .arg(f.join("test_net.hvt"));
    as_fd0(&mut c, &fd);
    Running::spawn(&mut c)
}

/// CPU time `t` uses over two seconds of wall time, checking it stays
/// alive through them.
fn idle_cpu(what: &str, t: &mut Running) -> Duration {
    std::thread::sleep(Duration::from_millis(500));
    let pid = t.pid();
    let before = cpu_time(pid).expect("cpu time");
    std::thread::sleep(Duration::from_secs(2));
    let after = cpu_time(pid).expect("cpu time");
    assert!(
        t.is_running(),
        "{what}: exited: {}{}",
        t.stdout(),
        t.stderr()
    );
    after - before
}

/// `uptime | solo5-hvt --net:service0=@0 ...`: the bytes are read as a
/// stream, then the pipe's end of file stops the device; a guest that
/// keeps polling it sleeps to each deadline (test_net polls with a 1 s
/// deadline forever).
#[test]
fn hvt_pipe_on_fd0_reaches_eof_and_idles() {
    let Some(f) = fixtures() else { return };
    if !have_kvm() {
        return;
    }
    for ring in ["--net-ring=on", "--net-ring=off"] {
        let (r, w) = pipe();
        let mut t = test_net_on_fd0(&f, ring, r);
        // Some bytes (not addressed to the guest), then end of file.
        // SAFETY: a live buffer of the given length.
        let n = unsafe { libc::write(w.as_raw_fd(), b"up 3 days\n".as_ptr().cast(), 10) };
        assert_eq!(n, 10);
        drop(w);
        wait_for(ring, &mut t, SERVING0);
        let used = idle_cpu(ring, &mut t);
        let o = t.kill();
        assert!(
            used < Duration::from_millis(150),
            "{ring}: {used:?} of CPU in 2 s at end of file: {}",
            o.dump()
        );
        let eof_lines = o.stderr.matches("end of file or hang-up").count();
        assert_eq!(eof_lines, 1, "{ring}: {}", o.dump());
        eprintln!("hvt {ring}: pipe at EOF: {used:?} of CPU in 2 s");
    }
}

/// A socket whose peer hangs up: the read says EUNSPEC, which test_net
/// treats as the error it is ("Read error", exit 1), at once.
#[test]
fn hvt_socket_hang_up_is_an_error_for_the_guest() {
    let Some(f) = fixtures() else { return };
    if !have_kvm() {
        return;
    }
    for ring in ["--net-ring=on", "--net-ring=off"] {
        let (mine, peer) = stream_pair();
        let mut t = test_net_on_fd0(&f, ring, mine);
        wait_for(ring, &mut t, SERVING0);
        std::thread::sleep(Duration::from_millis(300));
        assert!(t.is_running(), "{ring}: {}", t.stdout());
        let start = Instant::now();
        drop(peer);
        let o = t.finish(Duration::from_secs(10));
        let took = start.elapsed();
        assert_eq!(o.status, 1, "{ring}: {}", o.dump());
        assert!(
            o.stdout.contains("[service0] Read error\nFAILURE\n"),
            "{ring}: {}",
            o.dump()
        );
        assert!(took < Duration::from_secs(3), "{ring}: {took:?}");
    }
}

/// The same on spt's native ABI, with the SDK's net guest (which keeps
/// yielding whatever its reads say): idle after end of file, for a pipe
/// and for a socket whose peer hung up, both at descriptor 0.
#[test]
fn spt_native_fd0_at_eof_idles() {
    let g = guest("spt", "net");
    type Make = fn() -> (OwnedFd, OwnedFd);
    let cases: [(&str, Make); 2] = [("pipe", pipe), ("socket", stream_pair)];
    for (what, make) in cases {
        let (a, b) = make();
        let mut c = Command::new(spt());
        c.args(["--mem=2", "--net:service0=@0"]).arg(&g);
        as_fd0(&mut c, &a);
        let mut t = Running::spawn(&mut c);
        drop(a);
        drop(b);
        wait_for(what, &mut t, "[service0] Serving ping on 10.0.0.2");
        let used = idle_cpu(what, &mut t);
        let o = t.kill();
        assert!(
            used < Duration::from_millis(150),
            "spt {what}: {used:?} of CPU in 2 s at end of file: {}",
            o.dump()
        );
        eprintln!("spt native {what} at EOF: {used:?} of CPU in 2 s");
    }
}
