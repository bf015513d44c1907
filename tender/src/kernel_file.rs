//! Reading the unikernel file, the same way in every tender: one open,
//! every check on that descriptor (so the file checked is the file read),
//! and a size limit before any byte is buffered.
//!
//! The file is opened `O_NONBLOCK` (a FIFO must not hold the tender in
//! `open`) and must be a regular file by `fstat` of the descriptor: a
//! FIFO would block, `/dev/zero` would never end. Its size must be at most
//! [`MAX_KERNEL_FILE`]; the buffer grows with what is read, never to a
//! size the file merely claims, and a file that grows while it is read is
//! cut at the limit and refused.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use thiserror::Error;

/// The largest unikernel file a tender reads: 4 GiB, the most guest
/// memory solo5-hvt gives (an image larger than its memory cannot load).
pub const MAX_KERNEL_FILE: u64 = 1 << 32;

/// Why the kernel file could not be read.
#[derive(Debug, Error)]
pub enum KernelFileError {
    /// open(2), fstat(2) or read(2) failed.
    #[error("could not read")]
    Io(#[source] io::Error),
    /// A directory, FIFO, device...: only regular files are read.
    #[error("not a regular file")]
    NotAFile,
    /// Larger than [`MAX_KERNEL_FILE`] (its size, when fstat gave it).
    #[error("file too large ({0} bytes; at most {MAX_KERNEL_FILE})")]
    TooLarge(u64),
}

/// Read the whole regular file at `path`, at most `max` bytes.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, KernelFileError> {
    let f = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(KernelFileError::Io)?;
    read_file(f, max)
}

/// [`read`] from a descriptor already open.
pub fn read_file(f: File, max: u64) -> Result<Vec<u8>, KernelFileError> {
    let meta = f.metadata().map_err(KernelFileError::Io)?;
    if !meta.is_file() {
        return Err(KernelFileError::NotAFile);
    }
    if meta.len() > max {
        return Err(KernelFileError::TooLarge(meta.len()));
    }
    // The size fstat gave is bounded by `max` above, so reserving it is
    // safe; the read itself stops one byte past the limit.
    let mut file = Vec::with_capacity(meta.len() as usize);
    f.take(max.saturating_add(1))
        .read_to_end(&mut file)
        .map_err(KernelFileError::Io)?;
    if file.len() as u64 > max {
        return Err(KernelFileError::TooLarge(file.len() as u64));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("kernel-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn reads_a_regular_file_whole() {
        let p = temp("plain");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"\x7fELF...")
            .unwrap();
        assert_eq!(read(&p, 100).unwrap(), b"\x7fELF...");
        assert!(matches!(read(&p, 3), Err(KernelFileError::TooLarge(7))));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_huge_sparse_file_is_refused_before_any_buffer() {
        let p = temp("sparse");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(1 << 40).unwrap();
        assert!(matches!(
            read(&p, MAX_KERNEL_FILE),
            Err(KernelFileError::TooLarge(n)) if n == 1 << 40
        ));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn only_regular_files() {
        for p in ["/dev/zero", "/dev/null", "/"] {
            assert!(
                matches!(
                    read(Path::new(p), MAX_KERNEL_FILE),
                    Err(KernelFileError::NotAFile)
                ),
                "{p}"
            );
        }
        // A FIFO with no writer: the open must not block.
        let p = temp("fifo");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read(&p, MAX_KERNEL_FILE),
            Err(KernelFileError::NotAFile)
        ));
        std::fs::remove_file(&p).unwrap();
    }
}
