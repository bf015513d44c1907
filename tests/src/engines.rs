//! Docker and Podman for the engine tests and benchmarks: each engine is
//! the test's own, started inside a network namespace the test creates,
//! entered with `nsenter --net` (not `ip netns exec`, which remounts /sys
//! and hides the cgroup mounts dockerd and runc need), with every piece
//! of state in a temporary directory: Docker's data root, exec root, pid
//! file and sockets (and the containerd it starts); Podman's root,
//! runroot, tmp dir, containers.conf, CNI configuration and IPAM state.
//! docker0, the CNI bridges, every veth and every iptables rule live in
//! that namespace only; the host's network and services are untouched.
//!
//! Images are built by `docker build`/`podman build` from the README's
//! Dockerfile ([`DOCKERFILE`]), `FROM scratch`, from local files only.
//!
//! One engine serves every test of a test file ([`docker`], [`podman`]):
//! a test holds it for its whole run, and it is stopped (by the PID
//! started here) and its namespace removed when the test process exits.
//! Names (namespaces, directories, cgroups) start with `solo5-docker` and
//! `solo5-podman`.

use crate::containers::{in_path, read, urunc_json, Install};
use crate::{is_root, ping_stats, ping_summary, run_cmd, sh, Netns, Outcome, TempDir};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// The README's Dockerfile for a unikernel image: the kernel and
/// `/urunc.json`, nothing else. `CMD` is what reaches the guest after
/// `/urunc.json`'s cmdline unless the user gives arguments (Docker
/// refuses to create a container without any command).
pub const DOCKERFILE: &str = "FROM scratch
COPY app.spt /unikernel/app.spt
COPY urunc.json /urunc.json
CMD [\"limit\"]
";

/// What upstream's test_net prints once it answers pings at 10.0.0.2.
pub const SERVING: &str = "[service0] Serving ping on 10.0.0.2, with MAC: ";

/// The address upstream's net unikernels answer at.
pub const GUEST_IP: &str = "10.0.0.2";

/// Which engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// dockerd 20.10 (`docker.io`) and its CLI.
    Docker,
    /// podman 4.3, rootful, daemonless.
    Podman,
}

/// Where a container's network comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// `--network none`: loopback only.
    None,
    /// The engine's default bridge (`bridge`, `podman`), 10.0.0.0/24: the
    /// container gets 10.0.0.2 (Docker: as the first container on a fresh
    /// bridge; Podman: `--ip`).
    Default,
    /// A user network 10.0.0.0/24 and `--ip 10.0.0.2`.
    User,
}

/// The Docker CLI: Debian's (`docker.io` installs /usr/bin/docker), the
/// one that matches its dockerd, else the first in PATH.
fn docker_cli() -> PathBuf {
    let debian = Path::new("/usr/bin/docker");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("docker")
    }
}

/// Print why an engine test is skipped; true when it must be.
pub fn skip_unless(kind: Kind) -> bool {
    if !is_root() {
        crate::skip!("SKIP: needs root (container engines, network namespaces)");
        return true;
    }
    if crate::skip_unless_ping() {
        return true;
    }
    let tools: &[&str] = match kind {
        Kind::Docker => &["dockerd", "docker", "containerd", "runc", "nsenter"],
        Kind::Podman => &["podman", "conmon", "runc", "nsenter"],
    };
    for tool in tools {
        if !in_path(tool) && !Path::new("/usr/sbin").join(tool).exists() {
            crate::skip!("SKIP: needs {tool} (apt-get install docker.io podman catatonit uidmap)");
            return true;
        }
    }
    if kind == Kind::Podman && cni_plugins().is_none() {
        crate::skip!(
            "SKIP: needs the CNI bridge plugin (apt-get install containernetworking-plugins)"
        );
        return true;
    }
    if !root_upstream().exists() {
        crate::skip!("SKIP: {} is absent", root_upstream().display());
        return true;
    }
    false
}

fn root_upstream() -> PathBuf {
    crate::root().join("../shared/upstream-solo5")
}

/// Upstream's unikernel `dir/name` (`spt/test_net.spt`...).
pub fn upstream(dir: &str, name: &str) -> PathBuf {
    let p = root_upstream().join(dir).join(name);
    assert!(p.exists(), "{} is missing", p.display());
    p
}

