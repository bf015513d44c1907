//! Multi-block requests through the SDK's block API on every tender: the
//! `blkmulti` unikernel writes a 4 MiB disk in requests of N blocks, reads
//! it back in requests of 2N and of one, and sees oversized, partial and
//! end-crossing requests refused. The disk then holds exactly the pattern.
//!
//! - spt, our native ABI: one table call per request (up to 1 MiB);
//! - spt, upstream's v2 ABI: the SDK splits each request into one-block
//!   `pread64`/`pwrite64` calls (upstream's filter allows nothing else);
//! - hvt, ours: one BLOCK_WRITE/BLOCK_READ per request;
//! - hvt, upstream's tender: the same binary, the same single hypercall
//!   (upstream serves any whole request inside the device).
//!
//! Request sizes: 1, 8 and 128 blocks of 512 bytes, 2048 blocks (1 MiB,
//! the largest), and 16 blocks of 4096 bytes.

use solo5_e2e::hvt::{ours, upstream_hvt};
use solo5_e2e::{guest, run_cmd, spt, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SIZE: usize = 4 << 20;

/// Byte `j` of block `i` as `blkmulti` writes it.
fn pattern(i: u64, j: usize) -> u8 {
    if j < 8 {
        i.to_le_bytes()[j]
    } else {
        (i.wrapping_mul(13).wrapping_add(j as u64)) as u8
    }
}

fn run(who: &str, tender: &Path, flavor: &str, bs: usize, per: u64) {
    let what = format!("{who}, {per} blocks of {bs}");
    let tmp = TempDir::new("blkmulti");
    let disk = tmp.file("disk", &vec![0x5a; SIZE]);
    let mut c = Command::new(tender);
    c.arg("--mem=8")
        .arg(format!("--block:storage={}", disk.display()));
    if bs != 512 {
        c.arg(format!("--block-sector-size:storage={bs}"));
    }
    c.arg("--")
        .arg(guest(flavor, "blkmulti"))
        .arg(per.to_string());
    let o = run_cmd(&mut c, Duration::from_secs(120));
    assert_eq!(o.status, 0, "{what}: {}", o.dump());
    for line in [
        format!(
            "\nWrote {} blocks of {bs} bytes in requests of {per}\n",
            SIZE / bs
        ),
        "\nRefused requests changed nothing\n".to_string(),
        "\nSUCCESS\n".to_string(),
    ] {
        assert!(
            o.stdout.contains(&line),
            "{what}: want {line:?}: {}",
            o.dump()
        );
    }
    let got = std::fs::read(&disk).expect("read the disk");
    assert_eq!(got.len(), SIZE, "{what}: the disk changed size");
    let bad = (0..SIZE).find(|&o| got[o] != pattern((o / bs) as u64, o % bs));
    assert_eq!(bad, None, "{what}: first wrong byte");
}

fn cases() -> [(usize, u64); 5] {
    [(512, 1), (512, 8), (512, 128), (512, 2048), (4096, 16)]
}

#[test]
fn spt_both_abis_serve_multi_block_requests() {
    for flavor in ["spt", "spt-v2"] {
        for (bs, per) in cases() {
            run(&format!("spt {flavor}"), &spt(), flavor, bs, per);
        }
    }
}

#[test]
fn hvt_ours_and_upstreams_serve_multi_block_requests() {
    let Some(t) = ours() else { return };
    for (bs, per) in cases() {
        run("hvt ours", &t, "hvt", bs, per);
    }
    let Some(up) = upstream_hvt() else { return };
    for (bs, per) in cases() {
        run("hvt upstream's", &up, "hvt", bs, per);
    }
}
