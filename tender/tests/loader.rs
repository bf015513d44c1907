//! Fixture, byte-flip and property tests of the executable loader: no input
//! of any shape makes it panic, and every rule of docs/abis.md, "ELF
//! loading" and "ELF notes", is enforced with its error line.

use proptest::prelude::*;
use solo5_abi::mft::{self, kind, Entry};
use solo5_abi::note::{target, version, AbiNote};
use solo5_tender::elf;
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

/// Everything a tender does with an executable, in upstream's order: the
/// ABI note, the manifest, then the segments.
fn load(file: &[u8]) -> Result<(SptAbi, usize), String> {
    let abi = notes::spt_abi(file).map_err(|e| e.to_string())?;
    let m = notes::manifest(file).map_err(|e| e.to_string())?;
    elf::load(file, MEM).map_err(|e| e.to_string())?;
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
    let exe = elf::load(&good(), MEM).unwrap();
    assert_eq!(exe.kernel_end, 0x103000);
    assert_eq!(exe.segments.len(), 2);
    assert_eq!(exe.segments[1].start, 0x101000);
    assert_eq!(exe.segments[1].end, 0x103000);
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
    big[4] = 33; // n_descsz above upstream's maximum for ABI1 (32)
    assert_eq!(
        load(&fixture(&big, &m)),
        Err(
            "invalid executable: phdr[2] note does not fall within valid size (33 < 1 || 33 > 32)"
                .into()
        )
    );
    let mut past = abi_note(target::SPT, 2);
    past[4] = 17; // allowed size, but past the end of its segment
    assert_eq!(
        load(&fixture(&past, &m)),
        Err("invalid executable: phdr[2] note does not fall within valid size (36 < 37)".into())
    );
    let mut zero = abi_note(target::SPT, 2);
    zero[4] = 0;
    assert_eq!(
        load(&fixture(&zero, &m)),
        Err(
            "invalid executable: phdr[2] note does not fall within valid size (0 < 1 || 0 > 32)"
                .into()
        )
    );
    // Shorter than target + version: upstream reads past its buffer; we
    // refuse (docs/abis.md lists the difference).
    let mut short = abi_note(target::SPT, 2);
    short[4] = 4;
    assert_eq!(
        load(&fixture(&short, &m)),
        Err("invalid executable: phdr[2] note does not fall within valid size (4 < 8)".into())
    );
    // A second note in the same PT_NOTE is never seen, as upstream.
    let mut two = abi_note(target::XEN, 2);
    two[8] ^= 0xff;
    two.extend_from_slice(&abi_note(target::SPT, 2));
    assert_eq!(load(&fixture(&two, &m)), Err(NoteError::NoAbi.to_string()));
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
    m[4] = 0xff; // n_descsz above the maximum
    m[5] = 0x20;
    assert_eq!(
        load(&fixture(&abi, &m)),
        Err("invalid executable: phdr[3] note does not fall within valid size (8447 < 1 || 8447 > 6668)".into())
    );
    let mut m = mft_note(&[]);
    m[4] = 1; // smaller than the internal padding: upstream's wrapped size
    assert_eq!(
        load(&fixture(&abi, &m)),
        Err("INV_EXE: phdr[3] note does not fall within valid size (18446744073709551613 <= 0 || 18446744073709551613 > 1)".into())
    );
    // Duplicate names load, as upstream's.
    let dup = mft_note(&[
        Entry::device("a", kind::NET_BASIC),
        Entry::device("a", kind::NET_BASIC),
    ]);
    assert_eq!(load(&fixture(&abi, &dup)), Ok((SptAbi::V2, 3)));
}

fn seg_err(f: &[u8]) -> String {
    elf::load(f, MEM).unwrap_err().to_string()
}

