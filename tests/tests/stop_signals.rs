//! Stopping a running unikernel as an operator or a container engine
//! does: SIGTERM (`docker stop`, `kill`), SIGINT (Ctrl-C) and SIGHUP end
//! either tender within a moment with exit status 128 + the signal, both
//! when the tender is an ordinary child and when it is PID 1 of a PID
//! namespace (a container's init), where the kernel drops a signal whose
//! action is the default one, so that only a handler stops it.
//!
//! The guest is the SDK's `cat`, which waits on its net device `stdin`
//! (a pipe at descriptor 3 that the test keeps open) and copies what
//! arrives to the console: its echo of `ready` shows it runs.

use solo5_e2e::hvt::ours;
use solo5_e2e::{guest, pass_as_fd3, spt, Running, FLAVORS};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a stop may take.
const PROMPT: Duration = Duration::from_secs(2);

fn pipe() -> (OwnedFd, std::fs::File) {
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two descriptors into p.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both were just created and are ours alone.
    unsafe { (OwnedFd::from_raw_fd(p[0]), std::fs::File::from_raw_fd(p[1])) }
}

/// The tender's pid: `r` itself, or its only child when `r` is the
/// `unshare` that made the namespace.
fn tender_pid(r: &Running, pid1: bool) -> i32 {
    if !pid1 {
        return r.pid() as i32;
    }
    let path = format!("/proc/{0}/task/{0}/children", r.pid());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(p) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
        {
            return p;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no child of unshare {}", r.pid());
}

/// Start `tender` on `kernel` (as PID 1 of a new PID namespace when
/// `pid1`), see it run, send `sig`, and check that it ends within
/// [`PROMPT`] with status 128 + sig.
fn stops(who: &str, tender: &Path, kernel: &Path, sig: libc::c_int, pid1: bool) {
    let (read, mut write) = pipe();
    let mut cmd = if pid1 {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--"]).arg(tender);
        c
    } else {
        Command::new(tender)
    };
    cmd.args(["--mem=4", "--net:stdin=@3"]).arg(kernel);
    pass_as_fd3(&mut cmd, &read);
    let mut r = Running::spawn(&mut cmd);
    drop(read);
    write.write_all(b"ready\n").expect("write to the guest");
    assert!(
        r.wait_for("ready", Duration::from_secs(20)),
        "{who}: the guest never ran: {}\n{}",
        r.stdout(),
        r.stderr()
    );
    let pid = tender_pid(&r, pid1);
    if pid1 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
            "{who}: not PID 1 of its namespace: {status}"
        );
    }
    let t = Instant::now();
    // SAFETY: signals a process this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    while r.is_running() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = t.elapsed();
    if r.is_running() {
        // Not stopped: end it for good (SIGKILL reaches a namespace's
        // init from outside it) so that the failure below is reported.
        // SAFETY: signals a process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let o = r.finish(Duration::from_secs(5));
    assert!(took < PROMPT, "{who}: took {took:?} to stop: {}", o.dump());
    assert_eq!(o.status, 128 + sig, "{who}: {}", o.dump());
    drop(write);
}

/// Every tender and flavor: (who, tender, kernel).
fn cases() -> Vec<(String, PathBuf, PathBuf)> {
    let mut v: Vec<_> = FLAVORS
        .iter()
        .map(|f| (format!("spt {f}"), spt(), guest(f, "cat")))
        .collect();
    if let Some(hvt) = ours() {
        v.push(("hvt".into(), hvt, guest("hvt", "cat")));
    }
    v
}

#[test]
fn term_int_and_hup_stop_a_running_guest() {
    for (who, tender, kernel) in cases() {
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            stops(&format!("{who} signal {sig}"), &tender, &kernel, sig, false);
        }
    }
}

#[test]
fn sigterm_stops_a_guest_whose_tender_is_pid_1() {
    if !solo5_e2e::is_root() {
        solo5_e2e::skip!("SKIP: needs root for a PID namespace");
        return;
    }
    for (who, tender, kernel) in cases() {
        for sig in [libc::SIGTERM, libc::SIGINT] {
            stops(
                &format!("{who} as PID 1, signal {sig}"),
                &tender,
                &kernel,
                sig,
                true,
            );
        }
    }
}
