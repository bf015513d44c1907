//! Fixture, byte-flip and property tests of the executable loader: no input
//! of any shape makes it panic, and every rule of ABI.md sections 1-2 is
//! enforced with its error line.

use proptest::prelude::*;
use solo5_abi::mft::{self, kind, Entry};
use solo5_abi::note::{target, version, AbiNote};
use solo5_tender::elf::{self, ElfError};
use solo5_tender::notes::{self, NoteError, SptAbi};

const MEM: u64 = 512 << 20;

/// View a repr(C) note struct as bytes, through its fields (no unsafe).
fn abi_note(t: u32, v: u32) -> Vec<u8> {
    let n = AbiNote::new(t, v);
    let mut b = Vec::new();
    for w in [n.n_namesz, n.n_descsz, n.n_type] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b.extend_from_slice(&n.name);
    for w in [n.desc.abi_target, n.desc.abi_version, 0, 0] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    b
}

fn mft_note(devices: &[Entry]) -> Vec<u8> {
    let mut entries = vec![Entry::RESERVED];
    entries.extend_from_slice(devices);
    let body = raw_manifest(&entries);
    let mut b = Vec::new();
    b.extend_from_slice(&6u32.to_le_bytes());
    b.extend_from_slice(&((4 + body.len()) as u32).to_le_bytes());
    b.extend_from_slice(&solo5_abi::note::TYPE_MFT1.to_le_bytes());
    b.extend_from_slice(b"Solo5\0\0\0");
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&body);
    b
}

fn raw_manifest(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&mft::VERSION.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.name);
        out.extend_from_slice(&e.kind.to_le_bytes());
        out.extend_from_slice(&e.u);
        out.extend_from_slice(&e.hostfd.to_le_bytes());
        out.push(e.attached);
        out.extend_from_slice(&e.pad);
    }
    out
}

struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

