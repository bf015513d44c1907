//! What the elftool test suites share: running a tool, scratch
//! directories, upstream's fixtures, and executables built in memory with
//! exactly the notes a test wants.

#![allow(dead_code)] // Each test crate uses its own part of this.

use solo5_abi::mft;
use solo5_abi::note;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Our solo5-elftool.
pub const ELFTOOL: &str = env!("CARGO_BIN_EXE_solo5-elftool");

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("elftool")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether the suite runs in strict mode (`SOLO5_TEST_STRICT=1`, as CI
/// sets it), where nothing may skip.
pub fn strict() -> bool {
    std::env::var_os("SOLO5_TEST_STRICT").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `../shared/upstream-solo5` from the project root, or `None` (after
/// saying so on stderr) when it is absent.
pub fn upstream(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/upstream-solo5");
    if dir.join("expected").is_dir() {
        Some(dir)
    } else {
        assert!(
            !strict(),
            "{test}: ../shared/upstream-solo5 not found (SOLO5_TEST_STRICT)"
        );
        eprintln!(
            "{test}: SKIPPED: ../shared/upstream-solo5 not found (upstream's fixtures \
             and tools); nothing compared"
        );
        None
    }
}

/// Upstream's own solo5-elftool, or `None` (after saying so on stderr).
pub fn upstream_elftool(test: &str) -> Option<PathBuf> {
    let bin = upstream(test)?.join("bin/solo5-elftool");
    let runs = Command::new(&bin)
        .output()
        .is_ok_and(|o| o.status.code() == Some(1));
    if runs {
        Some(bin)
    } else {
        assert!(
            !strict(),
            "{test}: {} does not run here (SOLO5_TEST_STRICT)",
            bin.display()
        );
        eprintln!(
            "{test}: SKIPPED: {} does not run here; nothing compared",
            bin.display()
        );
        None
    }
}

/// What a user sees of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    /// Standard output, byte for byte.
    pub stdout: Vec<u8>,
    /// Standard error, byte for byte.
    pub stderr: Vec<u8>,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

/// Run `tool args` in `cwd`.
pub fn run<S: AsRef<OsStr>>(tool: &Path, cwd: &Path, args: &[S]) -> Seen {
    let o = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    Seen {
        status: o.status.code(),
        stdout: o.stdout,
        stderr: o.stderr,
    }
}

/// Run our solo5-elftool with `args` in `cwd`.
pub fn ours<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Seen {
    run(Path::new(ELFTOOL), cwd, args)
}

/// A Solo5 note: header, owner "Solo5" padded to 8, `desc` (its size is
/// `descsz` unless `descsz` says otherwise).
pub fn note(n_type: u32, descsz: u32, desc: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [note::NAME.len() as u32, descsz, n_type] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b.extend_from_slice(&note::NAME_PADDED);
    b.extend_from_slice(desc);
    b
}

/// A complete ABI1 note.
pub fn abi_note(target: u32, version: u32) -> Vec<u8> {
    let mut d = Vec::new();
    for w in [target, version, 0, 0] {
        d.extend_from_slice(&w.to_le_bytes());
    }
    note(note::TYPE_ABI1, 16, &d)
}

/// One manifest entry as raw bytes: `name` (at most 68 bytes, the rest
/// zero), `kind`, everything else zero.
pub fn entry(name: &[u8], kind: u32) -> [u8; mft::ENTRY_SIZE] {
    let mut e = [0u8; mft::ENTRY_SIZE];
    e[..name.len()].copy_from_slice(name);
    e[mft::off::TYPE..mft::off::TYPE + 4].copy_from_slice(&kind.to_le_bytes());
    e
}

/// A complete MFT1 note holding `entries` (entry 0 included), with the
/// right `entries` count and `n_descsz`.
pub fn mft_note(entries: &[[u8; mft::ENTRY_SIZE]]) -> Vec<u8> {
    let mut d = vec![0u8; mft::NOTE_DESC_PAD];
    d.extend_from_slice(&mft::VERSION.to_le_bytes());
    d.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        d.extend_from_slice(e);
    }
    note(note::TYPE_MFT1, d.len() as u32, &d)
}

/// An executable as Solo5's linker scripts lay one out: one PT_LOAD of a
/// page at 0x100000 (`jmp .`), then each of `notes` in a PT_NOTE of its
/// own, in order. Queries and the tenders' loader accept it.
pub fn executable(notes: &[Vec<u8>]) -> Vec<u8> {
    const EHDR: usize = 64;
    const PHDR: usize = 56;
    let phnum = 1 + notes.len();
    let mut at = (EHDR + phnum * PHDR).next_multiple_of(8);
    let mut placed = Vec::new();
    for n in notes {
        placed.push(at);
        at = (at + n.len()).next_multiple_of(8);
    }
    let code = at.next_multiple_of(0x1000);
    let mut f = vec![0u8; EHDR];
    f[0..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    f[20..24].copy_from_slice(&1u32.to_le_bytes()); // e_version
    f[24..32].copy_from_slice(&0x100000u64.to_le_bytes()); // e_entry
    f[32..40].copy_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
    f[52..54].copy_from_slice(&(EHDR as u16).to_le_bytes());
    f[54..56].copy_from_slice(&(PHDR as u16).to_le_bytes());
    f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    let mut phdr = |ty: u32, flags: u32, off: usize, vaddr: u64, size: usize, align: u64| {
        f.extend_from_slice(&ty.to_le_bytes());
        f.extend_from_slice(&flags.to_le_bytes());
        for v in [off as u64, vaddr, vaddr, size as u64, size as u64, align] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    };
    phdr(1, 5, code, 0x100000, 0x1000, 0x1000);
    for (n, &off) in notes.iter().zip(&placed) {
        phdr(4, 4, off, 0, n.len(), 4);
    }
    for (n, &off) in notes.iter().zip(&placed) {
        f.resize(off, 0);
        f.extend_from_slice(n);
    }
    f.resize(code, 0);
    f.extend_from_slice(&[0xeb, 0xfe]);
    f.resize(code + 0x1000, 0);
    f
}

/// The `{ "name": ..., "type": ... }` lines of upstream's query-manifest,
/// put together by hand: `lines` already carry their commas.
pub fn manifest_json(lines: &[&str]) -> String {
    let mut s =
        String::from("{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n");
    for l in lines {
        s.push_str("    ");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("  ]\n}\n");
    s
}

/// The bytes of section `name` of the ELF object or executable `elf`.
pub fn section(elf: &[u8], name: &str) -> Option<Vec<u8>> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(40), u16_at(58), u16_at(60), u16_at(62));
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(sh(shstrndx) + 24);
    (0..shnum).find_map(|i| {
        let s = sh(i);
        let n = strtab + u32_at(s);
        let end = n + elf[n..].iter().position(|&b| b == 0)?;
        (&elf[n..end] == name.as_bytes()).then(|| {
            let (off, size) = (u64_at(s + 24), u64_at(s + 32));
            elf[off..off + size].to_vec()
        })
    })
}

/// Compile the C file `c` (in `dir`) to an object with gcc and return the
/// bytes of its `.note.solo5.manifest` section. `include` is added to the
/// include path.
pub fn compiled_note(dir: &Path, c: &str, include: Option<&Path>) -> Vec<u8> {
    let obj = format!("{c}.o");
    let mut cmd = Command::new("gcc");
    if let Some(i) = include {
        cmd.arg("-I").arg(i);
    }
    let o = cmd
        .args(["-c", "-o", &obj, c])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gcc (a C compiler is required): {e}"));
    assert!(
        o.status.success(),
        "gcc -c {c}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let elf = std::fs::read(dir.join(&obj)).unwrap();
    section(&elf, ".note.solo5.manifest")
        .unwrap_or_else(|| panic!("{obj}: no .note.solo5.manifest section"))
}
