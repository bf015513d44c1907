//! Block bounds proven at the tender, not at the SDK: the `blkbounds`
//! test unikernel sends one block request straight to the tender (the
//! native hypercall table on spt, its own `pread64`/`pwrite64` under
//! upstream's seccomp filter on spt v2, a raw BLOCK_READ/BLOCK_WRITE
//! hypercall on hvt), one case per process, and prints what it got. For
//! each case: the result the guest saw, the exit status, and the backing
//! file's size and sha256 before and after (plus its bytes: a write that
//! succeeds changed exactly the range it named).
//!
//! What each tender does (512- and 4096-byte blocks, a 2 MiB disk):
//!
//! | case | spt native | spt v2 (upstream's filter) | hvt, ours | hvt, upstream's |
//! |---|---|---|---|---|
//! | one aligned block inside | OK | OK (`ret` = block) | OK | OK |
//! | offset = capacity, past it, 2^64 - block | EINVAL | SIGSYS (159) | EINVAL | EINVAL |
//! | offset + length wraps | EINVAL | SIGSYS | EINVAL | EINVAL |
//! | length 0, 100, 513 | EINVAL | SIGSYS | EINVAL | OK (100 or 513 bytes are written) |
//! | misaligned offset (1, 511) | EINVAL | SIGSYS: our filter pins the alignment too (upstream's does not: there the call passes and a write lands unaligned) | EINVAL | OK, written |
//! | buffer outside guest memory | EINVAL | EFAULT from the kernel (-14), or a short transfer when it straddles the end (256 bytes) | `Invalid guest access`, status 1 | the same, with its file:line |
//! | two blocks inside | OK | SIGSYS | OK | OK |
//! | two blocks straddling the end | EINVAL | SIGSYS | EINVAL | EINVAL |
//! | 1 MiB | OK | SIGSYS | OK | OK |
//! | 1 MiB + a block | EINVAL | SIGSYS | EINVAL | OK |
//!
//! Upstream's spt tender runs the spt v2 cases too where it is present,
//! with the same results (its filter is the one ours copies).
//!
//! `native_table_checks_every_block_request` calls spt's hypercall table
//! directly, without a guest, with the same cases.
//!
//! hvt tests skip where /dev/kvm is absent, the upstream comparisons where
//! upstream's binaries are. A missing `blkbounds` guest is a failure.

