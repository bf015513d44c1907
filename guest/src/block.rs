//! Block devices (`BLOCK_BASIC`): one block per read or write.

use solo5_abi::mft::{kind, Entry};

use crate::handle::{result, Error, Handle};
use crate::{mft, platform};

/// What a block device is (`struct solo5_block_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Capacity in bytes.
    pub capacity: u64,
    /// The unit of I/O in bytes.
    pub block_size: u64,
}

/// An acquired block device.
#[derive(Clone, Debug)]
pub struct Block {
    handle: Handle,
    info: BlockInfo,
}

impl Block {
    /// Acquires the block device the manifest declares as `name`; it must
    /// be attached (the tender refuses to start otherwise).
    pub fn acquire(name: &str) -> Result<Block, Error> {
        let (handle, info) = acquire(name.as_bytes())?;
        Ok(Block { handle, info })
    }

    /// The device's handle.
    pub fn handle(&self) -> Handle {
        self.handle
    }

    /// Capacity and block size.
    pub fn info(&self) -> BlockInfo {
        self.info
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.info.capacity
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.info.block_size
    }

    /// Reads the block at byte `offset` (a multiple of the block size,
    /// below the capacity) into `buf`, which must be exactly one block long.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        read(self.handle.0, offset, buf)
    }

    /// Writes `buf`, exactly one block, at byte `offset` (a multiple of the
    /// block size, below the capacity).
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<(), Error> {
        write(self.handle.0, offset, buf)
    }
}

fn info_of(e: &Entry) -> BlockInfo {
    BlockInfo {
        capacity: e.block_capacity(),
        block_size: u64::from(e.block_size()),
    }
}

/// Whether a request of `size` bytes at `offset` is exactly one block,
/// aligned and inside the device.
fn request_ok(info: BlockInfo, offset: u64, size: usize) -> bool {
    let bs = info.block_size;
    bs != 0
        && size as u64 == bs
        && offset.is_multiple_of(bs)
        && info.capacity >= bs
        && offset <= info.capacity - bs
}

/// `solo5_block_acquire`.
pub(crate) fn acquire(name: &[u8]) -> Result<(Handle, BlockInfo), Error> {
    let (i, e) = mft::by_name(name, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    Ok((Handle(i), info_of(e)))
}

/// `solo5_block_read`.
pub(crate) fn read(handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    let e = mft::by_handle(handle, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    if !request_ok(info_of(e), offset, buf.len()) {
        return Err(Error::Invalid);
    }
    result(platform::block_read(handle, e, offset, buf))
}

/// `solo5_block_write`.
pub(crate) fn write(handle: u64, offset: u64, buf: &[u8]) -> Result<(), Error> {
    let e = mft::by_handle(handle, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    if !request_ok(info_of(e), offset, buf.len()) {
        return Err(Error::Invalid);
    }
    result(platform::block_write(handle, e, offset, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_aligned_block_inside_the_device() {
        let info = BlockInfo {
            capacity: 4096,
            block_size: 512,
        };
        assert!(request_ok(info, 0, 512));
        assert!(request_ok(info, 3584, 512));
        assert!(!request_ok(info, 4096, 512));
        assert!(!request_ok(info, 100, 512));
        assert!(!request_ok(info, 0, 1024));
        assert!(!request_ok(info, 0, 0));
        assert!(!request_ok(info, u64::MAX - 511, 512));
        let tiny = BlockInfo {
            capacity: 256,
            block_size: 512,
        };
        assert!(!request_ok(tiny, 0, 512));
        let none = BlockInfo {
            capacity: 0,
            block_size: 0,
        };
        assert!(!request_ok(none, 0, 0));
    }
}
