//! Block devices (`BLOCK_BASIC`): a read or write moves a whole number of
//! blocks, from one block up to [`MAX_REQUEST`] bytes, at an offset that
//! is a multiple of the block size, all inside the device. The flavor
//! serves as much of it in one host call as its tender allows (hvt and
//! our native spt ABI: all of it; upstream's spt v2: one block per call)
//! and the rest in further calls.

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

    /// Reads `buf.len()` bytes at byte `offset` into `buf`: a whole number
    /// of blocks, at most [`MAX_REQUEST`], at a multiple of the block size,
    /// inside the device.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        read(self.handle.0, offset, buf)
    }

    /// Writes `buf` at byte `offset`: a whole number of blocks, at most
    /// [`MAX_REQUEST`], at a multiple of the block size, inside the device.
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

/// The largest request the block API takes, in bytes (at least one block
/// whatever the block size).
pub const MAX_REQUEST: u64 = solo5_abi::MAX_BLOCK_REQUEST;

/// Whether a request of `size` bytes at `offset` is a whole, non-zero
/// number of blocks, at most [`MAX_REQUEST`] (or one block), aligned and
/// inside the device.
fn request_ok(info: BlockInfo, offset: u64, size: usize) -> bool {
    let bs = info.block_size;
    let size = size as u64;
    bs != 0
        && size != 0
        && size.is_multiple_of(bs)
        && size <= MAX_REQUEST.max(bs)
        && offset.is_multiple_of(bs)
        && offset
            .checked_add(size)
            .is_some_and(|end| end <= info.capacity)
}

/// Bytes one host call moves for a device of block size `bs`: what the
/// flavor's tender serves, in whole blocks, at least one block.
fn chunk(bs: u64) -> usize {
    let max = platform::max_block_request();
    (max - max % bs).max(bs) as usize
}

/// `solo5_block_acquire`.
pub(crate) fn acquire(name: &[u8]) -> Result<(Handle, BlockInfo), Error> {
    let (i, e) = mft::by_name(name, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    Ok((Handle(i), info_of(e)))
}

/// `solo5_block_read`.
pub(crate) fn read(handle: u64, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    let e = mft::by_handle(handle, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    let info = info_of(e);
    if !request_ok(info, offset, buf.len()) {
        return Err(Error::Invalid);
    }
    let step = chunk(info.block_size);
    for (i, part) in buf.chunks_mut(step).enumerate() {
        result(platform::block_read(
            handle,
            e,
            offset + (i * step) as u64,
            part,
        ))?;
    }
    Ok(())
}

/// `solo5_block_write`.
pub(crate) fn write(handle: u64, offset: u64, buf: &[u8]) -> Result<(), Error> {
    let e = mft::by_handle(handle, kind::BLOCK_BASIC).ok_or(Error::Invalid)?;
    let info = info_of(e);
    if !request_ok(info, offset, buf.len()) {
        return Err(Error::Invalid);
    }
    let step = chunk(info.block_size);
    for (i, part) in buf.chunks(step).enumerate() {
        result(platform::block_write(
            handle,
            e,
            offset + (i * step) as u64,
            part,
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_aligned_blocks_inside_the_device() {
        let info = BlockInfo {
            capacity: 4096,
            block_size: 512,
        };
        assert!(request_ok(info, 0, 512));
        assert!(request_ok(info, 3584, 512));
        assert!(request_ok(info, 0, 1024), "two blocks");
        assert!(request_ok(info, 0, 4096), "the whole device");
        assert!(!request_ok(info, 3584, 1024), "past the end");
        assert!(!request_ok(info, 4096, 512));
        assert!(!request_ok(info, 100, 512));
        assert!(!request_ok(info, 0, 513));
        assert!(!request_ok(info, 0, 100));
        assert!(!request_ok(info, 0, 0));
        let big = BlockInfo {
            capacity: 4 << 20,
            block_size: 512,
        };
        assert!(request_ok(big, 0, MAX_REQUEST as usize));
        assert!(
            !request_ok(big, 0, MAX_REQUEST as usize + 512),
            "above the maximum"
        );
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
