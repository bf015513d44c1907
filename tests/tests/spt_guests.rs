//! Every test unikernel of the core issue, under both spt ABIs: exit status
//! and output as a user sees them. Every guest runs with `--mem=2`,
//! upstream's memory floor, where heap, guard and stack share what the
//! image leaves.

use solo5_e2e::{guest, spt_run, Outcome, FLAVORS};
use std::ffi::OsString;

/// Guest memory for every run: upstream's test suite runs at 2 MiB.
const MEM: &str = "--mem=2";

/// `solo5-spt --mem=2 GUEST ARGS`.
fn run(flavor: &str, name: &str, args: &[&str]) -> Outcome {
    run_mem(MEM, flavor, name, args)
}

/// `solo5-spt MEM GUEST ARGS`.
fn run_mem(mem: &str, flavor: &str, name: &str, args: &[&str]) -> Outcome {
    let mut v: Vec<OsString> = vec![mem.into(), guest(flavor, name).into()];
    v.extend(args.iter().map(Into::into));
    spt_run(&v)
}

fn expect_success(flavor: &str, name: &str, args: &[&str]) -> Outcome {
    let o = run(flavor, name, args);
    assert_eq!(o.status, 0, "{flavor}/{name}: {}", o.dump());
    assert!(
        o.stdout.contains("SUCCESS"),
        "{flavor}/{name}: {}",
        o.dump()
    );
    o
}

fn expect_status(flavor: &str, name: &str, status: i32) {
    let o = run(flavor, name, &[]);
    assert_eq!(o.status, status, "{flavor}/{name}: {}", o.dump());
    assert!(
        !o.stdout.contains("SUCCESS"),
        "{flavor}/{name}: {}",
        o.dump()
    );
}

#[test]
fn hello_prints_its_arguments() {
    for f in FLAVORS {
        let o = expect_success(f, "hello", &["a", "b"]);
        assert!(o.stdout.contains("Hello, World"), "{}", o.dump());
        assert!(o.stdout.contains("Command line is: 'a b'"), "{}", o.dump());
        // The banner and exit line of the bindings, at the default level.
        assert!(
            o.stdout.contains("Solo5: Memory map: 2 MB addressable:"),
            "{}",
            o.dump()
        );
        assert!(
            o.stdout.contains("Solo5: solo5_exit(0) called"),
            "{}",
            o.dump()
        );
        assert!(o.stderr.is_empty(), "{}", o.dump());
    }
}

#[test]
fn solo5_options_are_not_passed_to_the_app() {
    for f in FLAVORS {
        let o = expect_success(f, "hello", &["--solo5:debug", "x"]);
        assert!(o.stdout.contains("Command line is: 'x'"), "{}", o.dump());
    }
}

#[test]
fn mem_option_changes_the_memory_map() {
    for f in FLAVORS {
        // The default is 512 MiB.
        let o = spt_run(&[guest(f, "hello")]);
        assert_eq!(o.status, 0, "{}", o.dump());
        assert!(
            o.stdout.contains("Solo5: Memory map: 512 MB addressable:"),
            "{}",
            o.dump()
        );
        let o = run_mem("--mem=64", f, "hello", &["m"]);
        assert_eq!(o.status, 0, "{}", o.dump());
        assert!(
            o.stdout.contains("Solo5: Memory map: 64 MB addressable:"),
            "{}",
            o.dump()
        );
    }
}

#[test]
fn quiet_prints_nothing_from_the_bindings() {
    for f in FLAVORS {
        let o = expect_success(f, "quiet", &["--solo5:quiet"]);
        assert!(
            o.stdout.lines().all(|l| !l.starts_with("Solo5:")),
            "{}",
            o.dump()
        );
    }
}

#[test]
fn output_globals_tls_fpu() {
    for f in FLAVORS {
        for name in ["output", "globals", "tls", "fpu"] {
            expect_success(f, name, &[]);
        }
    }
}

#[test]
fn time_never_wakes_early() {
    for f in FLAVORS {
        expect_success(f, "time", &[]);
    }
}

#[test]
fn faults_end_with_sigsegv() {
    for f in FLAVORS {
        for name in ["exception", "zeropage", "xnow", "wnox", "notls"] {
            expect_status(f, name, 139);
        }
    }
}

