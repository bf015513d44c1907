//! Shared by the hvt end-to-end tests: where our tender, upstream's tools
//! and upstream's hvt unikernels are (each absence said with a `SKIP:`
//! line), running a guest, and what a guest's success or trap looks like.

use crate::{root, run_cmd, Netns, Outcome, Running};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Time limit for one guest run.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Our solo5-hvt.
pub fn hvt() -> PathBuf {
    crate::bin("solo5-hvt")
}

/// Whether /dev/kvm exists (a `SKIP:` line when not).
pub fn have_kvm() -> bool {
    let ok = Path::new("/dev/kvm").exists();
    if !ok {
        crate::skip!("SKIP: /dev/kvm is absent");
    }
    ok
}

/// Our tender where /dev/kvm exists.
pub fn ours() -> Option<PathBuf> {
    have_kvm().then(hvt)
}

/// `../shared/upstream-solo5` where it holds upstream's hvt unikernels
/// (in `hvt/`).
pub fn fixtures() -> Option<PathBuf> {
    let p = root().join("../shared/upstream-solo5");
    if p.join("hvt").is_dir() {
        Some(p)
    } else {
        crate::skip!("SKIP: {} is absent", p.display());
        None
    }
}

/// Upstream's tool `name` (`solo5-hvt`, `solo5-elftool`), where present.
pub fn upstream_tool(name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/upstream-solo5/bin").join(name);
    if !p.exists() {
        crate::skip!("SKIP (upstream's {name}): {} is absent", p.display());
        return None;
    }
    Some(p)
}

/// Upstream's tender, where it and /dev/kvm are present and it runs here
/// (it needs libseccomp2).
pub fn upstream_hvt() -> Option<PathBuf> {
    ours()?;
    let up = upstream_tool("solo5-hvt")?;
    let o = run_cmd(Command::new(&up).arg("--version"), LIMIT);
    if o.status != 0 {
        crate::skip!("SKIP (upstream's tender): it cannot run here: {}", o.dump());
        return None;
    }
    Some(up)
}

/// `TENDER --mem=MIB OPTS -- KERNEL ARGS`.
pub fn run_at(t: &Path, mib: u32, opts: &[&str], kernel: &Path, args: &[&str]) -> Outcome {
    run_cmd(
        Command::new(t)
            .arg(format!("--mem={mib}"))
            .args(opts)
            .arg("--")
            .arg(kernel)
            .args(args),
        LIMIT,
    )
}

/// An SDK guest succeeded: status 0, its `SUCCESS` line and its exit
/// banner.
pub fn assert_success(what: &str, o: &Outcome) {
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    assert!(o.stdout.contains("\nSUCCESS\n"), "{what}: {}", o.dump());
    assert!(
        o.stdout.contains("Solo5: solo5_exit(0) called"),
        "{what}: {}",
        o.dump()
    );
}

/// Status 255, upstream's trap lines (`type=TY ec=EC`, and `cr2=CR2` when
/// given), the abort line last, and neither `FAILURE` nor `SUCCESS`.
pub fn assert_trapped(what: &str, o: &Outcome, ty_ec: &str, cr2: Option<&str>) {
    assert_eq!(o.status, 255, "{what}: {}", o.dump());
    assert!(
        o.stdout
            .contains(&format!("\nSolo5: trap: type={ty_ec} rip=0x")),
        "{what}: {}",
        o.dump()
    );
    if let Some(cr2) = cr2 {
        assert!(
            o.stdout.contains(&format!("\nSolo5: trap: cr2={cr2}\n")),
            "{what}: {}",
            o.dump()
        );
    }
    assert!(
        o.stdout.ends_with("\nSolo5: ABORT: Fatal trap\n"),
        "{what}: {}",
        o.dump()
    );
    assert!(!o.stdout.contains("FAILURE"), "{what}: {}", o.dump());
    assert!(!o.stdout.contains("SUCCESS"), "{what}: {}", o.dump());
}

/// `TENDER --mem=2 --net:service0=tap0 -- KERNEL ARGS` inside `ns`, once
/// the guest says it serves pings on 10.0.0.2 (panics, naming `what`, when
/// it does not within 10 s).
pub fn spawn_serving(what: &str, ns: &Netns, t: &Path, kernel: &Path, args: &[&str]) -> Running {
    let mut r = Running::spawn(
        ns.command(t)
            .arg("--mem=2")
            .arg("--net:service0=tap0")
            .arg("--")
            .arg(kernel)
            .args(args),
    );
    assert!(
        r.wait_for("Serving ping on 10.0.0.2", Duration::from_secs(10)),
        "{what}: never served: {}\n{}",
        r.stdout(),
        r.stderr()
    );
    r
}

/// Status 255 and one abort line, the guest's `Not enough memory`.
pub fn assert_out_of_memory(what: &str, o: &Outcome) {
    assert_eq!(o.status, 255, "{what}: {}", o.dump());
    let aborts: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("Solo5: ABORT"))
        .collect();
    assert_eq!(
        aborts,
        ["Solo5: ABORT: Not enough memory"],
        "{what}: {}",
        o.dump()
    );
}

/// Offset of the user-mode note's header in `file`.
pub fn user_note_at(file: &[u8]) -> usize {
    let mut head = Vec::new();
    head.extend_from_slice(&9u32.to_le_bytes());
    head.extend_from_slice(&8u32.to_le_bytes());
    head.extend_from_slice(b"USR1");
    head.extend_from_slice(b"Solo5-rs\0");
    let at: Vec<usize> = file
        .windows(head.len())
        .enumerate()
        .filter(|(_, w)| *w == head.as_slice())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "one user-mode note");
    at[0]
}

/// A copy of the SDK guest at `path` whose user-mode note has another type
/// ("XSR1"), so that no tender takes it for ours: the binary as it would
/// be without it, a kernel built for CPL0.
pub fn without_user_note(tmp: &crate::TempDir, path: &Path) -> std::path::PathBuf {
    let mut b = std::fs::read(path).expect("read guest");
    let at = user_note_at(&b);
    b[at + 8] = b'X';
    let name = path.file_name().expect("a file name").to_string_lossy();
    tmp.file(&name, &b)
}