#[test]
fn segment_rules_with_upstream_lines() {
    let iv = "invalid executable: ";
    let mut wx = good();
    wx[64 + 4] = 7; // RWX code segment
    assert_eq!(
        seg_err(&wx),
        format!("{iv}phdr[0] requests WRITE and EXEC permissions")
    );
    let mut low = good();
    set_phdr_u64(&mut low, 0, 16, 0x8000);
    assert_eq!(
        seg_err(&low),
        format!("{iv}phdr[0].p_vaddr outside of valid memory range (32768 < 1048576)")
    );
    let mut high = good();
    set_phdr_u64(&mut high, 1, 40, MEM); // memsz past guest memory
    assert_eq!(seg_err(&high), format!("{iv}phdr[1] program memory segment falls outside of valid range (537923584 (p_vaddr + p_memsz) > 536870912 (mem_size))"));
    let mut overlap = good();
    set_phdr_u64(&mut overlap, 1, 16, 0x100000);
    assert_eq!(
        seg_err(&overlap),
        format!("{iv}phdr[1].p_vaddr_start is outside of memory range (1048576 < 1052672 (e_end))")
    );
    let mut desc = good();
    set_phdr_u64(&mut desc, 1, 16, 0xff000);
    assert_eq!(
        seg_err(&desc),
        format!("{iv}phdr[1].p_vaddr outside of valid memory range (1044480 < 1048576)")
    );
    let mut small = good();
    set_phdr_u64(&mut small, 1, 40, 0x10); // memsz < filesz
    assert_eq!(seg_err(&small), format!("{iv}phdr[1] program memory segment falls outside of valid range (16 (p_memsz) < 128 (p_filesz))"));
    let mut align = good();
    set_phdr_u64(&mut align, 1, 48, 0x3000);
    assert_eq!(seg_err(&align), format!("{iv}phdr[1].p_vaddr is outside of memory range (align_down with 1052672 (p_vaddr) and 12288 (p_align) failed)"));
    let mut huge_align = good();
    set_phdr_u64(&mut huge_align, 1, 48, 1 << 63);
    assert_eq!(
        seg_err(&huge_align),
        format!(
            "{iv}phdr[1].p_vaddr_start is outside of memory range (0 < 1048576 (p_min_loadaddr))"
        )
    );
    let mut sub_page = good();
    set_phdr_u64(&mut sub_page, 1, 16, 0x101010);
    set_phdr_u64(&mut sub_page, 1, 48, 16);
    assert_eq!(seg_err(&sub_page), format!("{iv}phdr[1] p_vaddr_start not aligned with architectural page size (1052688 & (4095 - 1))"));
    let mut past_eof = good();
    set_phdr_u64(&mut past_eof, 1, 8, 0x10000);
    assert_eq!(
        seg_err(&past_eof),
        "phdr[1] host file segment mismatched (pread_in_full returned 0 != 128 (p_filesz))"
    );
    let mut entry = good();
    entry[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
    assert_eq!(seg_err(&entry), format!("{iv}e_entry does not fall within the memory allocation range (4096 < 1048576 || 4096 >= 536870912)"));
    let mut dynamic = good();
    dynamic[16] = 3; // ET_DYN
    assert_eq!(
        load(&dynamic),
        Err(format!(
            "{iv}invalid or unsupported executable (elf header invalid while loading note)"
        ))
    );
    let mut arm = good();
    arm[18] = 183; // aarch64
    assert_eq!(
        load(&arm),
        Err(format!(
            "{iv}invalid or unsupported executable (elf header invalid while loading note)"
        ))
    );
    assert_eq!(
        load(&good()[..40]),
        Err(format!(
            "{iv}elf header does not match the expected size (40 != 64)"
        ))
    );
    // Not checked by upstream: EI_VERSION, OS ABI.
    let mut ident = good();
    ident[6] = 9;
    ident[7] = 3;
    assert!(load(&ident).is_ok());
    // The same file fits 512 MiB but not 1 MiB + 8 KiB.
    assert!(elf::load(&good(), 0x102000).is_err());
}

#[test]
fn empty_segments_are_skipped_before_any_check() {
    // gcc's empty PT_LOAD at 0 and an hvt-style bss-only segment anywhere,
    // even overlapping or out of order, even writable and executable.
    for (vaddr, memsz, flags, align) in [
        (0, 0, 4, 0x1000),
        (0, 0x5000, 7, 3),
        (u64::MAX, u64::MAX, 6, 0),
    ] {
        let mut f = good();
        set_phdr_u64(&mut f, 1, 32, 0); // filesz 0
        set_phdr_u64(&mut f, 1, 16, vaddr);
        set_phdr_u64(&mut f, 1, 40, memsz);
        set_phdr_u64(&mut f, 1, 48, align);
        f[64 + 56 + 4] = flags;
        let exe = elf::load(&f, MEM).expect("skipped");
        assert_eq!(exe.segments.len(), 1);
        assert_eq!(exe.kernel_end, 0x101000);
    }
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
    /// valid exactly when no entry is attached (names may repeat, types
    /// are not checked, as upstream).
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
        let valid = devices.iter().all(|(_, _, a)| *a == 0);
        let parsed = solo5_tender::manifest::Manifest::parse(&raw_manifest(&entries));
        prop_assert_eq!(parsed.is_ok(), valid);
    }

    #[test]
    fn arbitrary_command_lines_never_panic(args in proptest::collection::vec("[-a-z:=@0-9.]{0,24}", 0..8)) {
        let _ = solo5_tender::cmdline::parse(args.into_iter().map(std::ffi::OsString::from));
    }
}

