//! Bad input gets one clear line on stderr and exit status 1, never a
//! panic.

use solo5_e2e::{guest, root, spt_run, Outcome};
use std::ffi::OsString;

fn one_line_error(o: &Outcome, want: &str) {
    assert_eq!(o.status, 1, "{}", o.dump());
    assert!(o.stdout.is_empty(), "{}", o.dump());
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", o.dump());
    assert!(lines[0].starts_with("solo5-spt: "), "{}", o.dump());
    assert!(lines[0].contains(want), "want {want:?}: {}", o.dump());
}

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = root().join("target/e2e-tmp");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn no_kernel() {
    one_line_error(&spt_run::<&str>(&[]), "missing KERNEL");
    one_line_error(&spt_run(&["--mem=64"]), "missing KERNEL");
}

#[test]
fn missing_file() {
    one_line_error(
        &spt_run(&["/nonexistent/app.spt"]),
        "/nonexistent/app.spt: No such file or directory",
    );
}

#[test]
fn not_an_elf() {
    let p = tmp("text", b"this is not an executable\n");
    one_line_error(&spt_run(&[&p]), "Invalid or unsupported executable");
    let empty = tmp("empty", b"");
    one_line_error(&spt_run(&[&empty]), "Invalid or unsupported executable");
    one_line_error(&spt_run(&["/bin/sh"]), "Invalid or unsupported executable");
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
    one_line_error(
        &spt_run(&[&p]),
        "Executable is not for the solo5-spt target",
    );
}

#[test]
fn unsupported_abi_version_is_refused() {
    let p = with_abi(2, 3);
    one_line_error(
        &spt_run(&[&p]),
        "Executable requests unsupported ABI version 3",
    );
}

#[test]
fn bad_options() {
    let hello = guest("spt", "hello");
    let h: OsString = hello.into();
    one_line_error(
        &spt_run(&[OsString::from("--mem=abc"), h.clone()]),
        "--mem: invalid size 'abc'",
    );
    one_line_error(
        &spt_run(&[OsString::from("--frobnicate"), h.clone()]),
        "unknown option '--frobnicate'",
    );
    one_line_error(
        &spt_run(&[OsString::from("--net:nosuch=tap0"), h.clone()]),
        "the unikernel declares no device named 'nosuch'",
    );
    one_line_error(
        &spt_run(&[OsString::from("--block:disk=/dev/null"), h.clone()]),
        "the unikernel declares no device named 'disk'",
    );
    let long = "x".repeat(8192);
    one_line_error(
        &spt_run(&[h, OsString::from(long)]),
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