#[test]
fn forbidden_syscall_ends_with_sigsys() {
    for f in FLAVORS {
        expect_status(f, "seccomp", 159);
    }
}

#[test]
fn abort_ends_with_255() {
    for f in FLAVORS {
        let o = run(f, "abort", &[]);
        assert_eq!(o.status, 255, "{f}: {}", o.dump());
        assert!(
            o.stdout.contains("Solo5: solo5_abort() called"),
            "{f}: {}",
            o.dump()
        );
    }
}

#[test]
fn guest_exit_status_passes_through() {
    // The syscall guest exits with the status it is given to exit_group.
    for f in FLAVORS {
        for status in [3, 42, 200] {
            let s = status.to_string();
            let o = run(f, "syscall", &["231", &s]);
            assert_eq!(o.status, status, "{f}: {}", o.dump());
        }
    }
}

#[test]
fn stack_overflow_faults_on_the_guard() {
    for f in FLAVORS {
        // 200 KiB of the 256 KiB stack: there, and usable.
        let o = expect_success(f, "stack_overflow", &["200"]);
        assert!(o.stdout.contains("recursed 200 KiB deep"), "{}", o.dump());
        // An endless recursion stops at the guard: SIGSEGV before the
        // stack reaches the canary at the top of the heap (the guest
        // would print FAILURE and exit 1 if it did).
        let o = run(f, "stack_overflow", &[]);
        assert_eq!(o.status, 139, "{f}: {}", o.dump());
        assert!(!o.stdout.contains("FAILURE"), "{f}: {}", o.dump());
        assert!(!o.stdout.contains("SUCCESS"), "{f}: {}", o.dump());
        // Also with a lot of memory: the guard follows the stack.
        let o = run_mem("--mem=64", f, "stack_overflow", &[]);
        assert_eq!(o.status, 139, "{f}, 64 MiB: {}", o.dump());
    }
}

#[test]
fn heap_exhaustion_fails_cleanly() {
    for f in FLAVORS {
        // Fallible allocation: null once the heap is used up, every block
        // inside the heap, the stack still usable.
        let o = expect_success(f, "heap_exhaust", &[]);
        assert!(o.stdout.contains("heap exhausted after "), "{}", o.dump());
        // Infallible allocation past the end: one line, status 255.
        let o = run(f, "heap_exhaust", &["abort"]);
        assert_eq!(o.status, 255, "{f}: {}", o.dump());
        let panics: Vec<&str> = o
            .stdout
            .lines()
            .filter(|l| l.starts_with("Solo5: PANIC: "))
            .collect();
        assert_eq!(panics.len(), 1, "{f}: {}", o.dump());
        assert!(
            panics[0].ends_with("memory allocation of 4096 bytes failed"),
            "{f}: {}",
            o.dump()
        );
        assert!(!o.stdout.contains("FAILURE"), "{f}: {}", o.dump());
        assert!(o.stderr.is_empty(), "{f}: {}", o.dump());
    }
}

#[test]
fn a_large_bss_needs_more_than_the_floor() {
    // bigbss's 768 KiB .bss leaves less than the 512 KiB of free memory
    // the bindings require at 2 MiB: the guest stops with one line. It
    // counts its .bss from its own _end, not from what the tender loaded.
    for f in FLAVORS {
        let o = run(f, "bigbss", &[]);
        assert_eq!(o.status, 255, "{f}: {}", o.dump());
        let aborts: Vec<&str> = o
            .stdout
            .lines()
            .filter(|l| l.starts_with("Solo5: ABORT"))
            .collect();
        assert_eq!(
            aborts,
            ["Solo5: ABORT: Not enough memory"],
            "{f}: {}",
            o.dump()
        );
        assert!(!o.stdout.contains("test_bigbss"), "{f}: {}", o.dump());
        // With 3 MiB it runs: its .bss is zero and writable to the end,
        // and the heap starts after it.
        let o = run_mem("--mem=3", f, "bigbss", &[]);
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert!(o.stdout.contains("SUCCESS"), "{f}: {}", o.dump());
    }
}
