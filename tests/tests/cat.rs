//! The `cat` example unikernel, one source for every flavor: it copies its
//! net device `stdin`, attached to the tender's standard input with
//! `--net:stdin=@0`, to the console, and exits 0 at end of file, as
//! `uptime | solo5-spt --net:stdin=@0 target/guests/spt/cat` does.

use solo5_e2e::{guest, shell_status, Outcome, FLAVORS};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What a tender says when the host side of a net device closes: once, on
/// its standard error, never in the guest's output.
const EOF_NOTICE: &str = "warning: net 'stdin': closed by the host (end of file or hang-up)";

/// Run `TENDER --mem=2 --net:stdin=@0 CAT --solo5:quiet` with `input` on
/// its standard input, written by another thread while cat runs and its
/// output is read (at most 60 seconds, then it is killed).
fn cat(tender: &Path, g: &Path, input: Vec<u8>) -> Outcome {
    let mut child = Command::new(tender)
        .args(["--mem=2", "--net:stdin=@0"])
        .arg(g)
        .arg("--solo5:quiet")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tender");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropping stdin closes the pipe: end of file for the guest.
    });
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("wait for the tender"),
        Err(_) => {
            // SAFETY: kill has no memory preconditions; pid is our child,
            // not yet reaped (its waiter thread has not returned).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{}: cat did not finish in 60 s", g.display());
        }
    };
    writer.join().expect("writer thread");
    Outcome {
        status: shell_status(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The guest's output: all of stdout. The tender's own end-of-file line,
/// if any, is on stderr, once.
fn guest_output(o: &Outcome) -> String {
    assert!(!o.stdout.contains(EOF_NOTICE), "{}", o.dump());
    assert!(o.stderr.matches(EOF_NOTICE).count() <= 1, "{}", o.dump());
    o.stdout.clone()
}

/// 300 KB of numbered lines: more than a pipe holds, so cat must wait for
/// input in between.
fn text() -> Vec<u8> {
    let mut v = Vec::new();
    let mut i = 0u64;
    while v.len() < 300_000 {
        v.extend_from_slice(format!("line {i:06} {}\n", "x".repeat((i % 61) as usize)).as_bytes());
        i += 1;
    }
    v
}

/// (tender, guest) for each flavor whose tender can run here.
fn targets() -> Vec<(String, PathBuf, PathBuf)> {
    let mut v: Vec<(String, PathBuf, PathBuf)> = FLAVORS
        .iter()
        .map(|f| (f.to_string(), solo5_e2e::spt(), guest(f, "cat")))
        .collect();
    if Path::new("/dev/kvm").exists() {
        v.push((
            "hvt".into(),
            solo5_e2e::bin("solo5-hvt"),
            guest("hvt", "cat"),
        ));
    } else {
        solo5_e2e::skip!("SKIP (hvt): /dev/kvm is absent");
    }
    v
}

#[test]
fn cat_copies_standard_input_and_exits_0_at_end_of_file() {
    let input = text();
    for (f, t, g) in targets() {
        let o = cat(&t, &g, input.clone());
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        let out = guest_output(&o);
        assert_eq!(out.len(), input.len(), "{f}: stderr {}", o.stderr);
        assert!(out.as_bytes() == input.as_slice(), "{f}: output differs");
    }
}

#[test]
fn cat_of_empty_input_prints_nothing() {
    for (f, t, g) in targets() {
        let o = cat(&t, &g, Vec::new());
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert_eq!(guest_output(&o), "", "{f}: {}", o.dump());
    }
}

#[test]
fn uptime_through_cat_as_the_readme_shows() {
    let Ok(up) = Command::new("uptime").output() else {
        solo5_e2e::skip!("SKIP: no uptime");
        return;
    };
    for (f, t, g) in targets() {
        let o = cat(&t, &g, up.stdout.clone());
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert!(
            guest_output(&o).contains("load average"),
            "{f}: {}",
            o.dump()
        );
    }
}
