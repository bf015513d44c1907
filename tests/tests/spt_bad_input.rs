//! Bad input gets one clear line on stderr and exit status 1, never a
//! panic.

use solo5_e2e::{assert_refused, guest, root, spt_run};
use std::ffi::OsString;

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = root().join("target/e2e-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn no_kernel() {
    assert_refused("", &spt_run::<&str>(&[]), None, "missing KERNEL");
    assert_refused("", &spt_run(&["--mem=64"]), None, "missing KERNEL");
}

#[test]
fn missing_file() {
    assert_refused(
        "",
        &spt_run(&["/nonexistent/app.spt"]),
        None,
        "/nonexistent/app.spt: No such file or directory",
    );
}

#[test]
fn not_an_elf() {
    let p = tmp("text", b"this is not an executable\n");
    assert_refused(
        "",
        &spt_run(&[&p]),
        None,
        "Invalid or unsupported executable",
    );
    let empty = tmp("empty", b"");
    assert_refused(
        "",
        &spt_run(&[&empty]),
        None,
        "Invalid or unsupported executable",
    );
    assert_refused(
        "",
        &spt_run(&["/bin/sh"]),
        None,
        "Invalid or unsupported executable",
    );
}

/// The hello unikernel with its ABI1 note changed to `target`/`version`.
fn with_abi(target: u32, version: u32) -> std::path::PathBuf {
    let mut f = std::fs::read(guest("spt-v2", "hello")).unwrap();
    // The ABI1 note: namesz 6, descsz 16, type ABI1, "Solo5\0\0\0", desc.
    let mut head = Vec::new();
    head.extend_from_slice(&6u32.to_le_bytes());
    head.extend_from_slice(&16u32.to_le_bytes());
    head.extend_from_slice(&0x3149_4241u32.to_le_bytes());
    head.extend_from_slice(b"Solo5\0\0\0");
    let at = f
        .windows(head.len())
        .position(|w| w == head)
        .expect("hello has an ABI1 note")
        + head.len();
    f[at..at + 4].copy_from_slice(&target.to_le_bytes());
    f[at + 4..at + 8].copy_from_slice(&version.to_le_bytes());
    tmp(&format!("abi-{target}-{version}"), &f)
}

#[test]
fn hvt_binary_is_refused() {
    let p = with_abi(1, 2);
    assert_refused(
        "",
        &spt_run(&[&p]),
        None,
        "Executable is not for the solo5-spt target",
    );
}

#[test]
fn unsupported_abi_version_is_refused() {
    let p = with_abi(2, 3);
    assert_refused(
        "",
        &spt_run(&[&p]),
        None,
        "Executable requests unsupported ABI version 3",
    );
}

#[test]
fn bad_options() {
    let hello = guest("spt", "hello");
    let h: OsString = hello.into();
    assert_refused(
        "",
        &spt_run(&[OsString::from("--mem=abc"), h.clone()]),
        None,
        "--mem: invalid size 'abc'",
    );
    assert_refused(
        "",
        &spt_run(&[OsString::from("--frobnicate"), h.clone()]),
        None,
        "unknown option '--frobnicate'",
    );
    assert_refused(
        "",
        &spt_run(&[OsString::from("--net:nosuch=tap0"), h.clone()]),
        None,
        "the unikernel declares no device named 'nosuch'",
    );
    assert_refused(
        "",
        &spt_run(&[OsString::from("--block:disk=/dev/null"), h.clone()]),
        None,
        "the unikernel declares no device named 'disk'",
    );
    let long = "x".repeat(8192);
    assert_refused(
        "",
        &spt_run(&[h, OsString::from(long)]),
        None,
        "Guest command line too long",
    );
}

#[test]
fn too_little_memory_for_the_guest() {
    let h: OsString = guest("spt", "hello").into();
    // 2 MiB holds the first MiB and the kernel, but not the kernel plus
    // the guest's 1 MiB stack: the guest says so and aborts.
    let o = spt_run(&[OsString::from("--mem=2"), h]);
    assert_eq!(o.status, 255, "{}", o.dump());
    assert!(o.stdout.contains("Not enough memory"), "{}", o.dump());
    assert!(!o.stderr.contains("panicked"), "{}", o.dump());
}
