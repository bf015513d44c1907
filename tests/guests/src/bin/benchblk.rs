//! benchblk: sequential block throughput, for `scripts/bench-devices`,
//! `scripts/bench-hvt-blk` and `scripts/bench-blk-multi` (not a test).
//!
//! ```text
//! solo5-spt --block:storage=FILE [--block-sector-size:storage=N] benchblk --solo5:quiet [write|read] [req=BYTES]
//! ```
//!
//! writes device `storage` from the first block to the last, then reads
//! it all back the same way, one `solo5_block_write` / `solo5_block_read`
//! per request of `req` bytes (default: one block; a whole number of
//! blocks, at most [`MAX_REQUEST`] = 1 MiB; the last request of a device
//! whose capacity is not a multiple of it is shorter), each pass timed
//! with the monotonic clock, and prints one line (the format of
//! `spt/examples/bench_blk_baseline`):
//!
//! ```text
//! benchblk block=BS bytes=CAPACITY write_ns=T read_ns=T write_MBps=X.X read_MBps=X.X req=REQ
//! ```
//!
//! (MB = 10^6 bytes). Each request carries the index of its first block in
//! its first 8 bytes; the read pass checks it, so a pass that silently did
//! nothing fails (exit 1).
//!
//! With `write` or `read` on the command line only that pass runs (the
//! other shows as `_ns=0 _MBps=0.0`), so that a tender's CPU time can be
//! had per pass (`scripts/bench-hvt-blk`); `read` then expects a file a
//! `write` run of the same block and request size filled.
#![no_std]
#![no_main]

use solo5_guest::block::MAX_REQUEST;
use solo5_guest::{clock, println, Block, StartInfo, EXIT_FAILURE};
use solo5_test_guests::Global;

solo5_guest::manifest! { block "storage" }
solo5_guest::main!(app);

/// The request buffer: the largest request, page-aligned (as
/// `bench_blk_baseline`'s, so that neither copy is slowed by a misaligned
/// destination).
const BUF: usize = MAX_REQUEST as usize;
#[repr(C, align(4096))]
struct Buf([u8; BUF]);
static STORAGE: Global<Buf> = Global::new(Buf([0; BUF]));

/// `bytes` in `ns` as MB/s with one decimal, in integers: (whole, tenth).
fn mbps(bytes: u64, ns: u64) -> (u64, u64) {
    // bytes / 1e6 / (ns / 1e9) = bytes * 1000 / ns; times 10 for a tenth.
    let tenths = (u128::from(bytes) * 10_000 / u128::from(ns.max(1))) as u64;
    (tenths / 10, tenths % 10)
}

/// The command line: which passes run, and the request size (0: one
/// block). `None` for anything else.
fn parse(cmdline: &str) -> Option<(bool, bool, u64)> {
    let (mut passes, mut req) = (None, 0u64);
    for word in cmdline.split_ascii_whitespace() {
        match word {
            "write" if passes.is_none() => passes = Some((true, false)),
            "read" if passes.is_none() => passes = Some((false, true)),
            _ => match word.strip_prefix("req=").map(str::parse::<u64>) {
                Some(Ok(n)) if n > 0 && req == 0 => req = n,
                _ => return None,
            },
        }
    }
    let (w, r) = passes.unwrap_or((true, true));
    Some((w, r, req))
}

fn app(start: &StartInfo) -> i32 {
    let Some((do_write, do_read, req)) = parse(start.cmdline()) else {
        println!("usage: benchblk [write|read] [req=BYTES]");
        return 2;
    };
    let Ok(blk) = Block::acquire("storage") else {
        println!("benchblk: could not acquire block device 'storage'");
        return EXIT_FAILURE;
    };
    let (bs, capacity) = (blk.block_size(), blk.capacity());
    let req = if req == 0 { bs } else { req };
    if bs == 0 || bs as usize > BUF {
        println!("benchblk: unsupported block size {bs}");
        return EXIT_FAILURE;
    }
    if !req.is_multiple_of(bs) || req as usize > BUF {
        println!("benchblk: req={req} is not a whole number of {bs}-byte blocks up to {BUF}");
        return 2;
    }
    let blocks = capacity / bs;
    let bytes = blocks * bs;
    // SAFETY: the one reference to STORAGE, in the only thread.
    let storage = unsafe { &mut (*STORAGE.as_ptr()).0 };
    let buf = &mut storage[..req as usize];
    for (j, b) in buf.iter_mut().enumerate() {
        *b = j as u8;
    }

    let t0 = clock::monotonic();
    let mut off = 0;
    while do_write && off < bytes {
        let n = req.min(bytes - off);
        let part = &mut buf[..n as usize];
        part[..8].copy_from_slice(&(off / bs).to_le_bytes());
        if blk.write(off, part).is_err() {
            println!("benchblk: write of block {} failed", off / bs);
            return EXIT_FAILURE;
        }
        off += n;
    }
    let t1 = clock::monotonic();
    let mut off = 0;
    while do_read && off < bytes {
        let n = req.min(bytes - off);
        let part = &mut buf[..n as usize];
        if blk.read(off, part).is_err() {
            println!("benchblk: read of block {} failed", off / bs);
            return EXIT_FAILURE;
        }
        if part[..8] != (off / bs).to_le_bytes() {
            println!(
                "benchblk: block {} does not hold what was written",
                off / bs
            );
            return EXIT_FAILURE;
        }
        off += n;
    }
    let t2 = clock::monotonic();

    let (w_ns, r_ns) = (
        if do_write { t1 - t0 } else { 0 },
        if do_read { t2 - t1 } else { 0 },
    );
    let (w, wt) = if do_write { mbps(bytes, w_ns) } else { (0, 0) };
    let (r, rt) = if do_read { mbps(bytes, r_ns) } else { (0, 0) };
    println!(
        "benchblk block={bs} bytes={bytes} write_ns={w_ns} read_ns={r_ns} write_MBps={w}.{wt} read_MBps={r}.{rt} req={req}"
    );
    0
}
