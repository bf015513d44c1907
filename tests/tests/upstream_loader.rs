//! Our loader against upstream's, on mutated real binaries: the same
//! verdict and the same line. Each case is one of upstream's spt test
//! unikernels with one field of its ELF header, a program header or a note
//! header set to a value picked to reach the loader's rules (addresses at
//! the edges of guest memory, alignments, sizes past the file). Both
//! tenders run it at `--mem=2`; the exit status and the first line on
//! standard error must be the same, apart from the documented differences
//! (docs/abis.md).
//!
//! Needs ../shared/upstream-solo5 (real binaries and upstream's tender);
//! skips with a message where it is absent.

use solo5_e2e::{root, run_cmd, spt, Outcome};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn upstream() -> Option<PathBuf> {
    let d = root().join("../shared/upstream-solo5");
    let bin = d.join("bin/solo5-spt");
    if bin.exists() && d.join("spt/test_hello.spt").exists() {
        Some(d)
    } else {
        solo5_e2e::skip!(
            "SKIP: ../shared/upstream-solo5 (upstream's binaries and tender) is absent"
        );
        None
    }
}

/// A small deterministic generator (xorshift64*), so a failure names a
/// case that can be run again.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// One mutation of `f`: where and what is written, for the failure message.
fn mutate(f: &mut [u8], r: &mut Rng) -> String {
    let phoff = u64_at(f, 32) as usize;
    let phnum = u16::from_le_bytes([f[56], f[57]]) as usize;
    let ph = r.below(phnum as u64) as usize;
    let base = phoff + ph * 56;
    let values: [u64; 16] = [
        0,
        1,
        16,
        0x1000,
        0x3000,
        0xff000,
        0x100000,
        0x101000,
        0x1ff000,
        0x200000,
        0x200001,
        0x10000000,
        1 << 63,
        u64::MAX,
        u64_at(f, base + 16) + 0x1000,
        u64_at(f, base + 32) + 1,
    ];
    let v = values[r.below(values.len() as u64) as usize];
    match r.below(10) {
        // p_type, p_flags
        0 => {
            let t = [0u32, 1, 4, 7][r.below(4) as usize];
            f[base..base + 4].copy_from_slice(&t.to_le_bytes());
            format!("phdr[{ph}].p_type = {t}")
        }
        1 => {
            let fl = r.below(8) as u32;
            f[base + 4..base + 8].copy_from_slice(&fl.to_le_bytes());
            format!("phdr[{ph}].p_flags = {fl}")
        }
        // p_offset, p_vaddr, p_filesz, p_memsz, p_align
        k @ 2..=7 => {
            let (field, name) = [
                (8, "p_offset"),
                (16, "p_vaddr"),
                (32, "p_filesz"),
                (40, "p_memsz"),
                (48, "p_align"),
                (48, "p_align"),
            ][k as usize - 2];
            f[base + field..base + field + 8].copy_from_slice(&v.to_le_bytes());
            format!("phdr[{ph}].{name} = {v:#x}")
        }
        // e_entry
        8 => {
            f[24..32].copy_from_slice(&v.to_le_bytes());
            format!("e_entry = {v:#x}")
        }
        // a byte of a note header (namesz, descsz, type, name)
        _ => {
            let at = u64_at(f, base + 8) as usize + r.below(20) as usize;
            let b = r.next() as u8;
            if let Some(x) = f.get_mut(at) {
                *x = b;
            }
            format!("byte {at:#x} (phdr[{ph}]'s note) = {b:#x}")
        }
    }
}

fn first_line(o: &Outcome) -> String {
    // Each tender names itself; the rest of the line must match.
    let l = o.stderr.lines().next().unwrap_or("");
    l.replacen("solo5-spt: ", "", 1)
}

/// Our deliberate differences (docs/abis.md): an ABI1 descriptor shorter
/// than target + version, which upstream reads past its buffer.
fn documented_difference(up: &Outcome) -> bool {
    up.stderr
        .contains("Executable requests unsupported ABI version")
        && up.status == 1
}

#[test]
fn mutated_upstream_binaries_get_upstream_verdicts() {
    let Some(dir) = upstream() else { return };
    let tmp = std::env::temp_dir().join(format!("solo5-loader-diff-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let ours = spt();
    let theirs = dir.join("bin/solo5-spt");
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut mismatches = Vec::new();
    let (mut cases, mut refused, mut timeouts) = (0, 0, 0);
    for name in ["test_hello", "test_globals", "test_tls", "test_time"] {
        let orig = std::fs::read(dir.join(format!("spt/{name}.spt"))).unwrap();
        for i in 0..60 {
            let mut f = orig.clone();
            let what = mutate(&mut f, &mut r);
            let path = tmp.join(format!("{name}-{i}.spt"));
            std::fs::write(&path, &f).unwrap();
            // A mutated binary that loads may run into a loop: both tenders then
            // run it until the limit, which counts as the same verdict.
            let limit = Duration::from_millis(500);
            let (up, us) = std::thread::scope(|s| {
                let up =
                    s.spawn(|| run_cmd(Command::new(&theirs).arg("--mem=2").arg(&path), limit));
                let us = run_cmd(Command::new(&ours).arg("--mem=2").arg(&path), limit);
                (up.join().expect("upstream run"), us)
            });
            cases += 1;
            if up.status == 1 {
                refused += 1;
            }
            if up.status == -1 {
                timeouts += 1;
            }
            let same =
                up.status == us.status && (up.status != 1 || first_line(&up) == first_line(&us));
            if !same && !documented_difference(&up) {
                mismatches.push(format!(
                    "{name} case {i}: {what}\n  upstream: {} {:?}\n  ours:     {} {:?}",
                    up.status,
                    first_line(&up),
                    us.status,
                    first_line(&us)
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("{cases} mutated binaries, {refused} refused by upstream, {timeouts} still running after the limit");
    assert!(
        refused > cases / 10 && refused < cases * 9 / 10,
        "mutations reach both verdicts"
    );
    assert!(
        mismatches.is_empty(),
        "{} differences:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The other way round: our SDK's spt-v2 guests are linked by rust-lld
/// (Rust's default linker on x86_64 Linux since 1.90), with our own linker
/// script, execute-only-capable text and a third PT_NOTE of our own.
/// Upstream's loader must take them as ours does: same status, same
/// console output, at upstream's memory floor.
#[test]
fn lld_linked_guests_run_alike_on_both_tenders() {
    let Some(dir) = upstream() else { return };
    let theirs = dir.join("bin/solo5-spt");
    let ours = spt();
    let limit = Duration::from_secs(20);
    for name in [
        "hello",
        "quiet",
        "output",
        "globals",
        "tls",
        "fpu",
        // not `time`: its output has timings
        "exception",
        "zeropage",
        "notls",
        "ssp",
        "abort",
        "heap_exhaust",
        "bigbss",
    ] {
        let g = solo5_e2e::guest("spt-v2", name);
        let run = |t: &std::path::Path| {
            run_cmd(
                Command::new(t).arg("--mem=2").arg(&g).arg("Hello_Solo5"),
                limit,
            )
        };
        let (up, us) = (run(&theirs), run(&ours));
        assert_eq!(
            (up.status, &up.stdout),
            (us.status, &us.stdout),
            "{name}: upstream {}\nours {}",
            up.dump(),
            us.dump()
        );
        assert_ne!(up.status, 1, "{name}: refused at load: {}", up.dump());
    }
}
