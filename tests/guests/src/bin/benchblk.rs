//! benchblk: sequential block throughput, for `scripts/bench-devices` (not
//! a test).
//!
//! ```text
//! solo5-spt --block:storage=FILE [--block-sector-size:storage=N] benchblk [write|read] --solo5:quiet
//! ```
//!
//! writes every block of device `storage` from the first to the last, then
//! reads them all back the same way, one `solo5_block_write` /
//! `solo5_block_read` per block, each pass timed with the monotonic clock,
//! and prints one line (the format of `spt/examples/bench_blk_baseline`):
//!
//! ```text
//! benchblk block=BS bytes=CAPACITY write_ns=T read_ns=T write_MBps=X.X read_MBps=X.X
//! ```
//!
//! (MB = 10^6 bytes). Block `i` carries its index in its first 8 bytes; the
//! read pass checks it, so a pass that silently did nothing fails (exit 1).
//!
//! With `write` or `read` on the command line only that pass runs (the
//! other shows as `_ns=0 _MBps=0.0`), so that a tender's CPU time can be
//! had per pass (`scripts/bench-hvt-blk`); `read` then expects a file a
//! `write` run of the same block size filled.
#![no_std]
#![no_main]

use solo5_guest::{clock, println, Block, StartInfo, EXIT_FAILURE};

solo5_guest::manifest! { block "storage" }
solo5_guest::main!(app);

/// The largest block size the tender accepts (a u16 in the manifest).
const MAX_BLOCK: usize = 1 << 15;

/// `bytes` in `ns` as MB/s with one decimal, in integers: (whole, tenth).
fn mbps(bytes: u64, ns: u64) -> (u64, u64) {
    // bytes / 1e6 / (ns / 1e9) = bytes * 1000 / ns; times 10 for a tenth.
    let tenths = (u128::from(bytes) * 10_000 / u128::from(ns.max(1))) as u64;
    (tenths / 10, tenths % 10)
}

fn app(start: &StartInfo) -> i32 {
    let (do_write, do_read) = match start.cmdline().trim() {
        "" => (true, true),
        "write" => (true, false),
        "read" => (false, true),
        _ => {
            println!("usage: benchblk [write|read]");
            return 2;
        }
    };
    let Ok(blk) = Block::acquire("storage") else {
        println!("benchblk: could not acquire block device 'storage'");
        return EXIT_FAILURE;
    };
    let (bs, capacity) = (blk.block_size(), blk.capacity());
    if bs == 0 || bs as usize > MAX_BLOCK {
        println!("benchblk: unsupported block size {bs}");
        return EXIT_FAILURE;
    }
    let blocks = capacity / bs;
    let mut storage = [0u8; MAX_BLOCK];
    let buf = &mut storage[..bs as usize];
    for (j, b) in buf.iter_mut().enumerate() {
        *b = j as u8;
    }

    let t0 = clock::monotonic();
    for i in (0..blocks).filter(|_| do_write) {
        buf[..8].copy_from_slice(&i.to_le_bytes());
        if blk.write(i * bs, buf).is_err() {
            println!("benchblk: write of block {i} failed");
            return EXIT_FAILURE;
        }
    }
    let t1 = clock::monotonic();
    for i in (0..blocks).filter(|_| do_read) {
        if blk.read(i * bs, buf).is_err() {
            println!("benchblk: read of block {i} failed");
            return EXIT_FAILURE;
        }
        if buf[..8] != i.to_le_bytes() {
            println!("benchblk: block {i} does not hold what was written");
            return EXIT_FAILURE;
        }
    }
    let t2 = clock::monotonic();

    let bytes = blocks * bs;
    let (w_ns, r_ns) = (
        if do_write { t1 - t0 } else { 0 },
        if do_read { t2 - t1 } else { 0 },
    );
    let (w, wt) = if do_write { mbps(bytes, w_ns) } else { (0, 0) };
    let (r, rt) = if do_read { mbps(bytes, r_ns) } else { (0, 0) };
    println!(
        "benchblk block={bs} bytes={bytes} write_ns={w_ns} read_ns={r_ns} write_MBps={w}.{wt} read_MBps={r}.{rt}"
    );
    0
}
