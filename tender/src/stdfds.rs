//! Descriptors 0, 1 and 2 at start-up, the same in every tender.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd};

/// Make sure descriptors 0, 1 and 2 are open (on `/dev/null` where one is
/// not): otherwise the next file the tender opens would take the number,
/// and the guest's console would write into a disk image or a tap.
pub fn ensure_open() -> io::Result<()> {
    for fd in 0..=2 {
        // A raw fcntl: `nix`'s takes an `AsFd`, and the question is
        // whether this number is open at all.
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
            continue;
        }
        // open returns the lowest free descriptor, which is `fd` (all below
        // it are open).
        let got = nix::fcntl::open(c"/dev/null", OFlag::O_RDWR, Mode::empty())?;
        if got.as_raw_fd() != fd {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // It stays open for the life of the process, as descriptor `fd`.
        let _ = got.into_raw_fd();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    /// In a child started with descriptor 1 closed: afterwards 1 is open
    /// on /dev/null, and a file opened next does not take its number.
    #[test]
    fn a_closed_standard_descriptor_is_opened_on_dev_null() {
        if std::env::var_os("SOLO5_STDFDS_CHILD").is_some() {
            super::ensure_open().unwrap();
            let link = std::fs::read_link("/proc/self/fd/1").unwrap();
            assert_eq!(link, std::path::Path::new("/dev/null"));
            let f = std::fs::File::open("/proc/self/stat").unwrap();
            assert!(std::os::fd::AsRawFd::as_raw_fd(&f) > 2);
            // Already open: nothing changes.
            super::ensure_open().unwrap();
            eprintln!("CHILD OK");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let mut c = Command::new(exe);
        c.args([
            "--exact",
            "stdfds::tests::a_closed_standard_descriptor_is_opened_on_dev_null",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOLO5_STDFDS_CHILD", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        // SAFETY: between fork and exec only close(2), async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                libc::close(1);
                Ok(())
            })
        };
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("CHILD OK"), "{stderr}");
    }
}
