//! The SDK's own test unikernels built for hvt (`target/guests/hvt/NAME`)
//! under our `solo5-hvt` and under upstream's
//! (`../shared/upstream-solo5/bin/solo5-hvt`), with the expectations of
//! upstream's hvt binaries (README table): success, abort with the
//! guest's trap lines, status 1 from the tender.
//!
//! Every guest runs at `--mem=2`: the hvt SDK guest needs no more (its
//! page tables, guard and stack fit after the image in 2 MiB), where
//! upstream's own hvt binaries need 4.
//!
//! The hvt guest runs its code at CPL3 on any tender: upstream's enters it
//! at CPL0 and the SDK builds its own W^X page tables, GDT and IDT, then
//! drops to CPL3 (guest/src/platform/hvt_cpu.rs); ours sees its USR1 note
//! and enters it at CPL3 itself, owning those tables and reporting traps
//! (docs/hvt-user-mode.md). Either way `fpu` passes (also on kvm_pvm,
//! where upstream's CPL0 `test_fpu.hvt` cannot), and the W^X cases end in
//! a page fault with the user bit (4) in the error code and upstream's
//! trap lines. Tests skip with a message where /dev/kvm or the fixtures
//! are absent.

use solo5_e2e::hvt::{
    assert_out_of_memory, assert_success, assert_trapped, ours, run_at, spawn_serving,
    upstream_hvt, LIMIT,
};
use solo5_e2e::{guest, ping_stats, run_cmd, skip_unless_ping, Netns, Outcome, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The tenders to run under: ours, and upstream's where it is present and
/// runs here.
fn tenders() -> Vec<(&'static str, PathBuf)> {
    let Some(t) = ours() else {
        return Vec::new();
    };
    let mut v = vec![("ours", t)];
    v.extend(upstream_hvt().map(|up| ("upstream", up)));
    v
}

fn g(name: &str) -> PathBuf {
    guest("hvt", name)
}

/// `TENDER --mem=2 OPTS -- GUEST ARGS`.
fn run(t: &Path, opts: &[&str], name: &str, args: &[&str]) -> Outcome {
    run_at(t, 2, opts, &g(name), args)
}

#[test]
fn hello_quiet_output_globals_tls_fpu_time_succeed() {
    for (who, t) in tenders() {
        let o = run(&t, &[], "hello", &["Hello_Solo5"]);
        assert_success(who, &o);
        assert!(
            o.stdout.contains("Command line is: 'Hello_Solo5'"),
            "{who}: {}",
            o.dump()
        );
        assert!(
            o.stdout.contains("Solo5: Memory map: 2 MB addressable:"),
            "{who}: {}",
            o.dump()
        );
        let o = run(&t, &[], "quiet", &["--solo5:quiet"]);
        assert_eq!(o.status, 0, "{who}: {}", o.dump());
        assert!(!o.stdout.contains("Solo5:"), "{who}: {}", o.dump());
        let o = run(&t, &[], "output", &["Output_Solo5"]);
        assert_eq!(o.status, 0, "{who}: {}", o.dump());
        for name in ["globals", "tls", "fpu", "time"] {
            assert_success(&format!("{who}/{name}"), &run(&t, &[], name, &[]));
        }
    }
}

#[test]
fn faults_abort_through_the_guests_trap_handler() {
    for (who, t) in tenders() {
        // ec: 0x4 user read of a not-present page, 0x6 user write.
        let o = run(&t, &[], "exception", &[]);
        assert_trapped(who, &o, "#PF ec=0x6", Some("0x400000000"));
        let o = run(&t, &[], "zeropage", &[]);
        assert_trapped(who, &o, "#PF ec=0x4", Some("0x0"));
        let o = run(&t, &[], "notls", &[]);
        assert_trapped(who, &o, "#PF ec=0x4", Some("0x28"));
        // The trap frame is the cookie: HALT accepted it, status 255.
        let o = run(&t, &[], "ssp", &[]);
        assert_eq!(o.status, 255, "{who}: {}", o.dump());
        assert!(
            o.stdout
                .contains("1234567890123456\nSolo5: ABORT: Stack corruption detected\n"),
            "{who}: {}",
            o.dump()
        );
        assert!(!o.stdout.contains("FAILURE"), "{who}: {}", o.dump());
    }
}

/// W^X from the guest's own page tables, on either tender: ec 0x7 = user
/// write to a present read-only page, 0x15 = user fetch from a present
/// no-execute page.
#[test]
fn w_xor_x_holds_on_every_tender() {
    for (who, t) in tenders() {
        // wnox writes to .text, rnow to .rodata; xnow runs code written to
        // the heap, rnox runs .rodata.
        for (name, ec) in [
            ("wnox", "0x7"),
            ("rnow", "0x7"),
            ("xnow", "0x15"),
            ("rnox", "0x15"),
        ] {
            let o = run(&t, &[], name, &[]);
            assert_trapped(&format!("{who}/{name}"), &o, &format!("#PF ec={ec}"), None);
        }
    }
}

#[test]
fn stack_overflow_faults_on_the_guard_and_heap_is_bounded() {
    for (who, t) in tenders() {
        let o = run(&t, &[], "stack_overflow", &["200"]);
        assert_success(who, &o);
        // Endless recursion: a write fault below the stack (the guard),
        // before the stack reaches the heap's canary.
        let o = run(&t, &[], "stack_overflow", &[]);
        assert_trapped(who, &o, "#PF ec=0x6", None);
        let o = run(&t, &[], "heap_exhaust", &[]);
        assert_success(who, &o);
        assert!(o.stdout.contains("heap exhausted after "), "{}", o.dump());
        let o = run(&t, &[], "abort", &[]);
        assert_eq!(o.status, 255, "{who}: {}", o.dump());
        assert!(
            o.stdout.contains("Solo5: solo5_abort() called"),
            "{}",
            o.dump()
        );
    }
}

#[test]
fn too_little_memory_is_one_line_and_255() {
    // bigbss's 768 KiB .bss leaves no room for tables, guard and stack in
    // 2 MiB; with 4 MiB it runs.
    for (who, t) in tenders() {
        let o = run(&t, &[], "bigbss", &[]);
        assert_out_of_memory(who, &o);
        let o = run_cmd(Command::new(&t).arg("--mem=4").arg(g("bigbss")), LIMIT);
        assert_eq!(o.status, 0, "{who}: {}", o.dump());
    }
}

#[test]
fn blk_reads_and_writes_with_both_sector_sizes() {
    let tmp = TempDir::new("h7-hvt-blk");
    for (who, t) in tenders() {
        let img = tmp.file(&format!("{who}.img"), &vec![0u8; 4 << 20]);
        let dev = format!("--block:storage={}", img.display());
        assert_success(who, &run(&t, &[&dev], "blk", &[]));
        let o = run(&t, &[&dev, "--block-sector-size:storage=4096"], "blk", &[]);
        assert_success(&format!("{who}, 4096"), &o);
        // What the guest wrote is on the host file.
        let bytes = std::fs::read(&img).expect("read image");
        assert!(bytes.iter().any(|&b| b != 0), "{who}: image untouched");
    }
}

#[test]
fn mft_maxdevices_attaches_63_block_devices() {
    let Some(t) = ours() else { return };
    let tmp = TempDir::new("h7-hvt-mft");
    let mut opts = Vec::new();
    for i in 0..63 {
        let f = tmp.file(&format!("b{i}.img"), &[0u8; 4096]);
        opts.push(format!("--block:storage{i}={}", f.display()));
    }
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    assert_success("mft_maxdevices", &run(&t, &opts, "mft_maxdevices", &[]));
}

#[test]
fn net_answers_a_ping_flood() {
    if skip_unless_ping() {
        return;
    }
    for (who, t) in tenders() {
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1500);
        let r = spawn_serving(who, &ns, &t, &g("net"), &["limit"]);
        ns.resolve("10.0.0.2");
        let start = std::time::Instant::now();
        let p = ns
            .ping(&["-f", "-q", "-c", "100000", "-w", "140", "10.0.0.2"])
            .finish(Duration::from_secs(150));
        let took = start.elapsed();
        let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{who}: {}", p.dump()));
        assert!(s.transmitted >= 100_000, "{who}: {}", p.dump());
        assert!(s.received * 1000 >= 100_000 * 999, "{who}: {}", p.dump());
        let o = r.finish(Duration::from_secs(20));
        assert_success(who, &o);
        assert!(o.stdout.contains("Limit reached, exiting"), "{}", o.dump());
        eprintln!("{who}: hvt net: 100000 pings in {took:.2?}");
    }
}
