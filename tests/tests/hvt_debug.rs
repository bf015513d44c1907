//! solo5-hvt's debugging options: `--dumpcore=DIR` (core files that
//! Debian's gdb reads with the kernel's symbols) and `--gdb` (the GDB
//! remote protocol, driven by Debian's gdb in batch mode), against
//! upstream's debug tender `solo5-hvt-debug` on the same binaries where it
//! is present, with the tender confined all along.
//!
//! Tests skip with a `SKIP:` line where /dev/kvm, gdb or the fixtures are
//! absent (CI's strict mode makes that a failure).

use solo5_e2e::hvt::{fixtures, have_kvm, hvt, upstream_tool, LIMIT};
use solo5_e2e::{guest, run_cmd, Outcome, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Debian's gdb, where installed.
fn gdb() -> Option<PathBuf> {
    for p in ["/usr/bin/gdb", "/usr/local/bin/gdb"] {
        if Path::new(p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    solo5_e2e::skip!("SKIP: gdb is not installed (apt-get install gdb)");
    None
}

/// `gdb -batch -ex CMD... KERNEL [CORE]`.
fn gdb_batch(gdb: &Path, kernel: &Path, core: Option<&Path>, cmds: &[&str]) -> Outcome {
    let mut c = Command::new(gdb);
    c.args(["-nx", "-batch"]);
    for cmd in cmds {
        c.arg("-ex").arg(cmd);
    }
    c.arg(kernel);
    if let Some(core) = core {
        c.arg(core);
    }
    run_cmd(&mut c, LIMIT)
}

/// An SDK guest of the hvt flavor (scripts/build-guests builds them).
fn sdk(name: &str) -> Option<PathBuf> {
    Some(guest("hvt", name))
}

/// The core file a run named on its `dumping guest core to:` line.
fn core_path(o: &Outcome, prog: &str) -> PathBuf {
    let prefix = format!("{prog}: dumpcore: dumping guest core to: ");
    let line = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no dumping line: {}", o.dump()));
    PathBuf::from(line)
}

/// `TENDER --mem=4 --dumpcore=DIR KERNEL`: status 255, upstream's two
/// lines (with the tender's prefix), the file there, mode 0600, its full
/// length. Returns the core's path.
fn dumped(prog: &str, tender: &Path, dir: &Path, kernel: &Path) -> PathBuf {
    let o = run_cmd(
        Command::new(tender)
            .arg("--mem=4")
            .arg(format!("--dumpcore={}", dir.display()))
            .arg(kernel),
        LIMIT,
    );
    assert_eq!(o.status, 255, "{}", o.dump());
    let core = core_path(&o, prog);
    let name = core.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("core.solo5-hvt."), "{}", o.dump());
    assert_eq!(core.parent(), Some(dir), "{}", o.dump());
    assert!(
        o.stderr.contains(&format!("{prog}: dumpcore: dumped ")),
        "{}",
        o.dump()
    );
    assert!(
        o.stderr.contains(" pages of total 1024 pages\n"),
        "{}",
        o.dump()
    );
    assert!(!o.stderr.contains("error(s)"), "{}", o.dump());
    let meta = std::fs::metadata(&core).expect("the core file exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 532 + (4 << 20), "header + 4 MiB");
    core
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// ELF64 ET_CORE, EM_X86_64, OSABI 255, PT_NOTE at 176 (namesz 8, "CORE",
/// NT_PRSTATUS, 336 bytes), PT_LOAD at 532 of 4 MiB at address 0.
fn assert_upstream_layout(core: &[u8]) {
    assert_eq!(&core[..8], &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0xff]);
    assert_eq!((u16_at(core, 16), u16_at(core, 18)), (4, 62));
    assert_eq!(u16_at(core, 56), 2, "two program headers");
    assert_eq!(&core[64..68], &[4, 0, 0, 0], "PT_NOTE");
    assert_eq!(u64_at(core, 72), 176);
    assert_eq!(&core[120..124], &[1, 0, 0, 0], "PT_LOAD");
    assert_eq!(u64_at(core, 128), 532);
    assert_eq!((u64_at(core, 136), u64_at(core, 144)), (0, 0));
    assert_eq!((u64_at(core, 152), u64_at(core, 160)), (4 << 20, 4 << 20));
    assert_eq!(&core[176..188], &[8, 0, 0, 0, 0x50, 1, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&core[188..196], b"CORE\0\0\0\0");
}

fn has_frames(what: &str, o: &Outcome, frames: &[&str]) {
    let mut at = 0;
    for f in frames {
        let found = o.stdout[at..].find(&format!(" in {f}"));
        assert!(
            found.is_some(),
            "{what}: no frame {f} after byte {at}: {}",
            o.dump()
        );
        at += found.unwrap();
    }
}

#[test]
fn upstreams_dumpcore_test_dumps_a_core_gdb_reads() {
    let (Some(f), true, Some(gdb)) = (fixtures(), have_kvm(), gdb()) else {
        return;
    };
    let kernel = f.join("hvt/test_dumpcore.hvt");
    let dir = TempDir::new("dumpcore");
    let core = dumped("solo5-hvt", &hvt(), &dir.path, &kernel);
    let bytes = std::fs::read(&core).unwrap();
    assert_upstream_layout(&bytes);
    let o = gdb_batch(&gdb, &kernel, Some(&core), &["bt", "info registers rip cs"]);
    has_frames(
        "test_dumpcore",
        &o,
        &["platform_exit", "solo5_abort", "solo5_app_main", "_start"],
    );
    assert!(o.stdout.contains("<platform_exit+"), "{}", o.dump());
    // Upstream's debug tender writes the same layout for the same binary:
    // the same headers, and the same registers but for the noise of
    // the run (TSC, stack contents).
    let Some(up) = upstream_tool("solo5-hvt-debug") else {
        return;
    };
    let updir = TempDir::new("dumpcore-up");
    let upcore = dumped("solo5-hvt-debug", &up, &updir.path, &kernel);
    let upbytes = std::fs::read(&upcore).unwrap();
    assert_eq!(&bytes[..196], &upbytes[..196], "headers and note header");
    // pr_reg: rip, cs, rsp, ss as upstream's (entries 16, 17, 19, 20).
    let reg = |b: &[u8], i: usize| u64_at(b, 196 + 112 + i * 8);
    for i in [16, 17, 19, 20] {
        assert_eq!(reg(&bytes, i), reg(&upbytes, i), "pr_reg[{i}]");
    }
    // The image is the same in both.
    assert_eq!(
        &bytes[532 + 0x100000..532 + 0x105000],
        &upbytes[532 + 0x100000..532 + 0x105000]
    );
}

#[test]
fn sdk_guests_that_abort_or_trap_at_cpl3_dump_cores_gdb_reads() {
    let (true, Some(gdb)) = (have_kvm(), gdb()) else {
        return;
    };
    // (guest, the signal gdb names, the innermost frames)
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "abort",
            "SIGABRT",
            &[
                "solo5_guest::abort",
                "solo5_app_main",
                "solo5_guest::start::start",
            ],
        ),
        (
            "exception",
            "SIGSEGV",
            &["solo5_app_main", "solo5_guest::start::start"],
        ),
        (
            "zeropage",
            "SIGSEGV",
            &["solo5_app_main", "solo5_guest::start::start"],
        ),
    ];
    for (name, signal, frames) in cases {
        let Some(kernel) = sdk(name) else { return };
        let dir = TempDir::new("dumpcore-sdk");
        let core = dumped("solo5-hvt", &hvt(), &dir.path, &kernel);
        assert_upstream_layout(&std::fs::read(&core).unwrap());
        let o = gdb_batch(&gdb, &kernel, Some(&core), &["bt", "info registers cs ss"]);
        assert!(
            o.stdout
                .contains(&format!("Program terminated with signal {signal}")),
            "{name}: {}",
            o.dump()
        );
        has_frames(name, &o, frames);
        // The registers are the guest's at CPL3, not the trap stub's.
        assert!(
            o.stdout.contains("cs             0x23"),
            "{name}: {}",
            o.dump()
        );
        assert!(
            o.stdout.contains("ss             0x1b"),
            "{name}: {}",
            o.dump()
        );
    }
}

#[test]
fn dumpcore_refuses_a_missing_or_unwritable_dir_and_dumps_nothing_on_success() {
    let (Some(f), true) = (fixtures(), have_kvm()) else {
        return;
    };
    let hello = f.join("hvt/test_hello.hvt");
    let o = run_cmd(
        Command::new(hvt())
            .arg("--dumpcore=/nonexistent/dir")
            .arg(&hello),
        LIMIT,
    );
    assert_eq!(o.status, 1, "{}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-hvt: dumpcore: cannot open dir: No such file or directory\n"
    );
    // A directory only its owner root may write with a capability: the
    // tender has none left when it checks.
    let dir = TempDir::new("dumpcore-ro");
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o555)).unwrap();
    let o = run_cmd(
        Command::new(hvt())
            .arg(format!("--dumpcore={}", dir.path.display()))
            .arg(&hello),
        LIMIT,
    );
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status, 1, "{}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-hvt: dumpcore: dir not writable: Permission denied\n"
    );
    let o = run_cmd(Command::new(hvt()).arg("--dumpcore=").arg(&hello), LIMIT);
    assert_eq!(o.stderr, "solo5-hvt: --dumpcore: expected --dumpcore=DIR\n");
    // Success: no core.
    let dir = TempDir::new("dumpcore-ok");
    let o = run_cmd(
        Command::new(hvt())
            .arg("--mem=4")
            .arg(format!("--dumpcore={}", dir.path.display()))
            .arg(&hello),
        LIMIT,
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stderr.is_empty(), "{}", o.dump());
    assert_eq!(std::fs::read_dir(&dir.path).unwrap().count(), 0);
}

