//! The unikernel file: read once, its ABI note and manifest checked before
//! any device is opened, its segments checked against the memory size and
//! turned into page tables before KVM is touched. Every error is one line
//! `solo5-hvt: KERNEL: message`, with upstream's message.

use crate::paging::{self, Page, PagingError};
use solo5_abi::note::{target, version};
use solo5_tender::elf::{self, ElfError, Executable};
use solo5_tender::kernel_file::{self, KernelFileError};
use solo5_tender::manifest::Manifest;
use solo5_tender::notes::{self, NoteError};
use std::io;
use std::path::Path;
use thiserror::Error;

/// Why the kernel was refused; the first field is the path as given.
#[derive(Debug, Error)]
pub enum KernelError {
    /// open(2) or read(2) failed.
    #[error("{0}: Could not open")]
    Open(String, #[source] io::Error),
    /// A directory, FIFO, device...: only regular files are read.
    #[error("{0}: Could not open: not a regular file")]
    NotAFile(String),
    /// Larger than any tender reads.
    #[error("{0}: Could not open: {1}")]
    TooLarge(String, KernelFileError),
    /// ABI1 or MFT1 note refused.
    #[error("{0}: {1}")]
    Note(String, NoteError),
    /// A segment refused by the loader.
    #[error("{0}: {1}")]
    Elf(String, ElfError),
    /// The segments cannot be given W^X page tables.
    #[error("{0}: {1}")]
    Paging(String, PagingError),
}

/// A kernel whose notes passed.
pub struct Kernel {
    /// The path as the user gave it, for messages.
    pub shown: String,
    /// The whole file.
    pub file: Vec<u8>,
    /// Its validated manifest; the tender fills in the attached devices.
    pub manifest: Manifest,
}

impl Kernel {
    /// Read `path` and check its ABI1 note (target hvt, version 2) and its
    /// manifest, in upstream's order.
    pub fn open(path: &Path) -> Result<Kernel, KernelError> {
        let shown = path.display().to_string();
        let file = kernel_file::read(path, kernel_file::MAX_KERNEL_FILE).map_err(|e| match e {
            KernelFileError::Io(e) => KernelError::Open(shown.clone(), e),
            KernelFileError::NotAFile => KernelError::NotAFile(shown.clone()),
            e @ KernelFileError::TooLarge(_) => KernelError::TooLarge(shown.clone(), e),
        })?;
        let note = |e| KernelError::Note(shown.clone(), e);
        notes::check_abi(&file, target::HVT, version::HVT, "hvt").map_err(note)?;
        let manifest = notes::manifest(&file).map_err(note)?;
        Ok(Kernel {
            shown,
            file,
            manifest,
        })
    }

    /// The loader's verdict for a guest of `alloc` bytes.
    pub fn load(&self, alloc: u64) -> Result<Executable, KernelError> {
        elf::load(&self.file, alloc).map_err(|e| KernelError::Elf(self.shown.clone(), e))
    }

    /// The W^X page tables for `exe`.
    pub fn page_tables(&self, exe: &Executable, alloc: u64) -> Result<Vec<Page>, KernelError> {
        paging::build(&exe.segments, alloc).map_err(|e| KernelError::Paging(self.shown.clone(), e))
    }
}
