//! test_blk: like upstream's, over the whole of device `storage`.
//!
//! 1. Every block `i` gets [`pattern`] and is read back and compared, from
//!    the first block to the last.
//! 2. Requests that are not exactly one aligned block inside the device
//!    fail with EINVAL, for reads and writes: an offset off by one byte,
//!    a buffer of half a block and one of a block and a byte, an offset
//!    equal to the capacity and one just below it, a huge offset.
//! 3. Those failed writes changed nothing: the first and last blocks still
//!    hold their pattern.
//!
//! The test suite checks the file afterwards: byte `j` of block `i` is
//! `pattern(i, j)`.
#![no_std]
#![no_main]

use solo5_guest::{println, Block, Error, StartInfo, EXIT_FAILURE};
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! { block "storage" }
solo5_guest::main!(app);

/// The largest block size the tender accepts (a u16 in the manifest).
const MAX_BLOCK: usize = 1 << 15;

/// Byte `j` of block `i`: the block index (little endian) in the first 8
/// bytes, then a sequence that starts at a different value in each block.
fn pattern(i: u64, j: usize) -> u8 {
    if j < 8 {
        i.to_le_bytes()[j]
    } else {
        (i.wrapping_mul(7).wrapping_add(j as u64)) as u8
    }
}

fn fill(buf: &mut [u8], i: u64) {
    for (j, b) in buf.iter_mut().enumerate() {
        *b = pattern(i, j);
    }
}

/// Reads block `i` and compares it with its pattern.
fn verify(blk: &Block, i: u64, buf: &mut [u8]) -> Result<(), &'static str> {
    let bs = buf.len() as u64;
    buf.fill(0);
    blk.read(i * bs, buf).map_err(|_| "read failed")?;
    match buf.iter().enumerate().all(|(j, &b)| b == pattern(i, j)) {
        true => Ok(()),
        false => Err("data read back differs from data written"),
    }
}

fn app(_start: &StartInfo) -> i32 {
    banner("blk");
    let Ok(blk) = Block::acquire("storage") else {
        println!("Could not acquire 'storage' block device");
        return EXIT_FAILURE;
    };
    let (bs, capacity) = (blk.block_size(), blk.capacity());
    let blocks = capacity / bs;
    println!("Block size is {bs}, capacity is {capacity} bytes ({blocks} blocks)");
    check!(
        bs >= 512 && bs as usize <= MAX_BLOCK && capacity % bs == 0 && blocks > 0,
        "unusable block size {bs} or capacity {capacity}"
    );

    let mut wbuf = [0u8; MAX_BLOCK + 1];
    let mut rbuf = [0u8; MAX_BLOCK + 1];
    let block = bs as usize;
    for i in 0..blocks {
        fill(&mut wbuf[..block], i);
        check!(
            blk.write(i * bs, &wbuf[..block]).is_ok(),
            "write of block {i} failed"
        );
        if let Err(e) = verify(&blk, i, &mut rbuf[..block]) {
            return solo5_test_guests::failure(format_args!("block {i}: {e}"));
        }
    }
    println!(
        "Wrote and verified {blocks} blocks, the last at offset {}",
        capacity - bs
    );

    // (what, offset, size) of requests that must fail.
    let bad: [(&str, u64, usize); 7] = [
        ("misaligned offset", 1, block),
        ("misaligned offset", bs + bs / 2, block),
        ("half a block", 0, block / 2),
        ("a block and a byte", 0, block + 1),
        ("offset == capacity", capacity, block),
        ("offset past capacity", capacity + bs, block),
        ("huge offset", u64::MAX - bs + 1, block),
    ];
    for (what, offset, size) in bad {
        wbuf[..size].fill(0xee);
        let w = blk.write(offset, &wbuf[..size]);
        check!(
            w == Err(Error::Invalid),
            "write with {what} (offset {offset}, {size} bytes) returned {w:?}, not EINVAL"
        );
        let r = blk.read(offset, &mut rbuf[..size]);
        check!(
            r == Err(Error::Invalid),
            "read with {what} (offset {offset}, {size} bytes) returned {r:?}, not EINVAL"
        );
    }
    println!("Misaligned, wrongly sized and out-of-range requests get EINVAL");

    for i in [0, blocks - 1] {
        if let Err(e) = verify(&blk, i, &mut rbuf[..block]) {
            return solo5_test_guests::failure(format_args!(
                "block {i} after the refused requests: {e}"
            ));
        }
    }
    success()
}