/// The directory of the CNI plugins.
fn cni_plugins() -> Option<PathBuf> {
    ["/usr/lib/cni", "/opt/cni/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("bridge").exists() && d.join("host-local").exists())
}

/// An engine of our own (see the module's documentation).
pub struct Engine {
    /// Which one.
    pub kind: Kind,
    /// Its state directory.
    pub dir: TempDir,
    /// The network namespace it runs in, where its bridges are: the
    /// "peer" that pings containers.
    pub netns: Netns,
    /// solo5-runc's install directory (registered as runtime `solo5`).
    pub install: Install,
    /// Image build contexts.
    pub work: TempDir,
    /// dockerd, by the PID started here.
    daemon: Option<Child>,
    /// dockerd's `--bip`.
    bip: String,
    /// Whether a container used Docker's default bridge since dockerd
    /// started (its addresses are handed out in turn, not reused).
    bridge_used: bool,
    /// Whether the user network exists.
    user_net: bool,
    /// The cgroup (under each hierarchy's root) that holds our
    /// containers' cgroups.
    pub cgroup_parent: String,
    /// Every container id created, for [`Engine::leftovers`].
    ids: Vec<String>,
    /// Whether /var/lib/cni existed before Podman ran (its CNI result
    /// cache lives there, whatever the configuration says).
    had_var_lib_cni: bool,
}

/// Where the shipped deployment files expect the binaries.
pub const INSTALL_DIR: &str = "/usr/local/lib/solo5";

/// Docker's default bridge address when a test needs the default bridge
/// to be 10.0.0.0/24, and when it must not (the user network is then
/// 10.0.0.0/24: the two may not overlap).
const BIP_GUEST: &str = "10.0.0.1/24";
const BIP_ASIDE: &str = "10.99.0.1/24";

/// The user network's name and the names of Podman's bridges.
pub const USER_NET: &str = "uknet";

impl Engine {
    fn new(kind: Kind) -> Engine {
        let tag = match kind {
            Kind::Docker => "solo5-docker",
            Kind::Podman => "solo5-podman",
        };
        let dir = TempDir::new(tag);
        let netns = Netns::with_prefix(tag);
        let mut e = Engine {
            kind,
            dir,
            netns,
            install: Install::new(),
            work: TempDir::new(&format!("{tag}-images")),
            daemon: None,
            bip: BIP_ASIDE.into(),
            bridge_used: false,
            user_net: false,
            cgroup_parent: format!("{tag}-{}", std::process::id()),
            ids: Vec::new(),
            had_var_lib_cni: Path::new("/var/lib/cni").exists(),
        };
        match kind {
            Kind::Docker => e.start_dockerd(),
            Kind::Podman => e.configure_podman(),
        }
        e
    }

    /// The shipped deployment file `containers/deploy/NAME`, with our
    /// install directory in place of `/usr/local/lib/solo5`.
    pub fn deploy(&self, name: &str) -> String {
        let p = crate::root().join("containers/deploy").join(name);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(
            text.contains(INSTALL_DIR),
            "{} names no {INSTALL_DIR}",
            p.display()
        );
        text.replace(INSTALL_DIR, &self.install.dir.path.display().to_string())
    }

    /// The engine's name, as its CLI is called.
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
        }
    }

    fn start_dockerd(&mut self) {
        let d = &self.dir.path;
        // The runtime, registered by the shipped daemon.json.
        std::fs::write(d.join("daemon.json"), self.deploy("docker-daemon.json"))
            .expect("daemon.json");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .expect("dockerd.log");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns.name))
            .arg("dockerd")
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", d.join("docker.sock").display()))
            .arg(format!("--bip={}", self.bip))
            .arg(format!("--config-file={}", d.join("daemon.json").display()))
            .arg(format!("--cgroup-parent=/{}", self.cgroup_parent))
            .arg("--userland-proxy=false")
            .env("PATH", path_env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        self.daemon = Some(child);
        self.bridge_used = false;
        let start = Instant::now();
        loop {
            let o = run_cmd(self.cli().arg("version"), Duration::from_secs(10));
            if o.status == 0 {
                return;
            }
            let exited = self
                .daemon
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            assert!(
                !exited && start.elapsed() < Duration::from_secs(30),
                "dockerd did not start: {}\n--- dockerd.log\n{}",
                o.dump(),
                read(&d.join("dockerd.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop dockerd by its PID (SIGTERM, then SIGKILL after 20 s), and
    /// whatever it started that is still there.
    fn stop_dockerd(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; `pid` is our
        // child, not yet reaped, so it names our dockerd.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let start = Instant::now();
        while matches!(child.try_wait(), Ok(None)) {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Its containerd and shims name our directory on their command
        // line; they go with dockerd, unless it was killed.
        for p in processes_naming(&self.dir.path) {
            // SAFETY: as above; `p` is a process dockerd started here.
            unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
        }
    }

    /// Restart dockerd with another `--bip` (same data root).
    fn restart_dockerd(&mut self, bip: &str) {
        self.stop_dockerd();
        self.bip = bip.into();
        self.start_dockerd();
    }

    fn configure_podman(&mut self) {
        let d = self.dir.path.clone();
        for sub in ["cni", "ipam", "tmp"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let conf = format!(
            r#"[containers]
{ulimits}
[network]
network_backend = "cni"
cni_plugin_dirs = ["{cni}"]
network_config_dir = "{d}/cni"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
lock_type = "file"
{runtimes}"#,
            ulimits = podman_ulimits(),
            cni = cni_plugins().expect("CNI plugins").display(),
            d = d.display(),
            runtimes = self.deploy("podman-solo5.conf"),
        );
        std::fs::write(d.join("containers.conf"), conf).expect("containers.conf");
        // The default network and the user network, both 10.0.0.0/24 on
        // bridges of their own, with IPAM state in our directory (what
        // `podman network create --subnet 10.0.0.0/24 --gateway 10.0.0.1`
        // writes, but for the state directory).
        for (name, bridge) in [("podman", "pdmbr0"), (USER_NET, "pdmbr1")] {
            std::fs::write(
                d.join("cni").join(format!("{name}.conflist")),
                format!(
                    r#"{{
  "cniVersion": "0.4.0",
  "name": "{name}",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{bridge}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "routes": [{{"dst": "0.0.0.0/0"}}],
        "ranges": [[{{"subnet": "10.0.0.0/24", "gateway": "10.0.0.1"}}]],
        "dataDir": "{d}/ipam"
      }}
    }}
  ]
}}
"#,
                    d = d.display()
                ),
            )
            .expect("conflist");
        }
        let o = run_cmd(self.cli().arg("info"), Duration::from_secs(60));
        assert_eq!(o.status, 0, "podman info: {}", o.dump());
    }

    /// The engine's CLI with its private state, ready for arguments.
    pub fn cli(&self) -> Command {
        let d = &self.dir.path;
        match self.kind {
            Kind::Docker => {
                let mut c = Command::new(docker_cli());
                c.arg(format!("--host=unix://{}", d.join("docker.sock").display()))
                    .env("DOCKER_CONFIG", d.join("cli"))
                    .env("DOCKER_BUILDKIT", "0");
                c
            }
            Kind::Podman => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", self.netns.name))
                    .arg("podman")
                    .arg(format!("--root={}", d.join("root").display()))
                    .arg(format!("--runroot={}", d.join("runroot").display()))
                    .env("CONTAINERS_CONF", d.join("containers.conf"))
                    .env("PATH", path_env());
                c
            }
        }
    }

    /// Run the CLI with `args` (at most `limit`).
    pub fn cmd(&self, args: &[&str], limit: Duration) -> Outcome {
        run_cmd(self.cli().args(args), limit)
    }

    /// Run the CLI with `args`; panic with its output unless it succeeds.
    pub fn must(&self, args: &[&str]) -> String {
        let o = self.cmd(args, Duration::from_secs(120));
        assert_eq!(o.status, 0, "{} {args:?}: {}", self.name(), o.dump());
        o.stdout
    }

    /// Build image `tag` (`localhost/NAME:v1`) from `dockerfile` and
    /// `files` (name in the build context, bytes).
    pub fn build(&self, tag: &str, dockerfile: &str, files: &[(&str, Vec<u8>)]) -> String {
        let ctx = self.work.path.join(tag.replace(['/', ':'], "_"));
        std::fs::create_dir_all(&ctx).expect("build context");
        std::fs::write(ctx.join("Dockerfile"), dockerfile).expect("Dockerfile");
        for (name, bytes) in files {
            use std::os::unix::fs::PermissionsExt;
            let p = ctx.join(name);
            std::fs::write(&p, bytes).expect("context file");
            // COPY keeps the mode: executables must stay executable.
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
                .expect("chmod context file");
        }
        let ctx = ctx.display().to_string();
        self.must(&["build", "-q", "-t", tag, &ctx]);
        tag.to_string()
    }

    /// A unikernel image from the README's Dockerfile: `kernel` as
    /// `/unikernel/app.spt` (`app.hvt` for hvt) and a `/urunc.json` with
    /// `hypervisor`, `binary` and `cmdline` (omitted when empty), each
    /// base64-encoded; `CMD ["limit"]`.
    pub fn unikernel_image(&self, name: &str, kernel: &Path, hv: &str, cmdline: &str) -> String {
        let app = format!("app.{hv}");
        let dockerfile = DOCKERFILE.replace("app.spt", &app);
        let binary = format!("/unikernel/{app}");
        let mut pairs = vec![("hypervisor", hv), ("binary", binary.as_str())];
        if !cmdline.is_empty() {
            pairs.push(("cmdline", cmdline));
        }
        let kernel = std::fs::read(kernel).expect("read kernel");
        self.build(
            &format!("localhost/{name}:v1"),
            &dockerfile,
            &[(&app, kernel), ("urunc.json", urunc_json(&pairs))],
        )
    }

    /// Make `net` usable, and return the `run` options that put a
    /// container on it. Docker's default bridge and the user network
    /// cannot both be 10.0.0.0/24 in one dockerd (its address pools may
    /// not overlap): dockerd is restarted with the `--bip` needed.
    /// Podman's two bridges are both 10.0.0.1/24: the other one is
    /// removed so that the namespace routes to the right one.
    pub fn network(&mut self, net: Net) -> Vec<String> {
        match (self.kind, net) {
            (_, Net::None) => vec!["--network=none".into()],
            (Kind::Docker, Net::Default) => {
                if self.bip != BIP_GUEST || self.bridge_used || self.user_net {
                    if self.user_net {
                        self.must(&["network", "rm", USER_NET]);
                        self.user_net = false;
                    }
                    self.restart_dockerd(BIP_GUEST);
                }
                self.bridge_used = true;
                vec!["--network=bridge".into()]
            }
            (Kind::Docker, Net::User) => {
                if self.bip == BIP_GUEST {
                    self.restart_dockerd(BIP_ASIDE);
                }
                if !self.user_net {
                    self.must(&[
                        "network",
                        "create",
                        "--subnet=10.0.0.0/24",
                        "--gateway=10.0.0.1",
                        USER_NET,
                    ]);
                    self.user_net = true;
                }
                vec![format!("--network={USER_NET}"), format!("--ip={GUEST_IP}")]
            }
            (Kind::Podman, Net::Default | Net::User) => {
                let (name, other) = if net == Net::Default {
                    ("podman", "pdmbr1")
                } else {
                    (USER_NET, "pdmbr0")
                };
                self.netns.exec(&format!(
                    "! ip link show {other} >/dev/null 2>&1 || ip link del {other}"
                ));
                vec![format!("--network={name}"), format!("--ip={GUEST_IP}")]
            }
        }
    }

    /// `run` and the options every container of ours gets (Podman: our
    /// cgroup parent; dockerd has it for all).
    pub fn run_args(&self) -> Vec<String> {
        let mut a = vec!["run".to_string()];
        if self.kind == Kind::Podman {
            a.push(format!("--cgroup-parent=/{}", self.cgroup_parent));
        }
        a
    }

    /// `run --rm OPTS IMAGE ARGS` in the foreground (at most 60 s).
    pub fn run(&mut self, opts: &[&str], image: &str, args: &[&str]) -> Outcome {
        let mut a = self.run_args();
        a.push("--rm".into());
        a.extend(opts.iter().map(|s| s.to_string()));
        a.push(image.into());
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.cmd(&a, Duration::from_secs(60))
    }

    /// `run -d --name ID OPTS IMAGE ARGS`; panics unless it starts.
    pub fn run_detached(&mut self, id: &str, opts: &[&str], image: &str, args: &[&str]) {
        let mut a = self.run_args();
        a.extend(["-d".to_string(), format!("--name={id}")]);
        a.extend(opts.iter().map(|s| s.to_string()));
        a.push(image.into());
        a.extend(args.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let full = self.must(&a).trim().to_string();
        self.ids.push(full);
    }

    /// `inspect -f FORMAT ID`, trimmed.
    pub fn inspect(&self, id: &str, format: &str) -> String {
        self.must(&["inspect", "-f", format, id]).trim().to_string()
    }

    /// The PID of container `id`'s process (0 when it is not running).
    pub fn pid(&self, id: &str) -> u32 {
        self.inspect(id, "{{.State.Pid}}").parse().unwrap_or(0)
    }

    /// Exit code the engine recorded for container `id`.
    pub fn exit_code(&self, id: &str) -> i32 {
        self.inspect(id, "{{.State.ExitCode}}")
            .parse()
            .expect("an exit code")
    }

    /// Container `id`'s output so far (stdout and stderr).
    pub fn logs(&self, id: &str) -> String {
        let o = self.cmd(&["logs", id], Duration::from_secs(30));
        format!("{}{}", o.stdout, o.stderr)
    }

    /// Wait at most 20 s until container `id` has printed `text` `n`
    /// times (restarts append to the log); panics with the log if not.
    pub fn wait_output(&self, id: &str, text: &str, n: usize) {
        let start = Instant::now();
        loop {
            let logs = self.logs(id);
            if logs.matches(text).count() >= n {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{id}: never printed {text:?} ({n} times):\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `rm -f ID`.
    pub fn rm_f(&self, id: &str) {
        self.must(&["rm", "-f", id]);
    }

    /// Panic naming what of ours is still there, after waiting up to 5 s
    /// for it to go (an engine's monitor processes exit just after the
    /// CLI returns).
    pub fn assert_clean(&self, netns_inodes: &[u64], what: &str) {
        let start = Instant::now();
        loop {
            let left = self.leftovers(netns_inodes);
            if left.is_empty() {
                return;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let ps: Vec<String> = left
                    .iter()
                    .flat_map(|l| l.split(|c: char| !c.is_ascii_digit()))
                    .filter(|p| p.len() > 2)
                    .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
                    .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                    .collect();
                panic!("{what}: left behind: {left:#?}\n{ps:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What of ours is still there after every container was removed:
    /// containers, processes in our cgroups, their cgroups, runc state,
    /// containers' network namespaces (where taps and hooks would be).
    pub fn leftovers(&self, netns_inodes: &[u64]) -> Vec<String> {
        let mut left: Vec<String> = self
            .must(&["ps", "-aq"])
            .lines()
            .map(|c| format!("container {c}"))
            .collect();
        for hier in cgroup_hierarchies() {
            let parent = hier.join(&self.cgroup_parent);
            for cg in walk_dirs(&parent) {
                let procs = read(&cg.join("cgroup.procs"));
                if !procs.trim().is_empty() {
                    left.push(format!("processes {} in {}", procs.trim(), cg.display()));
                }
                if cg != parent
                    && self
                        .ids
                        .iter()
                        .any(|id| cg.display().to_string().contains(id))
                {
                    left.push(format!("cgroup {}", cg.display()));
                }
            }
        }
        let runc_roots = match self.kind {
            Kind::Docker => vec![self.dir.path.join("exec/runtime-runc/moby")],
            Kind::Podman => vec![PathBuf::from("/run/runc")],
        };
        for id in &self.ids {
            for r in &runc_roots {
                if r.join(id).exists() {
                    left.push(format!("runc state {}", r.join(id).display()));
                }
            }
        }
        for &ino in netns_inodes {
            if let Some(what) = netns_in_use(ino) {
                left.push(format!("network namespace net:[{ino}] ({what})"));
            }
        }
        for p in solo5_processes() {
            if read(&PathBuf::from(format!("/proc/{p}/cgroup"))).contains(&self.cgroup_parent) {
                left.push(format!("solo5 process {p}"));
            }
        }
        left
    }
}

/// Podman's `default_ulimits`: rootful podman asks for a nofile hard
/// limit above root's (1048576) and an nproc one above what it sets
/// itself (32768); without CAP_SYS_RESOURCE runc cannot grant either.
/// Ours: this process's hard limits (nproc at most 32768).
fn podman_ulimits() -> String {
    let hard = |r| {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit, which `l` is.
        unsafe { libc::getrlimit(r, &mut l) };
        l.rlim_max
    };
    let nofile = hard(libc::RLIMIT_NOFILE).min(1 << 20);
    let nproc = hard(libc::RLIMIT_NPROC).min(32768);
    format!("default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]")
}

/// PATH for the engines: ours, with the sbin directories (dockerd).
fn path_env() -> String {
    let p = std::env::var("PATH").unwrap_or_default();
    format!("{p}:/usr/local/sbin:/usr/sbin:/sbin")
}

/// Processes whose command line names `dir` (an engine's helpers).
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes().to_vec();
    all_pids()
        .into_iter()
        .filter(|p| *p != std::process::id())
        .filter(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            cmd.windows(needle.len()).any(|w| w == needle.as_slice())
        })
        .collect()
}

fn all_pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// Processes named solo5-spt, solo5-hvt or solo5-netns-exec.
fn solo5_processes() -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            let comm = read(&PathBuf::from(format!("/proc/{p}/comm")));
            matches!(comm.trim(), "solo5-spt" | "solo5-hvt" | "solo5-netns-ex")
        })
        .collect()
}

/// The inode of process `pid`'s network namespace.
pub fn netns_inode(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .map(|m| m.ino())
        .expect("the container's network namespace")
}

/// Who still holds network namespace `ino`: a process or a bind mount.
fn netns_in_use(ino: u64) -> Option<String> {
    for p in all_pids() {
        if std::fs::metadata(format!("/proc/{p}/ns/net")).is_ok_and(|m| m.ino() == ino) {
            return Some(format!("process {p}"));
        }
    }
    let mounts = read(Path::new("/proc/self/mountinfo"));
    let tag = format!("net:[{ino}]");
    mounts
        .lines()
        .find(|l| l.contains(&tag))
        .map(|l| format!("mount {}", l.split(' ').nth(4).unwrap_or("?")))
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

/// `p` and every directory under it, deepest last.
fn walk_dirs(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !p.is_dir() {
        return out;
    }
    out.push(p.to_path_buf());
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk_dirs(&e.path()));
            }
        }
    }
    out
}

