//! test_mft_maxdevices: like upstream's. The manifest declares the most
//! devices it can hold, 63 block devices `storage0`..`storage62`; every
//! one is acquired, with a distinct handle, and reported as
//! `storageN: handle H, C bytes, block size B` (the test suite attaches a
//! file of a different size to each). Then `SUCCESS`.
#![no_std]
#![no_main]

use core::fmt::Write;

use solo5_guest::console::Buffered;
use solo5_guest::{println, Block, HandleSet, StartInfo, EXIT_FAILURE};
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! {
    block "storage0",
    block "storage1",
    block "storage2",
    block "storage3",
    block "storage4",
    block "storage5",
    block "storage6",
    block "storage7",
    block "storage8",
    block "storage9",
    block "storage10",
    block "storage11",
    block "storage12",
    block "storage13",
    block "storage14",
    block "storage15",
    block "storage16",
    block "storage17",
    block "storage18",
    block "storage19",
    block "storage20",
    block "storage21",
    block "storage22",
    block "storage23",
    block "storage24",
    block "storage25",
    block "storage26",
    block "storage27",
    block "storage28",
    block "storage29",
    block "storage30",
    block "storage31",
    block "storage32",
    block "storage33",
    block "storage34",
    block "storage35",
    block "storage36",
    block "storage37",
    block "storage38",
    block "storage39",
    block "storage40",
    block "storage41",
    block "storage42",
    block "storage43",
    block "storage44",
    block "storage45",
    block "storage46",
    block "storage47",
    block "storage48",
    block "storage49",
    block "storage50",
    block "storage51",
    block "storage52",
    block "storage53",
    block "storage54",
    block "storage55",
    block "storage56",
    block "storage57",
    block "storage58",
    block "storage59",
    block "storage60",
    block "storage61",
    block "storage62",
}
solo5_guest::main!(app);

/// How many devices the manifest declares.
const DEVICES: usize = 63;

/// `storage{i}` in `buf`.
fn name(buf: &mut [u8; 16], i: usize) -> &str {
    let mut n = *b"storage\0\0";
    let len = if i < 10 {
        n[7] = b'0' + i as u8;
        8
    } else {
        n[7] = b'0' + (i / 10) as u8;
        n[8] = b'0' + (i % 10) as u8;
        9
    };
    buf[..len].copy_from_slice(&n[..len]);
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

fn app(_start: &StartInfo) -> i32 {
    banner("mft_maxdevices");
    let mut seen = HandleSet::EMPTY;
    let mut out = Buffered::<4096>::new();
    for i in 0..DEVICES {
        let mut buf = [0u8; 16];
        let name = name(&mut buf, i);
        let Ok(blk) = Block::acquire(name) else {
            out.flush();
            println!("FAILURE: could not acquire '{name}'");
            return EXIT_FAILURE;
        };
        let h = blk.handle();
        check!(!seen.contains(h), "'{name}' has handle {h}, already seen");
        seen.insert(h);
        let _ = writeln!(
            out,
            "{name}: handle {h}, {} bytes, block size {}",
            blk.capacity(),
            blk.block_size()
        );
    }
    out.flush();
    check!(seen.len() == DEVICES, "{} distinct handles", seen.len());
    success()
}
