//! Block devices end to end, under both spt ABIs: the `blk` unikernel
//! writes and verifies every block of a file and the file holds exactly
//! that afterwards; backing storage and sector sizes the tender refuses;
//! `mft_maxdevices` with 63 files attached. Every guest runs with
//! `--mem=2`, upstream's memory floor.

use solo5_e2e::{assert_refused, guest, spt_run, TempDir, FLAVORS};
use std::ffi::OsString;
use std::path::Path;

/// Byte `j` of block `i` as the `blk` guest writes it: the block index
/// (little endian) in the first 8 bytes, then `7 i + j` (mod 256).
fn pattern(i: u64, j: usize) -> u8 {
    if j < 8 {
        i.to_le_bytes()[j]
    } else {
        (i.wrapping_mul(7).wrapping_add(j as u64)) as u8
    }
}

/// The whole device after `blk` ran: `size` bytes of `bs`-byte blocks.
fn expected(size: usize, bs: usize) -> Vec<u8> {
    (0..size)
        .map(|o| pattern((o / bs) as u64, o % bs))
        .collect()
}

/// Guest memory for every run: upstream's test suite runs at 2 MiB.
const MEM: &str = "--mem=2";

fn blk_args(flavor: &str, disk: &Path, sector: Option<u64>) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        MEM.into(),
        format!("--block:storage={}", disk.display()).into(),
    ];
    if let Some(s) = sector {
        a.push(format!("--block-sector-size:storage={s}").into());
    }
    a.push(guest(flavor, "blk").into());
    a
}

#[test]
fn blk_writes_and_verifies_every_block() {
    for (bs, size) in [(512usize, 1usize << 20), (4096, 4 << 20)] {
        for f in FLAVORS {
            let what = format!("{f}, {bs}-byte blocks");
            let dir = TempDir::new("blk");
            // Not zeroes: a block the guest skipped would show.
            let disk = dir.file("disk", &vec![0x5a; size]);
            let sector = (bs != 512).then_some(bs as u64);
            let o = spt_run(&blk_args(f, &disk, sector));
            assert_eq!(o.status, 0, "{what}: {}", o.dump());
            for line in [
                format!(
                    "\nBlock size is {bs}, capacity is {size} bytes ({} blocks)\n",
                    size / bs
                ),
                format!(
                    "\nWrote and verified {} blocks, the last at offset {}\n",
                    size / bs,
                    size - bs
                ),
                "\nMisaligned, wrongly sized and out-of-range requests get EINVAL\n".into(),
                "\nSUCCESS\n".into(),
            ] {
                assert!(
                    o.stdout.contains(&line),
                    "{what}: want {line:?}: {}",
                    o.dump()
                );
            }
            assert!(o.stderr.is_empty(), "{what}: {}", o.dump());

            let got = std::fs::read(&disk).unwrap();
            // Nothing written beyond the capacity.
            assert_eq!(got.len(), size, "{what}: the file changed size");
            let want = expected(size, bs);
            if let Some(at) = got.iter().zip(&want).position(|(a, b)| a != b) {
                panic!(
                    "{what}: byte {at} (block {}, offset {} in it) is {:#04x} on disk, want {:#04x}",
                    at / bs,
                    at % bs,
                    got[at],
                    want[at]
                );
            }
        }
    }
}

#[test]
fn blk_refuses_unusable_storage_and_sector_sizes() {
    const ALIGNED: &str = "Backing storage size must be block aligned";
    const SECTOR: &str = "Block size must be a multiple of 2 greater than or equal 512";
    let dir = TempDir::new("blk-bad");
    let odd = dir.file("odd", &[0; 1000]);
    let half = dir.file("half", &[0; 4096 + 512]);
    let empty = dir.file("empty", &[]);
    let good = dir.file("good", &[0; 8192]);
    for f in FLAVORS {
        let cases: [(&str, &Path, Option<u64>, &str); 6] = [
            ("1000-byte file", &odd, None, ALIGNED),
            (
                "4608-byte file, 4096-byte sectors",
                &half,
                Some(4096),
                ALIGNED,
            ),
            ("empty file", &empty, None, "backing storage is empty"),
            ("sector size 1000", &good, Some(1000), SECTOR),
            ("sector size 256", &good, Some(256), SECTOR),
            ("sector size 0", &good, Some(0), SECTOR),
        ];
        for (case, disk, sector, want) in cases {
            let what = format!("{f}: {case}");
            let o = spt_run(&blk_args(f, disk, sector));
            assert_refused(&what, &o, Some("storage"), want);
            if sector.is_none() {
                // The file is named.
                assert!(
                    o.stderr.contains(&disk.display().to_string()),
                    "{what}: {}",
                    o.dump()
                );
            }
        }
        // The refused runs left the files alone.
        for (p, len) in [(&odd, 1000), (&half, 4608), (&empty, 0), (&good, 8192)] {
            let got = std::fs::read(p).unwrap();
            assert_eq!(got.len(), len, "{f}: {}", p.display());
            assert!(
                got.iter().all(|&b| b == 0),
                "{f}: {} was written",
                p.display()
            );
        }
    }
}

#[test]
fn mft_maxdevices_acquires_63_block_devices() {
    for f in FLAVORS {
        let dir = TempDir::new("maxdevices");
        let mut args: Vec<OsString> = vec![MEM.into()];
        for i in 0..63usize {
            // A different size for each, so each line shows its own file.
            let p = dir.file(&format!("disk{i}"), &vec![0; (i + 1) * 512]);
            args.push(format!("--block:storage{i}={}", p.display()).into());
        }
        args.push(guest(f, "mft_maxdevices").into());
        let o = spt_run(&args);
        assert_eq!(o.status, 0, "{f}: {}", o.dump());
        assert!(o.stdout.contains("\nSUCCESS\n"), "{f}: {}", o.dump());
        for i in 0..63usize {
            // Handles are manifest indexes; entry 0 is reserved.
            let line = format!(
                "\nstorage{i}: handle {}, {} bytes, block size 512\n",
                i + 1,
                (i + 1) * 512
            );
            assert!(o.stdout.contains(&line), "{f}: want {line:?}: {}", o.dump());
        }
    }
}