impl Engine {
    /// Remove every container (`rm -f`).
    pub fn remove_all(&self) {
        let o = self.cmd(&["ps", "-aq"], Duration::from_secs(30));
        let ids: Vec<String> = o.stdout.lines().map(str::to_owned).collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(ids.iter().map(String::as_str));
            let _ = self.cmd(&a, Duration::from_secs(60));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Our containers first (with their processes and mounts).
        self.remove_all();
        match self.kind {
            Kind::Docker => self.stop_dockerd(),
            Kind::Podman => {
                let _ = self.cmd(&["system", "prune", "-f"], Duration::from_secs(60));
                // conmon and podman's cleanup processes name our
                // directory.
                for p in processes_naming(&self.dir.path) {
                    // SAFETY: kill has no memory-safety preconditions; `p`
                    // was started by our podman.
                    unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
                }
                // podman's CNI result cache is /var/lib/cni whatever the
                // configuration: remove what it created there, if empty.
                if !self.had_var_lib_cni {
                    let _ = std::fs::remove_dir("/var/lib/cni/results");
                    let _ = std::fs::remove_dir("/var/lib/cni");
                }
            }
        }
        // Monitors that were exiting may hold a cgroup a moment longer.
        let start = Instant::now();
        loop {
            let mut left = false;
            for hier in cgroup_hierarchies() {
                for cg in walk_dirs(&hier.join(&self.cgroup_parent)).into_iter().rev() {
                    left |= std::fs::remove_dir(cg).is_err();
                }
            }
            if !left || start.elapsed() > Duration::from_secs(5) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Anything still mounted under our directories (overlay roots,
        // network namespaces) goes before the directories do.
        let mounts = read(Path::new("/proc/self/mountinfo"));
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

/// One engine per kind for the whole test process; see [`docker`].
static DOCKER: Mutex<Option<Engine>> = Mutex::new(None);
static PODMAN: Mutex<Option<Engine>> = Mutex::new(None);
static AT_EXIT: Once = Once::new();

extern "C" fn stop_engines() {
    for m in [&DOCKER, &PODMAN] {
        if let Ok(mut g) = m.try_lock().or_else(|e| match e {
            std::sync::TryLockError::Poisoned(p) => Ok(p.into_inner()),
            std::sync::TryLockError::WouldBlock => Err(()),
        }) {
            g.take();
        }
    }
}

/// The engine of this test process, held by the calling test until it
/// drops the guard (tests of one file never share it at the same time).
pub type Held = MutexGuard<'static, Option<Engine>>;

fn shared(kind: Kind) -> Option<Held> {
    if skip_unless(kind) {
        return None;
    }
    let m = match kind {
        Kind::Docker => &DOCKER,
        Kind::Podman => &PODMAN,
    };
    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
    AT_EXIT.call_once(|| {
        // SAFETY: atexit registers a function with no preconditions; it
        // runs once at the process's exit, after the tests.
        unsafe { libc::atexit(stop_engines) };
    });
    match g.as_mut() {
        None => *g = Some(Engine::new(kind)),
        // A test that failed may have left containers: each test starts
        // with none.
        Some(e) => e.remove_all(),
    }
    Some(g)
}

/// Our dockerd (started on first use), or None with a visible reason.
pub fn docker() -> Option<Held> {
    shared(Kind::Docker)
}

/// Our Podman set-up (made on first use), or None with a visible reason.
pub fn podman() -> Option<Held> {
    shared(Kind::Podman)
}

/// The pod kernel's count of echo requests received, in the network
/// namespace of process `pid`.
pub fn in_echos(pid: u32) -> u64 {
    crate::snmp_in_echos(&read(&PathBuf::from(format!("/proc/{pid}/net/snmp"))))
}

/// A `count`-ping flood from the engine's namespace to 10.0.0.2, the
/// unikernel in the container whose process is `pid`: at most 0.1% lost,
/// and the container kernel's `InEchos` unchanged (the unikernel
/// answered, not the container's kernel). Returns ping's summary.
pub fn flood(e: &Engine, pid: u32, count: u64, what: &str) -> String {
    e.netns.resolve(GUEST_IP);
    let echos = in_echos(pid);
    let c = count.to_string();
    let o = e
        .netns
        .ping(&["-f", "-q", "-c", &c, "-w", "60", GUEST_IP])
        .finish(Duration::from_secs(90));
    let s = ping_stats(&o.stdout).unwrap_or_else(|| panic!("{what}: {}", o.dump()));
    assert!(s.transmitted >= count, "{what}: {}", o.dump());
    assert!(s.received * 1000 >= count * 999, "{what}: {}", o.dump());
    assert_eq!(
        in_echos(pid),
        echos,
        "{what}: the container's kernel answered pings"
    );
    let summary = ping_summary(&o.stdout);
    eprintln!("{what}: {summary}");
    summary
}

/// A few pings to 10.0.0.2 from the engine's namespace; how many were
/// answered.
pub fn pings(e: &Engine, count: u32) -> u64 {
    e.netns.resolve(GUEST_IP);
    let c = count.to_string();
    let o = e
        .netns
        .ping(&["-c", &c, "-i", "0.2", "-w", "10", GUEST_IP])
        .finish(Duration::from_secs(20));
    ping_stats(&o.stdout).map_or(0, |s| s.received)
}

/// Taps and tc filters on eth0, in the network namespace of `pid`.
pub fn container_wiring(pid: u32) -> (Vec<String>, String) {
    let ns = format!("--net=/proc/{pid}/ns/net");
    let links = sh(&format!("nsenter {ns} ip -o link show"));
    let taps = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .filter(|n| n.starts_with("solo5tap"))
        .map(str::to_owned)
        .collect();
    let filters = sh(&format!("nsenter {ns} tc filter show dev eth0 ingress"));
    (taps, filters)
}

/// `stop ID` (the engines' default 10 s grace period): how long it
/// took and the exit code recorded.
pub fn timed_stop(e: &Engine, id: &str) -> (Duration, i32) {
    let start = Instant::now();
    e.must(&["stop", id]);
    let t = start.elapsed();
    (t, e.exit_code(id))
}

// The scenarios, the same for both engines: each test file runs them on
// its engine. `--runtime solo5` is solo5-runc under both (dockerd
// `--add-runtime`, Podman's `[engine.runtimes]`).

/// The exit status an engine gives `run` when the runtime refuses to
/// create the container, and what its error line says before the
/// runtime's own message.
fn refusal(kind: Kind) -> (i32, &'static str) {
    match kind {
        Kind::Docker => (125, "OCI runtime create failed: "),
        Kind::Podman => (126, "Error: OCI runtime error: solo5: "),
    }
}

/// Hello with arguments, the image's CMD, an exit status, `-m`.
pub fn hello_args_status_and_memory(e: &mut Engine) {
    let hello = e.unikernel_image(
        "solo5-hello",
        &upstream("spt", "test_hello.spt"),
        "spt",
        "hello",
    );
    // The user's arguments replace the image's CMD and follow
    // /urunc.json's cmdline; one argument with a space stays one
    // vector element up to the tender, which joins them with spaces.
    let o = e.run(
        &["--runtime=solo5", "--network=none"],
        &hello,
        &["a", "b c"],
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(o.stdout.contains("Hello, World"), "{}", o.dump());
    assert!(
        o.stdout.contains("Command line is: 'hello a b c'\n"),
        "{}",
        o.dump()
    );
    // Without arguments: the image's CMD.
    let o = e.run(
        &["--runtime=solo5", "--network=none", "-m", "64m"],
        &hello,
        &[],
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(
        o.stdout.contains("Command line is: 'hello limit'\n"),
        "{}",
        o.dump()
    );
    // -m 64m: the guest gets the limit less the tender's 8 MiB.
    assert!(o.stdout.contains("Memory map: 56 MB"), "{}", o.dump());
    // The guest's exit status is the container's: an abort is 255.
    let ssp = e.unikernel_image("solo5-ssp", &upstream("spt", "test_ssp.spt"), "spt", "");
    let o = e.run(&["--runtime=solo5", "--network=none"], &ssp, &[]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert!(o.stdout.contains("ABORT"), "{}", o.dump());
    e.assert_clean(&[], "");
}

/// `--init`: the engine's init goes, the guest's command line is exactly
/// the image's cmdline and the user's arguments.
pub fn init_leaves_the_command_line_alone(e: &mut Engine) {
    let hello = e.unikernel_image(
        "solo5-hello",
        &upstream("spt", "test_hello.spt"),
        "spt",
        "hello",
    );
    let o = e.run(
        &["--init", "--runtime=solo5", "--network=none"],
        &hello,
        &["a", "b c"],
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("Command line is: "))
        .unwrap_or_else(|| panic!("{}", o.dump()));
    assert_eq!(line, "Command line is: 'hello a b c'", "{}", o.dump());
    e.assert_clean(&[], "");
}

/// The tender of container `id` (spt or hvt) holds nothing, its one tap
/// is wired with tc mirred (the engine's seccomp profile refuses bpf(2)),
/// and it answers a 2000-ping flood. Returns its PID and namespace.
fn serving(e: &Engine, id: &str, tender: &str, what: &str) -> (u32, u64) {
    let pid = e.pid(id);
    assert_ne!(pid, 0, "{what}: not running:\n{}", e.logs(id));
    crate::containers::assert_tender_holds_nothing(pid, tender);
    let (taps, filters) = container_wiring(pid);
    assert_eq!(taps.len(), 1, "{what}: {taps:?}");
    assert!(
        filters.contains("mirred"),
        "{what}: expected mirred: {filters}"
    );
    flood(e, pid, 2000, what);
    (pid, netns_inode(pid))
}

/// A net unikernel on the user network at a fixed `--ip`: flood, the
/// tender's status, `stop` within 2 s with 143 (128 + SIGTERM), `start`
/// again, `kill` (137), `start` again, `rm -f`, and nothing of ours left.
pub fn net_on_a_user_network_and_its_life_cycle(e: &mut Engine, hv: &str) {
    let tender = format!("solo5-{hv}");
    let kernel = upstream(hv, &format!("test_net.{hv}"));
    let image = e.unikernel_image(&format!("solo5-net-{hv}"), &kernel, hv, "");
    let net = e.network(Net::User);
    let id = format!("solo5-net-{hv}");
    let mut opts: Vec<&str> = vec!["--runtime=solo5", "-m", "64m"];
    opts.extend(net.iter().map(String::as_str));
    e.run_detached(&id, &opts, &image, &[]);
    e.wait_output(&id, SERVING, 1);
    let mut spaces = Vec::new();
    let what = format!("{} {hv}, user network", e.name());
    spaces.push(serving(e, &id, &tender, &what).1);
    assert!(e.logs(&id).contains("Memory map: 56 MB"), "{}", e.logs(&id));

    let (t, status) = timed_stop(e, &id);
    eprintln!(
        "{what}: stop took {:.3} s, exit code {status}",
        t.as_secs_f64()
    );
    assert_eq!(status, 143, "{what}: stop: 128 + SIGTERM expected");
    assert!(t < Duration::from_secs(2), "{what}: stop took {t:?}");

    e.must(&["start", &id]);
    e.wait_output(&id, SERVING, 2);
    let pid = e.pid(&id);
    spaces.push(netns_inode(pid));
    let echos = in_echos(pid);
    assert_eq!(pings(e, 3), 3, "{what}: after start");
    assert_eq!(in_echos(pid), echos);

    e.must(&["kill", &id]);
    let start = Instant::now();
    while e.pid(&id) != 0 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(e.exit_code(&id), 137, "{what}: kill");
    e.must(&["start", &id]);
    e.wait_output(&id, SERVING, 3);
    spaces.push(netns_inode(e.pid(&id)));
    assert_eq!(pings(e, 3), 3, "{what}: after kill and start");
    e.rm_f(&id);
    e.assert_clean(&spaces, &what);
}

/// A net unikernel on the engine's default bridge, at 10.0.0.2.
pub fn net_on_the_default_bridge(e: &mut Engine) {
    let kernel = upstream("spt", "test_net.spt");
    let image = e.unikernel_image("solo5-net-spt", &kernel, "spt", "");
    let net = e.network(Net::Default);
    let id = "solo5-bridge";
    let mut opts: Vec<&str> = vec!["--runtime=solo5"];
    opts.extend(net.iter().map(String::as_str));
    e.run_detached(id, &opts, &image, &[]);
    e.wait_output(id, SERVING, 1);
    let pid = e.pid(id);
    let addr = sh(&format!(
        "nsenter --net=/proc/{pid}/ns/net ip -4 -o addr show dev eth0"
    ));
    assert!(addr.contains(&format!(" {GUEST_IP}/24 ")), "{addr}");
    let what = format!("{}, default bridge", e.name());
    let (_, ns) = serving(e, id, "solo5-spt", &what);
    e.rm_f(id);
    e.assert_clean(&[ns], &what);
}

/// The helper as the entrypoint of an image that carries its own tender,
/// on the engine's stock runtime with `--cap-add NET_ADMIN --device
/// /dev/net/tun`: the engine's seccomp profile refuses bpf(2), so the
/// helper wires with mirred, and says so (`--verbose`).
pub fn helper_image_on_the_stock_runtime(e: &mut Engine) {
    let bin = |n: &str| std::fs::read(e.install.path(n)).expect("read binary");
    let files = vec![
        ("solo5-netns-exec", bin("solo5-netns-exec")),
        ("solo5-spt", bin("solo5-spt")),
        (
            "test_net.spt",
            std::fs::read(upstream("spt", "test_net.spt")).unwrap(),
        ),
    ];
    let image = e.build(
        "localhost/solo5-helper:v1",
        "FROM scratch
COPY solo5-netns-exec solo5-spt test_net.spt /
ENTRYPOINT [\"/solo5-netns-exec\", \"--verbose\", \"--\", \"/solo5-spt\", \"--mem=2\", \"/test_net.spt\"]
CMD [\"limit\"]
",
        &files,
    );
    let net = e.network(Net::User);
    let mut opts: Vec<&str> = vec!["--cap-add=NET_ADMIN", "--device=/dev/net/tun"];
    opts.extend(net.iter().map(String::as_str));
    let id = "solo5-helper";
    e.run_detached(id, &opts, &image, &[]);
    e.wait_output(id, SERVING, 1);
    let logs = e.logs(id);
    let line = logs
        .lines()
        .find(|l| l.starts_with("solo5-netns-exec: "))
        .unwrap_or_else(|| panic!("no wiring line:\n{logs}"));
    assert!(
        line.starts_with("solo5-netns-exec: net 'service0': solo5tap0 <-> eth0 by tc mirred ("),
        "{line}"
    );
    eprintln!("{}: {line}", e.name());
    let what = format!("{}, helper image on the stock runtime", e.name());
    let (_, ns) = serving(e, id, "solo5-spt", &what);
    e.rm_f(id);
    e.assert_clean(&[ns], &what);
}

/// An ordinary image through solo5-runc: runc runs it untouched.
pub fn plain_image_through_solo5_runc(e: &mut Engine) {
    let work = e.work.path.join("plain");
    std::fs::create_dir_all(&work).unwrap();
    let Some(hello) = crate::containers::static_c(&work, "hello", crate::containers::PLAIN_HELLO_C)
    else {
        return;
    };
    let image = e.build(
        "localhost/solo5-plain:v1",
        "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n",
        &[("hello", std::fs::read(hello).unwrap())],
    );
    let o = e.run(
        &["--runtime=solo5", "--network=none"],
        &image,
        &["a", "b c"],
    );
    assert_eq!(o.status, 7, "{}", o.dump());
    assert_eq!(
        o.stdout,
        "hello from a plain container: a|b c\n",
        "{}",
        o.dump()
    );
    e.assert_clean(&[], "");
}

/// Broken images: the engine's error shows solo5-runc's reason.
pub fn broken_images_are_refused_with_the_reason(e: &mut Engine) {
    let net = std::fs::read(upstream("spt", "test_net.spt")).unwrap();
    let work = e.work.path.join("bad");
    std::fs::create_dir_all(&work).unwrap();
    let Some(native) =
        crate::containers::static_c(&work, "hello", crate::containers::PLAIN_HELLO_C)
    else {
        return;
    };
    let native = std::fs::read(native).unwrap();
    let u = |hv: &str, binary: &str| urunc_json(&[("hypervisor", hv), ("binary", binary)]);
    type Case = (
        &'static str,
        Vec<(&'static str, Vec<u8>)>,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "notjson",
            vec![("urunc.json", b"{not json".to_vec())],
            "64m",
            "/urunc.json is not valid",
        ),
        (
            "qemu",
            vec![("k", net.clone()), ("urunc.json", u("qemu", "/k"))],
            "64m",
            "unikernel hypervisor 'qemu' is not supported",
        ),
        (
            "nokernel",
            vec![("urunc.json", u("spt", "/nowhere"))],
            "64m",
            "/nowhere",
        ),
        (
            "notsolo5",
            vec![("k", native), ("urunc.json", u("spt", "/k"))],
            "64m",
            "is not a Solo5 spt binary",
        ),
        (
            "wronghv",
            vec![("k", net.clone()), ("urunc.json", u("hvt", "/k"))],
            "64m",
            "is not a Solo5 hvt binary",
        ),
        (
            "lowmem",
            vec![("k", net), ("urunc.json", u("spt", "/k"))],
            "8m",
            "memory limit of 8 MiB leaves less than",
        ),
    ];
    let (status, prefix) = refusal(e.kind);
    for (name, files, mem, want) in cases {
        let mut df = String::from("FROM scratch\n");
        for (f, _) in &files {
            df.push_str(&format!("COPY {f} /{f}\n"));
        }
        df.push_str("CMD [\"x\"]\n");
        let image = e.build(&format!("localhost/solo5-bad-{name}:v1"), &df, &files);
        let o = e.run(
            &["--runtime=solo5", "--network=none", "-m", mem],
            &image,
            &[],
        );
        assert_eq!(o.status, status, "{name}: {}", o.dump());
        let line = o
            .stderr
            .lines()
            .find(|l| l.contains(prefix))
            .unwrap_or_else(|| panic!("{name}: {}", o.dump()));
        let reason = line.split(prefix).nth(1).unwrap_or_default();
        assert!(
            reason.starts_with("solo5-runc: ") && reason.contains(want),
            "{name}: want {want:?}: {}",
            o.dump()
        );
        eprintln!("{name}: {line}");
        e.assert_clean(&[], name);
    }
}

/// hvt where /dev/kvm exists: hello with arguments, then the net life
/// cycle.
pub fn hvt(e: &mut Engine) {
    if !Path::new("/dev/kvm").exists() {
        crate::skip!("SKIP: needs /dev/kvm for hvt");
        return;
    }
    let hello = e.unikernel_image(
        "solo5-hello-hvt",
        &upstream("hvt", "test_hello.hvt"),
        "hvt",
        "hvt",
    );
    let o = e.run(
        &["--runtime=solo5", "--network=none", "-m", "64m"],
        &hello,
        &["a", "b c"],
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    assert!(
        o.stdout.contains("Command line is: 'hvt a b c'\n"),
        "{}",
        o.dump()
    );
    assert!(o.stdout.contains("Memory map: 56 MB"), "{}", o.dump());
    net_on_a_user_network_and_its_life_cycle(e, "hvt");
}

// Benchmarks (scripts/bench-engines; not tests).

/// Median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `min-max` of `v`.
fn spread(v: &[f64]) -> String {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{min:.1}-{max:.1}")
}

/// Run the engine's CLI with `args`: seconds until the first byte of its
/// standard output (the container's first output), seconds until it
/// exited, and the output.
fn time_first_output(e: &Engine, args: &[&str]) -> (f64, f64, String) {
    use std::io::Read;
    let start = Instant::now();
    let mut child = e
        .cli()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the engine's CLI");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    let n = out.read(&mut first).expect("read the container's output");
    let t_first = start.elapsed().as_secs_f64();
    let mut rest = Vec::new();
    let _ = out.read_to_end(&mut rest);
    let status = child.wait().expect("wait");
    let t_exit = start.elapsed().as_secs_f64();
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut s| s.read_to_string(&mut err));
    assert!(n == 1 && status.success(), "{args:?}: {status:?} {err}");
    let mut text = String::from_utf8_lossy(&first[..n]).into_owned();
    text.push_str(&String::from_utf8_lossy(&rest));
    (t_first, t_exit, text)
}

/// A shell command line for hyperfine: the engine's CLI as [`Engine::cli`]
/// builds it, then `args`.
fn shell_line(e: &Engine, args: &[&str]) -> String {
    let c = e.cli();
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line: Vec<String> = c
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, q(v?.to_str()?))))
        .collect();
    line.push(q(&c.get_program().to_string_lossy()));
    line.extend(c.get_args().map(|a| q(&a.to_string_lossy())));
    line.extend(args.iter().map(|a| q(a)));
    line.join(" ")
}

/// The engine benchmarks, printed as markdown:
///
/// 1. `run --rm` of a unikernel image (upstream's `test_hello.spt`)
///    through solo5-runc to its first output and to its exit, against the
///    same engine running a static native hello (gcc -static, `FROM
///    scratch`) on its stock runtime; both `--network none`. Rounds
///    alternate the order; ratios are paired within a round, then the
///    median is taken.
/// 2. `stop` of a running spt unikernel (`test_net.spt` on the user
///    network): the time the CLI takes.
///
/// With hyperfine installed, also hyperfine's own tables of the whole
/// `run --rm` commands and of `stop`.
pub fn bench(e: &mut Engine) {
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(21)
        .max(3);
    let name = e.name();
    let uni = e.unikernel_image(
        "solo5-bench-hello",
        &upstream("spt", "test_hello.spt"),
        "spt",
        "",
    );
    let work = e.work.path.join("bench");
    std::fs::create_dir_all(&work).unwrap();
    let native = crate::containers::static_c(
        &work,
        "native-hello",
        "#include <stdio.h>\nint main(void) { puts(\"Hello, World\"); return 0; }\n",
    )
    .expect("gcc -static");
    let nat = e.build(
        "localhost/solo5-bench-native:v1",
        "FROM scratch\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n",
        &[("hello", std::fs::read(native).unwrap())],
    );
    let mut run = e.run_args();
    run.extend(["--rm".into(), "--network=none".into()]);
    let mut uni_args = run.clone();
    uni_args.extend(["--runtime=solo5".to_string(), uni.clone()]);
    let mut nat_args = run.clone();
    nat_args.push(nat.clone());
    let cmds: [(&str, &Vec<String>); 2] = [
        ("unikernel (`test_hello.spt`) through solo5-runc", &uni_args),
        ("static native hello on the stock runtime (runc)", &nat_args),
    ];
    let mut first = vec![Vec::new(); 2];
    let mut exit = vec![Vec::new(); 2];
    let (mut r_first, mut r_exit) = (Vec::new(), Vec::new());
    for r in 0..=rounds {
        let mut this = [(0.0, 0.0); 2];
        for k in 0..2 {
            let i = (k + r) % 2;
            let a: Vec<&str> = cmds[i].1.iter().map(String::as_str).collect();
            let (f, x, text) = time_first_output(e, &a);
            assert!(text.contains("Hello, World"), "{text}");
            this[i] = (f, x);
        }
        if r == 0 {
            continue; // warm-up
        }
        for i in 0..2 {
            first[i].push(this[i].0 * 1e3);
            exit[i].push(this[i].1 * 1e3);
        }
        r_first.push(this[0].0 / this[1].0);
        r_exit.push(this[0].1 / this[1].1);
    }
    println!("\n#### `{name} run --rm`, {rounds} rounds (ms: median, min-max)\n");
    println!("| container | first output | exit |");
    println!("|---|---|---|");
    for i in 0..2 {
        let (sf, sx) = (spread(&first[i]), spread(&exit[i]));
        println!(
            "| {} | {:.1} ({sf}) | {:.1} ({sx}) |",
            cmds[i].0,
            median(&mut first[i]),
            median(&mut exit[i])
        );
    }
    let (sf, sx) = (spread(&r_first), spread(&r_exit));
    println!(
        "\nunikernel / native, paired: first output {:.3}x ({sf}), exit {:.3}x ({sx})",
        median(&mut r_first),
        median(&mut r_exit)
    );

    // 2. stop.
    let net_image = e.unikernel_image("solo5-net-spt", &upstream("spt", "test_net.spt"), "spt", "");
    let net = e.network(Net::User);
    let mut opts: Vec<&str> = vec!["--runtime=solo5"];
    opts.extend(net.iter().map(String::as_str));
    let mut stops = Vec::new();
    for r in 0..=rounds {
        let id = "solo5-bench-stop";
        e.run_detached(id, &opts, &net_image, &[]);
        e.wait_output(id, SERVING, 1);
        let (t, status) = timed_stop(e, id);
        assert_eq!(status, 143, "stop");
        e.rm_f(id);
        if r > 0 {
            stops.push(t.as_secs_f64() * 1e3);
        }
    }
    let s = spread(&stops);
    println!(
        "\n`{name} stop` of a running spt unikernel, {rounds} rounds: median {:.1} ms ({s})",
        median(&mut stops)
    );

    if !in_path("hyperfine") {
        println!("\n(hyperfine is not installed: its tables are left out)");
        return;
    }
    let json = e.work.path.join("hyperfine.md");
    let runs = rounds.to_string();
    let ua: Vec<&str> = uni_args.iter().map(String::as_str).collect();
    let na: Vec<&str> = nat_args.iter().map(String::as_str).collect();
    let o = run_cmd(
        Command::new("hyperfine")
            .args([
                "--style=none",
                "--warmup=2",
                "--runs",
                &runs,
                "--export-markdown",
            ])
            .arg(&json)
            .arg("-n")
            .arg("unikernel through solo5-runc")
            .arg(format!("{} >/dev/null", shell_line(e, &ua)))
            .arg("-n")
            .arg("static native hello, runc")
            .arg(format!("{} >/dev/null", shell_line(e, &na))),
        Duration::from_secs(600),
    );
    assert_eq!(o.status, 0, "hyperfine: {}", o.dump());
    println!(
        "\n#### hyperfine: `{name} run --rm` to exit\n\n{}",
        read(&json)
    );
    if let Some(summary) = o.stdout.find("Summary") {
        println!("{}", o.stdout[summary..].trim());
    }
    let id = "solo5-bench-stop";
    let mut start = e.run_args();
    start.extend(["-d".to_string(), format!("--name={id}")]);
    start.extend(opts.iter().map(|s| s.to_string()));
    start.push(net_image.clone());
    let start: Vec<&str> = start.iter().map(String::as_str).collect();
    let prepare = format!(
        "{rm} >/dev/null 2>&1; {run} >/dev/null && until {logs} 2>&1 | grep -q 'Serving ping'; do sleep 0.01; done",
        rm = shell_line(e, &["rm", "-f", id]),
        run = shell_line(e, &start),
        logs = shell_line(e, &["logs", id]),
    );
    let o = run_cmd(
        Command::new("hyperfine")
            .args([
                "--style=none",
                "--warmup=1",
                "--runs",
                &runs,
                "--export-markdown",
            ])
            .arg(&json)
            .arg("--prepare")
            .arg(&prepare)
            .arg("-n")
            .arg(format!("{name} stop (spt unikernel)"))
            .arg(shell_line(e, &["stop", id])),
        Duration::from_secs(600),
    );
    assert_eq!(o.status, 0, "hyperfine: {}", o.dump());
    println!("\n#### hyperfine: `{name} stop`\n\n{}", read(&json));
    e.rm_f(id);
}
