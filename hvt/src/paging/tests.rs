//! The page-table builder, checked by walking the tables it returns the
//! way the CPU does: every 4 KiB page of the low 4 MiB and of each segment
//! is asserted, plus the edges of the allocation.

use super::*;
use crate::layout::GDT_ADDR;
use solo5_tender::elf::PF_R;
use std::collections::HashMap;

/// What the CPU would allow at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Not mapped: any access is a page fault.
    None,
    /// Read only, no execute.
    R,
    /// Read and execute.
    RX,
    /// Read and write, no execute.
    RW,
}

/// A 4-level walk with the CPU's rules: every level present, writable only
/// if RW at every level, executable only if NX at none.
fn walk(pages: &[Page], va: u64) -> Access {
    walk_user(pages, va).0
}

/// As [`walk`], and whether CPL3 may access the page (US at every level).
fn walk_user(pages: &[Page], va: u64) -> (Access, bool) {
    let by_gpa: HashMap<u64, &Page> = pages.iter().map(|p| (p.gpa, p)).collect();
    let mut table = PML4_ADDR;
    let (mut write, mut exec, mut user) = (true, true, true);
    for level in 0..4 {
        let shift = 39 - 9 * level;
        let Some(page) = by_gpa.get(&table) else {
            // A table the builder did not return would be fresh zeroes.
            return (Access::None, false);
        };
        let e = page.entries[((va >> shift) & 511) as usize];
        if e & P == 0 {
            return (Access::None, false);
        }
        write &= e & RW != 0;
        exec &= e & NX == 0;
        user &= e & US != 0;
        let addr = e & 0x000f_ffff_ffff_f000;
        if level == 2 && e & PS != 0 {
            assert_eq!(addr & (MEM_ALIGN - 1), 0, "2 MiB page misaligned");
            assert_eq!(addr, va & !(MEM_ALIGN - 1), "not an identity map");
            break;
        }
        if level == 3 {
            assert_eq!(addr, va & !(PAGE - 1), "not an identity map");
        }
        table = addr;
    }
    let access = match (write, exec) {
        (true, true) => panic!("{va:#x} is writable and executable"),
        (true, false) => Access::RW,
        (false, true) => Access::RX,
        (false, false) => Access::R,
    };
    (access, user)
}

fn seg(vaddr: u64, memsz: u64, flags: u32) -> Segment {
    Segment {
        vaddr,
        offset: 0x1000,
        filesz: memsz.min(1),
        memsz,
        flags,
        start: vaddr & !(PAGE - 1),
        end: (vaddr + memsz).next_multiple_of(PAGE),
    }
}

const MIB: u64 = 1 << 20;

/// The layout of upstream's test_hello.hvt: text ends mid-page (0x1040a3),
/// rodata and data are separate pages, bss is a segment upstream's loader
/// skips (p_filesz 0) and so is not among the segments.
fn hello() -> Vec<Segment> {
    vec![
        seg(0x100000, 0x40a3, PF_X),
        seg(0x105000, 0x1158, PF_R),
        seg(0x107000, 0x120, PF_R | PF_W),
    ]
}

/// Assert `expect(page)` for every 4 KiB page in `[from, to)`.
fn assert_pages(pages: &[Page], from: u64, to: u64, expect: impl Fn(u64) -> Access) {
    let mut va = from;
    while va < to {
        let got = walk(pages, va);
        assert_eq!(got, expect(va), "page {va:#x}");
        // The last byte of the page has the same rights.
        assert_eq!(walk(pages, va + PAGE - 1), got, "end of page {va:#x}");
        va += PAGE;
    }
}

#[test]
fn every_page_of_a_hello_guest() {
    let alloc = 512 * MIB;
    let pages = build(&hello(), alloc).unwrap();
    assert_pages(&pages, 0, 4 * MIB, |va| match va {
        0..=0xffff => Access::None,
        0x10000..=0xfffff => Access::R,
        // text, including 0x104000 where the segment ends mid-page
        0x100000..=0x104fff => Access::RX,
        0x105000..=0x106fff => Access::R,
        0x107000..=0x107fff => Access::RW,
        _ => Access::RW,
    });
    // Every 2 MiB region above, up to the top of the allocation.
    for k in 2..alloc / MEM_ALIGN {
        assert_eq!(walk(&pages, k * MEM_ALIGN), Access::RW, "region {k}");
    }
    assert_eq!(walk(&pages, alloc - 1), Access::RW);
    assert_eq!(walk(&pages, alloc), Access::None);
    assert_eq!(walk(&pages, MAX_MEM - 1), Access::None);
    assert_eq!(walk(&pages, MAX_MEM), Access::None);
    // Only the first 2 MiB needs a 4 KiB table.
    assert_eq!(pages.len(), 2 + 4 + 1);
}

