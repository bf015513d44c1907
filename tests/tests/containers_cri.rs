//! Kubernetes' path, with the test playing kubelet: containerd's CRI
//! plugin (a containerd of the test's own, in a network namespace the
//! test makes, prefix `h10`, which plays the node) with a runtime handler
//! `solo5` (the stock runc shim, `BinaryName` = solo5-runc), the CNI
//! `bridge` + `host-local` plugins from Debian's containernetworking-plugins,
//! and a pause image built here (a static C program; nothing comes from
//! the internet). Over the CRI socket: RunPodSandbox with handler solo5,
//! CreateContainer and StartContainer from a urunc-style image holding
//! upstream's `test_net.spt` (and `test_net.hvt` where /dev/kvm exists),
//! a ping flood to the pod IP that CNI assigned (the unikernel answers;
//! the pod kernel's `Icmp: InEchos` does not move), StopPodSandbox,
//! RemovePodSandbox, and nothing left on the node.
//!
//! Skips with a visible reason without root, containerd, runc, umoci,
//! ping, the CNI plugins, gcc (for the pause program), or
//! ../shared/upstream-solo5.

use solo5_e2e::containers::cri::{get_bytes, get_map, get_string, get_uint, runtime, Grpc, Pb};
use solo5_e2e::containers::{
    assert_tender_holds_nothing, build_image, read, skip_unless_containerd, static_c, upstream,
    urunc_json, wait_file, Containerd, Install, SERVING,
};
use solo5_e2e::{ping_summary, snmp_in_echos, Netns, TempDir};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The pause program: sleeps until SIGTERM/SIGINT (or SIGKILL).
const PAUSE_C: &str = r#"#include <signal.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
int main(void) {
    signal(SIGTERM, quit);
    signal(SIGINT, quit);
    for (;;) pause();
}
"#;

/// Where Debian's containernetworking-plugins are.
fn cni_bin() -> Option<PathBuf> {
    ["/usr/lib/cni", "/opt/cni/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|d| {
            ["bridge", "host-local", "loopback"]
                .iter()
                .all(|p| d.join(p).exists())
        })
}

/// containerd's CRI section as this test uses it. The operator's version
/// is in docs/containers.md; here runc's state goes to the test's
/// directory, pod network namespaces under containerd's state, and the
/// CNI configuration is the test's own.
fn cri_config(install: &Install, cni: &Path) -> String {
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/h10-pause:v1"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # Keep oom_score_adj at or above containerd's own: lowering it needs
  # CAP_SYS_RESOURCE, which the machines this runs on may not give root.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{{dir}}/runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.solo5]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.solo5.options]
        BinaryName = "{runc}"
        Root = "{{dir}}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}"
    conf_dir = "{{dir}}/cni"
"#,
        runc = install.runc(),
        cni = cni.display()
    )
}

/// The CNI network: a bridge `h10br0` in the node's namespace holding the
/// gateway 10.0.0.1/20, host-local handing out 10.0.0.2 (where test_net
/// answers) and nothing else.
fn cni_conflist(dir: &Path) -> String {
    format!(
        r#"{{
  "cniVersion": "0.4.0",
  "name": "h10-pods",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "h10br0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {{
        "type": "host-local",
        "ranges": [[{{"subnet": "10.0.0.0/20", "rangeStart": "10.0.0.2", "rangeEnd": "10.0.0.2", "gateway": "10.0.0.1"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}],
        "dataDir": "{}/cni-ipam"
      }}
    }}
  ]
}}
"#,
        dir.display()
    )
}

/// `"pid": N` in a CRI verbose info JSON.
fn info_pid(json: &str) -> Option<u32> {
    let at = json.find("\"pid\":")? + 6;
    let digits: String = json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The pod kernel's `Icmp: InEchos`, read by a process that entered the
/// network namespace of `pid` (the pause process).
fn in_echos(pid: u32) -> u64 {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("the pod's netns");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ns);
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/net/snmp");
    // SAFETY: the closure runs in the forked child before exec and makes
    // one async-signal-safe call (setns) on `fd`, which stays open in the
    // parent until output() returns because `ns` lives across it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().expect("cat /proc/net/snmp in the pod");
    drop(ns);
    snmp_in_echos(&String::from_utf8_lossy(&o.stdout))
}

/// kubelet's side of one pod.
struct Kubelet<'a> {
    c: &'a Containerd,
    grpc: Grpc,
}

