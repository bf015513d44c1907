//! solo5-hvt against upstream's own hvt test unikernels
//! (../shared/upstream-solo5/hvt, README table), side by side with
//! upstream's tender where their lines must match, plus what upstream
//! cannot do: W^X inside the guest, hostile guests stopped cleanly, and the
//! tender confined while the guest runs.
//!
//! Tests that need /dev/kvm skip with a message where it is absent; tests
//! that need the fixtures skip where ../shared/upstream-solo5 is absent.

use solo5_e2e::hvt::{fixtures, have_kvm, hvt, LIMIT};
use solo5_e2e::{is_root, run_cmd, Outcome, Running, TempDir};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Fixtures and KVM, or a reason printed and None.
fn setup() -> Option<PathBuf> {
    let f = fixtures()?;
    have_kvm().then_some(f)
}

/// kvm_pvm (docs/hvt.md, "kvm_pvm"): guest CPL0 code is emulated, `mulps` is
/// not.
fn on_kvm_pvm() -> bool {
    Path::new("/sys/module/kvm_pvm").exists()
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Outcome {
    run_cmd(Command::new(hvt()).args(args), LIMIT)
}

/// `solo5-hvt --mem=4096 ARGS` as upstream's `hvt_run`, the kernel given
/// as a name in hvt/.
fn hvt_run(f: &Path, kernel: &str, args: &[&str]) -> Outcome {
    let k = f.join("hvt").join(kernel);
    let mut a = vec!["--mem=4096".to_string(), k.display().to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    run(&a)
}

fn success(what: &str, o: &Outcome) {
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    assert!(o.stdout.contains("SUCCESS"), "{what}: {}", o.dump());
    assert!(o.stderr.is_empty(), "{what}: {}", o.dump());
}

fn abort(what: &str, o: &Outcome) {
    assert_eq!(o.status, 255, "{what}: {}", o.dump());
    assert!(o.stdout.contains("ABORT"), "{what}: {}", o.dump());
    assert!(o.stderr.is_empty(), "{what}: {}", o.dump());
}

/// One line on stderr, exactly `line`, nothing on stdout, exit 1.
fn refused(what: &str, o: &Outcome, line: &str) {
    assert_eq!(o.status, 1, "{what}: {}", o.dump());
    assert_eq!(o.stderr, format!("{line}\n"), "{what}: {}", o.dump());
}

#[test]
fn hello_quiet_output_globals_tls_time_succeed() {
    let Some(f) = setup() else { return };
    let o = hvt_run(&f, "test_hello.hvt", &["Hello_Solo5"]);
    success("hello", &o);
    assert!(
        o.stdout.contains("Command line is: 'Hello_Solo5'"),
        "{}",
        o.dump()
    );
    // At the default --mem as well: 512 MiB.
    let o = run(&[f.join("hvt/test_hello.hvt"), "Hello_Solo5".into()]);
    success("hello, default mem", &o);
    assert!(
        o.stdout.contains("Solo5: Memory map: 512 MB addressable"),
        "{}",
        o.dump()
    );

    let o = run(&[
        "--mem=4096".into(),
        "--".into(),
        f.join("hvt/test_quiet.hvt"),
        "--solo5:quiet".into(),
    ]);
    success("quiet", &o);
    assert!(!o.stdout.contains("Solo5:"), "{}", o.dump());

    let o = hvt_run(&f, "test_output.hvt", &["Output_Solo5"]);
    assert_eq!(o.status, 0, "output: {}", o.dump());

    for t in ["globals", "tls", "time"] {
        success(t, &hvt_run(&f, &format!("test_{t}.hvt"), &[]));
    }
}

#[test]
fn faulting_guests_abort_through_their_own_trap_handler() {
    let Some(f) = setup() else { return };
    // (case, the fault address the guest's handler reports)
    for (t, cr2) in [
        ("exception", "cr2=0x400000000"),
        ("zeropage", "cr2=0x8"),
        ("notls", "cr2=0x28"),
    ] {
        let o = hvt_run(&f, &format!("test_{t}.hvt"), &[]);
        abort(t, &o);
        assert!(
            o.stdout.contains("Solo5: trap: type=#PF"),
            "{t}: {}",
            o.dump()
        );
        assert!(o.stdout.contains(cr2), "{t}: {}", o.dump());
    }
    let o = hvt_run(&f, "test_ssp.hvt", &[]);
    abort("ssp", &o);
    assert!(
        o.stdout.contains("Solo5: ABORT: Stack corruption detected"),
        "{}",
        o.dump()
    );
    // dumpcore's guest without the debug tender: just its abort.
    let o = run(&[f.join("hvt/test_dumpcore.hvt")]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert!(
        o.stdout.contains("Solo5: solo5_abort() called"),
        "{}",
        o.dump()
    );
}

/// Upstream cannot stop these on Linux (its guest pages are all RWX; xnow
/// ends in an MMIO exit on kvm_pvm, the others print FAILURE). The W^X
/// page tables make each a guest page fault at the faulting access.
#[test]
fn w_xor_x_stops_xnow_rnow_rnox_wnox() {
    let Some(f) = setup() else { return };
    // (case, error code of the #PF: 0x3 = write to a present page, 0x11 =
    // fetch from a present no-execute page)
    for (t, ec) in [
        ("xnow", "ec=0x3"),
        ("rnow", "ec=0x3"),
        ("rnox", "ec=0x11"),
        ("wnox", "ec=0x11"),
    ] {
        let o = hvt_run(&f, &format!("test_{t}.hvt"), &[]);
        assert!(!o.stdout.contains("FAILURE"), "{t}: {}", o.dump());
        if o.status == 1 {
            // The other acceptable outcome (host-side protection first).
            assert!(
                o.stderr.contains("host/guest translation fault"),
                "{t}: {}",
                o.dump()
            );
            continue;
        }
        abort(t, &o);
        let line = format!("Solo5: trap: type=#PF {ec}");
        assert!(o.stdout.contains(&line), "{t}: {}", o.dump());
    }
    // Text that is not readable cannot be had with x86 page tables: xnor
    // runs to its FAILURE (docs say so).
    let o = hvt_run(&f, "test_xnor.hvt", &[]);
    assert_eq!(o.status, 1, "{}", o.dump());
    assert!(o.stdout.contains("FAILURE"), "{}", o.dump());
}

#[test]
fn fpu_passes_and_at_cpl0_on_kvm_pvm_ends_with_one_line() {
    let Some(f) = setup() else { return };
    // By default a CPL0 kernel on kvm_pvm is entered at CPL3, where SSE
    // runs natively: upstream's own binary passes.
    let o = hvt_run(&f, "test_fpu.hvt", &[]);
    success("fpu", &o);
    let k = f.join("hvt/test_fpu.hvt").display().to_string();
    let o = run(&["--cpl3=off".to_string(), "--mem=4096".into(), k.clone()]);
    if on_kvm_pvm() {
        // At CPL0, as upstream's tender runs it: KVM's emulator has no SSE.
        refused(
            "fpu on kvm_pvm at CPL0",
            &o,
            "solo5-hvt: KVM: internal error exit: suberror=0x1",
        );
        assert!(!o.stdout.contains("SUCCESS"), "{}", o.dump());
        if let Some(up) = upstream(&f, &[Path::new(&k)]) {
            assert_eq!(up.status, 1, "upstream: {}", up.dump());
        }
    } else {
        success("fpu at CPL0", &o);
    }
    let o = run(&["--cpl3=on".to_string(), "--mem=4096".into(), k]);
    success("fpu, --cpl3=on", &o);
}

/// Upstream's tender on the same arguments, when it can run here (it needs
/// libseccomp2); its stderr with our program name.
fn upstream(f: &Path, args: &[&Path]) -> Option<Outcome> {
    let o = run_cmd(Command::new(f.join("bin/solo5-hvt")).args(args), LIMIT);
    if o.status == 127 || o.stderr.contains("error while loading shared libraries") {
        eprintln!("note: upstream's solo5-hvt cannot run here: {}", o.stderr);
        return None;
    }
    Some(o)
}

/// Refused before any device or KVM work, with upstream's exact line.
#[test]
fn refused_executables_get_upstream_lines() {
    let Some(f) = fixtures() else { return };
    let tmp = TempDir::new("hvt-abi");
    // test_hello.hvt asking for ABI version 3.
    let mut bytes = std::fs::read(f.join("hvt/test_hello.hvt")).unwrap();
    let at = find(&bytes, b"ABI1Solo5\0\0\0").expect("ABI1 note") + 12;
    assert_eq!(&bytes[at..at + 8], &[1, 0, 0, 0, 2, 0, 0, 0]);
    bytes[at + 4] = 3;
    let v3 = tmp.file("v3.hvt", &bytes);
    let spt = f.join("spt/test_hello.spt");
    let buggy = f.join("hvt/buggyelf.hvt");
    let ls = PathBuf::from("/bin/ls");
    let missing = tmp.path.join("missing.hvt");
    let cases: [(&Path, String); 5] = [
        (
            &spt,
            format!(
                "{}: Executable is not for the solo5-hvt target",
                spt.display()
            ),
        ),
        (
            &v3,
            format!(
                "{}: Executable requests unsupported ABI version 3",
                v3.display()
            ),
        ),
        (
            &buggy,
            format!(
                "{}: INV_EXE: phdr[8] note does not fall within valid size \
                 (18446744073709551613 <= 0 || 18446744073709551613 > 1)",
                buggy.display()
            ),
        ),
        (
            &ls,
            "/bin/ls: invalid executable: invalid or unsupported executable \
             (elf header invalid while loading note)"
                .to_string(),
        ),
        (
            &missing,
            format!(
                "{}: Could not open: No such file or directory",
                missing.display()
            ),
        ),
    ];
    for (k, line) in &cases {
        let line = format!("solo5-hvt: {line}");
        let o = run(&[k]);
        refused(&k.display().to_string(), &o, &line);
        if let Some(u) = upstream(&f, &[k]) {
            assert_eq!(u.status, 1, "upstream {}", u.dump());
            assert_eq!(
                u.stderr,
                o.stderr,
                "same line as upstream for {}",
                k.display()
            );
        }
    }
    // buggyelf as upstream's suite checks it, with --mem=4096.
    let o = hvt_run(&f, "buggyelf.hvt", &[]);
    assert_eq!(o.status, 1);
    assert!(
        o.stderr.contains("note does not fall within valid size"),
        "{}",
        o.dump()
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn bad_input_one_line_exit_1() {
    let Some(f) = fixtures() else { return };
    let hello = f.join("hvt/test_hello.hvt");
    let blk = f.join("hvt/test_blk.hvt");
    let h = hello.display().to_string();
    let b = blk.display().to_string();
    let tmp = TempDir::new("hvt-bad");
    let nodisk = tmp.path.join("nodisk").display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![], "solo5-hvt: missing KERNEL operand (try --help)"),
        (
            vec!["--bogus".into(), h.clone()],
            "solo5-hvt: unknown option '--bogus' (try --help)",
        ),
        (
            vec!["--x-exec-heap".into(), h.clone()],
            "solo5-hvt: unknown option '--x-exec-heap' (try --help)",
        ),
        (
            vec!["--mem=8192".into(), h.clone()],
            "solo5-hvt: guest memory size 8589934592 bytes exceeds the max size 4294967296 bytes",
        ),
        (
            vec![h.clone(), "x".repeat(8192)],
            "solo5-hvt: Guest command line too long (max=8191 characters)",
        ),
        (
            vec!["--block:storage=/dev/null".into(), h.clone()],
            "solo5-hvt: --block:storage: the unikernel declares no device named 'storage'",
        ),
        (
            vec![b.clone()],
            "solo5-hvt: Device 'storage' of type BLOCK_BASIC declared but not attached.\n\
             solo5-hvt: All declared devices must be attached. See --help for syntax.",
        ),
        (
            vec![format!("--block:storage={nodisk}"), b.clone()],
            &*Box::leak(
                format!("solo5-hvt: block 'storage': could not open {nodisk}: No such file or directory")
                    .into_boxed_str(),
            ),
        ),
        (
            vec![tmp.path.display().to_string()],
            &*Box::leak(
                format!("solo5-hvt: {}: Could not open: not a regular file", tmp.path.display())
                    .into_boxed_str(),
            ),
        ),
    ];
    for (args, line) in &cases {
        let o = run(args);
        refused(&format!("{args:?}"), &o, line);
        assert!(o.stdout.is_empty(), "{}", o.dump());
    }
}

#[test]
fn memory_sizes_round_and_cap_as_upstream() {
    let Some(f) = setup() else { return };
    let hello = f.join("hvt/test_hello.hvt").display().to_string();
    // Rounded down to 4 GiB exactly, runs.
    let o = run(&["--mem=4097", &hello]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-hvt: adjusting memory to 4294967296 bytes\n"
    );
    assert!(
        o.stdout.contains("Memory map: 4096 MB addressable"),
        "{}",
        o.dump()
    );
    // 3 MiB becomes 2, too small for the guest, which says so.
    let o = run(&["--mem=3", &hello]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert_eq!(o.stderr, "solo5-hvt: adjusting memory to 2097152 bytes\n");
    assert!(o.stdout.contains("Not enough memory"), "{}", o.dump());
    // 4 MiB runs every upstream test binary.
    let o = run(&["--mem=4", &hello]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(
        o.stdout.contains("Memory map: 4 MB addressable"),
        "{}",
        o.dump()
    );
    // The longest command line that fits.
    let arg = "y".repeat(8191);
    let o = run(&[&hello, &arg]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stdout.contains(&format!("Command line is: '{arg}'")));
}

/// Option errors come before KVM errors; without /dev/kvm, or without the
/// right to open it, one line that says so.
#[test]
fn no_kvm_one_line_after_option_errors() {
    let Some(f) = fixtures() else { return };
    if !is_root() {
        solo5_e2e::skip!("SKIP: needs root to hide /dev/kvm in a mount namespace");
        return;
    }
    let hello = f.join("hvt/test_hello.hvt");
    let in_ns = |args: &str| {
        let script = format!(
            "mount -t tmpfs none /dev && exec {} {args}",
            hvt().display()
        );
        run_cmd(
            Command::new("unshare").args(["-m", "sh", "-c", &script]),
            LIMIT,
        )
    };
    let o = in_ns(&hello.display().to_string());
    refused(
        "no /dev/kvm",
        &o,
        "solo5-hvt: Could not open: /dev/kvm: No such file or directory",
    );
    let o = in_ns(&format!("--bogus {}", hello.display()));
    refused(
        "option first",
        &o,
        "solo5-hvt: unknown option '--bogus' (try --help)",
    );
    let o = in_ns(&format!("--mem=8192 {}", hello.display()));
    assert!(o.stderr.contains("exceeds the max size"), "{}", o.dump());
    if !have_kvm() {
        return;
    }
    let o = run_cmd(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(hvt())
            .arg(&hello),
        LIMIT,
    );
    refused(
        "nobody",
        &o,
        "solo5-hvt: Could not open: /dev/kvm: Permission denied",
    );
}

/// test_hello.hvt with `code` at its entry point: a guest that misbehaves
/// before it prints anything.
fn hostile(f: &Path, tmp: &TempDir, name: &str, code: &[u8]) -> PathBuf {
    let mut b = std::fs::read(f.join("hvt/test_hello.hvt")).unwrap();
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let entry = u64_at(&b, 24);
    let phoff = u64_at(&b, 32) as usize;
    let phnum = u16::from_le_bytes([b[56], b[57]]) as usize;
    let off = (0..phnum)
        .map(|i| phoff + i * 56)
        .find_map(|p| {
            let (ty, offset, vaddr, filesz) = (
                b[p],
                u64_at(&b, p + 8),
                u64_at(&b, p + 16),
                u64_at(&b, p + 32),
            );
            (ty == 1 && vaddr <= entry && entry + 0x80 <= vaddr + filesz)
                .then(|| (offset + entry - vaddr) as usize)
        })
        .expect("entry inside a loaded segment");
    b[off..off + code.len()].copy_from_slice(code);
    tmp.file(name, &b)
}

/// `mov eax, gpa; mov edx, port; out dx, eax; hlt`, then `data` at entry +
/// 0x40 (in text, so the guest cannot change it).
fn outl(gpa: u32, port: u32, data: &[u8]) -> Vec<u8> {
    let mut c = vec![0xb8];
    c.extend_from_slice(&gpa.to_le_bytes());
    c.push(0xba);
    c.extend_from_slice(&port.to_le_bytes());
    c.extend_from_slice(&[0xef, 0xf4]);
    c.resize(0x40, 0x90);
    c.extend_from_slice(data);
    c
}

fn words(w: &[u64]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn hostile_guests_get_a_clean_error_never_a_crash() {
    let Some(f) = setup() else { return };
    let tmp = TempDir::new("hvt-hostile");
    const TOP: u32 = 0x40_0000; // --mem=4
    let entry = 0x100020u32; // test_hello's e_entry
    let inside = entry + 0x40; // the data after the code
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "puts struct outside memory",
            outl(TOP, 0x502, &[]),
            format!("Invalid guest access: gpa={TOP:#x}, sz=16"),
        ),
        (
            "puts struct straddling the top",
            outl(TOP - 8, 0x502, &[]),
            format!("Invalid guest access: gpa={:#x}, sz=16", TOP - 8),
        ),
        (
            "puts struct at 4 GiB - 1",
            outl(u32::MAX, 0x502, &[]),
            "Invalid guest access: gpa=0xffffffff, sz=16".to_string(),
        ),
        (
            "puts buffer straddling the top",
            outl(inside, 0x502, &words(&[u64::from(TOP) - 16, 256])),
            format!("Invalid guest access: gpa={:#x}, sz=256", TOP - 16),
        ),
        (
            "puts length wrapping the address space",
            outl(inside, 0x502, &words(&[0x100000, u64::MAX - 0xff])),
            format!("Invalid guest access: gpa=0x100000, sz={}", u64::MAX - 0xff),
        ),
        (
            "halt cookie over the top",
            outl(inside, 0x508, &words(&[u64::from(TOP) - 256, 0])),
            format!("Invalid guest access: gpa={:#x}, sz=512", TOP - 256),
        ),
        (
            "walltime result into text",
            outl(inside, 0x501, &[]),
            format!("Invalid guest access: gpa={inside:#x}, sz=8"),
        ),
        (
            "poll result into text",
            outl(inside, 0x503, &words(&[0, 0, 0])),
            format!("Invalid guest access: gpa={inside:#x}, sz=24"),
        ),
        (
            "port past the hypercalls",
            outl(inside, 0x509, &[]),
            "Invalid guest port access: port=0x509".to_string(),
        ),
        (
            "net ring kick without a ring",
            outl(0, 0x600, &[]),
            "Invalid guest port access: port=0x600".to_string(),
        ),
        (
            "one-byte out to a hypercall port",
            [0xb0, 0x00, 0xba, 0x02, 0x05, 0x00, 0x00, 0xee, 0xf4].to_vec(),
            "Invalid guest port access: port=0x502".to_string(),
        ),
        (
            "hypercall 0",
            outl(inside, 0x500, &[]),
            "Invalid guest hypercall: num=0".to_string(),
        ),
        (
            "block write without a block device",
            outl(inside, 0x504, &[]),
            "Invalid guest hypercall: num=4".to_string(),
        ),
        (
            "net read without a net device",
            outl(inside, 0x507, &[]),
            "Invalid guest hypercall: num=7".to_string(),
        ),
    ];
    for (i, (what, code, line)) in cases.iter().enumerate() {
        let k = hostile(&f, &tmp, &format!("h{i}.hvt"), code);
        let o = run(&["--mem=4".as_ref(), k.as_os_str()]);
        refused(what, &o, &format!("solo5-hvt: {line}"));
        assert!(o.stdout.is_empty(), "{what}: {}", o.dump());
    }
    // A valid PUTS from a hostile guest still works, then `hlt` is an
    // exit the tender does not handle.
    let k = hostile(
        &f,
        &tmp,
        "puts.hvt",
        &outl(inside + 16, 0x502, &{
            let mut d = words(&[u64::from(inside), 3]);
            d.splice(0..0, b"hi\n".iter().copied().chain([0; 13]));
            d
        }),
    );
    let o = run(&["--mem=4".as_ref(), k.as_os_str()]);
    assert_eq!(o.status, 1, "{}", o.dump());
    assert_eq!(o.stdout, "hi\n", "{}", o.dump());
    assert!(
        o.stderr
            .starts_with("solo5-hvt: KVM: unhandled exit: exit_reason=0x5, rip=0x"),
        "{}",
        o.dump()
    );
}

/// Run test_time (it sleeps about a second) and look at the tender from
/// the outside while the guest runs.
#[test]
fn running_guest_shows_seccomp_and_no_capabilities_on_every_thread() {
    let Some(f) = setup() else { return };
    let r = Running::spawn(Command::new(hvt()).arg(f.join("hvt/test_time.hvt")));
    let pid = r.pid();
    let start = Instant::now();
    let mut statuses = Vec::new();
    while start.elapsed() < Duration::from_secs(20) {
        statuses = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if !statuses.is_empty() && statuses.iter().all(|s| s.contains("Seccomp:\t2")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!statuses.is_empty(), "no threads seen");
    for s in &statuses {
        assert!(s.contains("Seccomp:\t2"), "{s}");
        assert!(s.contains("NoNewPrivs:\t1"), "{s}");
        for cap in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert!(
                s.contains(&format!("{cap}:\t0000000000000000")),
                "{cap}: {s}"
            );
        }
        if is_root() {
            assert!(s.contains("CapBnd:\t0000000000000000"), "{s}");
        }
    }
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    for l in maps.lines() {
        let perms = l.split_whitespace().nth(1).unwrap_or("");
        assert!(!(perms.contains('w') && perms.contains('x')), "W+X: {l}");
    }
    let o = r.finish(LIMIT);
    success("time", &o);
}

#[test]
fn sigterm_stops_the_guest_with_one_line() {
    let Some(f) = setup() else { return };
    let mut r = Running::spawn(Command::new(hvt()).arg(f.join("hvt/test_time.hvt")));
    assert!(r.wait_for("Solo5 standalone test_time", Duration::from_secs(20)));
    // SAFETY: signals our own child.
    unsafe { libc::kill(r.pid() as i32, libc::SIGTERM) };
    let o = r.finish(LIMIT);
    // Upstream's line; the status is 128 + 15, as solo5-spt's.
    assert_eq!(o.status, 143, "SIGTERM: {}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-hvt: Exiting on signal 15\n",
        "{}",
        o.dump()
    );
}

/// Console output into a pipe nobody reads: one line, exit 1, not a
/// death by SIGPIPE.
#[test]
fn closed_stdout_is_one_line_not_a_signal() {
    let Some(f) = setup() else { return };
    let mut fds = [0; 2];
    // SAFETY: fds is a live array of two ints for the kernel to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just returned to us and are owned by
    // nothing else; the read end is closed at once.
    let (r, w) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(r);
    let child = Command::new(hvt())
        .arg(f.join("hvt/test_hello.hvt"))
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = solo5_e2e::wait(child, LIMIT);
    refused(
        "closed stdout",
        &o,
        "solo5-hvt: PUTS: could not write the guest's output: Broken pipe",
    );
}

#[test]
fn print_policy_lists_kvm_run_on_the_vcpu_only() {
    let Some(f) = setup() else { return };
    let o = run(&[
        "--print-policy".as_ref(),
        f.join("hvt/test_hello.hvt").as_os_str(),
    ]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o
        .stdout
        .starts_with("# seccomp policy of solo5-hvt, hvt ABI 2, x86_64\n"));
    let ioctls: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("ioctl"))
        .collect();
    assert_eq!(ioctls.len(), 1, "{}", o.stdout);
    assert!(ioctls[0].contains("request == KVM_RUN"), "{}", o.stdout);
    assert!(!o.stdout.contains("SUCCESS"), "the guest did not run");
}
