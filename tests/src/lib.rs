//! Helpers for the end-to-end tests: where the tender and the test
//! unikernels are, running them with a time limit, and network namespaces
//! that remove themselves.
//!
//! The binaries are built by `scripts/build` (the README's build command):
//! `target/release/solo5-spt` and `target/guests/<flavor>/<name>`.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Both spt ABIs: our native one and upstream's v2.
pub const FLAVORS: [&str; 2] = ["spt", "spt-v2"];

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A release binary of the workspace; panics with the build command if it
/// is missing.
pub fn bin(name: &str) -> PathBuf {
    let p = root().join("target/release").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/build first",
        p.display()
    );
    p
}

/// The solo5-spt tender.
pub fn spt() -> PathBuf {
    bin("solo5-spt")
}

/// Test unikernel `name` of `flavor`.
pub fn guest(flavor: &str, name: &str) -> PathBuf {
    let p = root().join("target/guests").join(flavor).join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-guests first",
        p.display()
    );
    p
}

/// What a finished process showed.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status as a shell shows it: the code, or 128 + signal.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// stdout and stderr, for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Exit status as a shell shows it.
pub fn shell_status(s: std::process::ExitStatus) -> i32 {
    match (s.code(), s.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => -1,
    }
}

/// Wait for `child` at most `limit`, killing it past that.
pub fn wait(mut child: Child, limit: Duration) -> Outcome {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break shell_status(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut stdout);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Outcome {
        status,
        stdout,
        stderr,
    }
}

/// Run `cmd` to completion (at most `limit`), capturing its output.
pub fn run_cmd(cmd: &mut Command, limit: Duration) -> Outcome {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait(child, limit)
}

/// Run solo5-spt with `args`, at most 30 seconds.
pub fn spt_run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Outcome {
    run_cmd(Command::new(spt()).args(args), Duration::from_secs(30))
}

/// Whether we run as root (namespaces, taps, dropping capabilities).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Print why a test is skipped; returns true when it must be.
pub fn skip_unless_net() -> bool {
    if !is_root() {
        eprintln!("SKIP: needs root for network namespaces");
        return true;
    }
    if !Path::new("/dev/net/tun").exists() {
        eprintln!("SKIP: needs /dev/net/tun");
        return true;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIP: needs ip (iproute2)");
        return true;
    }
    false
}

static NS_SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace of our own, removed on drop (failure or not).
pub struct Netns {
    /// Its name, for `ip netns exec`.
    pub name: String,
}

impl Netns {
    /// Create a fresh namespace with loopback up.
    pub fn new() -> Netns {
        let name = format!(
            "solo5t-{}-{}",
            std::process::id(),
            NS_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        sh(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.exec("ip link set lo up");
        ns
    }

    /// Run a shell command inside the namespace; panics on failure.
    pub fn exec(&self, cmd: &str) -> String {
        sh(&format!(
            "ip netns exec {} sh -c '{}'",
            self.name,
            cmd.replace('\'', "'\\''")
        ))
    }

    /// Add tap `tap` with `addr` (CIDR), up, with `mtu`.
    pub fn tap(&self, tap: &str, addr: &str, mtu: u32) {
        self.exec(&format!(
            "ip tuntap add {tap} mode tap && ip link set dev {tap} mtu {mtu} && ip addr add {addr} dev {tap} && ip link set dev {tap} up"
        ));
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Run a shell command; panic with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