impl Kubelet<'_> {
    fn call(&mut self, method: &str, req: Pb) -> Vec<u8> {
        self.grpc.call(&runtime(method), &req).unwrap_or_else(|e| {
            let log = read(&self.c.dir.path.join("containerd.log"));
            let errors: Vec<&str> = log.lines().filter(|l| l.contains("level=error")).collect();
            panic!("{e}\n--- containerd's errors\n{}", errors.join("\n"))
        })
    }
}

/// The sandbox config kubelet sends (RunPodSandbox and CreateContainer).
fn sandbox_config(name: &str, logs: &Path, cgroup_parent: &str) -> Pb {
    Pb::new()
        .msg(
            1,
            Pb::new()
                .string(1, name)
                .string(2, &format!("{name}-uid"))
                .string(3, "default"),
        )
        .string(2, name)
        .string(3, &logs.display().to_string())
        .map_entry(6, "app", "h10")
        .msg(8, Pb::new().string(1, &format!("/{cgroup_parent}")))
}

/// One pod's life through the CRI: run the sandbox with handler solo5,
/// create and start the unikernel container from `image`, flood its pod
/// IP, stop and remove the sandbox; checks that nothing is left.
fn pod_life(c: &Containerd, node: &Netns, image: &str, tender: &str, logs: &Path) {
    let mut k = Kubelet {
        c,
        grpc: Grpc::connect(&c.socket()).expect("connect to the CRI socket"),
    };
    let name = format!("h10-{}", tender.trim_start_matches("solo5-"));
    let pod_logs = logs.join(&name);
    std::fs::create_dir_all(&pod_logs).unwrap();
    let sandbox = sandbox_config(&name, &pod_logs, &c.cgroup_parent);
    let resp = k.call(
        "RunPodSandbox",
        Pb::new().msg(1, sandbox.clone()).string(2, "solo5"),
    );
    let pod = get_string(&resp, 1);
    assert!(!pod.is_empty(), "no sandbox id");
    let st = k.call("PodSandboxStatus", Pb::new().string(1, &pod).uint(2, 1));
    let status = get_bytes(&st, 1).expect("status");
    assert_eq!(get_string(status, 9), "solo5", "runtime handler");
    let ip = get_string(get_bytes(status, 5).expect("network status"), 1);
    assert_eq!(ip, "10.0.0.2", "the IP CNI assigned");
    let pause = get_map(&st, 2, "info")
        .and_then(|j| info_pid(&j))
        .expect("the sandbox's pid");

    // The pod's own kernel answers until the unikernel runs.
    let echos = in_echos(pause);
    let (s, o) = ping(node, &ip, &["-c", "2", "-i", "0.2", "-w", "10"]);
    assert_eq!(s, 2, "{o}");
    assert_eq!(in_echos(pause), echos + 2);

    let config = Pb::new()
        .msg(1, Pb::new().string(1, "net"))
        .msg(2, Pb::new().string(1, image))
        // The pod spec's `args:`, which reach the guest (test_net wants a
        // last word like "limit"); CRI refuses a container without any.
        .strings(4, &["limit"])
        .string(11, "net.log")
        // 64 MiB: the tender gets --mem=56.
        .msg(15, Pb::new().msg(1, Pb::new().uint(4, 64 << 20)));
    let resp = k.call(
        "CreateContainer",
        Pb::new()
            .string(1, &pod)
            .msg(2, config)
            .msg(3, sandbox.clone()),
    );
    let ctr = get_string(&resp, 1);
    k.call("StartContainer", Pb::new().string(1, &ctr));
    let log = pod_logs.join("net.log");
    assert!(
        wait_file(&log, SERVING, Duration::from_secs(20)),
        "{}",
        read(&log)
    );
    assert!(read(&log).contains("Memory map: 56 MB"), "{}", read(&log));
    let cs = k.call("ContainerStatus", Pb::new().string(1, &ctr).uint(2, 1));
    assert_eq!(
        get_uint(get_bytes(&cs, 1).expect("status"), 3),
        1,
        "CONTAINER_RUNNING"
    );
    let tpid = get_map(&cs, 2, "info")
        .and_then(|j| info_pid(&j))
        .expect("the container's pid");
    assert_tender_holds_nothing(tpid, tender);

    let echos = in_echos(pause);
    let (s, o) = ping(node, &ip, &["-f", "-q", "-c", "20000", "-w", "120"]);
    assert!(s * 1000 >= 20000 * 999, "{o}");
    assert_eq!(in_echos(pause), echos, "the pod's kernel answered");
    eprintln!("{tender}: {}", ping_summary(&o));

    k.call("StopPodSandbox", Pb::new().string(1, &pod));
    k.call("RemovePodSandbox", Pb::new().string(1, &pod));
    let list = k.call("ListPodSandbox", Pb::new());
    assert!(get_bytes(&list, 1).is_none(), "a sandbox is left");
    for pid in [tpid, pause] {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} is left"
        );
    }
    assert_nothing_on_the_node(c, node);
}