#[test]
fn print_policy_shows_the_dumpcore_rules() {
    let (Some(f), true) = (fixtures(), have_kvm()) else {
        return;
    };
    let dir = TempDir::new("dumpcore-policy");
    let o = run_cmd(
        Command::new(hvt())
            .arg("--print-policy")
            .arg(format!("--dumpcore={}", dir.path.display()))
            .arg(f.join("hvt/test_dumpcore.hvt")),
        LIMIT,
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    let line = |start: &str| {
        o.stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start}: {}", o.dump()))
            .to_string()
    };
    assert!(line("openat(dfd == ")
        .contains("flags == O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode == 0600)"));
    assert!(line("pwrite64(fd == ").contains("# dumpcore: write the core file"));
    assert!(line("mincore").contains("# dumpcore"));
    assert!(line("ioctl(fd == ").contains("KVM_RUN"));
    assert!(
        o.stdout.contains("request == KVM_GET_SREGS)"),
        "{}",
        o.dump()
    );
    // No ioctl beyond KVM_RUN, KVM_GET_SREGS (and KVM_GET_REGS on a host
    // without sync regs).
    for l in o.stdout.lines().filter(|l| l.starts_with("ioctl(")) {
        assert!(
            l.contains("KVM_RUN") || l.contains("KVM_GET_SREGS") || l.contains("KVM_GET_REGS"),
            "{l}"
        );
    }
    // Without --dumpcore none of it.
    let o = run_cmd(
        Command::new(hvt())
            .arg("--print-policy")
            .arg(f.join("hvt/test_dumpcore.hvt")),
        LIMIT,
    );
    for word in ["openat", "mincore", "pwrite64", "KVM_GET_SREGS"] {
        assert!(!o.stdout.contains(word), "{word}: {}", o.dump());
    }
}

