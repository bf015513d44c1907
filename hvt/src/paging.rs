//! The guest's page tables, built by the tender before the first run: an
//! identity map of the whole allocation, with W^X inside the guest
//! (docs/hvt.md, "Page tables", made strict).
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
//!
//! For a guest entered at CPL3 ([`Mode::User`], docs/hvt-user-mode.md) the
//! same map gets the user bit on every guest page, at every level, while
//! the tender's own pages stay supervisor-only: the GDT at `0x1000`
//! (read-only), the IDT and TSS (read-only), the trap stub (read +
//! execute) and the trap stack (read-write), all in
//! [`crate::layout::user`]. The page tables stay unmapped, and so does
//! the stack guard range the guest's stack note asks for. With CR4.SMEP
//! and SMAP, supervisor code can neither run nor touch a user page.

use crate::layout::{
    user, BOOT_INFO_ADDR, GDT_ADDR, GUEST_MIN_BASE, MAX_MEM, MEM_ALIGN, PDPT_ADDR, PD_ADDR,
    PML4_ADDR, PT_POOL_END, PT_POOL_START,
};
use solo5_tender::elf::{Segment, PF_W, PF_X};
use thiserror::Error;

/// Present.
pub const P: u64 = 1 << 0;
/// Writable.
pub const RW: u64 = 1 << 1;
/// User: accessible at CPL3 (needed at every level).
pub const US: u64 = 1 << 2;
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

/// How the guest is entered, hence whose pages are whose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// At CPL0, as upstream: no user bit anywhere.
    #[default]
    Kernel,
    /// At CPL3: user bit on the guest's pages, the tender's pages
    /// supervisor-only, and `guard` (`[start, end)`, page aligned: the
    /// stack guard) not mapped.
    User {
        /// The stack guard range, if the guest asked for one.
        guard: Option<(u64, u64)>,
    },
}

impl Mode {
    fn us(self) -> u64 {
        match self {
            Mode::Kernel => 0,
            Mode::User { .. } => US,
        }
    }

    fn guard(self) -> Option<(u64, u64)> {
        match self {
            Mode::Kernel => None,
            Mode::User { guard } => guard,
        }
    }
}

/// Leaf bits of the tender's own low pages for a guest at CPL3: all
/// supervisor-only.
fn tender_page(addr: u64) -> Option<u64> {
    match addr {
        GDT_ADDR => Some(P | NX),
        user::IDT_ADDR => Some(P | NX),
        a if (user::TSS_ADDR..user::TSS_END).contains(&a) => Some(P | NX),
        user::STUB_ADDR => Some(P),
        user::KSTACK_ADDR => Some(P | RW | NX),
        _ => None,
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

/// Leaf bits (P, RW, NX, US) of the 4 KiB page at `addr`.
fn leaf(spans: &[Span], addr: u64, mode: Mode) -> Result<u64, PagingError> {
    if mode != Mode::Kernel {
        if let Some(bits) = tender_page(addr) {
            return Ok(bits);
        }
    }
    if addr < BOOT_INFO_ADDR {
        return Ok(0);
    }
    let us = mode.us();
    if addr < GUEST_MIN_BASE {
        return Ok(P | NX | us);
    }
    if mode
        .guard()
        .is_some_and(|(start, end)| start <= addr && addr < end)
    {
        return Ok(0);
    }
    guest_leaf(spans, addr).map(|bits| bits | us)
}

/// Leaf bits (P, RW, NX) of a guest page at or above the image base.
fn guest_leaf(spans: &[Span], addr: u64) -> Result<u64, PagingError> {
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

/// Build the page tables for `segments` in a guest of `alloc` bytes,
/// entered at CPL0. Pure: the caller writes the pages into guest memory.
pub fn build(segments: &[Segment], alloc: u64) -> Result<Vec<Page>, PagingError> {
    build_for(segments, alloc, Mode::Kernel)
}

/// Build the page tables for `segments` in a guest of `alloc` bytes
/// entered as `mode` says.
pub fn build_for(segments: &[Segment], alloc: u64, mode: Mode) -> Result<Vec<Page>, PagingError> {
    if alloc == 0 || !alloc.is_multiple_of(MEM_ALIGN) || alloc > MAX_MEM {
        return Err(PagingError::BadSize(alloc));
    }
    let spans = spans(segments);
    let us = mode.us();
    let mut pml4 = Page::new(PML4_ADDR);
    pml4.entries[0] = PDPT_ADDR | P | RW | us;
    let mut pdpt = Page::new(PDPT_ADDR);
    let mut dirs: Vec<Page> = (0..4u64).map(|i| Page::new(PD_ADDR + i * PAGE)).collect();
    for (i, d) in dirs.iter().enumerate() {
        pdpt.entries[i] = d.gpa | P | RW | us;
    }
    let mut tables: Vec<Page> = Vec::new();
    let pool = (PT_POOL_END - PT_POOL_START) / PAGE;
    for k in 0..alloc / MEM_ALIGN {
        let base = k * MEM_ALIGN;
        let end = base + MEM_ALIGN;
        let mixed = k == 0
            || spans.iter().any(|s| s.start < end && base < s.end)
            || mode.guard().is_some_and(|(s, e)| s < end && base < e);
        let entry = if mixed {
            let mut pt = Page::new(PT_POOL_START + tables.len() as u64 * PAGE);
            for (i, e) in pt.entries.iter_mut().enumerate() {
                let addr = base + i as u64 * PAGE;
                let bits = leaf(&spans, addr, mode)?;
                *e = if bits == 0 { 0 } else { addr | bits };
            }
            let rights = P | RW | NX | US;
            let first = pt.entries[0] & rights;
            let uniform = pt
                .entries
                .iter()
                .all(|&e| e & rights == first && e & P != 0);
            if k != 0 && uniform {
                base | first | PS
            } else {
                if tables.len() as u64 == pool {
                    return Err(PagingError::TooManyTables(pool));
                }
                let gpa = pt.gpa;
                tables.push(pt);
                gpa | P | RW | us
            }
        } else {
            base | P | RW | NX | PS | us
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