#[test]
fn tables_gdt_and_zero_page_are_not_mapped() {
    let pages = build(&hello(), 64 * MIB).unwrap();
    for p in &pages {
        assert!((PML4_ADDR..PT_POOL_END).contains(&p.gpa), "{:#x}", p.gpa);
        assert_eq!(walk(&pages, p.gpa), Access::None, "table {:#x}", p.gpa);
    }
    assert_eq!(walk(&pages, GDT_ADDR), Access::None);
    assert_eq!(walk(&pages, 0), Access::None);
    assert_eq!(walk(&pages, BOOT_INFO_ADDR), Access::R);
    // The fixed entries of docs/hvt.md, "Page tables".
    assert_eq!(pages[0].entries[0], PDPT_ADDR | P | RW);
    for i in 0..4 {
        assert_eq!(pages[1].entries[i], (PD_ADDR + i as u64 * PAGE) | P | RW);
    }
    assert_eq!(pages[2].entries[0], PT_POOL_START | P | RW);
    assert_eq!(pages[2].entries[1], 0x200000 | P | RW | NX | PS);
    assert_eq!(pages[2].entries[32], 0, "nothing at or above 64 MiB");
}

#[test]
fn a_page_shared_by_rodata_and_data_is_writable_not_executable() {
    // rodata ends and data begins inside page 0x105000.
    let segs = [
        seg(0x100000, 0x5000, PF_X),
        seg(0x105000, 0x800, PF_R),
        seg(0x105800, 0x1000, PF_R | PF_W),
    ];
    let pages = build(&segs, 4 * MIB).unwrap();
    assert_pages(&pages, 0x100000, 0x108000, |va| match va {
        0x100000..=0x104fff => Access::RX,
        // 0x105000 (shared) and 0x106000 (data's tail) are writable
        _ => Access::RW,
    });
}

#[test]
fn a_page_shared_by_text_and_rodata_is_executable_not_writable() {
    let segs = [seg(0x100000, 0x1800, PF_X), seg(0x101800, 0x1000, PF_R)];
    let pages = build(&segs, 4 * MIB).unwrap();
    assert_pages(&pages, 0x100000, 0x104000, |va| match va {
        0x100000..=0x101fff => Access::RX,
        0x102000..=0x102fff => Access::R,
        _ => Access::RW,
    });
}

#[test]
fn a_page_shared_by_text_and_data_is_refused() {
    let segs = [seg(0x100000, 0x1800, PF_X), seg(0x101800, 0x1000, PF_W)];
    assert_eq!(build(&segs, 4 * MIB), Err(PagingError::WriteExec(0x101000)));
}

#[test]
fn a_segment_across_a_2mib_boundary_gets_two_tables() {
    let segs = [seg(0x1ff000, 0x1800, PF_X)];
    let pages = build(&segs, 8 * MIB).unwrap();
    assert_eq!(pages.len(), 2 + 4 + 2);
    assert_eq!(pages[7].gpa, PT_POOL_START + PAGE);
    assert_pages(&pages, 0x1fe000, 0x204000, |va| match va {
        0x1ff000..=0x200fff => Access::RX,
        _ => Access::RW,
    });
}

#[test]
fn uniform_2mib_regions_use_2mib_pages_with_the_segment_rights() {
    // 4 MiB of text from 2 MiB, 6 MiB of rodata from 6 MiB.
    let segs = [seg(0x200000, 4 * MIB, PF_X), seg(6 * MIB, 6 * MIB, PF_R)];
    let pages = build(&segs, 16 * MIB).unwrap();
    // Only the first 2 MiB has a 4 KiB table.
    assert_eq!(pages.len(), 2 + 4 + 1);
    assert_eq!(pages[2].entries[1], 0x200000 | P | PS);
    assert_eq!(pages[2].entries[3], (6 * MIB) | P | NX | PS);
    assert_pages(&pages, 2 * MIB, 14 * MIB, |va| match va {
        0x200000..=0x5fffff => Access::RX,
        0x600000..=0xbfffff => Access::R,
        _ => Access::RW,
    });
}

#[test]
fn too_many_mixed_regions_are_refused() {
    // Nine text segments, each in the middle of its own 2 MiB region: the
    // first region's table plus eight more would be needed.
    let segs: Vec<Segment> = (1..=8)
        .map(|k| seg(k * 2 * MIB + PAGE, PAGE, PF_X))
        .collect();
    assert_eq!(build(&segs, 32 * MIB), Err(PagingError::TooManyTables(8)));
    // Seven fit: eight tables in all.
    let pages = build(&segs[..7], 32 * MIB).unwrap();
    assert_eq!(pages.len(), 2 + 4 + 8);
    assert_eq!(walk(&pages, 7 * 2 * MIB + PAGE), Access::RX);
    assert_eq!(walk(&pages, 7 * 2 * MIB), Access::RW);
}

