//! Block devices: a regular file or a host block device.

use super::sys;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use thiserror::Error;

/// Default sector size.
pub const DEFAULT_BLOCK_SIZE: u64 = 512;

/// Why a block device could not be attached.
#[derive(Debug, Error)]
pub enum BlockError {
    /// open(2) failed.
    #[error("could not open {0}")]
    Open(String, #[source] io::Error),
    /// fstat or BLKGETSIZE64 failed.
    #[error("could not read the size of {0}")]
    Size(String, #[source] io::Error),
    /// Neither a regular file nor a block device.
    #[error("{0} is neither a regular file nor a block device")]
    NotFileOrDevice(String),
    /// Empty backing storage.
    #[error(
        "{0}: backing storage is empty (its size must be a non-zero multiple of the block size)"
    )]
    Empty(String),
    /// Size not a multiple of the block size.
    #[error(
        "{0}: Backing storage size must be block aligned ({1} bytes is not a multiple of {2})"
    )]
    Unaligned(String, u64, u64),
}

/// An attached block device.
#[derive(Debug)]
pub struct Block {
    /// Host descriptor, opened read/write.
    pub fd: OwnedFd,
    /// Capacity in bytes, a non-zero multiple of `block_size`.
    pub capacity: u64,
    /// Sector size: a power of two >= 512 (checked by the command line).
    pub block_size: u64,
}

/// Open `path` read/write and check its size against `block_size`.
pub fn attach(path: &Path, block_size: u64) -> Result<Block, BlockError> {
    let shown = path.display().to_string();
    // Look before opening: opening some character devices has side effects.
    let before = std::fs::metadata(path).map_err(|e| BlockError::Open(shown.clone(), e))?;
    if !before.is_file() && !before.file_type().is_block_device() {
        return Err(BlockError::NotFileOrDevice(shown));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| BlockError::Open(shown.clone(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| BlockError::Size(shown.clone(), e))?;
    let ft = meta.file_type();
    let capacity = if ft.is_file() {
        meta.len()
    } else if ft.is_block_device() {
        sys::blk_size(file.as_fd()).map_err(|e| BlockError::Size(shown.clone(), e))?
    } else {
        return Err(BlockError::NotFileOrDevice(shown));
    };
    if capacity == 0 {
        return Err(BlockError::Empty(shown));
    }
    if !capacity.is_multiple_of(block_size) {
        return Err(BlockError::Unaligned(shown, capacity, block_size));
    }
    Ok(Block {
        fd: file.into(),
        capacity,
        block_size,
    })
}
