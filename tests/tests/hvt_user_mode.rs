//! Our SDK's hvt guests entered at CPL3 by our solo5-hvt, on the tender's
//! page tables, descriptor tables and trap stub (docs/hvt-user-mode.md),
//! and the same binaries on upstream's tender, which ignores the user-mode
//! note and enters them at CPL0.
//!
//! Proof of the path taken: the SDK records the CPL it was entered at
//! (the low bits of CS in `_start`, before anything else) and its banner
//! says `Solo5: hvt: entered at CPL3 ...` or `... at CPL0 ...`.
//!
//! Tests skip with a message where /dev/kvm, upstream's binaries or ping
//! are absent.

use solo5_e2e::hvt::{
    assert_out_of_memory, assert_success, assert_trapped, ours, run_at, spawn_serving,
    upstream_hvt, upstream_tool, LIMIT,
};
use solo5_e2e::{guest, ping_stats, run_cmd, skip_unless_ping, Netns, Outcome, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CPL3: &str =
    "\nSolo5: hvt: entered at CPL3 (tender-owned page tables, descriptor tables, traps)\n";
const CPL0: &str =
    "\nSolo5: hvt: entered at CPL0 (own page tables, descriptor tables, traps), running at CPL3\n";

fn g(name: &str) -> PathBuf {
    guest("hvt", name)
}

fn run(t: &Path, opts: &[&str], name: &str, args: &[&str]) -> Outcome {
    run_at(t, 2, opts, &g(name), args)
}

/// Entered at CPL3, and the tender said nothing on standard error.
fn at_cpl3(what: &str, o: &Outcome) {
    assert!(o.stdout.contains(CPL3), "{what}: not at CPL3: {}", o.dump());
    assert!(!o.stderr.contains("solo5-hvt:"), "{what}: {}", o.dump());
}

#[test]
fn succeeding_guests_run_at_cpl3_fpu_included() {
    let Some(t) = ours() else { return };
    let o = run(&t, &[], "hello", &["Hello_Solo5"]);
    assert_success("hello", &o);
    at_cpl3("hello", &o);
    assert!(o.stdout.contains("Command line is: 'Hello_Solo5'"));
    for name in ["globals", "tls", "fpu", "time", "heap_exhaust"] {
        let o = run(&t, &[], name, &[]);
        assert_success(name, &o);
        at_cpl3(name, &o);
    }
    let o = run(&t, &[], "stack_overflow", &["200"]);
    assert_success("stack_overflow 200", &o);
    at_cpl3("stack_overflow 200", &o);
    let o = run(&t, &[], "output", &["Output_Solo5"]);
    assert_eq!(o.status, 0, "{}", o.dump());
    at_cpl3("output", &o);
    // quiet prints no banner: only its status and silence.
    let o = run(&t, &[], "quiet", &["--solo5:quiet"]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(!o.stdout.contains("Solo5:"), "{}", o.dump());
    // abort: the guest's own abort line and 255.
    let o = run(&t, &[], "abort", &[]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert!(o.stdout.contains("Solo5: solo5_abort() called"));
    at_cpl3("abort", &o);
    // ssp: the guest's stack protector, 255.
    let o = run(&t, &[], "ssp", &[]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert!(o
        .stdout
        .contains("1234567890123456\nSolo5: ABORT: Stack corruption detected\n"));
    at_cpl3("ssp", &o);
}

#[test]
fn faults_at_cpl3_are_reported_by_the_tender() {
    let Some(t) = ours() else { return };
    // ec 0x4: user read, not present; 0x6: user write, not present; 0x7:
    // user write, read-only; 0x15: user fetch, no-execute.
    let cases: &[(&str, &[&str], &str, Option<&str>)] = &[
        ("exception", &[], "#PF ec=0x6", Some("0x400000000")),
        ("zeropage", &[], "#PF ec=0x4", Some("0x0")),
        ("notls", &[], "#PF ec=0x4", Some("0x28")),
        ("wnox", &[], "#PF ec=0x7", None),
        ("rnow", &[], "#PF ec=0x7", None),
        ("xnow", &[], "#PF ec=0x15", None),
        ("rnox", &[], "#PF ec=0x15", None),
        // Endless recursion: a write on the guard the tender left out of
        // the page tables (the guest's stack note).
        ("stack_overflow", &[], "#PF ec=0x6", None),
    ];
    for &(name, args, ty_ec, cr2) in cases {
        let o = run(&t, &[], name, args);
        assert_trapped(name, &o, ty_ec, cr2);
        at_cpl3(name, &o);
    }
}

#[test]
fn too_little_memory_at_cpl3() {
    let Some(t) = ours() else { return };
    let o = run(&t, &[], "bigbss", &[]);
    assert_out_of_memory("bigbss", &o);
    at_cpl3("bigbss", &o);
    let o = run_at(&t, 4, &[], &g("bigbss"), &[]);
    assert_eq!(o.status, 0, "{}", o.dump());
    at_cpl3("bigbss --mem=4", &o);
}

#[test]
fn block_devices_at_cpl3() {
    let Some(t) = ours() else { return };
    let tmp = TempDir::new("h12-user-blk");
    let img = tmp.file("disk.img", &vec![0u8; 4 << 20]);
    let dev = format!("--block:storage={}", img.display());
    for opts in [
        vec![dev.as_str()],
        vec![&dev, "--block-sector-size:storage=4096"],
    ] {
        let o = run(&t, &opts, "blk", &[]);
        assert_success("blk", &o);
        at_cpl3("blk", &o);
    }
    let mut opts = Vec::new();
    for i in 0..63 {
        let f = tmp.file(&format!("b{i}.img"), &[0u8; 4096]);
        opts.push(format!("--block:storage{i}={}", f.display()));
    }
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let o = run(&t, &opts, "mft_maxdevices", &[]);
    assert_success("mft_maxdevices", &o);
    at_cpl3("mft_maxdevices", &o);
}

/// (operation, trap on our tender at CPL3, cr2).
const PRIVOPS: &[(&str, &str, Option<&str>)] = &[
    ("lgdt", "#GP ec=0x0", None),
    ("lidt", "#GP ec=0x0", None),
    ("ltr", "#GP ec=0x0", None),
    ("sgdt", "#GP ec=0x0", None),
    ("mov-cr3", "#GP ec=0x0", None),
    ("read-cr0", "#GP ec=0x0", None),
    ("wrmsr", "#GP ec=0x0", None),
    ("rdmsr", "#GP ec=0x0", None),
    ("hlt", "#GP ec=0x0", None),
    ("cli", "#GP ec=0x0", None),
    ("sti", "#GP ec=0x0", None),
    ("out", "#GP ec=0x0", None),
    ("in", "#GP ec=0x0", None),
    ("out-trap", "#GP ec=0x0", None),
    // GDT, IDT, stub: present but supervisor-only; page tables: absent.
    ("read-gdt", "#PF ec=0x5", Some("0x1000")),
    ("write-gdt", "#PF ec=0x7", Some("0x1000")),
    ("read-pt", "#PF ec=0x4", Some("0x2000")),
    ("write-pt", "#PF ec=0x6", Some("0x2000")),
    ("read-idt", "#PF ec=0x5", Some("0xf0000")),
    ("write-stub", "#PF ec=0x7", Some("0xf4000")),
    ("write-text", "#PF ec=0x7", None),
    ("exec-data", "#PF ec=0x15", None),
    ("ud2", "#UD ec=0x0", None),
    ("int3", "#BP ec=0x0", None),
    ("int1", "#DB ec=0x0", None),
    ("div0", "#DE ec=0x0", None),
];

#[test]
fn privileged_operations_trap_and_the_tender_reports_them() {
    let Some(t) = ours() else { return };
    for &(op, ty_ec, cr2) in PRIVOPS {
        let o = run(&t, &[], "privop", &[op]);
        assert_trapped(op, &o, ty_ec, cr2);
        at_cpl3(op, &o);
        assert!(
            o.stdout.contains(&format!("\nprivop: {op}\n")),
            "{}",
            o.dump()
        );
        assert!(o.stderr.is_empty(), "{op}: {}", o.dump());
    }
    // The guest really runs the operation it is given.
    let o = run(&t, &[], "privop", &["nothing"]);
    assert_eq!(o.status, 1, "{}", o.dump());
    assert!(o.stdout.contains("FAILURE: unknown operation 'nothing'"));
}

#[test]
fn upstreams_tender_enters_the_same_binaries_at_cpl0() {
    let Some(up) = upstream_hvt() else { return };
    let o = run(&up, &[], "hello", &["Hello_Solo5"]);
    assert_success("hello", &o);
    assert!(o.stdout.contains(CPL0), "{}", o.dump());
    let o = run(&up, &[], "fpu", &[]);
    assert_success("fpu", &o);
    assert!(o.stdout.contains(CPL0), "{}", o.dump());
    // The privileged operations trap there too, through the guest's own
    // handler. Where the guest's CPL0 set-up differs: no UMIP (sgdt
    // passes), 0x1000 and 0x2000 are not mapped at all (ec 0x4/0x6),
    // 0xf0000 is read-only boot memory (read-idt passes).
    for &(op, ty_ec, cr2) in PRIVOPS {
        let o = run(&up, &[], "privop", &[op]);
        match op {
            "sgdt" | "read-idt" => {
                assert_eq!(o.status, 1, "{op}: {}", o.dump());
                assert!(o.stdout.contains(&format!("FAILURE: {op} did not trap")));
            }
            "read-gdt" => assert_trapped(op, &o, "#PF ec=0x4", cr2),
            "write-gdt" => assert_trapped(op, &o, "#PF ec=0x6", cr2),
            _ => assert_trapped(op, &o, ty_ec, cr2),
        }
        assert!(o.stdout.contains(CPL0), "{op}: {}", o.dump());
    }
}

/// A copy of SDK guest `name` without its user-mode note.
fn without_note(tmp: &TempDir, name: &str) -> PathBuf {
    solo5_e2e::hvt::without_user_note(tmp, &g(name))
}

#[test]
fn the_note_changes_nothing_for_upstreams_tools() {
    let tmp = TempDir::new("h12-user-note");
    let plain = without_note(&tmp, "hello");
    if let Some(elftool) = upstream_tool("solo5-elftool") {
        for q in ["query-abi", "query-manifest"] {
            let a = run_cmd(Command::new(&elftool).arg(q).arg(g("hello")), LIMIT);
            let b = run_cmd(Command::new(&elftool).arg(q).arg(&plain), LIMIT);
            assert_eq!(a.status, 0, "{q}: {}", a.dump());
            assert_eq!(
                (a.status, &a.stdout, &a.stderr),
                (b.status, &b.stdout, &b.stderr)
            );
            // Ours prints exactly what upstream's does.
            let o = run_cmd(
                Command::new(solo5_e2e::bin("solo5-elftool"))
                    .arg(q)
                    .arg(g("hello")),
                LIMIT,
            );
            assert_eq!((o.status, &o.stdout), (0, &a.stdout), "{q}: {}", o.dump());
        }
        let a = run_cmd(
            Command::new(&elftool).arg("query-abi").arg(g("hello")),
            LIMIT,
        );
        assert!(a.stdout.contains("\"target\": \"hvt\""), "{}", a.dump());
    }
    let Some(up) = upstream_hvt() else { return };
    // Same output, byte for byte, with and without the note.
    for (name, args) in [("hello", &["Hello_Solo5"][..]), ("exception", &[][..])] {
        let plain = without_note(&tmp, name);
        let a = run(&up, &[], name, args);
        let b = run_at(&up, 2, &[], &plain, args);
        assert_eq!((a.status, &a.stdout), (b.status, &b.stdout), "{name}");
        assert!(a.stdout.contains(CPL0), "{}", a.dump());
    }
    // Without the note, our tender enters it at CPL0 too when asked to
    // (`--cpl3=off`), and on kvm_pvm by default at CPL3, where the SDK
    // takes the tender's tables as with the note.
    let Some(t) = ours() else { return };
    let o = run_at(&t, 2, &["--cpl3=off"], &plain, &["Hello_Solo5"]);
    assert_success("hello without the note, --cpl3=off", &o);
    assert!(o.stdout.contains(CPL0), "{}", o.dump());
    let o = run_at(&t, 2, &[], &plain, &["Hello_Solo5"]);
    assert_success("hello without the note", &o);
    let want = if Path::new("/sys/module/kvm_pvm").exists() {
        CPL3
    } else {
        CPL0
    };
    assert!(o.stdout.contains(want), "{}", o.dump());
}

#[test]
fn net_answers_pings_at_cpl3() {
    if skip_unless_ping() {
        return;
    }
    let Some(t) = ours() else { return };
    let ns = Netns::with_prefix("h12u");
    ns.tap("tap0", "10.0.0.1/24", 1500);
    let r = spawn_serving("net", &ns, &t, &g("net"), &["limit"]);
    ns.resolve("10.0.0.2");
    let p = ns
        .ping(&["-f", "-q", "-c", "100000", "-w", "140", "10.0.0.2"])
        .finish(Duration::from_secs(150));
    let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{}", p.dump()));
    assert!(s.transmitted >= 100_000, "{}", p.dump());
    assert!(s.received * 1000 >= 100_000 * 999, "{}", p.dump());
    let o = r.finish(Duration::from_secs(20));
    assert_success("net", &o);
    at_cpl3("net", &o);

    // net_mtu: a maximum-size echo request at MTU 9000 goes through.
    let ns = Netns::with_prefix("h12u");
    ns.tap("tap0", "10.0.0.1/24", 9000);
    let r = spawn_serving("net_mtu", &ns, &t, &g("net_mtu"), &[]);
    let p = ns
        .ping(&["-c", "1", "-W", "5", "-M", "do", "-s", "8972", "10.0.0.2"])
        .finish(Duration::from_secs(15));
    assert!(
        p.stdout.contains("8980 bytes from 10.0.0.2"),
        "{}",
        p.dump()
    );
    let o = r.finish(Duration::from_secs(10));
    assert_success("net_mtu", &o);
    at_cpl3("net_mtu", &o);
    assert!(o.stdout.contains("\nMTU is 9000\n"), "{}", o.dump());
    assert!(
        o.stdout
            .contains("\nAnswered a maximum-size echo request (9014 bytes)\n"),
        "{}",
        o.dump()
    );
}