#[test]
fn four_gib_fills_all_four_directories() {
    let pages = build(&hello(), MAX_MEM).unwrap();
    for gib in 0..4 {
        assert_eq!(
            walk(&pages, gib << 30),
            if gib == 0 { Access::None } else { Access::RW }
        );
        assert_eq!(walk(&pages, (gib << 30) + (1 << 30) - 1), Access::RW);
    }
    assert_eq!(
        pages[5].entries[511],
        (MAX_MEM - MEM_ALIGN) | P | RW | NX | PS
    );
}

#[test]
fn sizes_that_cannot_be_mapped() {
    for bad in [0, MIB, 3 * MIB, MAX_MEM + MEM_ALIGN] {
        assert_eq!(build(&hello(), bad), Err(PagingError::BadSize(bad)));
    }
}

#[test]
fn page_bytes_are_little_endian_entries() {
    let pages = build(&hello(), 4 * MIB).unwrap();
    let b = pages[0].bytes();
    assert_eq!(b.len(), 4096);
    assert_eq!(&b[..8], &(PDPT_ADDR | P | RW).to_le_bytes());
    assert!(!pages[0].is_zero());
    assert!(pages[3].is_zero(), "second GiB of a 4 MiB guest");
}

#[test]
fn kernel_mode_has_no_user_bit_anywhere() {
    let pages = build(&hello(), 8 * MIB).unwrap();
    for p in &pages {
        assert!(p.entries.iter().all(|e| e & US == 0), "{:#x}", p.gpa);
    }
}

/// A guest entered at CPL3: its own pages are user pages with the rights
/// of kernel mode; the tender's GDT, IDT, TSS, stub and trap stack are
/// supervisor-only; tables, zero page and the stack guard are unmapped.
#[test]
fn user_mode_every_page_of_the_low_4_mib() {
    use crate::layout::user::*;
    let alloc = 4 * MIB;
    let guard = (alloc - 0x50000, alloc - 0x40000);
    let pages = build_for(&hello(), alloc, Mode::User { guard: Some(guard) }).unwrap();
    let mut va = 0;
    while va < alloc {
        let want = match va {
            GDT_ADDR => (Access::R, false),
            0..=0xffff => (Access::None, false),
            IDT_ADDR => (Access::R, false),
            a if (TSS_ADDR..TSS_END).contains(&a) => (Access::R, false),
            STUB_ADDR => (Access::RX, false),
            KSTACK_ADDR => (Access::RW, false),
            0x10000..=0xfffff => (Access::R, true),
            0x100000..=0x104fff => (Access::RX, true),
            0x105000..=0x106fff => (Access::R, true),
            a if (guard.0..guard.1).contains(&a) => (Access::None, false),
            _ => (Access::RW, true),
        };
        assert_eq!(walk_user(&pages, va), want, "page {va:#x}");
        assert_eq!(walk_user(&pages, va + PAGE - 1), want, "end of {va:#x}");
        va += PAGE;
    }
    assert_eq!(walk_user(&pages, alloc), (Access::None, false));
    // Two 4 KiB tables: the first 2 MiB and the guard's region.
    assert_eq!(pages.len(), 2 + 4 + 2);
    // Every table page and the boot GDT's neighbours stay unmapped.
    for p in &pages {
        assert_eq!(walk_user(&pages, p.gpa), (Access::None, false));
    }
}

#[test]
fn user_mode_large_pages_and_no_guard() {
    let alloc = 64 * MIB;
    let pages = build_for(&hello(), alloc, Mode::User { guard: None }).unwrap();
    assert_eq!(pages.len(), 2 + 4 + 1);
    assert_eq!(pages[0].entries[0], PDPT_ADDR | P | RW | US);
    assert_eq!(pages[2].entries[1], 0x200000 | P | RW | NX | PS | US);
    for k in 1..alloc / MEM_ALIGN {
        assert_eq!(walk_user(&pages, k * MEM_ALIGN), (Access::RW, true));
    }
    assert_eq!(walk_user(&pages, alloc - 1), (Access::RW, true));
    assert_eq!(walk_user(&pages, alloc), (Access::None, false));
    // A guard on a 2 MiB boundary spanning a whole region: unmapped, with
    // its neighbours user pages.
    let g = (8 * MIB, 10 * MIB);
    let pages = build_for(&hello(), alloc, Mode::User { guard: Some(g) }).unwrap();
    assert_eq!(walk_user(&pages, g.0 - 1), (Access::RW, true));
    assert_eq!(walk_user(&pages, g.0), (Access::None, false));
    assert_eq!(walk_user(&pages, g.1 - 1), (Access::None, false));
    assert_eq!(walk_user(&pages, g.1), (Access::RW, true));
    // W^X is refused the same way as in kernel mode.
    let segs = [seg(0x100000, 0x1800, PF_X), seg(0x101800, 0x1000, PF_W)];
    assert_eq!(
        build_for(&segs, 4 * MIB, Mode::User { guard: None }),
        Err(PagingError::WriteExec(0x101000))
    );
}