/// A free TCP port on 127.0.0.1 (bound and released: the tender binds
/// it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `TENDER --mem=4 --gdb --gdb-port=P KERNEL`, once it waits for the
/// debugger; then gdb in batch mode runs `cmds` against it (`PID` in a
/// command is the tender's pid). Returns (gdb's outcome, the tender's).
fn debug_session(tender: &Path, gdb: &Path, kernel: &Path, cmds: &[&str]) -> (Outcome, Outcome) {
    let port = free_port();
    let mut t = solo5_e2e::Running::spawn(
        Command::new(tender)
            .arg("--mem=4")
            .arg("--gdb")
            .arg(format!("--gdb-port={port}"))
            .arg(kernel),
    );
    let start = std::time::Instant::now();
    while !t.stderr().contains("Connect to it like this:") {
        assert!(
            start.elapsed() < Duration::from_secs(20) && t.is_running(),
            "never waited for a debugger: {}",
            t.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = t.pid().to_string();
    let target = format!("target remote localhost:{port}");
    let mut all = vec![target.as_str()];
    let owned: Vec<String> = cmds.iter().map(|c| c.replace("PID", &pid)).collect();
    all.extend(owned.iter().map(String::as_str));
    let g = gdb_batch(gdb, kernel, None, &all);
    (g, t.finish(LIMIT))
}

/// `shell grep` of every thread's seccomp mode and capabilities.
const CONFINED: &str = "shell grep -h -E '^(Seccomp|CapEff|CapPrm):' /proc/PID/task/*/status";

/// Every thread listed under its filter with no capability left.
fn assert_confined(what: &str, g: &Outcome) {
    let lines: Vec<&str> = g
        .stdout
        .lines()
        .filter(|l| l.starts_with("Seccomp:") || l.starts_with("Cap"))
        .collect();
    assert!(!lines.is_empty(), "{what}: {}", g.dump());
    for l in lines {
        let v = l.split_whitespace().nth(1).unwrap_or("");
        let ok = if l.starts_with("Seccomp:") {
            v == "2"
        } else {
            v.chars().all(|c| c == '0')
        };
        assert!(ok, "{what}: {l}\n{}", g.dump());
    }
}

fn line_with<'a>(o: &'a Outcome, start: &str) -> &'a str {
    o.stdout
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start}: {}", o.dump()))
}

