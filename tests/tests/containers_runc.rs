//! solo5-runc with runc's command line, driven as containerd's runc shim
//! drives it (`--root R --log L --log-format json create --bundle B ID`,
//! `start`, `state`, `kill`, `delete`), on bundles the test builds the
//! way containerd unpacks urunc-style images: a root file system holding
//! upstream's unikernel and `/urunc.json`, no tender. The container joins
//! a "pod" network namespace of the test's own (prefix `h9`) through
//! `linux.namespaces`, as under Kubernetes; nothing leaves it.
//!
//! Skips with a message without root, `runc`, or ../shared/upstream-solo5.

use solo5_e2e::containers::{self, assert_tender_holds_nothing, Install, Pod};
use solo5_e2e::{bin, is_root, ping_stats, ping_summary, skip_unless_ping, TempDir};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SERVING: &str = "[service0] Serving ping on 10.0.0.2, with MAC: ";

/// A bundle: `rootfs/` with `files` (path in image, bytes), and a
/// config.json from `runc spec` with `args`, no terminal, joined to
/// `netns` (a name under /var/run/netns) when given.
struct Bundle {
    dir: TempDir,
    runc_root: PathBuf,
    /// solo5-runc's install directory: copies of the static binaries (a
    /// rebuild of target/release meanwhile does not change what runs).
    install: Install,
    /// `SOLO5_RUNC_RUNC` for solo5-runc (a fake runc), when set.
    runc: Option<PathBuf>,
}

impl Bundle {
    fn new(files: &[(&str, Vec<u8>)], args: &[&str], netns: Option<&str>) -> Bundle {
        let dir = TempDir::new("h9-bundle");
        let rootfs = dir.path.join("rootfs");
        for (p, bytes) in files {
            let at = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, bytes).unwrap();
            std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::create_dir_all(&rootfs).unwrap();
        let o = Command::new("runc")
            .arg("spec")
            .current_dir(&dir.path)
            .output()
            .unwrap();
        assert!(o.status.success(), "runc spec: {o:?}");
        let cfg = dir.path.join("config.json");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text = text.replace("\"terminal\": true", "\"terminal\": false");
        let args_json = format!(
            "[{}]",
            args.iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let start = text.find("\"args\": [").unwrap();
        let end = start + text[start..].find(']').unwrap() + 1;
        text.replace_range(start..end, &format!("\"args\": {args_json}"));
        if let Some(ns) = netns {
            text = text.replace(
                "\"type\": \"network\"",
                &format!("\"type\": \"network\", \"path\": \"/var/run/netns/{ns}\""),
            );
        }
        std::fs::write(&cfg, text).unwrap();
        std::fs::write(dir.path.join("config.orig"), std::fs::read(&cfg).unwrap()).unwrap();
        let runc_root = dir.path.join("runc-root");
        Bundle {
            dir,
            runc_root,
            install: Install::new(),
            runc: None,
        }
    }

    /// The root file system.
    fn rootfs(&self) -> PathBuf {
        self.path("rootfs")
    }

    /// Change config.json's text (and the copy it is compared with).
    fn edit_config(&self, f: impl FnOnce(String) -> String) {
        let text = f(std::fs::read_to_string(self.path("config.json")).unwrap());
        std::fs::write(self.path("config.json"), &text).unwrap();
        std::fs::write(self.path("config.orig"), &text).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }

    /// `solo5-runc --root R --log L --log-format json ARGS`, output to `out`.
    fn runtime(&self, args: &[&str]) -> Output {
        let out = std::fs::File::create(self.path("out")).unwrap();
        let mut c = Command::new(self.install.path("solo5-runc"));
        if let Some(r) = &self.runc {
            c.env("SOLO5_RUNC_RUNC", r);
        }
        c.arg("--root")
            .arg(&self.runc_root)
            .arg("--log")
            .arg(self.path("log.json"))
            .args(["--log-format", "json"])
            .args(args)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .output()
            .unwrap()
    }

    fn create(&self, id: &str) -> Output {
        let b = self.dir.path.to_str().unwrap().to_string();
        self.runtime(&[
            "create",
            "--bundle",
            &b,
            "--pid-file",
            self.path("pid").to_str().unwrap(),
            id,
        ])
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.path("out")).unwrap_or_default()
    }

