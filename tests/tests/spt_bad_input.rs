//! Bad input gets one clear line on stderr and exit status 1, never a
//! panic.

use solo5_e2e::{assert_refused, guest, run_cmd, spt, spt_run, TempDir};
use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

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
        "/nonexistent/app.spt: Could not open: No such file or directory",
    );
}

#[test]
fn not_an_elf() {
    let dir = TempDir::new("bad-elf");
    let p = dir.file("text", b"this is not an executable\n");
    assert_refused(
        "",
        &spt_run(&[&p]),
        None,
        "invalid executable: elf header does not match the expected size (26 != 64)",
    );
    let empty = dir.file("empty", b"");
    assert_refused(
        "",
        &spt_run(&[&empty]),
        None,
        "invalid executable: elf header does not match the expected size (0 != 64)",
    );
    assert_refused(
        "",
        &spt_run(&["/bin/sh"]),
        None,
        "invalid executable: invalid or unsupported executable (elf header invalid while loading note)",
    );
}

/// The hello unikernel with its ABI1 note changed to `target`/`version`,
/// in `dir`.
fn with_abi(dir: &TempDir, target: u32, version: u32) -> std::path::PathBuf {
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
    dir.file(&format!("abi-{target}-{version}"), &f)
}

#[test]
fn hvt_binary_is_refused() {
    let dir = TempDir::new("abi");
    let p = with_abi(&dir, 1, 2);
    assert_refused(
        "",
        &spt_run(&[&p]),
        None,
        "Executable is not for the solo5-spt target",
    );
}

#[test]
fn unsupported_abi_version_is_refused() {
    let dir = TempDir::new("abi");
    let p = with_abi(&dir, 2, 3);
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
    // The floor is upstream's: 2 MiB runs every SDK guest (spt_guests.rs
    // runs them all there); 1 MiB cannot hold the first MiB and a kernel,
    // and the tender says so before it loads anything.
    for f in solo5_e2e::FLAVORS {
        let h: OsString = guest(f, "hello").into();
        let o = spt_run(&[OsString::from("--mem=2"), h.clone()]);
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert_refused(
            f,
            &spt_run(&[OsString::from("--mem=1"), h]),
            None,
            "--mem: invalid size '1' (a number of MiB from 2 to 1048576)",
        );
    }
}

#[test]
fn kernel_must_be_a_regular_file() {
    // A FIFO would block the tender forever, /dev/zero never end.
    let dir = TempDir::new("fifo");
    let fifo = dir.path.join("app.spt");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    assert_refused("", &spt_run(&[&fifo]), None, "not a regular file");
    assert_refused(
        "",
        &spt_run(&["/dev/zero"]),
        None,
        "/dev/zero: not a regular file",
    );
}

#[test]
fn inherited_descriptor_must_carry_frames() {
    let net: OsString = guest("spt", "net").into();
    let opt = OsString::from("--net:service0=@3");
    // fd 3 is a directory (a shell redirection opens it read-only).
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#""$0" "$1" "$2" 3</"#)
        .arg(spt())
        .arg(&opt)
        .arg(&net);
    let o = run_cmd(&mut cmd, Duration::from_secs(30));
    assert_refused("", &o, Some("service0"), "descriptor 3 is a directory");
    // Nothing open at fd 3.
    assert_refused(
        "",
        &spt_run(&[opt, net]),
        Some("service0"),
        "descriptor 3 is not open",
    );
}

#[test]
fn closed_stdout_never_lands_in_a_disk_image() {
    // With fd 1 closed, the disk image would otherwise be opened as fd 1
    // and the console would write into it.
    let dir = TempDir::new("stdout");
    let disk = dir.file("disk.img", &vec![0u8; 64 * 1024]);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#""$0" "$1" "$2" >&-"#)
        .arg(spt())
        .arg(format!("--block:storage={}", disk.display()))
        .arg(guest("spt", "blk"));
    let o = run_cmd(&mut cmd, Duration::from_secs(30));
    assert_eq!(o.status, 0, "{}", o.dump());
    let bytes = std::fs::read(&disk).unwrap();
    assert_eq!(bytes.len(), 64 * 1024);
    assert!(
        !bytes.windows(6).any(|w| w == b"Solo5:"),
        "console output landed in the disk image"
    );
}
