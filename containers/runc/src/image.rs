//! Files of the image, read by solo5-runc as root on the host before
//! runc's pivot_root: every path the image (or an annotation) names is
//! resolved inside the root file system and nowhere else.
//!
//! A path is opened relative to an `O_PATH | O_DIRECTORY` descriptor of
//! the root file system with `openat2(2)` and `RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS` (`..` stops at the image's `/`, absolute
//! symbolic links are the image's own paths), first as `O_PATH` (which
//! opens nothing: no FIFO, device or driver is touched) to check by
//! `fstat` that it is a regular file (with one name, when it is to be
//! written or chowned), then again for reading (or reading and writing)
//! with `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`, checked again by `fstat`. What is read is
//! read from that descriptor, capped in size; what is chowned is chowned
//! through it. Errors name the image path and what is wrong with the
//! image's file, never anything about the host.

use crate::sys;
use nix::fcntl::OFlag;
use std::fmt;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Why a file of the image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Nothing at that path in the image.
    Missing,
    /// A symbolic link, FIFO, device, socket or directory.
    NotRegular(&'static str),
    /// A file to be written or chowned has another name (hard link): it
    /// might be a file outside the image.
    Linked,
    /// Larger than the cap.
    TooLarge(&'static str),
    /// The path has a NUL byte.
    BadPath,
    /// Opening, reading or chowning failed (the system's reason).
    Io(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Missing => write!(f, "not in the image"),
            Why::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            Why::Linked => write!(f, "has other hard links"),
            Why::TooLarge(cap) => write!(f, "larger than {cap}"),
            Why::BadPath => write!(f, "not a valid path"),
            Why::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A refused file of the image: `image file PATH: WHY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError {
    /// The path as the image gives it.
    pub path: String,
    /// What is wrong with it.
    pub why: Why,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "image file {}: {}", self.path, self.why)
    }
}

impl std::error::Error for ImageError {}

/// A size cap, with its name for errors.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// Bytes.
    pub bytes: u64,
    /// As errors say it (`4 GiB`).
    pub name: &'static str,
}

/// The largest kernel solo5-runc reads: the tenders' own limit,
/// `solo5_tender::kernel_file::MAX_KERNEL_FILE` (4 GiB). A kernel's image
/// must fit in guest memory and 4 GiB is the most solo5-hvt gives (its
/// page tables map the first 4 GiB); solo5-spt reads its kernel with the
/// same limit. One constant: what solo5-runc accepts is what the tender
/// will load, and a hostile image cannot make root read more.
pub const KERNEL_CAP: Cap = Cap {
    bytes: solo5_tender::kernel_file::MAX_KERNEL_FILE,
    name: "4 GiB",
};

/// The largest `/urunc.json` read (urunc's images carry a few hundred
/// bytes).
pub const URUNC_JSON_CAP: Cap = Cap {
    bytes: 1 << 20,
    name: "1 MiB",
};

/// What a file mode is, for errors.
fn kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFLNK => "a symbolic link",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        libc::S_IFDIR => "a directory",
        _ => "not a file",
    }
}

/// The image path in the form the container sees it: absolute (the
/// container's working directory need not be `/`, and `openat2` resolves
/// a relative path from the root file system).
pub fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// The root file system of a bundle.
pub struct Rootfs {
    dir: OwnedFd,
}

/// An opened regular file of the image.
pub struct ImageFile {
    /// Its descriptor (read-only or read/write).
    pub file: std::fs::File,
    /// Its size in bytes.
    pub size: u64,
    /// Its path in the image, for errors.
    pub path: String,
}

impl ImageFile {
    /// Give the file to `uid:gid`, by `fchown` on its descriptor, never by
    /// path. On an overlay root file system (containerd's, Docker's,
    /// Podman's), a file opened for writing has been copied up, so what
    /// changes owner is the container's copy, never a lower layer shared
    /// with other containers or a file outside the image.
    pub fn chown(&self, uid: u32, gid: u32) -> Result<(), ImageError> {
        sys::fchown(self.file.as_fd(), uid, gid).map_err(|e| ImageError {
            path: self.path.clone(),
            why: Why::Io(format!("could not change its owner: {}", os_reason(&e))),
        })
    }
}

impl Rootfs {
    /// Open the root file system at `path` (a host path).
    pub fn open(path: &Path) -> std::io::Result<Rootfs> {
        Ok(Rootfs {
            dir: sys::open_dir(path)?,
        })
    }

    /// Open the regular file at image path `path`, read-only or, with
    /// `write`, read/write.
    pub fn open_file(&self, path: &str, write: bool) -> Result<ImageFile, ImageError> {
        let err = |why| ImageError {
            path: path.to_string(),
            why,
        };
        if path.contains('\0') {
            return Err(err(Why::BadPath));
        }
        let io = |e: std::io::Error| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => err(Why::Missing),
            _ => err(Why::Io(os_reason(&e))),
        };
        // First without opening anything: O_PATH names the file (or the
        // final symbolic link itself) without calling a driver's open,
        // blocking on a FIFO or following a link.
        let probe = sys::open_in_root(self.dir.as_fd(), path, OFlag::O_PATH).map_err(io)?;
        let st = sys::fstat(probe.as_fd()).map_err(io)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(err(Why::NotRegular(kind(st.st_mode))));
        }
        // Another name could be a file outside the image: never written
        // (nor chowned) through this one.
        if write && st.st_nlink != 1 {
            return Err(err(Why::Linked));
        }
        let flags = if write {
            OFlag::O_RDWR
        } else {
            OFlag::O_RDONLY
        };
        let fd = sys::open_in_root(self.dir.as_fd(), path, flags).map_err(io)?;
        // What was opened, checked again (it may have been replaced since
        // the probe; the inode number may change on an overlay's copy-up,
        // so the checks are the same, not a comparison).
        let now = sys::fstat(fd.as_fd()).map_err(io)?;
        if now.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(err(Why::NotRegular(kind(now.st_mode))));
        }
        if write && now.st_nlink != 1 {
            return Err(err(Why::Linked));
        }
        Ok(ImageFile {
            file: std::fs::File::from(fd),
            size: now.st_size as u64,
            path: path.to_string(),
        })
    }

    /// Whether anything is at image path `path` (a final symbolic link
    /// counts, whatever it points to).
    pub fn has(&self, path: &str) -> Result<bool, ImageError> {
        match sys::open_in_root(self.dir.as_fd(), path, OFlag::O_PATH) {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(false),
            Err(e) => Err(ImageError {
                path: path.to_string(),
                why: Why::Io(os_reason(&e)),
            }),
        }
    }

    /// The contents of the regular file at image path `path`, refused
    /// when larger than `cap` (by its size, and by what is read: a file
    /// that grows is read no further than the cap).
    pub fn read(&self, path: &str, cap: Cap) -> Result<Vec<u8>, ImageError> {
        let f = self.open_file(path, false)?;
        let too_large = || ImageError {
            path: path.to_string(),
            why: Why::TooLarge(cap.name),
        };
        if f.size > cap.bytes {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        (&f.file)
            .take(cap.bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ImageError {
                path: path.to_string(),
                why: Why::Io(os_reason(&e)),
            })?;
        if bytes.len() as u64 > cap.bytes {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

/// The system's reason for `e`, without Rust's "(os error N)".
fn os_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};
    use std::path::PathBuf;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p =
                std::env::temp_dir().join(format!("solo5-runc-image-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(p.join("rootfs")).unwrap();
            Tmp(p)
        }
        fn root(&self) -> PathBuf {
            self.0.join("rootfs")
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn paths_stay_in_the_root_file_system() {
        let t = Tmp::new("paths");
        let outside = t.0.join("outside");
        std::fs::write(&outside, b"host").unwrap();
        std::fs::write(t.root().join("k"), b"kernel").unwrap();
        std::fs::create_dir(t.root().join("d")).unwrap();
        symlink(&outside, t.root().join("abs")).unwrap();
        symlink("../outside", t.root().join("rel")).unwrap();
        symlink("/", t.root().join("up")).unwrap();
        let r = Rootfs::open(&t.root()).unwrap();
        assert_eq!(r.read("/k", URUNC_JSON_CAP).unwrap(), b"kernel");
        assert_eq!(r.read("k", URUNC_JSON_CAP).unwrap(), b"kernel");
        assert_eq!(r.read("/d/../../../k", URUNC_JSON_CAP).unwrap(), b"kernel");
        let why = |p: &str| r.read(p, URUNC_JSON_CAP).unwrap_err().why;
        assert_eq!(why("../outside"), Why::Missing);
        assert_eq!(why("/abs"), Why::NotRegular("a symbolic link"));
        assert_eq!(why("/rel"), Why::NotRegular("a symbolic link"));
        assert_eq!(why("/d"), Why::NotRegular("a directory"));
        // An intermediate link is followed, inside the root.
        assert_eq!(r.read("/up/k", URUNC_JSON_CAP).unwrap(), b"kernel");
        let o = outside.display().to_string();
        assert_eq!(why(&format!("/up{o}")), Why::Missing);
        assert_eq!(why("/nul\0x"), Why::BadPath);
        assert!(r.has("/abs").unwrap());
        assert!(!r.has("/nothing").unwrap());
        let e = r.read("/abs", URUNC_JSON_CAP).unwrap_err().to_string();
        assert_eq!(e, "image file /abs: not a regular file (a symbolic link)");
        assert_eq!(std::fs::read(&outside).unwrap(), b"host");
    }

    #[test]
    fn the_kernel_cap_is_4_gib() {
        assert_eq!(KERNEL_CAP.bytes, 4 << 30);
    }

    #[test]
    fn sizes_are_capped_and_links_refused() {
        let t = Tmp::new("caps");
        let big = std::fs::File::create(t.root().join("big")).unwrap();
        big.set_len(URUNC_JSON_CAP.bytes + 1).unwrap();
        std::fs::write(t.root().join("a"), b"x").unwrap();
        std::fs::hard_link(t.root().join("a"), t.root().join("b")).unwrap();
        let r = Rootfs::open(&t.root()).unwrap();
        assert_eq!(
            r.read("/big", URUNC_JSON_CAP).unwrap_err().to_string(),
            "image file /big: larger than 1 MiB"
        );
        assert_eq!(r.read("/a", URUNC_JSON_CAP).unwrap(), b"x");
        assert_eq!(r.open_file("/a", true).err().unwrap().why, Why::Linked);
        assert_eq!(absolute("disk.img"), "/disk.img");
        assert_eq!(absolute("//disk.img"), "/disk.img");
    }

    #[test]
    fn chown_changes_the_images_file_only() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let t = Tmp::new("chown");
        let outside = t.0.join("outside");
        std::fs::write(&outside, b"host").unwrap();
        std::fs::write(t.root().join("disk"), b"disk").unwrap();
        symlink(&outside, t.root().join("link")).unwrap();
        let r = Rootfs::open(&t.root()).unwrap();
        r.open_file("/disk", true)
            .unwrap()
            .chown(65534, 65534)
            .unwrap();
        let m = std::fs::metadata(t.root().join("disk")).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
        assert!(r.open_file("/link", true).is_err());
        assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0);
    }
}