    fn wait_output(&self, text: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.output().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn pid(&self) -> u32 {
        std::fs::read_to_string(self.path("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn restore_config(&self) {
        std::fs::copy(self.path("config.orig"), self.path("config.json")).unwrap();
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Best effort: whatever container of ours is still there.
        for id in ["h9a", "h9b", "h9bad", "h9plain", "h9m", "h9blk"] {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(&self.runc_root)
                .args(["delete", "--force", id])
                .output();
        }
    }
}

fn upstream(name: &str) -> Option<Vec<u8>> {
    let p = containers::upstream("spt", name)?;
    Some(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

fn skip() -> bool {
    if skip_unless_ping() {
        return true;
    }
    if Command::new("runc").arg("--version").output().is_err() {
        solo5_e2e::skip!("SKIP: needs runc");
        return true;
    }
    false
}

/// Files of an image: path in the image, bytes.
type Files<'a> = Vec<(&'a str, Vec<u8>)>;

/// A `/urunc.json` naming hypervisor, binary, unikernel type and command
/// line.
fn urunc_json(hv: &str, binary: &str, kind: &str, cmdline: &str) -> Vec<u8> {
    containers::urunc_json(&[
        ("hypervisor", hv),
        ("binary", binary),
        ("unikernelType", kind),
        ("cmdline", cmdline),
    ])
}

#[test]
fn urunc_image_answers_a_flood_holds_nothing_and_restarts_after_sigkill() {
    if skip() {
        return;
    }
    let Some(net) = upstream("test_net.spt") else {
        return;
    };
    let pod = Pod::with_prefix("h9r");
    let files = [
        ("/unikernel/test_net.spt", net),
        (
            "/urunc.json",
            urunc_json("spt", "/unikernel/test_net.spt", "solo5", ""),
        ),
    ];
    let b = Bundle::new(&files, &["limit"], Some(&pod.ns.name));
    for round in 0..2 {
        b.restore_config();
        let o = b.create("h9a");
        assert!(o.status.success(), "round {round}: create: {}", b.output());
        assert!(
            b.runtime(&["start", "h9a"]).status.success(),
            "{}",
            b.output()
        );
        assert!(b.wait_output(SERVING), "round {round}: {}", b.output());
        let pid = b.pid();
        assert_tender_holds_nothing(pid, "solo5-spt");
        let echos = pod.in_echos();
        let count = if round == 0 { "20000" } else { "100" };
        let p = pod
            .peer
            .ping(&["-f", "-q", "-c", count, "-w", "120", "10.0.0.2"])
            .finish(Duration::from_secs(150));
        let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{}", p.dump()));
        let want: u64 = count.parse().unwrap();
        assert!(s.transmitted >= want, "{}", p.dump());
        assert!(s.received * 1000 >= want * 999, "{}", p.dump());
        assert_eq!(pod.in_echos(), echos, "the pod's kernel answered");
        eprintln!("round {round}: {}", ping_summary(&p.stdout));
        assert!(b.runtime(&["kill", "h9a", "KILL"]).status.success());
        let start = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            b.runtime(&["delete", "h9a"]).status.success(),
            "{}",
            b.output()
        );
        assert_eq!(pod.taps(), Vec::<String>::new());
        assert!(!pod
            .ns
            .exec("tc filter show dev eth0 ingress")
            .contains("mirred"));
    }
}

#[test]
fn mirage_image_gets_its_address_and_the_containers_args() {
    if skip() {
        return;
    }
    let Some(hello) = upstream("test_hello.spt") else {
        return;
    };
    let pod = Pod::with_prefix("h9r");
    let files = [
        ("/k/hello.spt", hello),
        (
            "/urunc.json",
            urunc_json("spt", "/k/hello.spt", "mirage", "a b"),
        ),
    ];
    let b = Bundle::new(&files, &["c"], Some(&pod.ns.name));
    assert!(b.create("h9m").status.success(), "{}", b.output());
    assert!(b.runtime(&["start", "h9m"]).status.success());
    assert!(
        b.wait_output("Command line is: '--ipv4=10.0.0.2/20 --ipv4-gateway=10.0.0.1 a b c'"),
        "{}",
        b.output()
    );
}

#[test]
fn broken_images_fail_create_with_one_logged_line_and_leave_nothing() {
    if skip() {
        return;
    }
    let Some(net) = upstream("test_net.spt") else {
        return;
    };
    let not_solo5 = std::fs::read(bin("solo5-netns-exec")).unwrap();
    let cases: Vec<(Files, &str)> = vec![
        (
            vec![("/urunc.json", b"{not json".to_vec())],
            "/urunc.json is not valid",
        ),
        (
            vec![
                ("/k", net.clone()),
                ("/urunc.json", urunc_json("qemu", "/k", "solo5", "")),
            ],
            "unikernel hypervisor 'qemu' is not supported",
        ),
        (
            vec![("/urunc.json", urunc_json("spt", "/nowhere", "solo5", ""))],
            "unikernel binary /nowhere is not in the image",
        ),
        (
            vec![
                ("/k", not_solo5),
                ("/urunc.json", urunc_json("spt", "/k", "solo5", "")),
            ],
            "unikernel binary /k is not a Solo5 spt binary",
        ),
        (
            vec![
                ("/k", net),
                ("/urunc.json", urunc_json("hvt", "/k", "solo5", "")),
            ],
            "unikernel binary /k is not a Solo5 hvt binary",
        ),
    ];
    for (files, want) in cases {
        let b = Bundle::new(&files, &["x"], None);
        let o = b.create("h9bad");
        assert_eq!(o.status.code(), Some(1), "{want}: {}", b.output());
        let log = std::fs::read_to_string(b.path("log.json")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "{want}: {log}");
        assert!(
            lines[0].starts_with("{\"level\":\"error\",\"msg\":\"solo5-runc: "),
            "{log}"
        );
        assert!(lines[0].contains(want), "want {want:?}: {log}");
        assert_eq!(
            std::fs::read(b.path("config.json")).unwrap(),
            std::fs::read(b.path("config.orig")).unwrap(),
            "{want}: config.json changed"
        );
        let list = b.runtime(&["list", "-q"]);
        assert!(
            String::from_utf8_lossy(&list.stdout).trim().is_empty(),
            "{want}: a container is left"
        );
    }
}

#[test]
fn a_plain_image_goes_to_runc_untouched() {
    if skip() {
        return;
    }
    let hello = std::fs::read(bin("solo5-netns-exec")).unwrap();
    let b = Bundle::new(&[("/hello", hello)], &["/hello", "--version"], None);
    // runc ignores an unknown capability (with a warning); so must we.
    b.edit_config(|t| {
        t.replacen(
            "\"CAP_AUDIT_WRITE\",",
            "\"CAP_AUDIT_WRITE\", \"CAP_NOT_A_CAPABILITY\",",
            1,
        )
    });
    let o = b.runtime(&["run", "--bundle", b.dir.path.to_str().unwrap(), "h9plain"]);
    assert!(o.status.success(), "{}", b.output());
    assert!(
        b.output().contains("solo5-netns-exec 0.1.0"),
        "{}",
        b.output()
    );
    assert_eq!(
        std::fs::read(b.path("config.json")).unwrap(),
        std::fs::read(b.path("config.orig")).unwrap()
    );
    let _ = b.runtime(&["delete", "h9plain"]);
}

/// Skips without root (solo5-runc runs as root; the hostile images are
/// made with mknod, the canaries are root's) or runc (`runc spec` makes
/// the bundles).
fn skip_unless_root() -> bool {
    if !is_root() {
        solo5_e2e::skip!("SKIP: needs root (solo5-runc runs as root; mknod, root-owned canaries)");
        return true;
    }
    if Command::new("runc").arg("--version").output().is_err() {
        solo5_e2e::skip!("SKIP: needs runc");
        return true;
    }
    false
}

/// A fake runc for `SOLO5_RUNC_RUNC`: records its arguments (one a line)
/// in `DIR/runc-argv` and the config.json of its `--bundle` in
/// `DIR/runc-config.json`, and succeeds.
fn fake_runc(dir: &Path) -> PathBuf {
    let p = dir.join("fake-runc");
    let script = format!(
        r#"#!/bin/sh
: > '{d}/runc-argv'
for a in "$@"; do printf '%s\n' "$a" >> '{d}/runc-argv'; done
b=.
while [ $# -gt 0 ]; do
    case "$1" in
    --bundle|-b) b="$2"; shift ;;
    --bundle=*|-b=*) b="${{1#*=}}" ;;
    esac
    shift
done
cp "$b/config.json" '{d}/runc-config.json'
"#,
        d = dir.display()
    );
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

impl Bundle {
    /// solo5-runc hands over to [`fake_runc`] instead of runc.
    fn with_fake_runc(mut self) -> Bundle {
        self.runc = Some(fake_runc(&self.dir.path));
        self
    }
}

/// A root-owned file outside every root file system: its owner, mode and
/// contents must be what they were whatever an image names.
struct Canary {
    _dir: TempDir,
    path: PathBuf,
}

const CANARY: &[u8] = b"canary: solo5-runc must never touch this\n";

impl Canary {
    fn new() -> Canary {
        let dir = TempDir::new("h9-canary");
        let path = dir.path.join("canary");
        std::fs::write(&path, CANARY).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
        Canary { _dir: dir, path }
    }

    fn text(&self) -> String {
        self.path.display().to_string()
    }

    /// `../` enough times to climb from any root file system to `/`, then
    /// the canary's path.
    fn climbing(&self) -> String {
        format!(
            "{}{}",
            "../".repeat(24),
            self.text().trim_start_matches('/')
        )
    }

    fn assert_untouched(&self, case: &str) {
        let m = std::fs::symlink_metadata(&self.path).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0), "{case}: canary owner changed");
        assert_eq!(m.mode(), 0o100600, "{case}: canary mode changed");
        assert_eq!(
            std::fs::read(&self.path).unwrap(),
            CANARY,
            "{case}: canary contents changed"
        );
    }
}

/// The one error record of a failed create, after checking what a
/// refusal leaves: exit status 1, config.json as it was, no container.
fn refused(b: &Bundle, case: &str) -> String {
    let o = b.create("h9bad");
    assert_eq!(o.status.code(), Some(1), "{case}: {}", b.output());
    let log = std::fs::read_to_string(b.path("log.json")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: {log}");
    assert!(
        lines[0].starts_with("{\"level\":\"error\",\"msg\":\"solo5-runc: "),
        "{case}: {log}"
    );
    assert_eq!(
        std::fs::read(b.path("config.json")).unwrap(),
        std::fs::read(b.path("config.orig")).unwrap(),
        "{case}: config.json changed"
    );
    // The same line on stderr.
    let msg = b
        .output()
        .lines()
        .find(|l| l.starts_with("solo5-runc: "))
        .unwrap_or_else(|| panic!("{case}: no error line: {}", b.output()))
        .to_string();
    assert!(
        lines[0].contains(&serde_escape(&msg)),
        "{case}: {log} vs {msg}"
    );
    let list = b.runtime(&["list", "-q"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).trim().is_empty(),
        "{case}: a container is left"
    );
    msg
}

/// `s` as it appears inside a JSON string (the lines compared here have
/// no control characters).
fn serde_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Make a FIFO or device node at `at` with mknod(1).
fn mknod(at: &Path, args: &[&str]) {
    let o = Command::new(if args.is_empty() { "mkfifo" } else { "mknod" })
        .arg(at)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "mknod {}: {o:?}", at.display());
}

fn symlink(target: &str, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn hostile_images_touch_nothing_outside_their_root_file_system() {
    if skip_unless_root() {
        return;
    }
    let Some(blk) = upstream("test_blk.spt") else {
        return;
    };
    let canary = Canary::new();
    let c = canary.text();
    let climb = canary.climbing();
    // (case, block path (None: the kernel is the hostile file), what to
    // make in the root file system, the refusal expected).
    type Make<'a> = Box<dyn Fn(&Path) + 'a>;
    let none: fn(&Path) = |_| {};
    let cases: Vec<(&str, Option<String>, &str, Make, String)> = vec![
        (
            "block path climbing out with ..",
            Some(climb.clone()),
            "/k",
            Box::new(none),
            format!("block file {climb} is not in the image"),
        ),
        (
            "block file: absolute symlink to the canary",
            Some("/disk.img".into()),
            "/k",
            Box::new(|r: &Path| symlink(&c, &r.join("disk.img"))),
            "image file /disk.img: not a regular file (a symbolic link)".into(),
        ),
        (
            "block file: relative symlink climbing out",
            Some("/disk.img".into()),
            "/k",
            Box::new(|r: &Path| symlink(&climb, &r.join("disk.img"))),
            "image file /disk.img: not a regular file (a symbolic link)".into(),
        ),
        (
            "block path through a directory symlink climbing out",
            Some(format!("/host{c}")),
            "/k",
            Box::new(|r: &Path| symlink(&"../".repeat(24), &r.join("host"))),
            format!("block file /host{c} is not in the image"),
        ),
        (
            "block file: a hard link to the canary",
            Some("/disk.img".into()),
            "/k",
            Box::new(|r: &Path| std::fs::hard_link(&canary.path, r.join("disk.img")).unwrap()),
            "image file /disk.img: has other hard links".into(),
        ),
        (
            "block file: a FIFO",
            Some("/disk.img".into()),
            "/k",
            Box::new(|r: &Path| mknod(&r.join("disk.img"), &[])),
            "image file /disk.img: not a regular file (a FIFO)".into(),
        ),
        (
            "block file: a device node (/dev/null's numbers)",
            Some("/disk.img".into()),
            "/k",
            Box::new(|r: &Path| mknod(&r.join("disk.img"), &["c", "1", "3"])),
            "image file /disk.img: not a regular file (a character device)".into(),
        ),
        (
            "kernel path climbing out with ..",
            None,
            &climb,
            Box::new(none),
            format!("unikernel binary {climb} is not in the image"),
        ),
        (
            "kernel: symlink to /dev/zero",
            None,
            "/zero",
            Box::new(|r: &Path| symlink("/dev/zero", &r.join("zero"))),
            "image file /zero: not a regular file (a symbolic link)".into(),
        ),
        (
            "kernel: a device node (/dev/zero's numbers)",
            None,
            "/zero",
            Box::new(|r: &Path| mknod(&r.join("zero"), &["c", "1", "5"])),
            "image file /zero: not a regular file (a character device)".into(),
        ),
        (
            "kernel: a FIFO",
            None,
            "/fifo",
            Box::new(|r: &Path| mknod(&r.join("fifo"), &[])),
            "image file /fifo: not a regular file (a FIFO)".into(),
        ),
        (
            "kernel: a sparse file of 4 GiB + 1 byte",
            None,
            "/big.spt",
            Box::new(|r: &Path| {
                let f = std::fs::File::create(r.join("big.spt")).unwrap();
                f.set_len((4 << 30) + 1).unwrap();
            }),
            "image file /big.spt: larger than 4 GiB".into(),
        ),
        (
            "kernel: symlink to the canary",
            None,
            "/k2",
            Box::new(|r: &Path| symlink(&c, &r.join("k2"))),
            "image file /k2: not a regular file (a symbolic link)".into(),
        ),
    ];
    for (case, block, kernel, make, want) in cases {
        let mut pairs = vec![("hypervisor", "spt"), ("binary", kernel)];
        if let Some(b) = &block {
            pairs.push(("block", b.as_str()));
        }
        let files = vec![
            ("/k", blk.clone()),
            ("/urunc.json", containers::urunc_json(&pairs)),
        ];
        let b = Bundle::new(&files, &["x"], None);
        make(&b.rootfs());
        let start = Instant::now();
        let msg = refused(&b, case);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{case}: took {:?}",
            start.elapsed()
        );
        eprintln!("{case}: {msg}");
        assert_eq!(msg, format!("solo5-runc: {want}"), "{case}");
        // Nothing about the host: no path of the bundle (the image's own
        // path may name anything).
        assert!(!msg.contains(b.dir.path.to_str().unwrap()), "{case}: {msg}");
        canary.assert_untouched(case);
        // What the image has there is not chowned either.
        if let Ok(m) = std::fs::symlink_metadata(b.rootfs().join("disk.img")) {
            assert_eq!(m.uid(), 0, "{case}: the image's disk.img was chowned");
        }
    }

    // /urunc.json itself: a symlink to the canary, a FIFO, too large.
    let urunc_cases: Vec<(&str, Make, &str)> = vec![
        (
            "/urunc.json: symlink to the canary",
            Box::new(|r: &Path| symlink(&c, &r.join("urunc.json"))),
            "image file /urunc.json: not a regular file (a symbolic link)",
        ),
        (
            "/urunc.json: symlink to /dev/zero",
            Box::new(|r: &Path| symlink("/dev/zero", &r.join("urunc.json"))),
            "image file /urunc.json: not a regular file (a symbolic link)",
        ),
        (
            "/urunc.json: a FIFO",
            Box::new(|r: &Path| mknod(&r.join("urunc.json"), &[])),
            "image file /urunc.json: not a regular file (a FIFO)",
        ),
        (
            "/urunc.json: 1 MiB + 1 byte",
            Box::new(|r: &Path| {
                let f = std::fs::File::create(r.join("urunc.json")).unwrap();
                f.set_len((1 << 20) + 1).unwrap();
            }),
            "image file /urunc.json: larger than 1 MiB",
        ),
    ];
    for (case, make, want) in urunc_cases {
        let b = Bundle::new(&[("/k", blk.clone())], &["x"], None);
        make(&b.rootfs());
        let msg = refused(&b, case);
        eprintln!("{case}: {msg}");
        assert_eq!(msg, format!("solo5-runc: {want}"), "{case}");
        canary.assert_untouched(case);
    }
}

#[test]
fn the_block_file_given_to_the_tender_is_the_containers_own() {
    if skip_unless_root() {
        return;
    }
    let Some(blk) = upstream("test_blk.spt") else {
        return;
    };
    let canary = Canary::new();
    let files = [
        ("/unikernel/test_blk.spt", blk),
        (
            "/urunc.json",
            containers::urunc_json(&[
                ("hypervisor", "spt"),
                ("binary", "unikernel/test_blk.spt"),
                ("block", "disk.img"),
            ]),
        ),
        ("/disk.img", vec![0; 1 << 20]),
    ];
    let b = Bundle::new(&files, &["x"], None).with_fake_runc();
    let o = b.create("h9blk");
    assert!(o.status.success(), "{}", b.output());
    let m = std::fs::metadata(b.rootfs().join("disk.img")).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    assert_eq!(m.mode() & 0o7777, 0o755, "only the owner changes");
    canary.assert_untouched("a regular block file");
    let cfg = std::fs::read_to_string(b.path("runc-config.json")).unwrap();
    let want = r#"["/.solo5/solo5-netns-exec","--","/.solo5/solo5-spt","--block:storage=/disk.img","--","/unikernel/test_blk.spt","x"]"#;
    let compact: String = cfg.split_whitespace().collect();
    assert!(compact.contains(&format!("\"args\":{want}")), "{cfg}");
}

#[test]
fn a_plain_bundle_reaches_runc_byte_for_byte_whatever_oci_spec_thinks() {
    if skip_unless_root() {
        return;
    }
    let b = Bundle::new(
        &[("/hello", b"#!/bin/sh\n".to_vec())],
        &["/hello", "a"],
        None,
    )
    .with_fake_runc();
    // Things runc accepts and a typed OCI model may not: an unknown
    // capability, a field of a newer runtime spec, odd spacing.
    b.edit_config(|t| {
        t.replacen(
            "\"CAP_AUDIT_WRITE\",",
            "\"CAP_AUDIT_WRITE\", \"CAP_NOT_A_CAPABILITY\",",
            1,
        )
        .replacen('{', "{ \"x-vendor-field\" :  {\"n\": 1e400},", 1)
    });
    assert!(std::fs::read_to_string(b.path("config.json"))
        .unwrap()
        .contains("CAP_NOT_A_CAPABILITY"));
    let bundle = b.dir.path.to_str().unwrap().to_string();
    let pid = b.path("pid").display().to_string();
    let args = ["create", "--bundle", &bundle, "--pid-file", &pid, "h9plain"];
    let o = b.runtime(&args);
    assert!(o.status.success(), "{}", b.output());
    assert_eq!(
        std::fs::read(b.path("runc-config.json")).unwrap(),
        std::fs::read(b.path("config.orig")).unwrap(),
        "runc saw another config.json"
    );
    assert_eq!(
        std::fs::read(b.path("config.json")).unwrap(),
        std::fs::read(b.path("config.orig")).unwrap()
    );
    let mut want = vec![
        "--root".to_string(),
        b.runc_root.display().to_string(),
        "--log".into(),
        b.path("log.json").display().to_string(),
        "--log-format".into(),
        "json".into(),
    ];
    want.extend(args.iter().map(|s| s.to_string()));
    let argv = std::fs::read_to_string(b.path("runc-argv")).unwrap();
    assert_eq!(argv.lines().collect::<Vec<_>>(), want);
}

/// A config.json's text with `annotations` (JSON object text) at its top.
fn with_annotations(text: String, annotations: &str) -> String {
    text.replacen('{', &format!("{{\"annotations\": {annotations},"), 1)
}

#[test]
fn engine_inits_and_raw_or_encoded_annotations() {
    if skip() {
        return;
    }
    let Some(hello) = upstream("test_hello.spt") else {
        return;
    };
    let b64 = containers::b64;
    // Podman: raw annotations, its init; Docker: annotations in urunc's
    // base64 form, its init. The guest's command line is the image's
    // cmdline and the user's args, nothing of the init.
    let cases = [
        (
            "podman --annotation, --init",
            r#"{"com.urunc.unikernel.hypervisor": "spt", "com.urunc.unikernel.binary": "/k/hello.spt", "com.urunc.unikernel.cmdline": "hello", "com.urunc.unikernel.unikernelType": "solo5"}"#.to_string(),
            "/run/podman-init",
        ),
        (
            "docker, base64 annotations, --init",
            format!(
                r#"{{"com.urunc.unikernel.hypervisor": "{}", "com.urunc.unikernel.binary": "b64:{}", "com.urunc.unikernel.cmdline": "{}"}}"#,
                b64("spt"),
                b64("/k/hello.spt"),
                b64("hello")
            ),
            "/sbin/docker-init",
        ),
    ];
    for (case, annotations, init) in cases {
        let b = Bundle::new(
            &[("/k/hello.spt", hello.clone())],
            &[init, "--", "init"],
            None,
        );
        b.edit_config(|t| with_annotations(t, &annotations));
        assert!(b.create("h9a").status.success(), "{case}: {}", b.output());
        assert!(b.runtime(&["start", "h9a"]).status.success(), "{case}");
        assert!(
            b.wait_output("Command line is: 'hello init'"),
            "{case}: {}",
            b.output()
        );
        let _ = b.runtime(&["delete", "--force", "h9a"]);
    }
}
