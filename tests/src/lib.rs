//! Helpers for the end-to-end tests: where the tender and the test
//! unikernels are, running them with a time limit, and network namespaces
//! that remove themselves.
//!
//! The binaries are built by `scripts/build` (the README's build command):
//! `target/release/solo5-spt` and `target/guests/<flavor>/<name>`.

pub mod containers;
pub mod engines;
pub mod hvt;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
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

/// Whether the suite runs in strict mode (`SOLO5_TEST_STRICT=1`, as CI
/// sets it): there every prerequisite is present, so a test that would
/// skip fails instead.
pub fn strict() -> bool {
    std::env::var_os("SOLO5_TEST_STRICT").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Say why a test skips (one `SKIP: ...` line on stderr); in strict mode
/// ([`strict`]) the test fails with that line instead.
pub fn skipped(line: &str) {
    assert!(
        !strict(),
        "{line}\n(SOLO5_TEST_STRICT is set: nothing may skip)"
    );
    eprintln!("{line}");
}

/// `skip!("SKIP: why {}", x)`: [`skipped`] with a formatted line. The
/// caller returns right after it.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {
        $crate::skipped(&format!($($arg)*))
    };
}

/// Print why a test is skipped; returns true when it must be.
pub fn skip_unless_net() -> bool {
    if !is_root() {
        crate::skip!("SKIP: needs root for network namespaces");
        return true;
    }
    if !Path::new("/dev/net/tun").exists() {
        crate::skip!("SKIP: needs /dev/net/tun");
        return true;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        crate::skip!("SKIP: needs ip (iproute2)");
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

/// Like [`skip_unless_net`], and `ping` (iputils-ping) must be installed.
pub fn skip_unless_ping() -> bool {
    if skip_unless_net() {
        return true;
    }
    if Command::new("ping").arg("-V").output().is_err() {
        crate::skip!("SKIP: needs ping (iputils-ping)");
        return true;
    }
    false
}

static TMP_SEQ: AtomicU32 = AtomicU32::new(0);

/// A directory of our own under the system's temporary directory, mode
/// 0755 (so an unprivileged user can reach what is in it), removed with
/// everything in it on drop.
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
}

impl TempDir {
    /// Create a fresh directory; `tag` goes into its name.
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!(
            "solo5-e2e-{}-{}-{tag}",
            std::process::id(),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temporary directory");
        TempDir { path }
    }

    /// Write `bytes` to file `name` in the directory; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).expect("write temporary file");
        p
    }

    /// Copy `from` into the directory as `name`, mode 0755.
    pub fn copy_exec(&self, from: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(name);
        std::fs::copy(from, &p).expect("copy into temporary directory");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .expect("chmod temporary file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A process running in the background whose output is collected as it
/// comes, so a test can wait for a line and look at the process while it
/// runs. Killed on drop if it is still running.
pub struct Running {
    child: Child,
    stdout: Sink,
    stderr: Sink,
    readers: Vec<std::thread::JoinHandle<()>>,
    status: Option<i32>,
}

/// Output collected so far by a reader thread.
type Sink = Arc<Mutex<Vec<u8>>>;

/// Read `from` to its end in a thread of its own, into the returned sink.
fn collect(mut from: impl Read + Send + 'static) -> (Sink, std::thread::JoinHandle<()>) {
    let buf: Sink = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    let t = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, t)
}

impl Running {
    /// Start `cmd` with stdin from /dev/null and stdout and stderr
    /// collected.
    pub fn spawn(cmd: &mut Command) -> Running {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (stdout, t1) = collect(child.stdout.take().expect("piped stdout"));
        let (stderr, t2) = collect(child.stderr.take().expect("piped stderr"));
        Running {
            child,
            stdout,
            stderr,
            readers: vec![t1, t2],
            status: None,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Standard output so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Whether the process still runs (not exited, not reaped).
    pub fn is_running(&mut self) -> bool {
        if self.status.is_none() {
            if let Ok(Some(s)) = self.child.try_wait() {
                self.status = Some(shell_status(s));
            }
        }
        self.status.is_none()
    }

    /// The exit status as a shell shows it, once the process has ended.
    pub fn exit_status(&mut self) -> Option<i32> {
        self.is_running();
        self.status
    }

    /// Wait until the process prints `text`; panics naming `what`, with
    /// its exit status and output, when it does not within `limit`.
    pub fn expect_output(&mut self, what: &str, text: &str, limit: Duration) {
        assert!(
            self.wait_for(text, limit),
            "{what}: never printed {text:?}; exit status {:?}\n--- stdout\n{}--- stderr\n{}",
            self.exit_status(),
            self.stdout(),
            self.stderr()
        );
    }

    /// Wait at most `limit` until standard output contains `text`; false if
    /// it did not (the process ended or time ran out).
    pub fn wait_for(&mut self, text: &str, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.stdout().contains(text) {
                return true;
            }
            if !self.is_running() {
                // Output written just before the exit may still be in the
                // pipe: give the readers a moment.
                std::thread::sleep(Duration::from_millis(50));
                return self.stdout().contains(text);
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait at most `limit` for the process to exit, killing it past that
    /// (status -1), and return what it showed.
    pub fn finish(mut self, limit: Duration) -> Outcome {
        let start = Instant::now();
        while self.is_running() && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.outcome()
    }

    /// Kill the process (if it still runs) and return what it showed; the
    /// status is -1 if it had to be killed.
    pub fn kill(mut self) -> Outcome {
        self.outcome()
    }

    fn outcome(&mut self) -> Outcome {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.status = Some(-1);
        }
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        Outcome {
            status: self.status.unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Make the child of `cmd` inherit `fd` as descriptor 3 (not close on
/// exec), whatever number `fd` has here.
pub fn pass_as_fd3(cmd: &mut Command, fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let raw = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe calls (dup2, fcntl) on descriptors; `raw`
    // stays open in the parent until spawn returns, since the caller holds
    // `fd` across the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if raw == 3 {
                // dup2 onto itself would keep close-on-exec.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// One line of `/proc/PID/status`, e.g. `CapEff:\t0000000000000000`.
pub fn proc_status_line(pid: u32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let prefix = format!("{field}:");
    status
        .lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_owned)
}

/// CPU time (user + system) process `pid` has used so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// The summary of a `ping` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingStats {
    /// Requests sent.
    pub transmitted: u64,
    /// Replies received.
    pub received: u64,
}

/// Parse `N packets transmitted, M received` out of ping's output.
pub fn ping_stats(out: &str) -> Option<PingStats> {
    let line = out.lines().find(|l| l.contains("packets transmitted"))?;
    let mut nums = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some(PingStats {
        transmitted: nums.next()?.parse().ok()?,
        received: nums.next()?.parse().ok()?,
    })
}

impl Netns {
    /// Start `ping ARGS` inside the namespace.
    pub fn ping(&self, args: &[&str]) -> Running {
        Running::spawn(self.command(Path::new("ping")).args(args))
    }

    /// Resolve `ip`'s MAC address before a flood, for up to 5 seconds. A
    /// flood that starts while the neighbour entry is unresolved overflows
    /// the kernel's small queue of packets waiting for it (ICMP "host
    /// unreachable", counted by ping as errors), which says nothing about
    /// the guest. A UDP datagram to the discard port starts the
    /// resolution: the test guests count only echo requests, so it does
    /// not change what they see of the flood.
    pub fn resolve(&self, ip: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let _ = self
                .command(Path::new("bash"))
                .args(["-c", &format!("echo x > /dev/udp/{ip}/9")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            std::thread::sleep(Duration::from_millis(50));
            let neigh = self
                .command(Path::new("ip"))
                .args(["neigh", "show", "to", ip])
                .output();
            if neigh.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("lladdr")) {
                return;
            }
        }
    }

    /// This namespace's kernel count of echo requests it received.
    pub fn in_echos(&self) -> u64 {
        snmp_in_echos(&self.exec("cat /proc/net/snmp"))
    }

    /// The taps solo5-netns-exec made here (named `solo5tap*`).
    pub fn solo5_taps(&self) -> Vec<String> {
        self.exec("ip -o link show")
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .filter(|n| n.starts_with("solo5tap"))
            .map(str::to_owned)
            .collect()
    }
}

/// `Icmp: InEchos` from the text of a `/proc/net/snmp` (panics when it is
/// not there).
pub fn snmp_in_echos(snmp: &str) -> u64 {
    let rows: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Icmp:")).collect();
    let i = rows[0]
        .split_whitespace()
        .position(|n| n == "InEchos")
        .expect("InEchos");
    rows[1]
        .split_whitespace()
        .nth(i)
        .expect("a value")
        .parse()
        .expect("a number")
}

/// The last two lines of ping's output (its statistics), joined by `; `,
/// for a test's log.
pub fn ping_summary(out: &str) -> String {
    out.lines().rev().take(2).collect::<Vec<_>>().join("; ")
}

/// The tender refused to start: exit status 1, nothing on standard output,
/// and exactly one line on standard error, `solo5-spt: ...`, that names
/// `device` (when given) and says `want` exactly once (each cause once).
pub fn assert_refused(what: &str, o: &Outcome, device: Option<&str>, want: &str) {
    assert_eq!(o.status, 1, "{what}: {}", o.dump());
    assert!(o.stdout.is_empty(), "{what}: {}", o.dump());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: {}", o.dump());
    assert!(lines[0].starts_with("solo5-spt: "), "{what}: {}", o.dump());
    if let Some(d) = device {
        assert!(
            lines[0].contains(d),
            "{what}: does not name {d}: {}",
            o.dump()
        );
    }
    assert_eq!(
        lines[0].matches(want).count(),
        1,
        "{what}: want {want:?} once: {}",
        o.dump()
    );
}

impl Netns {
    /// Like [`Netns::new`], with a name that starts with `prefix`, so that
    /// the namespaces of one suite can be told from another's.
    pub fn with_prefix(prefix: &str) -> Netns {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NS_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        sh(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.exec("ip link set lo up");
        ns
    }
}
