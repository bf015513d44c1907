//! solo5-runc with runc's command line, driven as containerd's runc shim
//! drives it (`--root R --log L --log-format json create --bundle B ID`,
//! `start`, `state`, `kill`, `delete`), on bundles the test builds the
//! way containerd unpacks urunc-style images: a root file system holding
//! upstream's unikernel and `/urunc.json`, no tender. The container joins
//! a "pod" network namespace of the test's own (prefix `h9`) through
//! `linux.namespaces`, as under Kubernetes; nothing leaves it.
//!
//! Skips with a message without root, `runc`, or ../shared/upstream-solo5.

use solo5_e2e::containers::{self, assert_tender_holds_nothing, Pod};
use solo5_e2e::{bin, ping_stats, ping_summary, skip_unless_ping, TempDir};
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
}

impl Bundle {
    fn new(files: &[(&str, Vec<u8>)], args: &[&str], netns: Option<&str>) -> Bundle {
        let dir = TempDir::new("h9-bundle");
        let rootfs = dir.path.join("rootfs");
        for (p, bytes) in files {
            let at = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, bytes).unwrap();
            use std::os::unix::fs::PermissionsExt;
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
        Bundle { dir, runc_root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }

    /// `solo5-runc --root R --log L --log-format json ARGS`, output to `out`.
    fn runtime(&self, args: &[&str]) -> Output {
        let out = std::fs::File::create(self.path("out")).unwrap();
        Command::new(bin("solo5-runc"))
            .arg("--root")
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
        for id in ["h9a", "h9b", "h9bad", "h9plain", "h9m"] {
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