/// A generated program header: (type, flags, offset, vaddr, filesz, memsz,
/// align).
type GenPhdr = (u32, u32, u64, u64, u64, u64, u64);

/// An executable of `phdrs` (and nothing else), entry `entry`, the file
/// padded to `len` bytes at least.
fn with_phdrs(entry: u64, phdrs: &[GenPhdr], len: usize) -> Vec<u8> {
    let mut f = good()[..64].to_vec();
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for &(t, fl, off, va, fs, ms, al) in phdrs {
        f.extend_from_slice(&t.to_le_bytes());
        f.extend_from_slice(&fl.to_le_bytes());
        for v in [off, va, va, fs, ms, al] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
    if f.len() < len {
        f.resize(len, 0x90);
    }
    f
}

/// The loader's rules (docs/abis.md, "ELF loading") stated as
/// predicates over exact (u128) arithmetic, independently of the loader's
/// step-by-step checks: `Some(kernel_end)` when the table is accepted.
fn rules_accept(entry: u64, phdrs: &[GenPhdr], file_len: u128, mem: u64) -> Option<u128> {
    let (min, mem, page) = (0x100000u128, u128::from(mem), 0x1000u128);
    if u128::from(entry) < min || u128::from(entry) >= mem {
        return None;
    }
    let (mut last_vaddr, mut e_end) = (0u128, 0u128);
    for &(t, flags, off, va, fs, ms, al) in phdrs {
        if t != 1 || fs == 0 {
            continue; // only non-empty PT_LOADs are looked at
        }
        let (off, va, fs, ms, al) = (off as u128, va as u128, fs as u128, ms as u128, al as u128);
        let pow2 = al != 0 && al.count_ones() == 1;
        if !pow2 {
            return None;
        }
        let start = va - va % al;
        let end = (va + ms).div_ceil(al) * al;
        let ok = va >= min
            && va >= last_vaddr
            && start >= min
            && start >= e_end
            && va + fs <= mem
            && ms >= fs
            && end <= mem
            && off + fs <= file_len
            && off + fs <= i64::MAX as u128
            && start % page == 0
            && end % page == 0
            && !(flags & 2 != 0 && flags & 1 != 0);
        if !ok {
            return None;
        }
        last_vaddr = va;
        e_end = e_end.max(end);
    }
    Some(e_end)
}

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(0x100000),
        Just(0x101000),
        Just(0x101010),
        Just(0x1ff000),
        Just(0x200000),
        Just(u64::MAX),
        Just(1 << 63),
        0u64..0x4000,
        0x100000u64..0x200000,
        any::<u64>(),
    ]
}

