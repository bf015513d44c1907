//! Unikernels as ordinary Podman containers: rootful podman with state of
//! the test's own (`--root`, `--runroot`, and a containers.conf with its
//! tmp dir, CNI configuration and IPAM state in a temporary directory),
//! run with `nsenter --net` inside a network namespace the test makes
//! (prefix `solo5-podman`), solo5-runc registered in `[engine.runtimes]` as
//! `solo5`, `--cgroup-manager=cgroupfs`, file events; images built by
//! `podman build` from the README's Dockerfile, `FROM scratch`, holding
//! upstream's unikernels (../shared/upstream-solo5).
//!
//! The same scenarios as containers_docker.rs (hello, `-m`, a net
//! unikernel on a user network at a fixed `--ip` and on the default
//! network, stop/kill/start/rm, `--init`, the helper image on the stock
//! runtime, a plain image, broken images, hvt), and rootless Podman
//! running a hello unikernel with `--network none` as an unprivileged
//! user the test creates if absent (`solo5-rootless`, with subordinate
//! uid and gid ranges).

use solo5_e2e::containers::in_path;
use solo5_e2e::engines::{self, podman, upstream};
use solo5_e2e::{run_cmd, sh, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn hello_args_status_and_memory() {
    let Some(mut g) = podman() else { return };
    engines::hello_args_status_and_memory(g.as_mut().unwrap());
}

#[test]
fn init_leaves_the_guest_command_line_alone() {
    let Some(mut g) = podman() else { return };
    engines::init_leaves_the_command_line_alone(g.as_mut().unwrap());
}

#[test]
fn net_unikernel_on_a_user_network_and_its_life_cycle() {
    let Some(mut g) = podman() else { return };
    engines::net_on_a_user_network_and_its_life_cycle(g.as_mut().unwrap(), "spt");
}

#[test]
fn net_unikernel_on_the_default_network() {
    let Some(mut g) = podman() else { return };
    engines::net_on_the_default_bridge(g.as_mut().unwrap());
}

#[test]
fn helper_image_on_the_stock_runtime() {
    let Some(mut g) = podman() else { return };
    engines::helper_image_on_the_stock_runtime(g.as_mut().unwrap());
}

#[test]
fn plain_image_through_solo5_runc() {
    let Some(mut g) = podman() else { return };
    engines::plain_image_through_solo5_runc(g.as_mut().unwrap());
}

#[test]
fn broken_images_are_refused_with_the_reason() {
    let Some(mut g) = podman() else { return };
    engines::broken_images_are_refused_with_the_reason(g.as_mut().unwrap());
}

#[test]
fn hvt_unikernels() {
    let Some(mut g) = podman() else { return };
    engines::hvt(g.as_mut().unwrap());
}

/// The unprivileged user of the rootless test.
const USER: &str = "solo5-rootless";

/// `USER`'s uid and gid, creating the user (a system user without a home
/// or a shell) and its subordinate ranges (65536 ids after every range
/// already given) when absent.
fn rootless_user() -> (u32, u32) {
    if run_cmd(
        Command::new("id").arg("-u").arg(USER),
        Duration::from_secs(5),
    )
    .status
        != 0
    {
        sh(&format!(
            "useradd --system --user-group --no-create-home --home-dir /nonexistent \
             --shell /usr/sbin/nologin {USER}"
        ));
    }
    for (file, opt) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            continue;
        }
        let end = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
            })
            .max()
            .unwrap_or(0)
            .max(100_000);
        sh(&format!("usermod {opt} {end}-{} {USER}", end + 65535));
    }
    let id = |o: &str| -> u32 { sh(&format!("id {o} {USER}")).trim().parse().expect("an id") };
    (id("-u"), id("-g"))
}

#[test]
fn rootless_podman_runs_a_hello_unikernel_without_network() {
    let Some(mut g) = podman() else { return };
    let e = g.as_mut().unwrap();
    for tool in ["useradd", "usermod", "newuidmap", "newgidmap", "setpriv"] {
        if !in_path(tool) && !Path::new("/usr/sbin").join(tool).exists() {
            solo5_e2e::skip!(
                "SKIP: rootless podman needs {tool} (apt-get install uidmap passwd util-linux)"
            );
            return;
        }
    }
    let (uid, gid) = rootless_user();
    let dir = TempDir::new("rootless");
    let d = dir.path.display().to_string();
    let conf = dir.path.join("home/.config/containers");
    for sub in ["run", "ctx"] {
        std::fs::create_dir_all(dir.path.join(sub)).unwrap();
    }
    std::fs::create_dir_all(conf.join("containers.conf.d")).unwrap();
    // The user's own containers.conf (no systemd here), and the runtime
    // from the shipped drop-in where a rootless user installs it.
    std::fs::write(
        conf.join("containers.conf"),
        format!(
            "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             events_logfile_path = \"{d}/home/events.log\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("containers.conf.d/solo5.conf"),
        e.deploy("podman-solo5.conf"),
    )
    .unwrap();
    std::fs::copy(
        upstream("spt", "test_hello.spt"),
        dir.path.join("ctx/app.spt"),
    )
    .unwrap();
    std::fs::write(
        dir.path.join("ctx/urunc.json"),
        solo5_e2e::containers::urunc_json(&[
            ("hypervisor", "spt"),
            ("binary", "/unikernel/app.spt"),
            ("cmdline", "hello"),
        ]),
    )
    .unwrap();
    std::fs::write(dir.path.join("ctx/Dockerfile"), engines::DOCKERFILE).unwrap();
    sh(&format!(
        "chown -R {uid}:{gid} {d}/home {d}/run {d}/ctx && chmod 700 {d}/run"
    ));
    // As the user, in our namespace, with nothing of root's environment.
    let podman = |args: &[&str]| {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", e.netns.name))
            .arg("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .args(["env", "-i"])
            .arg(format!("HOME={d}/home"))
            .arg(format!("XDG_RUNTIME_DIR={d}/run"))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg("podman")
            .arg(format!("--root={d}/home/storage"))
            .arg(format!("--runroot={d}/run/storage"))
            .arg("--storage-driver=vfs")
            .args(args);
        run_cmd(&mut c, Duration::from_secs(120))
    };
    let ctx = format!("{d}/ctx");
    let built = podman(&["build", "-q", "-t", "localhost/rootless-hello:v1", &ctx]);
    let ran = (built.status == 0).then(|| {
        podman(&[
            "run",
            "--rm",
            "--runtime=solo5",
            "--network=none",
            "localhost/rootless-hello:v1",
            "a",
            "b c",
        ])
    });
    // The user namespace's holder (podman's pause process) and anything
    // else podman left running as the user, by PID.
    let pause = std::fs::read_to_string(dir.path.join("run/libpod/tmp/pause.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    if let Some(p) = pause {
        // SAFETY: kill has no memory-safety preconditions; `p` is the
        // pause process our rootless podman started.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert_eq!(built.status, 0, "rootless podman build: {}", built.dump());
    let o = ran.unwrap();
    assert_eq!(o.status, 0, "rootless podman run: {}", o.dump());
    assert!(
        o.stdout.contains("Command line is: 'hello a b c'\n"),
        "{}",
        o.dump()
    );
    eprintln!(
        "rootless podman (uid {uid}): {}",
        o.stdout
            .lines()
            .find(|l| l.starts_with("Command line"))
            .unwrap_or("")
    );
}

/// scripts/bench-engines (ignored by `cargo test`): prints markdown.
#[test]
#[ignore]
fn bench_engines() {
    let Some(mut g) = podman() else { return };
    engines::bench(g.as_mut().unwrap());
}