use solo5_e2e::hvt::{ours, upstream_hvt, upstream_tool};
use solo5_e2e::{guest, run_cmd, spt, Outcome, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The disk: 2 MiB, so that 1 MiB and 1 MiB + a block fit inside it.
const CAPACITY: u64 = 2 << 20;
/// Guest memory: enough heap for a 1 MiB + 32 KiB buffer.
const MEM_MIB: u64 = 4;
const MEM_SIZE: u64 = MEM_MIB << 20;
/// The largest request hvt serves in one call.
const MAX_REQUEST: u64 = 1 << 20;
/// What the guest fills its buffer with before a write.
const FILL: u8 = 0xee;
/// What the disk holds before each run.
const DISK: u8 = 0x5a;
const EINVAL: i64 = 2;
const EFAULT: i64 = -14;

/// Every case the guest knows.
const CASES: &[&str] = &[
    "ok",
    "ok-last",
    "at-capacity",
    "past-capacity",
    "huge-offset",
    "wrap",
    "len-0",
    "len-100",
    "len-513",
    "misaligned-1",
    "misaligned-511",
    "outside-top",
    "outside-straddle",
    "outside-far",
    "two-blocks",
    "two-straddle",
    "max",
    "over-max",
];

/// (offset, length, buffer) of `case` as the guest makes it, for a
/// device of `bs`-byte blocks; `heap` stands for the guest's heap.
fn request(case: &str, bs: u64) -> (u64, u64, Buf) {
    let c = CAPACITY;
    match case {
        "ok" => (0, bs, Buf::Heap),
        "ok-last" => (c - bs, bs, Buf::Heap),
        "at-capacity" => (c, bs, Buf::Heap),
        "past-capacity" => (c + bs, bs, Buf::Heap),
        "huge-offset" => (0u64.wrapping_sub(bs), bs, Buf::Heap),
        "wrap" => (c - bs, u64::MAX - 100, Buf::Heap),
        "len-0" => (0, 0, Buf::Heap),
        "len-100" => (0, 100, Buf::Heap),
        "len-513" => (0, 513, Buf::Heap),
        "misaligned-1" => (1, bs, Buf::Heap),
        "misaligned-511" => (511, bs, Buf::Heap),
        "outside-top" => (0, bs, Buf::At(MEM_SIZE)),
        "outside-straddle" => (0, bs, Buf::At(MEM_SIZE - 256)),
        "outside-far" => (0, bs, Buf::At(1 << 40)),
        "two-blocks" => (0, 2 * bs, Buf::Heap),
        "two-straddle" => (c - bs, 2 * bs, Buf::Heap),
        "max" => (0, MAX_REQUEST, Buf::Heap),
        "over-max" => (0, MAX_REQUEST + bs, Buf::Heap),
        _ => panic!("no case {case}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Buf {
    Heap,
    At(u64),
}

/// What a run must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Status 0 and `ret=N`.
    Ret(i64),
    /// Killed by the seccomp filter: status 159, no result.
    Sigsys,
    /// Stopped by the tender: status 1 and `Invalid guest access:
    /// gpa=GPA, sz=SZ` (ours: exactly `solo5-hvt: ` before it).
    Fatal(u64, u64),
}

/// How the disk must look afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disk {
    Unchanged,
    /// `len` bytes of [`FILL`] at `offset`, the rest unchanged.
    Written(u64, u64),
    /// At most `[offset, offset + len)` changed, to bytes the test does
    /// not know (the top of the guest's stack), the rest unchanged.
    Partly(u64, u64),
}

struct Expect {
    want: Want,
    disk: Disk,
}

fn unchanged(want: Want) -> Expect {
    Expect {
        want,
        disk: Disk::Unchanged,
    }
}

/// A successful request of `len` bytes at `offset`: a read changes
/// nothing, a write fills the range.
fn done(write: bool, ret: i64, offset: u64, len: u64) -> Expect {
    Expect {
        want: Want::Ret(ret),
        disk: if write && len > 0 {
            Disk::Written(offset, len)
        } else {
            Disk::Unchanged
        },
    }
}

/// Whole aligned blocks, at most 1 MiB (or one block), all inside the
/// device: what the native table and our hvt serve.
fn whole_blocks(offset: u64, len: u64, bs: u64) -> bool {
    len != 0
        && len.is_multiple_of(bs)
        && offset.is_multiple_of(bs)
        && len <= MAX_REQUEST.max(bs)
        && offset < CAPACITY
        && offset.checked_add(len).is_some_and(|e| e <= CAPACITY)
}

/// The native table: whole aligned blocks up to 1 MiB inside the device,
/// and a buffer inside guest memory; everything else EINVAL.
fn native(case: &str, write: bool, bs: u64) -> Expect {
    let (offset, len, buf) = request(case, bs);
    match buf {
        Buf::Heap if whole_blocks(offset, len, bs) => done(write, 0, offset, len),
        _ => unchanged(Want::Ret(EINVAL)),
    }
}

/// spt v2 on our tender: the filter allows `pread64`/`pwrite64` with
/// count == block size and an aligned offset <= capacity - block size, on
/// the device's fd; the kernel answers the rest.
fn v2(case: &str, write: bool, bs: u64) -> Expect {
    match case {
        "misaligned-1" | "misaligned-511" => unchanged(Want::Sigsys),
        _ => v2_upstream(case, write, bs),
    }
}

/// spt v2 on upstream's tender: as ours, but its filter does not pin the
/// alignment, so a misaligned offset reaches the file.
fn v2_upstream(case: &str, write: bool, bs: u64) -> Expect {
    let (offset, len, _) = request(case, bs);
    match case {
        "ok" | "ok-last" | "misaligned-1" | "misaligned-511" => done(write, bs as i64, offset, len),
        "outside-top" | "outside-far" => unchanged(Want::Ret(EFAULT)),
        // The kernel moves the 256 bytes of guest memory there are.
        "outside-straddle" => Expect {
            want: Want::Ret(256),
            disk: if write {
                Disk::Partly(0, 256)
            } else {
                Disk::Unchanged
            },
        },
        _ => unchanged(Want::Sigsys),
    }
}

/// Our hvt: whole aligned blocks, at most 1 MiB, inside the device; a
/// buffer outside guest memory stops the guest.
fn hvt_ours(case: &str, write: bool, bs: u64) -> Expect {
    let (offset, len, buf) = request(case, bs);
    if let Buf::At(gpa) = buf {
        return unchanged(Want::Fatal(gpa, len));
    }
    if whole_blocks(offset, len, bs) {
        done(write, 0, offset, len)
    } else {
        unchanged(Want::Ret(EINVAL))
    }
}

/// Upstream's hvt: offset below the capacity and the end within it,
/// nothing else (docs/hvt.md, "Block devices"; upstream's hvt_module_blk.c).
fn hvt_upstream(case: &str, write: bool, bs: u64) -> Expect {
    let (offset, len, buf) = request(case, bs);
    if let Buf::At(gpa) = buf {
        return unchanged(Want::Fatal(gpa, len));
    }
    let ok = offset < CAPACITY && offset.checked_add(len).is_some_and(|e| e <= CAPACITY);
    if ok {
        done(write, 0, offset, len)
    } else {
        unchanged(Want::Ret(EINVAL))
    }
}

fn sha256(p: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("run sha256sum (coreutils)");
    assert!(o.status.success(), "sha256sum {}", p.display());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// One run: `TENDER --mem=4 --block:storage=DISK [--block-sector-size]
/// -- blkbounds OP CASE` on a fresh disk of [`DISK`] bytes, checked
/// against `e`. `ours_line`: the fatal line is exactly ours
/// (`solo5-hvt: Invalid ...`), not upstream's (with file:line).
fn check(tender: &Path, kernel: &Path, bs: u64, op: &str, case: &str, e: &Expect, ours_line: bool) {
    let what = format!("{} {op} {case}, {bs}-byte blocks", tender.display());
    let tmp = TempDir::new("blkbounds");
    let before = vec![DISK; CAPACITY as usize];
    let disk = tmp.file("disk.img", &before);
    let hash_before = sha256(&disk);
    let mut c = Command::new(tender);
    c.arg(format!("--mem={MEM_MIB}"))
        .arg(format!("--block:storage={}", disk.display()));
    if bs != 512 {
        c.arg(format!("--block-sector-size:storage={bs}"));
    }
    c.arg("--").arg(kernel).args([op, case]);
    let o = run_cmd(&mut c, Duration::from_secs(60));
    check_outcome(&what, &o, op, case, e.want, ours_line);

    let after = std::fs::read(&disk).expect("read the disk back");
    assert_eq!(after.len(), before.len(), "{what}: the file changed size");
    let hash_after = sha256(&disk);
    match e.disk {
        Disk::Unchanged => {
            assert_eq!(hash_after, hash_before, "{what}: the file changed");
            assert!(after == before, "{what}: the file changed");
        }
        Disk::Written(offset, len) => {
            assert_ne!(hash_after, hash_before, "{what}: nothing written");
            let mut want = before.clone();
            want[offset as usize..(offset + len) as usize].fill(FILL);
            if let Some(at) = after.iter().zip(&want).position(|(a, b)| a != b) {
                panic!(
                    "{what}: byte {at} is {:#04x}, want {:#04x}",
                    after[at], want[at]
                );
            }
        }
        Disk::Partly(offset, len) => {
            let (from, to) = (offset as usize, (offset + len) as usize);
            assert_eq!(after[..from], before[..from], "{what}");
            assert_eq!(after[to..], before[to..], "{what}: written past the range");
        }
    }
}

fn check_outcome(what: &str, o: &Outcome, op: &str, case: &str, want: Want, ours_line: bool) {
    // The guest got as far as the request.
    assert!(
        o.stdout
            .contains(&format!("\nblkbounds: {op} {case}: offset ")),
        "{what}: {}",
        o.dump()
    );
    let result = format!("\nblkbounds: {op} {case}: ret=");
    match want {
        Want::Ret(r) => {
            assert_eq!(o.status, 0, "{what}: {}", o.dump());
            assert!(
                o.stdout.contains(&format!("{result}{r}\n")),
                "{what}: want ret={r}: {}",
                o.dump()
            );
            assert!(o.stderr.is_empty(), "{what}: {}", o.dump());
        }
        Want::Sigsys => {
            assert_eq!(o.status, 159, "{what}: {}", o.dump());
            assert!(!o.stdout.contains(&result), "{what}: {}", o.dump());
        }
        Want::Fatal(gpa, sz) => {
            assert_eq!(o.status, 1, "{what}: {}", o.dump());
            assert!(!o.stdout.contains(&result), "{what}: {}", o.dump());
            let line = format!("Invalid guest access: gpa={gpa:#x}, sz={sz}");
            if ours_line {
                assert_eq!(
                    o.stderr,
                    format!("solo5-hvt: {line}\n"),
                    "{what}: {}",
                    o.dump()
                );
            } else {
                assert!(
                    o.stderr.starts_with("solo5-hvt: ") && o.stderr.contains(&line),
                    "{what}: {}",
                    o.dump()
                );
            }
        }
    }
}

/// Every case, read and write, 512- and 4096-byte blocks.
fn matrix(
    tender: &Path,
    kernel: &Path,
    ours_line: bool,
    expect: impl Fn(&str, bool, u64) -> Expect,
) {
    for bs in [512u64, 4096] {
        for op in ["read", "write"] {
            for case in CASES {
                let e = expect(case, op == "write", bs);
                check(tender, kernel, bs, op, case, &e, ours_line);
            }
        }
    }
}

fn blkbounds(flavor: &str) -> PathBuf {
    guest(flavor, "blkbounds")
}

#[test]
fn spt_native_table_refuses_every_bad_request() {
    matrix(&spt(), &blkbounds("spt"), true, native);
}

#[test]
fn spt_v2_filter_kills_what_it_pins() {
    let kernel = blkbounds("spt-v2");
    matrix(&spt(), &kernel, true, v2);
    // Upstream's tender: the same filter but for the alignment.
    let Some(up) = upstream_tool("solo5-spt") else {
        return;
    };
    let o = run_cmd(Command::new(&up).arg("--version"), Duration::from_secs(10));
    if o.status != 0 {
        solo5_e2e::skip!(
            "SKIP (upstream's solo5-spt): it cannot run here: {}",
            o.dump()
        );
        return;
    }
    matrix(&up, &kernel, true, v2_upstream);
}

#[test]
fn hvt_refuses_every_bad_request_and_stops_a_bad_buffer() {
    let kernel = blkbounds("hvt");
    let Some(t) = ours() else { return };
    matrix(&t, &kernel, true, hvt_ours);
}

#[test]
fn upstreams_hvt_checks_only_the_capacity() {
    let kernel = blkbounds("hvt");
    let Some(up) = upstream_hvt() else { return };
    matrix(&up, &kernel, false, hvt_upstream);
}

/// spt's native table called directly from this process, no guest: the
/// same cases, on a table whose guest memory is `[0x10000, 2^47)` (so
/// that buffers of this test process count as guest memory) with block
/// devices at handles 1 (512-byte blocks) and 2 (4096). Also bad
/// handles. Every bad request is EINVAL before any system call: the file
/// is unchanged, and the buffers of the huge requests (a few KiB) are
/// never touched past their end.
#[test]
fn native_table_checks_every_block_request() {
    use solo5_spt::hypercalls::{self, Device, HostState, Layout, Table, TABLE};
    use solo5_tender::devices::io::{NetStatus, PollSet};
    use std::os::fd::AsRawFd;

    const TOP: u64 = 1 << 47;
    let tmp = TempDir::new("native-table");
    let before = vec![DISK; CAPACITY as usize];
    let paths = [tmp.file("d512", &before), tmp.file("d4096", &before)];
    let files: Vec<std::fs::File> = paths
        .iter()
        .map(|p| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .expect("open the disk")
        })
        .collect();
    let mut devices = Table::default();
    for (i, (f, bs)) in files.iter().zip([512u64, 4096]).enumerate() {
        devices.set(
            i + 1,
            Device::Block {
                fd: f.as_raw_fd(),
                block_size: bs,
                capacity: CAPACITY,
            },
        );
    }
    let installed = hypercalls::install(HostState {
        layout: Layout::new(TOP),
        vdso_clock: None,
        devices,
        poll: PollSet::EMPTY,
        net: NetStatus::new("solo5-spt", &[]),
    });
    assert!(installed, "the table's state was already set");

    // A buffer of 1 MiB + 2 blocks of our own (the `Heap` of the cases).
    let mut heap = vec![FILL; (MAX_REQUEST + 8192) as usize];
    for (handle, bs) in [(1u64, 512u64), (2, 4096)] {
        let p = &paths[handle as usize - 1];
        for write in [false, true] {
            for case in CASES {
                let (offset, len, buf) = request(case, bs);
                heap.fill(FILL);
                let addr = match buf {
                    Buf::Heap => heap.as_mut_ptr(),
                    // Outside guest memory for this table: below 0x10000,
                    // across its top, or far above it.
                    Buf::At(_) => match *case {
                        "outside-top" => TOP as *mut u8,
                        "outside-straddle" => (TOP - 256) as *mut u8,
                        _ => 0x1000 as *mut u8,
                    },
                };
                // SAFETY: the table checks every argument before it
                // touches a byte (what is tested); where the request is
                // valid, addr is `heap`, which holds at least `len` bytes.
                let r = unsafe {
                    if write {
                        (TABLE.block_write)(handle, offset, addr, len as usize)
                    } else {
                        (TABLE.block_read)(handle, offset, addr, len as usize)
                    }
                };
                let e = native(case, write, bs);
                let what = format!(
                    "table: {} {case}, {bs}-byte blocks",
                    if write { "write" } else { "read" }
                );
                assert_eq!(Want::Ret(i64::from(r)), e.want, "{what}");
                let after = std::fs::read(p).expect("read the disk");
                let mut want = before.clone();
                if let Disk::Written(o, l) = e.disk {
                    want[o as usize..(o + l) as usize].fill(FILL);
                }
                assert!(after == want, "{what}: the file is not as expected");
                // Back to the original for the next case.
                std::fs::write(p, &before).expect("reset the disk");
            }
        }
    }
    // Handles that are no block device: EINVAL, whatever the request.
    for handle in [0u64, 3, 63, 64, u64::MAX] {
        // SAFETY: as above; the handle is refused first.
        let r = unsafe { (TABLE.block_read)(handle, 0, heap.as_mut_ptr(), 512) };
        assert_eq!(u64::from(r), EINVAL as u64, "handle {handle}");
        // SAFETY: as above.
        let r = unsafe { (TABLE.block_write)(handle, 0, heap.as_ptr(), 512) };
        assert_eq!(u64::from(r), EINVAL as u64, "handle {handle}");
    }
    // A valid read really reads: block 0 of a disk of DISK bytes.
    heap[..512].fill(0);
    // SAFETY: heap holds 512 writable bytes inside this table's memory.
    let r = unsafe { (TABLE.block_read)(1, 0, heap.as_mut_ptr(), 512) };
    assert_eq!(r, 0);
    assert!(heap[..512].iter().all(|&b| b == DISK));
}
