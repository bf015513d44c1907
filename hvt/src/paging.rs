//! The guest's page tables, built by the tender before the first run: an
//! identity map of the whole allocation, with W^X inside the guest
//! (HVT.md section 1.3, made strict).
//!
//! Upstream maps everything read-write and executable with 2 MiB pages.
//! Here every page gets exactly the rights it needs:
//!
//! | guest physical range | mapping |
//! |---|---|
//! | `0x0 .. 0x10000` (zero page, GDT, these tables) | not present |
//! | `0x10000 .. 0x100000` (boot info, manifest, command line) | read-only, no-execute |
//! | pages of an executable segment | read + execute, not writable |
//! | pages of a writable segment | read-write, no-execute |
//! | pages of any other segment (rodata) | read-only, no-execute |
//! | everything else up to the allocation (bss, heap, stack, ring) | read-write, no-execute |
//! | at and above the allocation | not present |
//!
//! Rights follow each segment's bytes `[p_vaddr, p_vaddr + p_memsz)`,
//! rounded out to 4 KiB pages; a page two segments share gets both sets
//! of rights, and a page that would then be writable and executable is
//! refused. 2 MiB regions that hold segment pages of different rights use
//! a 4 KiB page table (from the free pages at `0x8000 .. 0x10000`, so at
//! most eight such regions); uniform regions use one 2 MiB page. The
//! tender sets EFER.NXE and CR0.WP so that the CPU enforces all of it,
//! also at CPL0.

use crate::layout::{
    BOOT_INFO_ADDR, GUEST_MIN_BASE, MAX_MEM, MEM_ALIGN, PDPT_ADDR, PD_ADDR, PML4_ADDR, PT_POOL_END,
    PT_POOL_START,
};
use solo5_tender::elf::{Segment, PF_W, PF_X};
use thiserror::Error;

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// Page size (2 MiB page in a directory entry).
pub const PS: u64 = 1 << 7;
/// No-execute.
pub const NX: u64 = 1 << 63;

const PAGE: u64 = 0x1000;
const ENTRIES: usize = 512;

/// Why the page tables could not be built.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PagingError {
    /// The allocation is not a multiple of 2 MiB or above 4 GiB.
    #[error("guest memory size {0} bytes cannot be mapped")]
    BadSize(u64),
    /// Two segments share a page, one writable and one executable.
    #[error("page {0:#x} would be writable and executable (two segments share it)")]
    WriteExec(u64),
    /// More 2 MiB regions with mixed rights than free page-table pages.
    #[error("the executable's segments need more than {0} page tables")]
    TooManyTables(u64),
}

/// One page-table page and where it goes in guest memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Guest physical address of the page.
    pub gpa: u64,
    /// Its 512 entries.
    pub entries: Box<[u64; ENTRIES]>,
}

impl Page {
    fn new(gpa: u64) -> Page {
        Page {
            gpa,
            entries: Box::new([0; ENTRIES]),
        }
    }

    /// The page as it lies in memory.
    pub fn bytes(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|e| e.to_le_bytes()).collect()
    }

    /// Whether every entry is zero (fresh guest memory already is).
    pub fn is_zero(&self) -> bool {
        self.entries.iter().all(|&e| e == 0)
    }
}

/// The rights of one segment's pages, as leaf entry bits.
struct Span {
    start: u64,
    end: u64,
    write: bool,
    exec: bool,
}

fn spans(segments: &[Segment]) -> Vec<Span> {
    segments
        .iter()
        .filter(|s| s.memsz > 0)
        .map(|s| Span {
            start: s.vaddr & !(PAGE - 1),
            end: s
                .vaddr
                .saturating_add(s.memsz)
                .checked_next_multiple_of(PAGE)
                .unwrap_or(!(PAGE - 1)),
            write: s.flags & PF_W != 0,
            exec: s.flags & PF_X != 0,
        })
        .collect()
}

/// Leaf bits (P, RW, NX) of the 4 KiB page at `addr`.
fn leaf(spans: &[Span], addr: u64) -> Result<u64, PagingError> {
    if addr < BOOT_INFO_ADDR {
        return Ok(0);
    }
    if addr < GUEST_MIN_BASE {
        return Ok(P | NX);
    }
    let (mut hit, mut write, mut exec) = (false, false, false);
    for s in spans.iter().filter(|s| s.start <= addr && addr < s.end) {
        hit = true;
        write |= s.write;
        exec |= s.exec;
    }
    match (hit, write, exec) {
        (false, _, _) => Ok(P | RW | NX),
        (true, true, true) => Err(PagingError::WriteExec(addr)),
        (true, true, false) => Ok(P | RW | NX),
        (true, false, true) => Ok(P),
        (true, false, false) => Ok(P | NX),
    }
}

/// Build the page tables for `segments` in a guest of `alloc` bytes.
/// Pure: the caller writes the pages into guest memory.
pub fn build(segments: &[Segment], alloc: u64) -> Result<Vec<Page>, PagingError> {
    if alloc == 0 || !alloc.is_multiple_of(MEM_ALIGN) || alloc > MAX_MEM {
        return Err(PagingError::BadSize(alloc));
    }
    let spans = spans(segments);
    let mut pml4 = Page::new(PML4_ADDR);
    pml4.entries[0] = PDPT_ADDR | P | RW;
    let mut pdpt = Page::new(PDPT_ADDR);
    let mut dirs: Vec<Page> = (0..4u64).map(|i| Page::new(PD_ADDR + i * PAGE)).collect();
    for (i, d) in dirs.iter().enumerate() {
        pdpt.entries[i] = d.gpa | P | RW;
    }
    let mut tables: Vec<Page> = Vec::new();
    let pool = (PT_POOL_END - PT_POOL_START) / PAGE;
    for k in 0..alloc / MEM_ALIGN {
        let base = k * MEM_ALIGN;
        let end = base + MEM_ALIGN;
        let mixed = k == 0 || spans.iter().any(|s| s.start < end && base < s.end);
        let entry = if mixed {
            let mut pt = Page::new(PT_POOL_START + tables.len() as u64 * PAGE);
            for (i, e) in pt.entries.iter_mut().enumerate() {
                let addr = base + i as u64 * PAGE;
                let bits = leaf(&spans, addr)?;
                *e = if bits == 0 { 0 } else { addr | bits };
            }
            let first = pt.entries[0] & (P | RW | NX);
            let uniform = pt
                .entries
                .iter()
                .all(|&e| e & (P | RW | NX) == first && e & P != 0);
            if k != 0 && uniform {
                base | first | PS
            } else {
                if tables.len() as u64 == pool {
                    return Err(PagingError::TooManyTables(pool));
                }
                let gpa = pt.gpa;
                tables.push(pt);
                gpa | P | RW
            }
        } else {
            base | P | RW | NX | PS
        };
        dirs[(k / ENTRIES as u64) as usize].entries[(k % ENTRIES as u64) as usize] = entry;
    }
    let mut pages = vec![pml4, pdpt];
    pages.extend(dirs);
    pages.extend(tables);
    Ok(pages)
}

#[cfg(test)]
mod tests;