fn align_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(16),
        Just(0x1000),
        Just(0x1000),
        Just(0x3000),
        Just(0x200000),
        Just(1 << 63),
        any::<u64>(),
    ]
}

fn gen_phdr() -> impl Strategy<Value = GenPhdr> {
    (
        prop_oneof![6 => Just(1u32), 1 => Just(0u32), 1 => Just(7u32), 1 => Just(0x6474e551u32)],
        0u32..8,
        interesting_u64(),
        interesting_u64(),
        prop_oneof![Just(0u64), 1u64..0x2000, interesting_u64()],
        prop_oneof![Just(0u64), 1u64..0x4000, interesting_u64()],
        align_value(),
    )
}

/// Tables shaped like real linkers' output (gcc, clang/lld, other
/// scripts): ascending page-aligned segments of random count, order of
/// rights, alignment and gaps, execute-only text, empty PT_LOADs anywhere;
/// then a few fields perturbed.
fn plausible_table() -> impl Strategy<Value = Vec<GenPhdr>> {
    proptest::collection::vec(
        (
            0u64..4,                                                     // gap in pages
            1u64..0x3000,                                                // filesz
            0u64..0x3000,                                                // extra memsz
            prop_oneof![Just(5u32), Just(1), Just(4), Just(6), Just(0)], // R+X, X only, R, RW, none
            prop_oneof![Just(0x1000u64), Just(0x1000), Just(0x200000), Just(16)],
            prop::bool::weighted(0.2), // an empty PT_LOAD
        ),
        1..6,
    )
    .prop_map(|segs| {
        let mut out = Vec::new();
        let mut va = 0x100000u64;
        let mut off = 0x1000u64;
        for (gap, fs, extra, flags, align, empty) in segs {
            va += gap * 0x1000;
            if empty {
                out.push((1, 6, 0, if gap % 2 == 0 { 0 } else { va }, 0, extra, 0x1000));
            }
            out.push((1, flags, off, va, fs, fs + extra, align));
            va = (va + fs + extra).div_ceil(0x1000) * 0x1000;
            off += fs.div_ceil(0x1000) * 0x1000;
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The loader accepts exactly the program header tables the rules
    /// accept, and then loads exactly the non-empty PT_LOADs up to the
    /// rules' kernel end.
    #[test]
    fn loader_decision_matches_the_rules(
        entry in prop_oneof![Just(0x100000u64), interesting_u64()],
        mem in prop_oneof![Just(2u64 << 20), Just(512u64 << 20), Just(0x101000u64)],
        table in prop_oneof![
            proptest::collection::vec(gen_phdr(), 1..6),
            plausible_table(),
        ],
        perturb in proptest::collection::vec((0usize..6, 0usize..7, interesting_u64()), 0..2),
        len in prop_oneof![Just(0x4000usize), Just(0x20000usize), 0usize..0x8000],
    ) {
        let mut table = table;
        for (i, field, v) in perturb {
            if let Some(p) = table.get_mut(i) {
                match field {
                    0 => p.2 = v,
                    1 => p.3 = v,
                    2 => p.4 = v,
                    3 => p.5 = v,
                    4 => p.6 = v,
                    5 => p.1 = (v & 7) as u32,
                    _ => p.0 = (v & 7) as u32,
                }
            }
        }
        let f = with_phdrs(entry, &table, len);
        let want = rules_accept(entry, &table, f.len() as u128, mem);
        let got = elf::load(&f, mem);
        prop_assert_eq!(got.is_ok(), want.is_some(), "{:?}: {:?}", table, got);
        if let (Ok(exe), Some(end)) = (got, want) {
            prop_assert_eq!(u128::from(exe.kernel_end), end);
            let loaded = table.iter().filter(|p| p.0 == 1 && p.4 != 0).count();
            prop_assert_eq!(exe.segments.len(), loaded);
        }
    }
}
