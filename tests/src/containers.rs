//! containerd for the container tests and benchmarks: a containerd of the
//! test's own, started on its own config in a temporary directory (root,
//! state, sockets, runc state) and inside a network namespace the test
//! creates, so the host's containerd (if any) and network are untouched;
//! OCI images built with umoci and imported with `ctr images import`; a
//! "pod" network namespace whose `eth0` is a veth to a peer namespace, as
//! a CNI plugin leaves a pod.
//!
//! Everything made here is named with the prefix `h10` and removed on
//! drop: tasks, containers, the containerd process (by the PID started
//! here), its cgroups, mounts under its directory, namespaces.

pub mod cri;

use crate::{bin, is_root, root, run_cmd, skip_unless_ping, Netns, Outcome, PingStats, TempDir};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What test_net prints once it answers pings.
pub const SERVING: &str = "[service0] Serving ping on 10.0.0.2, with MAC: ";

/// Whether `name` is an executable file in one of PATH's directories.
pub fn in_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(name)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
    })
}

/// Print why a containerd test is skipped; true when it must be.
pub fn skip_unless_containerd() -> bool {
    if !is_root() {
        crate::skip!("SKIP: needs root (containerd, network namespaces)");
        return true;
    }
    if skip_unless_ping() {
        return true;
    }
    for tool in [
        "containerd",
        "ctr",
        "containerd-shim-runc-v2",
        "runc",
        "umoci",
    ] {
        if !in_path(tool) {
            crate::skip!(
                "SKIP: needs {tool} (apt-get install containerd runc umoci containernetworking-plugins)"
            );
            return true;
        }
    }
    false
}

/// Upstream's unikernel `dir/name` (dir `spt` or `hvt`), or None with a
/// visible message when ../shared/upstream-solo5 is absent.
pub fn upstream(dir: &str, name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/upstream-solo5").join(dir).join(name);
    if p.exists() {
        Some(p)
    } else {
        crate::skip!("SKIP: {} is absent", p.display());
        None
    }
}

/// Standard base64 (urunc.json values are base64-encoded).
pub fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A `/urunc.json` as urunc's images carry it: each value base64-encoded.
pub fn urunc_json(pairs: &[(&str, &str)]) -> Vec<u8> {
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("\"com.urunc.unikernel.{k}\":\"{}\"", b64(v)))
        .collect();
    format!("{{{}}}", body.join(",")).into_bytes()
}

/// solo5-runc's install directory, as a user installs it: copies of
/// solo5-runc, solo5-netns-exec and the static tenders in one directory
/// (a copy, so that a rebuild of target/release during a test does not
/// change what runs).
pub struct Install {
    /// The directory.
    pub dir: TempDir,
}

impl Install {
    /// Copy the binaries from target/release.
    pub fn new() -> Install {
        let dir = TempDir::new("h10-install");
        for b in ["solo5-runc", "solo5-netns-exec", "solo5-spt", "solo5-hvt"] {
            let p = dir.copy_exec(&bin(b), b);
            assert!(
                b == "solo5-runc" || is_static(&p),
                "{b} is dynamically linked: build it with scripts/build-all"
            );
        }
        Install { dir }
    }

    /// One of the binaries.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }

    /// `--runc-binary` for ctr.
    pub fn runc(&self) -> String {
        self.path("solo5-runc").display().to_string()
    }
}

impl Default for Install {
    fn default() -> Self {
        Install::new()
    }
}

/// Whether the ELF executable at `p` has no PT_INTERP (runs in a `FROM
/// scratch` image, which has no dynamic loader).
pub fn is_static(p: &Path) -> bool {
    let elf = std::fs::read(p).unwrap_or_default();
    let rd = |at: usize, n: usize| -> Option<usize> {
        let b = elf.get(at..at + n)?;
        Some(
            b.iter()
                .rev()
                .fold(0usize, |a, &x| (a << 8) | usize::from(x)),
        )
    };
    let (Some(phoff), Some(size), Some(num)) = (rd(32, 8), rd(54, 2), rd(56, 2)) else {
        return false;
    };
    (0..num).all(|i| rd(phoff + i * size, 4).is_some_and(|t| t != 3))
}

