//! The Nim unikernel of `examples/nim`, built with Debian's `nim` and our
//! C toolchain (`examples/nim/build`), on every tender that takes its ABI
//! (ours and upstream's spt, ours and upstream's hvt; our native spt
//! ABI): it formats, allocates, reads the clocks, then answers ARP and a
//! ping flood until its limit and exits with SUCCESS.
//!
//! Needs `nim` (`apt-get install nim`, .ci/run does), `scripts/build-all`
//! (the toolchain), root, /dev/net/tun, ip and ping; hvt needs /dev/kvm.

use solo5_e2e::hvt::{have_kvm, upstream_hvt, upstream_tool};
use solo5_e2e::{bin, ping_stats, root, run_cmd, skip_unless_ping, Netns, Running};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PINGS: u32 = 20_000;

fn have_nim() -> bool {
    let ok = Command::new("nim").arg("--version").output().is_ok();
    if !ok {
        solo5_e2e::skip!("SKIP: nim is not installed (apt-get install nim)");
    }
    ok
}

/// A build directory of this test process's own under
/// `target/toolchain-tests/` (`KIND.PID`): test runs that overlap never
/// share one. Those of processes that are gone are removed.
fn own_dir(kind: &str) -> PathBuf {
    let base = root().join("target/toolchain-tests");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(&format!("{kind}.")) else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let out = base.join(format!("{kind}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    out
}

/// `examples/nim/build` into target/toolchain-tests/nim.PID.
fn build() -> PathBuf {
    let cc = root().join("target/toolchain/bin/x86_64-solo5-none-static-cc");
    assert!(
        cc.exists(),
        "{} is missing: run scripts/build-toolchain (scripts/build-all does)",
        cc.display()
    );
    bin("solo5-elftool");
    let out = own_dir("nim");
    let o = run_cmd(
        Command::new(root().join("examples/nim/build")).arg(&out),
        Duration::from_secs(300),
    );
    assert_eq!(o.status, 0, "examples/nim/build: {}", o.dump());
    out
}

/// (who, tender, ABI) for every tender that runs here.
fn tenders() -> Vec<(&'static str, PathBuf, &'static str)> {
    let mut v = vec![
        ("ours", bin("solo5-spt"), "spt-native"),
        ("ours", bin("solo5-spt"), "spt"),
    ];
    if let Some(up) = upstream_tool("solo5-spt") {
        if run_cmd(Command::new(&up).arg("--version"), Duration::from_secs(10)).status == 0 {
            v.push(("upstream", up, "spt"));
        }
    }
    if have_kvm() {
        v.push(("ours", bin("solo5-hvt"), "hvt"));
        if let Some(up) = upstream_hvt() {
            v.push(("upstream", up, "hvt"));
        }
    }
    v
}

#[test]
fn nim_unikernel_formats_allocates_reads_clocks_and_answers_ping() {
    if !have_nim() || skip_unless_ping() {
        return;
    }
    let out = build();
    for (who, tender, abi) in tenders() {
        let what = format!("{who} ({abi})");
        let ns = Netns::new();
        ns.tap("tap0", "10.0.0.1/24", 1500);
        let mut r = Running::spawn(
            ns.command(&tender)
                .arg("--mem=16")
                .arg("--net:service0=tap0")
                .arg("--")
                .arg(out.join(format!("app.{abi}")))
                .args(["limit", &PINGS.to_string()]),
        );
        assert!(
            r.wait_for("Serving ping on 10.0.0.2", Duration::from_secs(10)),
            "{what}: never served: {}\n{}",
            r.stdout(),
            r.stderr()
        );
        ns.resolve("10.0.0.2");
        let p = ns
            .ping(&["-f", "-q", "-c", &PINGS.to_string(), "-w", "60", "10.0.0.2"])
            .finish(Duration::from_secs(70));
        let s = ping_stats(&p.stdout).unwrap_or_else(|| panic!("{what}: {}", p.dump()));
        assert!(
            s.received * 1000 >= u64::from(PINGS) * 999,
            "{what}: {}",
            p.dump()
        );
        let o = r.finish(Duration::from_secs(20));
        assert_eq!(o.status, 0, "{what}: {}", o.dump());
        for line in [
            "Formatted: int 42, negative -7, float 3.25, seq [1, 2, 3], object (x: 3, y: -4, label: \"p\"), hex beef\n",
            "Allocated and freed: sum 1029800, heap grew by ",
            "us for a 20 ms deadline",
            &format!("Answered {PINGS} echo requests\n"),
            "\nSUCCESS\n",
        ] {
            assert!(o.stdout.contains(line), "{what}: no {line:?}: {}", o.dump());
        }
        assert!(!o.stdout.contains("FAILURE"), "{what}: {}", o.dump());
    }
}