/// A small static executable: one RX segment, one RW segment, and the two
/// notes, each in its own PT_NOTE.
fn fixture(abi: &[u8], mft: &[u8]) -> Vec<u8> {
    let code = vec![0xc3u8; 0x100];
    let data = vec![0x55u8; 0x80];
    let phnum = 4u64;
    let code_off = 0x1000u64;
    let data_off = 0x2000u64;
    let abi_off = 0x3000u64;
    let mft_off = abi_off + abi.len().div_ceil(8) as u64 * 8;
    let phdrs = [
        Phdr {
            p_type: 1,
            flags: 5,
            offset: code_off,
            vaddr: 0x100000,
            filesz: 0x100,
            memsz: 0x100,
            align: 0x1000,
        },
        Phdr {
            p_type: 1,
            flags: 6,
            offset: data_off,
            vaddr: 0x101000,
            filesz: 0x80,
            memsz: 0x2000,
            align: 0x1000,
        },
        Phdr {
            p_type: 4,
            flags: 4,
            offset: abi_off,
            vaddr: 0,
            filesz: abi.len() as u64,
            memsz: 0,
            align: 4,
        },
        Phdr {
            p_type: 4,
            flags: 4,
            offset: mft_off,
            vaddr: 0,
            filesz: mft.len() as u64,
            memsz: 0,
            align: 8,
        },
    ];
    let mut f = vec![0u8; 64];
    f[0..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&0x100000u64.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    for p in &phdrs {
        f.extend_from_slice(&p.p_type.to_le_bytes());
        f.extend_from_slice(&p.flags.to_le_bytes());
        for v in [p.offset, p.vaddr, p.vaddr, p.filesz, p.memsz, p.align] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
    f.resize(code_off as usize, 0);
    f.extend_from_slice(&code);
    f.resize(data_off as usize, 0);
    f.extend_from_slice(&data);
    f.resize(abi_off as usize, 0);
    f.extend_from_slice(abi);
    f.resize(mft_off as usize, 0);
    f.extend_from_slice(mft);
    f
}

fn good() -> Vec<u8> {
    fixture(
        &abi_note(target::SPT_NATIVE, version::SPT_NATIVE),
        &mft_note(&[Entry::device("service0", kind::NET_BASIC)]),
    )
}

/// Everything a tender does with an executable before it opens devices.
fn load(file: &[u8]) -> Result<(SptAbi, usize), String> {
    let exe = elf::parse(file, MEM).map_err(|e| e.to_string())?;
    let abi = notes::spt_abi(file, &exe).map_err(|e| e.to_string())?;
    let m = notes::manifest(file, &exe).map_err(|e| e.to_string())?;
    Ok((abi, m.entries().len()))
}

fn set_phdr_u64(f: &mut [u8], ph: usize, field: usize, v: u64) {
    let at = 64 + ph * 56 + field;
    f[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn fixture_loads() {
    assert_eq!(load(&good()), Ok((SptAbi::Native, 2)));
    let v2 = fixture(&abi_note(target::SPT, version::SPT), &mft_note(&[]));
    assert_eq!(load(&v2), Ok((SptAbi::V2, 1)));
    let exe = elf::parse(&good(), MEM).unwrap();
    assert_eq!(exe.kernel_end, 0x103000);
    assert_eq!(exe.segments.len(), 2);
}

#[test]
fn abi_note_errors() {
    let m = mft_note(&[]);
    let hvt = fixture(&abi_note(target::HVT, 2), &m);
    assert_eq!(
        load(&hvt),
        Err("Executable is not for the solo5-spt target".into())
    );
    let v3 = fixture(&abi_note(target::SPT, 3), &m);
    assert_eq!(
        load(&v3),
        Err("Executable requests unsupported ABI version 3".into())
    );
    let mut none = abi_note(target::SPT, 2);
    none[8] ^= 0xff; // another note type: skipped, so no ABI note at all
    assert_eq!(load(&fixture(&none, &m)), Err(NoteError::NoAbi.to_string()));
    let mut big = abi_note(target::SPT, 2);
    big[4] = 17; // n_descsz above the maximum for ABI1
    assert_eq!(
        load(&fixture(&big, &m)),
        Err(NoteError::BadSize.to_string())
    );
    let mut zero = abi_note(target::SPT, 2);
    zero[4] = 0;
    assert_eq!(
        load(&fixture(&zero, &m)),
        Err(NoteError::BadSize.to_string())
    );
}

#[test]
fn manifest_errors() {
    let abi = abi_note(target::SPT, 2);
    let mut m = mft_note(&[]);
    m[24] = 2; // manifest version
    assert_eq!(
        load(&fixture(&abi, &m)),
        Err("Solo5 manifest is invalid".into())
    );
    let mut m = mft_note(&[]);
    m[4] = 0xff; // n_descsz larger than its segment
    m[5] = 0x10;
    assert_eq!(
        load(&fixture(&abi, &m)),
        Err("note does not fall within valid size".into())
    );
}

#[test]
fn segment_rules() {
    let mut wx = good();
    wx[64 + 4] = 7; // RWX code segment
    assert_eq!(elf::parse(&wx, MEM), Err(ElfError::WriteExec));
    let mut low = good();
    set_phdr_u64(&mut low, 0, 16, 0x8000);
    assert!(matches!(
        elf::parse(&low, MEM),
        Err(ElfError::BadSegment(_))
    ));
    let mut high = good();
    set_phdr_u64(&mut high, 1, 40, MEM); // memsz past guest memory
    assert!(matches!(
        elf::parse(&high, MEM),
        Err(ElfError::BadSegment(_))
    ));
    let mut overlap = good();
    set_phdr_u64(&mut overlap, 1, 16, 0x100000);
    assert!(matches!(
        elf::parse(&overlap, MEM),
        Err(ElfError::BadSegment(_))
    ));
    let mut small = good();
    set_phdr_u64(&mut small, 1, 40, 0x10); // memsz < filesz
    assert!(matches!(
        elf::parse(&small, MEM),
        Err(ElfError::BadSegment(_))
    ));
    let mut entry = good();
    entry[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
    assert_eq!(elf::parse(&entry, MEM), Err(ElfError::BadEntry));
    let mut dynamic = good();
    dynamic[16] = 3; // ET_DYN
    assert_eq!(elf::parse(&dynamic, MEM), Err(ElfError::Unsupported));
    let mut arm = good();
    arm[18] = 183; // aarch64
    assert_eq!(elf::parse(&arm, MEM), Err(ElfError::Unsupported));
    // The same file fits 512 MiB but not 1 MiB + a little.
    assert!(elf::parse(&good(), 0x101000).is_err());
}

#[test]
fn every_single_byte_flip_is_handled() {
    let f = good();
    for i in 0..f.len() {
        for bit in [0x01u8, 0x80, 0xff] {
            let mut g = f.clone();
            g[i] ^= bit;
            let _ = load(&g);
        }
    }
}

#[test]
fn every_truncation_is_handled() {
    let f = good();
    for n in 0..f.len() {
        assert!(load(&f[..n]).is_err(), "truncated to {n} bytes loads");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = load(&bytes);
    }

    #[test]
    fn random_corruption_never_panics(
        flips in proptest::collection::vec((0usize..0x3400, any::<u8>()), 1..32)
    ) {
        let mut f = good();
        for (at, v) in flips {
            if let Some(b) = f.get_mut(at) {
                *b = v;
            }
        }
        let _ = load(&f);
    }

    #[test]
    fn arbitrary_manifests_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = solo5_tender::manifest::Manifest::parse(&bytes);
    }

    /// Valid ELF header, arbitrary program headers (types, offsets, sizes,
    /// addresses): past the magic check, where the bounds checks matter.
    #[test]
    fn random_program_headers_never_panic(
        phdrs in proptest::collection::vec(any::<u8>(), 4 * 56),
        small in proptest::collection::vec((0usize..4 * 56, 0u8..8), 0..16),
    ) {
        let mut f = good();
        f[64..64 + 4 * 56].copy_from_slice(&phdrs);
        // Bias some bytes towards small values: real types, low offsets.
        for (at, v) in small {
            f[64 + at] = v;
        }
        let _ = load(&f);
    }

    /// Well-formed manifests (right size, version 1, entry 0 reserved,
    /// names terminated) with random names, types and `attached` flags:
    /// valid exactly when no entry is attached and no two devices of one
    /// type share a name.
    #[test]
    fn manifest_validity_matches_the_rules(
        devices in proptest::collection::vec(
            ("[ab]{1,2}", prop_oneof![Just(1u32), Just(2u32), Just(7u32)], prop_oneof![9 => Just(0u8), 1 => Just(1u8)]),
            0..63,
        )
    ) {
        let mut entries = vec![Entry::RESERVED];
        for (name, kind, attached) in &devices {
            let mut e = Entry::device(name, *kind);
            e.attached = *attached;
            entries.push(e);
        }
        let mut valid = devices.iter().all(|(_, _, a)| *a == 0);
        for (i, (n, k, _)) in devices.iter().enumerate() {
            if devices[..i].iter().any(|(m, j, _)| m == n && j == k) {
                valid = false;
            }
        }
        let parsed = solo5_tender::manifest::Manifest::parse(&raw_manifest(&entries));
        prop_assert_eq!(parsed.is_ok(), valid);
    }

    #[test]
    fn arbitrary_command_lines_never_panic(args in proptest::collection::vec("[-a-z:=@0-9.]{0,24}", 0..8)) {
        let _ = solo5_tender::cmdline::parse(args.into_iter().map(std::ffi::OsString::from));
    }
}