/// A statically linked C program built with `gcc -static` into `dir`, or
/// None with a visible message when gcc (or libc6-dev's libc.a) is
/// missing.
pub fn static_c(dir: &Path, name: &str, source: &str) -> Option<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).expect("write C source");
    let out = dir.join(name);
    let o = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output();
    match o {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            crate::skip!(
                "SKIP: gcc -static failed (needs libc6-dev): {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            crate::skip!("SKIP: needs gcc: {e}");
            None
        }
    }
}

/// A C program that prints `hello from a plain container` and its
/// arguments joined by `|`, then exits with status 7.
pub const PLAIN_HELLO_C: &str = r#"#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from a plain container");
    for (int i = 1; i < argc; i++) printf("%s%s", i == 1 ? ": " : "|", argv[i]);
    printf("\n");
    return 7;
}
"#;

/// Run `cmd` and panic with its output unless it succeeds.
fn must(cmd: &mut Command) -> String {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Build an OCI image with umoci in `work/name`: an empty base, the
/// given files (path in the image, bytes; mode 0755), the entrypoint and
/// command when not empty. Returns the tar of the layout, ready for
/// `ctr images import`.
pub fn build_image(
    work: &Path,
    name: &str,
    files: &[(&str, Vec<u8>)],
    entrypoint: &[&str],
    cmd: &[&str],
) -> PathBuf {
    let at = work.join(name);
    let layout = at.join("layout");
    let bundle = at.join("bundle");
    std::fs::create_dir_all(&at).expect("create image directory");
    let image = format!("{}:v1", layout.display());
    must(
        Command::new("umoci")
            .args(["init", "--layout"])
            .arg(&layout),
    );
    must(Command::new("umoci").args(["new", "--image", &image]));
    must(
        Command::new("umoci")
            .args(["unpack", "--image", &image])
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    for (p, bytes) in files {
        let to = rootfs.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir in rootfs");
        std::fs::write(&to, bytes).expect("write into rootfs");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    must(
        Command::new("umoci")
            .args(["repack", "--image", &image])
            .arg(&bundle),
    );
    if !entrypoint.is_empty() || !cmd.is_empty() {
        let mut c = Command::new("umoci");
        c.args(["config", "--image", &image]);
        for e in entrypoint {
            c.arg(format!("--config.entrypoint={e}"));
        }
        for a in cmd {
            c.arg(format!("--config.cmd={a}"));
        }
        must(&mut c);
    }
    let tar = at.join(format!("{name}.tar"));
    must(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// A file's contents, empty when it does not exist (yet).
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Wait at most `limit` until file `p` contains `text`.
pub fn wait_file(p: &Path, text: &str, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if read(p).contains(text) {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A containerd of our own (see the module's documentation).
pub struct Containerd {
    /// Its directory: config.toml, root/, state/, runc/, sockets, logs.
    pub dir: TempDir,
    /// The network namespace it runs in.
    pub netns: Netns,
    /// The containerd namespace the tests use (`ctr -n`).
    pub namespace: String,
    /// The cgroup (under each hierarchy's root) that holds our
    /// containers' cgroups: ctr's default is the namespace, the CRI test
    /// gives its pods this parent.
    pub cgroup_parent: String,
    /// solo5-runc's install directory (kept until containerd is gone: the
    /// shims run solo5-runc to kill and delete).
    pub install: Install,
    child: Child,
}

impl Containerd {
    /// Start containerd (without its CRI plugin) and wait until it
    /// answers.
    pub fn start() -> Containerd {
        let namespace = format!(
            "h10-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Containerd::start_with(
            TempDir::new("h10-containerd"),
            Install::new(),
            None,
            &namespace,
            &namespace,
        )
    }

    /// Start containerd in `dir` with its CRI plugin configured by `cri`
    /// (TOML for the `[plugins."io.containerd.grpc.v1.cri"]` table and its
    /// sub-tables, which may say `{dir}` for `dir`), on containerd
    /// namespace `k8s.io`, with pods under `cgroup_parent`.
    pub fn start_cri(dir: TempDir, install: Install, cri: &str, cgroup_parent: &str) -> Containerd {
        Containerd::start_with(dir, install, Some(cri), "k8s.io", cgroup_parent)
    }

    fn start_with(
        dir: TempDir,
        install: Install,
        cri: Option<&str>,
        namespace: &str,
        cgroup_parent: &str,
    ) -> Containerd {
        let d = dir.path.display().to_string();
        let mut disabled = vec![
            "io.containerd.internal.v1.opt",
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.internal.v1.tracing",
        ];
        if cri.is_none() {
            disabled.push("io.containerd.grpc.v1.cri");
        }
        let disabled: Vec<String> = disabled.iter().map(|p| format!("{p:?}")).collect();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{}]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.ttrpc.sock"
{}
"#,
            disabled.join(", "),
            cri.unwrap_or_default().replace("{dir}", &d)
        );
        std::fs::write(dir.path.join("config.toml"), config).expect("write config.toml");
        let netns = Netns::with_prefix("h10ctd");
        let child = spawn_in(
            &netns,
            Command::new("containerd")
                .arg("--config")
                .arg(dir.path.join("config.toml")),
            &dir.path.join("containerd.log"),
        );
        let c = Containerd {
            dir,
            netns,
            namespace: namespace.to_string(),
            cgroup_parent: cgroup_parent.to_string(),
            install,
            child,
        };
        c.wait_ready();
        c
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let o = self.ctr(&["version"]);
            if o.status == 0 {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "containerd did not start: {}\n--- containerd.log\n{}",
                o.dump(),
                read(&self.dir.path.join("containerd.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// containerd's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path.join("containerd.sock")
    }

    /// `ctr -a SOCKET -n NAMESPACE`, ready for more arguments.
    pub fn ctr_command(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a").arg(self.socket()).args(["-n", &self.namespace]);
        c
    }

    /// Run `ctr ARGS` (at most 60 s).
    pub fn ctr(&self, args: &[&str]) -> Outcome {
        run_cmd(self.ctr_command().args(args), Duration::from_secs(60))
    }

    /// Import the image tar `tar` as `localhost/NAME:v1`; returns that
    /// reference.
    pub fn import(&self, tar: &Path, name: &str) -> String {
        let base = format!("localhost/{name}");
        let o = run_cmd(
            self.ctr_command()
                .args(["images", "import", "--base-name", &base])
                .arg(tar),
            Duration::from_secs(60),
        );
        assert_eq!(o.status, 0, "import {name}: {}", o.dump());
        format!("{base}:v1")
    }

    /// runc's state directory for our containers (`--runc-root`).
    pub fn runc_root(&self) -> PathBuf {
        self.dir.path.join("runc")
    }

    /// The argument list of `ctr run` before the image: `--runc-root`,
    /// then `opts`.
    fn run_args(&self, opts: &[&str]) -> Vec<String> {
        let mut a = vec![
            "run".to_string(),
            "--runc-root".to_string(),
            self.runc_root().display().to_string(),
        ];
        a.extend(opts.iter().map(|s| s.to_string()));
        a
    }

    /// `ctr run --rm OPTS IMAGE ID ARGS` in the foreground: what the ctr
    /// user sees (at most `limit`).
    pub fn run(
        &self,
        opts: &[&str],
        image: &str,
        id: &str,
        args: &[&str],
        limit: Duration,
    ) -> Outcome {
        let mut a = self.run_args(opts);
        a.push("--rm".into());
        a.push(image.into());
        a.push(id.into());
        a.extend(args.iter().map(|s| s.to_string()));
        run_cmd(self.ctr_command().args(&a), limit)
    }

    /// `ctr run -d --log-uri file://LOG OPTS IMAGE ID ARGS`; returns
    /// ctr's outcome and LOG, where the task's output goes.
    pub fn run_detached(
        &self,
        opts: &[&str],
        image: &str,
        id: &str,
        args: &[&str],
    ) -> (Outcome, PathBuf) {
        let log = self.dir.path.join(format!("{id}.log"));
        let _ = std::fs::remove_file(&log);
        let mut a = self.run_args(opts);
        a.push("-d".into());
        a.push(format!("--log-uri=file://{}", log.display()));
        a.push(image.into());
        a.push(id.into());
        a.extend(args.iter().map(|s| s.to_string()));
        (
            run_cmd(self.ctr_command().args(&a), Duration::from_secs(60)),
            log,
        )
    }

    /// Our tasks: (id, pid, status).
    pub fn tasks(&self) -> Vec<(String, u32, String)> {
        let o = self.ctr(&["tasks", "ls"]);
        o.stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((
                    f.first()?.to_string(),
                    f.get(1)?.parse().ok()?,
                    f.get(2)?.to_string(),
                ))
            })
            .collect()
    }

    /// The pid of task `id`.
    pub fn pid(&self, id: &str) -> Option<u32> {
        self.tasks().into_iter().find(|t| t.0 == id).map(|t| t.1)
    }

    /// Our containers' ids.
    pub fn containers(&self) -> Vec<String> {
        self.ctr(&["containers", "ls", "-q"])
            .stdout
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Send `signal` to task `id` and wait (at most 10 s) until it has
    /// stopped.
    pub fn kill(&self, id: &str, signal: &str) {
        let o = self.ctr(&["tasks", "kill", "-s", signal, id]);
        assert_eq!(o.status, 0, "kill {id}: {}", o.dump());
        self.wait_stopped(id);
    }

    /// Wait (at most 10 s) until task `id` has stopped (or is gone).
    pub fn wait_stopped(&self, id: &str) {
        let start = Instant::now();
        while self.tasks().iter().any(|t| t.0 == id && t.2 != "STOPPED") {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "task {id} did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ctr tasks delete ID` then `ctr containers delete ID`.
    pub fn remove(&self, id: &str) {
        let o = self.ctr(&["tasks", "delete", id]);
        // ctr warns on stderr about a non-zero exit status; that is fine.
        assert_eq!(o.status, 0, "tasks delete {id}: {}", o.dump());
        let o = self.ctr(&["containers", "delete", id]);
        assert_eq!(o.status, 0, "containers delete {id}: {}", o.dump());
    }

    /// What of ours is still there: tasks, containers, runc state, shim
    /// processes of our namespace, container cgroups. Empty when
    /// everything was cleaned up.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = self
            .tasks()
            .into_iter()
            .map(|t| format!("task {} ({})", t.0, t.2))
            .collect();
        left.extend(
            self.containers()
                .into_iter()
                .map(|c| format!("container {c}")),
        );
        let runc = self.runc_root().join(&self.namespace);
        if let Ok(rd) = std::fs::read_dir(&runc) {
            left.extend(
                rd.flatten()
                    .map(|e| format!("runc state {}", e.path().display())),
            );
        }
        left.extend(
            shims(&self.socket())
                .into_iter()
                .map(|p| format!("shim process {p}")),
        );
        for hier in cgroup_hierarchies() {
            if let Ok(rd) = std::fs::read_dir(hier.join(&self.cgroup_parent)) {
                left.extend(
                    rd.flatten()
                        .filter(|e| e.path().is_dir())
                        .map(|e| format!("cgroup {}", e.path().display())),
                );
            }
        }
        left
    }
}

/// Shim processes of the containerd listening on `socket` (their command
/// line names it: `containerd-shim-runc-v2 ... -address SOCKET`).
fn shims(socket: &Path) -> Vec<u32> {
    let socket = socket.as_os_str().as_encoded_bytes();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
            args.first()
                .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"))
                && args
                    .windows(2)
                    .any(|w| w[0] == b"-address" && w[1] == socket)
        })
        .collect()
}

/// The cgroup v1 hierarchies (and the v2 one) under /sys/fs/cgroup.
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.push(PathBuf::from("/sys/fs/cgroup"));
    v
}

/// Remove cgroup directory `p` and its children (all must be empty of
/// processes), deepest first.
fn remove_cgroup(p: &Path) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(p);
}

/// Start `cmd` inside network namespace `ns` (setns only: unlike `ip
/// netns exec`, the mount namespace and /sys stay the host's, which
/// containerd and runc need for cgroups), with stdout and stderr to
/// `log`.
pub fn spawn_in(ns: &Netns, cmd: &mut Command, log: &Path) -> Child {
    let f = File::open(format!("/var/run/netns/{}", ns.name)).expect("open the netns");
    let fd = f.as_raw_fd();
    let out = File::create(log).expect("create log");
    // SAFETY: the closure runs in the forked child before exec and makes
    // one async-signal-safe call (setns) on `fd`, which stays open in the
    // parent until spawn returns because `f` lives across the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .expect("spawn in the netns");
    drop(f);
    child
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Our tasks and containers first (their shims exit with them).
        let tasks = self.tasks();
        for (id, _, _) in &tasks {
            let id = id.as_str();
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            let start = Instant::now();
            while self.tasks().iter().any(|t| t.0 == id && t.2 != "STOPPED")
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.ctr(&["tasks", "delete", "--force", id]);
        }
        for id in self.containers() {
            let _ = self.ctr(&["containers", "delete", &id]);
        }
        // containerd itself, by the PID started here.
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; `pid` is our
        // child, not yet reaped, so it names our containerd.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Should that have failed: the processes this containerd started
        // (its tasks' and its shims'), by their PIDs.
        let left = tasks.iter().map(|t| t.1).chain(shims(&self.socket()));
        for pid in left.filter(|&p| p > 1) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                // SAFETY: kill has no memory-safety preconditions; `pid`
                // is a process our containerd started.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        for hier in cgroup_hierarchies() {
            remove_cgroup(&hier.join(&self.cgroup_parent));
        }
        // Anything still mounted under our directory (a rootfs whose
        // task could not be deleted) goes before the directory does.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(&self.dir.path))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

/// A pod network namespace (prefix `h10pod` unless told): eth0 (10.0.0.2/20, default
/// route via 10.0.0.1) is a veth to a peer namespace (`h10peer`)
/// holding 10.0.0.1/20, where test_net answers at 10.0.0.2.
pub struct Pod {
    /// The pod's namespace.
    pub ns: Netns,
    /// The peer's namespace.
    pub peer: Netns,
}

impl Pod {
    /// Make both namespaces (prefixes `h10pod`, `h10peer`) and the veth.
    pub fn new() -> Pod {
        Pod::with_prefix("h10")
    }

    /// Make both namespaces, named `{prefix}pod-...` and
    /// `{prefix}peer-...`, and the veth.
    pub fn with_prefix(prefix: &str) -> Pod {
        let ns = Netns::with_prefix(&format!("{prefix}pod"));
        let peer = Netns::with_prefix(&format!("{prefix}peer"));
        ns.exec(&format!(
            "ip link add eth0 type veth peer name up0 netns {} && ip addr add 10.0.0.2/20 dev eth0 && \
             ip link set eth0 up && ip route add default via 10.0.0.1",
            peer.name
        ));
        peer.exec("ip addr add 10.0.0.1/20 dev up0 && ip link set up0 up");
        Pod { ns, peer }
    }

    /// `--with-ns` for ctr: join the pod's network namespace, as a
    /// Kubernetes container joins its pause container's.
    pub fn with_ns(&self) -> String {
        format!("--with-ns=network:/var/run/netns/{}", self.ns.name)
    }

    /// The pod kernel's count of echo requests it received
    /// (`Icmp: InEchos` in the pod namespace's /proc/net/snmp).
    pub fn in_echos(&self) -> u64 {
        self.ns.in_echos()
    }

    /// Our taps in the pod.
    pub fn taps(&self) -> Vec<String> {
        self.ns.solo5_taps()
    }

    /// tc filters on eth0's ingress.
    pub fn filters(&self) -> String {
        self.ns.exec("tc filter show dev eth0 ingress")
    }

    /// `ping ARGS 10.0.0.2` from the peer; its statistics (panics with
    /// ping's output when it printed none).
    pub fn ping(&self, args: &[&str], limit: Duration) -> (PingStats, Outcome) {
        let mut a = args.to_vec();
        a.push("10.0.0.2");
        let o = self.peer.ping(&a).finish(limit);
        let s = crate::ping_stats(&o.stdout).unwrap_or_else(|| panic!("{}", o.dump()));
        (s, o)
    }
}

impl Default for Pod {
    fn default() -> Self {
        Pod::new()
    }
}

/// The tender's `/proc/PID/status` as docs/containers.md, "solo5-netns-exec" describes it: uid 65534, every
/// capability set zero, no_new_privs, seccomp filtering. Panics naming
/// what differs.
pub fn assert_tender_holds_nothing(pid: u32, tender: &str) {
    let st = |f: &str| crate::proc_status_line(pid, f).unwrap_or_default();
    assert!(st("Name").ends_with(tender), "pid {pid}: {}", st("Name"));
    assert_eq!(st("Uid"), "Uid:\t65534\t65534\t65534\t65534");
    assert_eq!(st("Gid"), "Gid:\t65534\t65534\t65534\t65534");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(st(cap), format!("{cap}:\t0000000000000000"));
    }
    assert_eq!(st("NoNewPrivs"), "NoNewPrivs:\t1");
    assert_eq!(st("Seccomp"), "Seccomp:\t2");
}
