//! Descriptors and buffers the tender must refuse instead of misbehaving,
//! under both spt ABIs:
//!
//! - `--net:NAME=@FD` on `/dev/net/tun` bound to no interface (the guest
//!   would spin on a descriptor that reports an error forever);
//! - `@FD` on something that cannot be polled (`/dev/null`, `/dev/zero`),
//!   which the v2 ABI's epoll set refused late with a line naming neither
//!   the device nor the descriptor;
//! - read-only pages of the guest's own image handed to the host as output
//!   buffers (the `robuf` unikernel): `EINVAL`, not a fault of the tender.
//!
//! None of these needs a network namespace: no interface is created. All
//! run at `--mem=2`, upstream's floor.

use solo5_e2e::{assert_refused, guest, pass_as_fd3, run_cmd, spt, Outcome, TempDir, FLAVORS};
use std::fs::{File, OpenOptions};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

/// Run `solo5-spt ARGS` with `fd` inherited as descriptor 3.
fn spt_with_fd3(fd: &OwnedFd, args: &[&std::ffi::OsStr]) -> Outcome {
    let mut cmd = Command::new(spt());
    cmd.args(args);
    pass_as_fd3(&mut cmd, fd);
    run_cmd(&mut cmd, Duration::from_secs(30))
}

/// Attach `fd` as `service0` of the `net` unikernel of `flavor`.
fn attach_net(flavor: &str, fd: &OwnedFd) -> Outcome {
    let g = guest(flavor, "net");
    spt_with_fd3(
        fd,
        &[
            "--mem=2".as_ref(),
            "--net:service0=@3".as_ref(),
            g.as_os_str(),
        ],
    )
}

#[test]
fn unattached_tun_descriptor_is_refused() {
    for f in FLAVORS {
        // Opened, never bound with TUNSETIFF: needs no privilege.
        let tun = match OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
        {
            Ok(t) => OwnedFd::from(t),
            Err(e) => {
                solo5_e2e::skip!("SKIP: cannot open /dev/net/tun: {e}");
                return;
            }
        };
        let start = Instant::now();
        let o = attach_net(f, &tun);
        assert_refused(
            f,
            &o,
            Some("net 'service0'"),
            "descriptor 3 is /dev/net/tun attached to no interface",
        );
        assert!(o.stderr.contains("TUNSETIFF"), "{f}: {}", o.dump());
        // Refused at attach time, not after the guest ran into it.
        assert!(start.elapsed() < Duration::from_secs(10), "{f}: too slow");
    }
}

#[test]
fn unpollable_descriptor_is_refused_at_attach_time() {
    for f in FLAVORS {
        for path in ["/dev/null", "/dev/zero"] {
            let file = File::options().read(true).write(true).open(path).unwrap();
            let o = attach_net(f, &OwnedFd::from(file));
            let what = format!("{f} {path}");
            assert_refused(
                &what,
                &o,
                Some("net 'service0'"),
                &format!("descriptor 3 ({path}) cannot be polled"),
            );
            assert!(
                o.stderr.trim_end().ends_with(": Operation not permitted"),
                "{what}: {}",
                o.dump()
            );
            assert!(
                !o.stderr.contains("event descriptors"),
                "{what}: {}",
                o.dump()
            );
        }
    }
}

/// A connected socketpair of `SOCK_SEQPACKET`: (the end to pass on, ours).
fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two descriptors into sv.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody
    // else.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// The frame `robuf` expects: 60 bytes, byte i = 3i + 1 (mod 256).
fn robuf_frame() -> Vec<u8> {
    (0..60u8)
        .map(|i| i.wrapping_mul(3).wrapping_add(1))
        .collect()
}

#[test]
fn read_only_guest_buffers_are_refused_not_faulted() {
    for f in FLAVORS {
        let dir = TempDir::new("robuf");
        let disk = dir.file("disk.img", &[0u8; 4 * 512]);
        let (theirs, ours) = seqpacket_pair();
        let frame = robuf_frame();
        // SAFETY: frame is a live buffer of frame.len() bytes.
        let sent = unsafe {
            libc::send(
                std::os::fd::AsRawFd::as_raw_fd(&ours),
                frame.as_ptr().cast(),
                frame.len(),
                0,
            )
        };
        assert_eq!(sent, frame.len() as isize, "send the frame");
        let g = guest(f, "robuf");
        let block = format!("--block:storage={}", disk.display());
        let o = spt_with_fd3(
            &theirs,
            &[
                "--mem=2".as_ref(),
                "--net:service0=@3".as_ref(),
                block.as_ref(),
                g.as_os_str(),
            ],
        );
        drop(ours);
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert!(
            o.stdout
                .contains("read-only buffers refused, guest alive\nSUCCESS\n"),
            "{f}: {}",
            o.dump()
        );
        // Block 0 got the read-only page's bytes: the host could read it.
        let bytes = std::fs::read(&disk).unwrap();
        assert!(bytes[..512].iter().all(|&b| b == 0xa5), "{f}: block 0");
        assert!(bytes[512..].iter().all(|&b| b == 0), "{f}: other blocks");
    }
}
