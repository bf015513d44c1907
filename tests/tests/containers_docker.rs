//! Unikernels as ordinary Docker containers: a dockerd of the test's own
//! (data root, exec root, pid file and socket in a temporary directory,
//! started with `nsenter --net` inside a network namespace the test makes,
//! prefix `solo5-docker`), solo5-runc registered with `--add-runtime solo5=PATH`,
//! images built by `docker build` from the README's Dockerfile, `FROM
//! scratch`, holding upstream's unikernels (../shared/upstream-solo5).
//!
//! What a Docker user sees: hello with arguments, CMD and exit status;
//! `-m` giving the guest memory; a net unikernel on a user network at a
//! fixed `--ip` and on the default bridge answering a 2000-ping flood (the
//! container kernel's `InEchos` unchanged); the tender holding nothing;
//! `docker stop` within 2 s (143), `kill`, `start` again, `rm -f`, and
//! nothing of ours left; `--init`; the helper image on the stock runtime;
//! a plain image through solo5-runc; broken images refused with
//! `solo5-runc: <reason>` in Docker's error; hvt where /dev/kvm exists.
//!
//! One dockerd serves every test here (one at a time); it is stopped when
//! the test process exits. Skips with a visible reason without root,
//! docker.io, ping or ../shared/upstream-solo5.

use solo5_e2e::engines::{self, docker};
use solo5_e2e::{run_cmd, TempDir};
use std::process::Command;
use std::time::Duration;

#[test]
fn the_readme_dockerfile_is_the_one_tested() {
    let readme = std::fs::read_to_string(solo5_e2e::root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```dockerfile\n{}```", engines::DOCKERFILE)),
        "README.md no longer shows engines::DOCKERFILE"
    );
}

/// The shipped containerd drop-in is read by containerd as an import
/// (the RuntimeClass handler's runtime); the shipped daemon.json is what
/// the dockerd of these tests runs with.
#[test]
fn containerd_reads_the_shipped_drop_in() {
    if !solo5_e2e::containers::in_path("containerd") {
        solo5_e2e::skip!("SKIP: needs containerd");
        return;
    }
    let dir = TempDir::new("solo5-docker-dropin");
    let d = dir.path.display();
    let drop_in = solo5_e2e::root().join("containers/deploy/containerd-solo5.toml");
    let cfg = dir.file(
        "config.toml",
        format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\nimports = [\"{}\"]\n",
            drop_in.display()
        )
        .as_bytes(),
    );
    let o = run_cmd(
        Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .args(["config", "dump"]),
        Duration::from_secs(30),
    );
    assert_eq!(o.status, 0, "{}", o.dump());
    let want = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.solo5.options]\n            BinaryName = \"/usr/local/lib/solo5/solo5-runc\"";
    assert!(o.stdout.contains(want), "{}", o.stdout);
    assert!(o
        .stdout
        .contains("runtime_type = \"io.containerd.runc.v2\""));
    let rc = std::fs::read_to_string(
        solo5_e2e::root().join("containers/deploy/runtimeclass-solo5.yaml"),
    )
    .unwrap();
    assert!(rc.contains("kind: RuntimeClass") && rc.contains("handler: solo5"));
}

#[test]
fn hello_args_status_and_memory() {
    let Some(mut g) = docker() else { return };
    engines::hello_args_status_and_memory(g.as_mut().unwrap());
}

#[test]
fn init_leaves_the_guest_command_line_alone() {
    let Some(mut g) = docker() else { return };
    engines::init_leaves_the_command_line_alone(g.as_mut().unwrap());
}

#[test]
fn net_unikernel_on_a_user_network_and_its_life_cycle() {
    let Some(mut g) = docker() else { return };
    engines::net_on_a_user_network_and_its_life_cycle(g.as_mut().unwrap(), "spt");
}

#[test]
fn net_unikernel_on_the_default_bridge() {
    let Some(mut g) = docker() else { return };
    engines::net_on_the_default_bridge(g.as_mut().unwrap());
}

#[test]
fn helper_image_on_the_stock_runtime() {
    let Some(mut g) = docker() else { return };
    engines::helper_image_on_the_stock_runtime(g.as_mut().unwrap());
}

#[test]
fn plain_image_through_solo5_runc() {
    let Some(mut g) = docker() else { return };
    engines::plain_image_through_solo5_runc(g.as_mut().unwrap());
}

#[test]
fn broken_images_are_refused_with_the_reason() {
    let Some(mut g) = docker() else { return };
    engines::broken_images_are_refused_with_the_reason(g.as_mut().unwrap());
}

#[test]
fn hvt_unikernels() {
    let Some(mut g) = docker() else { return };
    engines::hvt(g.as_mut().unwrap());
}

/// scripts/bench-engines (ignored by `cargo test`): prints markdown.
#[test]
#[ignore]
fn bench_engines() {
    let Some(mut g) = docker() else { return };
    engines::bench(g.as_mut().unwrap());
}
