//! Every test unikernel of the core issue, under both spt ABIs: exit status
//! and output as a user sees them.

use solo5_e2e::{guest, spt_run, Outcome, FLAVORS};

fn run(flavor: &str, name: &str, args: &[&str]) -> Outcome {
    let mut v: Vec<std::ffi::OsString> = vec![guest(flavor, name).into()];
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
            o.stdout.contains("Solo5: Memory map: 512 MB addressable:"),
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
        let o = run(f, "hello", &[]);
        assert_eq!(o.status, 0);
        let mut v: Vec<std::ffi::OsString> = vec!["--mem=64".into(), guest(f, "hello").into()];
        v.push("m".into());
        let o = spt_run(&v);
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