/// A `D`/`d` symbol's mangled name (nm), for gdb without debug info.
fn symbol(kernel: &Path, part: &str) -> String {
    let o = run_cmd(Command::new("nm").arg(kernel), LIMIT);
    o.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .find(|s| s.contains(part))
        .unwrap_or_else(|| panic!("no symbol {part}: {}", o.dump()))
        .to_string()
}

#[test]
fn gdb_debugs_upstreams_hello_at_cpl0_like_upstreams_debug_tender() {
    let (Some(f), true, Some(gdb)) = (fixtures(), have_kvm(), gdb()) else {
        return;
    };
    let kernel = f.join("hvt/test_hello.hvt");
    let cmds = [
        "break solo5_app_main",
        "continue",
        "bt",
        "info registers rip",
        "stepi",
        "info registers rip",
        "x/gx &mem_size",
        CONFINED,
        "continue",
    ];
    let (g, t) = debug_session(&hvt(), &gdb, &kernel, &cmds);
    let what = "ours, test_hello";
    assert!(
        g.stdout
            .contains("Breakpoint 1, 0x0000000000104000 in solo5_app_main ()"),
        "{what}: {}",
        g.dump()
    );
    has_frames(what, &g, &["solo5_app_main", "_start"]);
    assert!(
        g.stdout.contains("rip            0x104000 "),
        "{what}: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("rip            0x104001 "),
        "{what}: stepi: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("<mem_size>:\t0x0000000000400000"),
        "{what}: {}",
        g.dump()
    );
    assert_confined(what, &g);
    assert!(
        g.stdout
            .contains("[Inferior 1 (Remote target) exited normally]"),
        "{what}: {}",
        g.dump()
    );
    assert_eq!(t.status, 0, "{what}: {}", t.dump());
    assert!(t.stdout.contains("Hello, World"), "{what}: {}", t.dump());
    assert!(
        t.stderr
            .contains("solo5-hvt: \tgdb --ex=\"target remote localhost:"),
        "{}",
        t.dump()
    );
    // Upstream's debug tender: the same stops; it ends the session with
    // an X packet (SIGKILL) instead of the guest's status.
    let Some(up) = upstream_tool("solo5-hvt-debug") else {
        return;
    };
    let (g, t) = debug_session(&up, &gdb, &kernel, &cmds[..7]);
    let what = "upstream, test_hello";
    assert!(
        g.stdout
            .contains("Breakpoint 1, 0x0000000000104000 in solo5_app_main ()"),
        "{what}: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("rip            0x104001 "),
        "{what}: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("<mem_size>:\t0x0000000000400000"),
        "{what}: {}",
        g.dump()
    );
    drop(t);
}

