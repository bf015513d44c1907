//! Multi-block requests through the SDK's block API, on device `storage`.
//!
//! `blkmulti [BLOCKS]`: writes the whole device in requests of BLOCKS
//! blocks (default 128), block `i` holding [`pattern`]`(i)`, then reads it
//! back in requests of twice that many (at most the largest request) and
//! of one block, comparing every byte. Then: a request of the largest size
//! plus one block, one that is not whole blocks, and one that crosses the
//! end of the device are EINVAL and change nothing.
//!
//! The flavor decides how many host calls a request costs (one on hvt and
//! the native spt ABI, one per block on upstream's spt v2); the result is
//! the same.
#![no_std]
#![no_main]

use solo5_guest::block::MAX_REQUEST;
use solo5_guest::{println, Block, Error, StartInfo, EXIT_FAILURE};
use solo5_test_guests::{banner, check, failure, success, Global};

solo5_guest::manifest! { block "storage" }
solo5_guest::main!(app);

/// The request buffer: the largest request and a block more.
const BUF: usize = MAX_REQUEST as usize + (1 << 15);
static WBUF: Global<[u8; BUF]> = Global::new([0; BUF]);
static RBUF: Global<[u8; BUF]> = Global::new([0; BUF]);

/// Byte `j` of block `i`: the block index in the first 8 bytes, then a
/// sequence that starts at a different value in each block.
fn pattern(i: u64, j: usize) -> u8 {
    if j < 8 {
        i.to_le_bytes()[j]
    } else {
        (i.wrapping_mul(13).wrapping_add(j as u64)) as u8
    }
}

fn fill(buf: &mut [u8], first: u64, bs: usize) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(first + (k / bs) as u64, k % bs);
    }
}

fn same(buf: &[u8], first: u64, bs: usize) -> bool {
    buf.iter()
        .enumerate()
        .all(|(k, &b)| b == pattern(first + (k / bs) as u64, k % bs))
}

/// Reads the device in requests of `per` blocks and compares it.
fn verify(blk: &Block, per: u64, r: &mut [u8]) -> Result<(), &'static str> {
    let (bs, blocks) = (blk.block_size(), blk.capacity() / blk.block_size());
    let mut i = 0;
    while i < blocks {
        let n = per.min(blocks - i);
        let buf = &mut r[..(n * bs) as usize];
        buf.fill(0);
        blk.read(i * bs, buf).map_err(|_| "read failed")?;
        if !same(buf, i, bs as usize) {
            return Err("data read back differs from data written");
        }
        i += n;
    }
    Ok(())
}

fn app(start: &StartInfo) -> i32 {
    banner("blkmulti");
    let Ok(blk) = Block::acquire("storage") else {
        println!("Could not acquire 'storage' block device");
        return EXIT_FAILURE;
    };
    let (bs, capacity) = (blk.block_size(), blk.capacity());
    let blocks = capacity / bs;
    let most = MAX_REQUEST.max(bs) / bs;
    let per: u64 = match start.cmdline().split_whitespace().next() {
        Some(a) => match a.parse() {
            Ok(n) if n > 0 => n,
            _ => return failure(format_args!("bad BLOCKS '{a}'")),
        },
        None => 128,
    };
    check!(per <= most, "{per} blocks is above the largest request");
    // SAFETY: the guest's only thread; nothing else uses the buffers, and
    // these are the only references to them.
    let (w, r) = unsafe { (&mut *WBUF.as_ptr(), &mut *RBUF.as_ptr()) };

    let mut i = 0;
    while i < blocks {
        let n = per.min(blocks - i);
        let buf = &mut w[..(n * bs) as usize];
        fill(buf, i, bs as usize);
        check!(
            blk.write(i * bs, buf).is_ok(),
            "write of {n} blocks at block {i} failed"
        );
        i += n;
    }
    println!("Wrote {blocks} blocks of {bs} bytes in requests of {per}");
    for read_per in [(2 * per).min(most), 1] {
        if let Err(e) = verify(&blk, read_per, r) {
            return failure(format_args!("reading in requests of {read_per}: {e}"));
        }
        println!("Read back and verified in requests of {read_per}");
    }

    // Refused, and nothing written.
    let over = ((most + 1) * bs) as usize;
    let bad: [(&str, u64, usize); 3] = [
        ("largest request plus a block", 0, over),
        ("not whole blocks", 0, bs as usize + 1),
        ("across the end", capacity - bs, 2 * bs as usize),
    ];
    for (what, offset, len) in bad {
        w[..len].fill(0xee);
        check!(
            blk.write(offset, &w[..len]) == Err(Error::Invalid),
            "{what}: write not refused"
        );
        check!(
            blk.read(offset, &mut r[..len]) == Err(Error::Invalid),
            "{what}: read not refused"
        );
    }
    if let Err(e) = verify(&blk, most, r) {
        return failure(format_args!("after the refused requests: {e}"));
    }
    println!("Refused requests changed nothing");
    success()
}
