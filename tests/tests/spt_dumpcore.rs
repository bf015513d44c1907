//! `solo5-spt --dumpcore=DIR`: a guest that faults, aborts or makes a
//! system call the filter forbids leaves `DIR/core.solo5-spt.PID`
//! (mode 0600), and Debian's gdb reads it with the kernel's symbols: `bt`
//! shows the guest's own function names. Native and spt v2 guests, under
//! the filter (the tender's status lines show it is in place: the exit
//! statuses are the usual ones, 139, 255 and 159).

use solo5_e2e::{guest, run_cmd, spt, Outcome, TempDir, FLAVORS};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn gdb() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/gdb");
    if p.exists() {
        Some(p)
    } else {
        solo5_e2e::skip!("SKIP: needs gdb (apt-get install gdb)");
        None
    }
}

/// Run `kernel ARGS` with `--dumpcore=DIR`; the outcome and the core.
fn run(dir: &Path, kernel: &Path, args: &[&str]) -> (Outcome, Option<PathBuf>) {
    let o = run_cmd(
        Command::new(spt())
            .arg("--mem=2")
            .arg(format!("--dumpcore={}", dir.display()))
            .arg(kernel)
            .args(args),
        Duration::from_secs(30),
    );
    let core = std::fs::read_dir(dir)
        .expect("the directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("core.solo5-spt."))
        });
    (o, core)
}

fn bt(gdb: &Path, kernel: &Path, core: &Path) -> String {
    let o = run_cmd(
        Command::new(gdb)
            .args(["-batch", "-nx", "-ex", "bt"])
            .arg(kernel)
            .arg(core),
        Duration::from_secs(60),
    );
    o.stdout + &o.stderr
}

#[test]
fn faults_aborts_and_forbidden_calls_leave_a_core_gdb_reads() {
    let Some(gdb) = gdb() else { return };
    for flavor in FLAVORS {
        for (name, args, status, signal) in [
            ("zeropage", &[][..], 139, "SIGSEGV"),
            ("abort", &[][..], 255, "SIGABRT"),
            ("syscall", &["39"][..], 159, "SIGSYS"),
        ] {
            let what = format!("{flavor} {name}");
            let tmp = TempDir::new("spt-core");
            let kernel = guest(flavor, name);
            let (o, core) = run(&tmp.path, &kernel, args);
            assert_eq!(o.status, status, "{what}: {}", o.dump());
            let core = core.unwrap_or_else(|| panic!("{what}: no core: {}", o.dump()));
            assert!(
                o.stderr.contains(&format!(
                    "solo5-spt: dumpcore: dumping guest core to: {}\n",
                    core.display()
                )),
                "{what}: {}",
                o.dump()
            );
            assert!(
                o.stderr.contains(" pages of total "),
                "{what}: {}",
                o.dump()
            );
            let mode = std::fs::metadata(&core).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{what}");
            let trace = bt(&gdb, &kernel, &core);
            assert!(
                trace.contains(&format!("terminated with signal {signal}")),
                "{what}: {trace}"
            );
            assert!(trace.contains("solo5_app_main"), "{what}: {trace}");
            assert!(trace.contains("_start"), "{what}: {trace}");
        }
    }
}

#[test]
fn a_clean_exit_leaves_no_core_and_bad_directories_are_one_line() {
    let tmp = TempDir::new("spt-core");
    let (o, core) = run(&tmp.path, &guest("spt", "hello"), &[]);
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(core.is_none(), "{}", o.dump());
    let missing = tmp.path.join("missing");
    let o = run_cmd(
        Command::new(spt())
            .arg(format!("--dumpcore={}", missing.display()))
            .arg(guest("spt", "hello")),
        Duration::from_secs(30),
    );
    assert_eq!(o.status, 1, "{}", o.dump());
    assert_eq!(
        o.stderr,
        "solo5-spt: dumpcore: cannot open dir: No such file or directory\n",
        "{}",
        o.dump()
    );
}

/// The policy with `--dumpcore`: the three rules of the dump, SIGSYS
/// raised instead of a kill, and on spt v2 `exit_group(255)` off the list.
#[test]
fn print_policy_shows_the_dump_rules() {
    let tmp = TempDir::new("spt-core");
    for flavor in FLAVORS {
        let o = run_cmd(
            Command::new(spt())
                .arg("--print-policy")
                .arg(format!("--dumpcore={}", tmp.path.display()))
                .arg(guest(flavor, "hello")),
            Duration::from_secs(30),
        );
        assert_eq!(o.status, 0, "{}", o.dump());
        for want in [
            "raises SIGSYS: the core is written",
            "openat(dfd == ",
            "flags == O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode == 0600)",
            "mincore ",
            "pwrite64(fd == ",
        ] {
            assert!(o.stdout.contains(want), "{flavor}: {want}: {}", o.dump());
        }
        assert_eq!(
            o.stdout.contains("exit_group(status != 255)"),
            flavor == "spt-v2",
            "{flavor}: {}",
            o.dump()
        );
    }
}