#[test]
fn gdb_debugs_an_sdk_guest_at_cpl3_through_the_trap_stub() {
    let (true, Some(gdb)) = (have_kvm(), gdb()) else {
        return;
    };
    let Some(kernel) = sdk("globals") else { return };
    let d64 = symbol(&kernel, "globals3D64");
    let x = format!("x/gx &{d64}");
    let watch = format!("watch *(long*)&{d64}");
    let cmds = [
        "break solo5_app_main",
        "continue",
        "bt",
        "info registers rip cs",
        "stepi",
        "info registers rip",
        x.as_str(),
        CONFINED,
        // kvm_pvm: no debug register fires at CPL3; a software watch
        // single-steps through the trap stub.
        "set can-use-hw-watchpoints 0",
        watch.as_str(),
        "continue",
        x.as_str(),
        "delete",
        "continue",
    ];
    let (g, t) = debug_session(&hvt(), &gdb, &kernel, &cmds);
    let what = "ours, SDK globals";
    assert!(
        g.stdout.contains("Breakpoint 1, ") && g.stdout.contains(" in solo5_app_main ()"),
        "{what}: {}",
        g.dump()
    );
    has_frames(what, &g, &["solo5_app_main", "solo5_guest::start::start"]);
    let rip = line_with(&g, "rip ").to_string();
    assert!(
        line_with(&g, "cs ").contains("0x23"),
        "{what}: CPL3: {}",
        g.dump()
    );
    let after: Vec<&str> = g.stdout.lines().filter(|l| l.starts_with("rip ")).collect();
    assert_eq!(after.len(), 2, "{what}: {}", g.dump());
    assert_ne!(after[1], rip, "{what}: stepi advances: {}", g.dump());
    assert!(
        g.stdout.contains(":\t0x0123456789abcdef"),
        "{what}: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("New value = 42"),
        "{what}: watch: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains(":\t0x000000000000002a"),
        "{what}: {}",
        g.dump()
    );
    assert_confined(what, &g);
    assert!(
        g.stdout
            .contains("[Inferior 1 (Remote target) exited normally]"),
        "{what}: {}",
        g.dump()
    );
    assert_eq!(t.status, 0, "{what}: {}", t.dump());
    assert!(t.stdout.contains("SUCCESS"), "{what}: {}", t.dump());
    // Upstream's debug tender on the same binary: its breakpoint at CPL3
    // reaches the guest's own IDT on kvm_pvm, and the guest aborts.
    let Some(up) = upstream_tool("solo5-hvt-debug") else {
        return;
    };
    let (g, t) = debug_session(&up, &gdb, &kernel, &cmds[..2]);
    if solo5_hvt_on_kvm_pvm() {
        assert!(
            !g.stdout.contains("Breakpoint 1, "),
            "upstream: {}",
            g.dump()
        );
        assert!(
            t.stdout.contains("Solo5: trap: type=#BP"),
            "upstream: {}",
            t.dump()
        );
    }
}

fn solo5_hvt_on_kvm_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

#[test]
fn gdb_stops_at_a_cpl3_fault_and_continuing_ends_the_guest_with_255() {
    let (true, Some(gdb)) = (have_kvm(), gdb()) else {
        return;
    };
    let Some(kernel) = sdk("zeropage") else {
        return;
    };
    let cmds = ["continue", "bt", "info registers cs", "continue"];
    let (g, t) = debug_session(&hvt(), &gdb, &kernel, &cmds);
    let what = "zeropage";
    assert!(
        g.stdout.contains("Program received signal SIGSEGV"),
        "{what}: {}",
        g.dump()
    );
    has_frames(what, &g, &["solo5_app_main", "solo5_guest::start::start"]);
    assert!(
        line_with(&g, "cs ").contains("0x23"),
        "{what}: {}",
        g.dump()
    );
    assert!(
        g.stdout.contains("exited with code 0377"),
        "{what}: {}",
        g.dump()
    );
    assert_eq!(t.status, 255, "{what}: {}", t.dump());
    assert!(
        t.stdout.contains("Solo5: trap: type=#PF"),
        "{what}: {}",
        t.dump()
    );
}

#[test]
fn print_policy_shows_the_gdb_rules_and_gdb_options_are_checked() {
    let (Some(f), true) = (fixtures(), have_kvm()) else {
        return;
    };
    let port = free_port();
    let o = run_cmd(
        Command::new(hvt())
            .arg("--print-policy")
            .arg("--gdb")
            .arg(format!("--gdb-port={port}"))
            .arg(f.join("hvt/test_hello.hvt")),
        LIMIT,
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    for want in [
        "# gdb remote protocol",
        "rt_sigreturn",
        "request == KVM_SET_GUEST_DEBUG)",
        "request == KVM_SET_REGS)",
        "request == KVM_GET_SREGS)",
        "request == KVM_GET_REGS)",
    ] {
        assert!(o.stdout.contains(want), "{want}: {}", o.dump());
    }
    assert!(!o.stdout.contains("KVM_SET_SREGS"), "{}", o.dump());
    assert!(!o.stdout.contains("openat"), "{}", o.dump());
    let bad = |args: &[&str], line: &str| {
        let o = run_cmd(
            Command::new(hvt())
                .args(args)
                .arg(f.join("hvt/test_hello.hvt")),
            LIMIT,
        );
        assert_eq!(o.status, 1, "{}", o.dump());
        assert_eq!(o.stderr, format!("solo5-hvt: {line}\n"), "{}", o.dump());
    };
    bad(
        &["--gdb", "--gdb-port=x"],
        "Malformed argument to --gdb-port",
    );
    bad(&["--gdb-port=1234"], "--gdb-port given without --gdb");
    bad(
        &["--gdb", "--gdb-listen=nowhere"],
        "--gdb-listen: invalid IP address 'nowhere'",
    );
}