fn ping(node: &Netns, ip: &str, args: &[&str]) -> (u64, String) {
    let mut a = args.to_vec();
    a.push(ip);
    let o = node.ping(&a).finish(Duration::from_secs(150));
    let s = solo5_e2e::ping_stats(&o.stdout).unwrap_or_else(|| panic!("{}", o.dump()));
    (s.received, o.stdout)
}

/// Nothing of the pod on the node: no task, container, runc state, shim
/// or cgroup (containerd's view), no pod network namespace, no veth on
/// the bridge, no address still allocated.
fn assert_nothing_on_the_node(c: &Containerd, node: &Netns) {
    // containerd removes some things just after answering.
    let start = Instant::now();
    let mut left = c.leftovers();
    while !left.is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        left = c.leftovers();
    }
    assert_eq!(left, Vec::<String>::new());
    let netns = c.dir.path.join("state/io.containerd.grpc.v1.cri/netns");
    let named: Vec<_> = std::fs::read_dir(&netns)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(named, Vec::<PathBuf>::new(), "a pod netns is left");
    let ports = node.exec("ip -o link show master h10br0 2>/dev/null || true");
    assert_eq!(ports.trim(), "", "a veth is left on the bridge");
    let ipam = c.dir.path.join("cni-ipam/h10-pods/10.0.0.2");
    assert!(!ipam.exists(), "10.0.0.2 is still allocated");
}

#[test]
fn a_pod_with_a_unikernel_through_the_cri() {
    if skip_unless_containerd() {
        return;
    }
    let Some(cni) = cni_bin() else {
        solo5_e2e::skip!(
            "SKIP: needs the CNI plugins (apt-get install containernetworking-plugins)"
        );
        return;
    };
    let Some(net) = upstream("spt", "test_net.spt") else {
        return;
    };
    let work = TempDir::new("h10-cri-images");
    let Some(pause) = static_c(&work.path, "pause-program", PAUSE_C) else {
        return;
    };
    let install = Install::new();
    let dir = TempDir::new("h10-cri");
    std::fs::create_dir_all(dir.path.join("cni")).unwrap();
    std::fs::write(
        dir.path.join("cni/10-h10.conflist"),
        cni_conflist(&dir.path),
    )
    .unwrap();
    let logs = dir.path.join("pods");
    let cgroup = format!("h10cri-{}", std::process::id());
    let cri = cri_config(&install, &cni);
    let c = Containerd::start_cri(dir, install, &cri, &cgroup);

    let tar = build_image(
        &work.path,
        "pause",
        &[("/pause", std::fs::read(&pause).unwrap())],
        &["/pause"],
        &[],
    );
    c.import(&tar, "h10-pause");
    let image = |name: &str, kernel: &Path, hv: &str| {
        let k = format!(
            "/unikernel/{}",
            kernel.file_name().unwrap().to_str().unwrap()
        );
        let tar = build_image(
            &work.path,
            name,
            &[
                (k.as_str(), std::fs::read(kernel).unwrap()),
                (
                    "/urunc.json",
                    urunc_json(&[
                        ("hypervisor", hv),
                        ("binary", &k),
                        ("unikernelType", "solo5"),
                    ]),
                ),
            ],
            &[],
            &[],
        );
        c.import(&tar, name)
    };
    let spt_image = image("h10-cri-net-spt", &net, "spt");
    pod_life(&c, &c.netns, &spt_image, "solo5-spt", &logs);

    if !Path::new("/dev/kvm").exists() {
        solo5_e2e::skip!("SKIP: hvt pod: needs /dev/kvm");
        return;
    }
    let Some(net_hvt) = upstream("hvt", "test_net.hvt") else {
        return;
    };
    let hvt_image = image("h10-cri-net-hvt", &net_hvt, "hvt");
    // A second pod after the first is gone: same address, same node.
    pod_life(&c, &c.netns, &hvt_image, "solo5-hvt", &logs);
}
