//! Which guest addresses the table functions may read from and write to.
//!
//! Guest memory is `[GUEST_MIN, mem_size)`, read/write everywhere except
//! where the tender narrowed it: the loaded segments get exactly their
//! `PF_*` flags, and a tender may add more (a guard range below the stack).
//! A buffer the guest hands to a table function must lie entirely in guest
//! memory *and* avoid every range lacking the access the function needs:
//! an output buffer (the tender writes into it) must be writable, an input
//! buffer readable. Otherwise a direct store of the tender would fault on a
//! read-only page, and a system call on it would fail half-way.
//!
//! The check is strict about reads: a segment without `PF_R` counts as not
//! readable even though x86 without protection keys lets anyone read an
//! execute-only page. Execution rights do not matter here.
//!
//! The table is fixed-size and filled before the jump: the checks run on
//! the guest's stack after the filter is installed, so they neither
//! allocate nor panic.

use solo5_abi::GUEST_MIN;
use solo5_tender::elf::{PF_R, PF_W};

/// How many narrowed ranges are kept apart. Ranges of the same kind that
/// touch are merged first; past this, a new range widens the last one
/// (stricter, never laxer: see [`Layout::narrow`]).
pub const MAX_RANGES: usize = 16;

/// Access a buffer needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The tender reads it (console, net and block writes).
    Read,
    /// The tender writes into it (yield's ready set, net and block reads).
    Write,
}

impl Access {
    fn flag(self) -> u32 {
        match self {
            Access::Read => PF_R,
            Access::Write => PF_W,
        }
    }
}

/// A range `[start, end)` with only `flags` (`PF_R`/`PF_W` bits) allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
    flags: u32,
}

const EMPTY: Range = Range {
    start: 0,
    end: 0,
    flags: 0,
};

/// Guest memory and the ranges of it that are not read/write.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    mem_size: u64,
    ranges: [Range; MAX_RANGES],
    len: usize,
}

impl Layout {
    /// Guest memory `[GUEST_MIN, mem_size)`, all read/write.
    pub const fn new(mem_size: u64) -> Layout {
        Layout {
            mem_size,
            ranges: [EMPTY; MAX_RANGES],
            len: 0,
        }
    }

    /// End of guest memory.
    pub fn mem_size(&self) -> u64 {
        self.mem_size
    }

    /// Record that `[start, end)` allows only the `PF_R`/`PF_W` bits of
    /// `flags` (`PF_X` and other bits are ignored; 0 means no access).
    /// Read/write and empty ranges change nothing.
    ///
    /// A range that touches or overlaps the last one recorded, with the
    /// same access, extends it. When the table is full, the last entry
    /// grows to cover the new range too, with only the access both allow:
    /// some buffers between them are then refused, but a buffer is never
    /// let through to memory the tender may not touch.
    pub fn narrow(&mut self, start: u64, end: u64, flags: u32) {
        let flags = flags & (PF_R | PF_W);
        if start >= end || flags == PF_R | PF_W {
            return;
        }
        let new = Range { start, end, flags };
        if self.len > 0 {
            let last = &mut self.ranges[self.len - 1];
            let touches = new.start <= last.end && last.start <= new.end;
            if (touches && last.flags == new.flags) || self.len == MAX_RANGES {
                last.start = last.start.min(new.start);
                last.end = last.end.max(new.end);
                last.flags &= new.flags;
                return;
            }
        }
        self.ranges[self.len] = new;
        self.len += 1;
    }

    /// [`Layout::narrow`] for each `(start, end, flags)`: the loaded
    /// segments, as `exe.segments.iter().map(|s| (s.start, s.end, s.flags))`.
    pub fn with_segments(mut self, segments: impl IntoIterator<Item = (u64, u64, u32)>) -> Layout {
        for (start, end, flags) in segments {
            self.narrow(start, end, flags);
        }
        self
    }

    /// Whether `[addr, addr + len)` lies inside guest memory.
    pub fn in_guest(&self, addr: u64, len: usize) -> bool {
        addr >= GUEST_MIN
            && addr
                .checked_add(len as u64)
                .is_some_and(|end| end <= self.mem_size)
    }

    /// Whether the table functions may access `[addr, addr + len)` as
    /// `access` says: inside guest memory and in no range that forbids it.
    /// Never panics or allocates.
    pub fn allows(&self, addr: u64, len: usize, access: Access) -> bool {
        if !self.in_guest(addr, len) {
            return false;
        }
        // in_guest checked that this does not overflow.
        let end = addr + len as u64;
        let need = access.flag();
        // An empty buffer touches no byte of any range.
        len == 0
            || self
                .ranges
                .iter()
                .take(self.len)
                .all(|r| r.flags & need != 0 || end <= r.start || r.end <= addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_tender::elf::PF_X;

    const MEM: u64 = 2 << 20;

    /// A gcc-like layout: text R+X, rodata R, data R+W.
    fn typical() -> Layout {
        Layout::new(MEM).with_segments([
            (0x100000, 0x102000, PF_R | PF_X),
            (0x102000, 0x103000, PF_R),
            (0x103000, 0x105000, PF_R | PF_W),
        ])
    }

    #[test]
    fn read_only_segments_refuse_writes_and_allow_reads() {
        let l = typical();
        for addr in [0x100000, 0x101ff8, 0x102000, 0x102ff8] {
            assert!(!l.allows(addr, 8, Access::Write), "{addr:#x}");
            assert!(l.allows(addr, 8, Access::Read), "{addr:#x}");
        }
        // The data segment, the boot info page and the heap are read/write.
        for addr in [0x103000, 0x104ff8, GUEST_MIN, 0x11000, 0x105000, MEM - 8] {
            assert!(l.allows(addr, 8, Access::Write), "{addr:#x}");
            assert!(l.allows(addr, 8, Access::Read), "{addr:#x}");
        }
    }

    #[test]
    fn a_buffer_touching_a_read_only_byte_is_refused() {
        let l = typical();
        // Ends one byte into rodata / starts in its last byte.
        assert!(!l.allows(0x0f_f000, 0x1001, Access::Write));
        assert!(l.allows(0x0f_f000, 0x1000, Access::Write));
        assert!(!l.allows(0x102fff, 2, Access::Write));
        assert!(l.allows(0x103000, 2, Access::Write));
        // Spans the whole image: includes read-only pages.
        assert!(!l.allows(0x0f_0000, 0x20000, Access::Write));
        assert!(l.allows(0x0f_0000, 0x20000, Access::Read));
    }

    #[test]
    fn empty_buffers_need_only_lie_in_guest_memory() {
        let l = typical();
        assert!(l.allows(0x101000, 0, Access::Write));
        assert!(l.allows(MEM, 0, Access::Write));
        assert!(!l.allows(MEM + 1, 0, Access::Write));
        assert!(!l.allows(GUEST_MIN - 1, 0, Access::Read));
    }

    #[test]
    fn outside_guest_memory_is_refused_whatever_the_access() {
        let l = typical();
        for access in [Access::Read, Access::Write] {
            assert!(!l.allows(0, 8, access));
            assert!(!l.allows(GUEST_MIN - 8, 16, access));
            assert!(!l.allows(MEM - 8, 9, access));
            assert!(!l.allows(u64::MAX - 4, 8, access));
            assert!(!l.allows(GUEST_MIN, usize::MAX, access));
        }
    }

    #[test]
    fn segments_without_pf_r_are_not_readable() {
        let l = Layout::new(MEM).with_segments([
            (0x100000, 0x101000, PF_X),
            (0x101000, 0x102000, PF_W),
            (0x102000, 0x103000, 0),
        ]);
        assert!(!l.allows(0x100000, 8, Access::Read), "execute-only");
        assert!(!l.allows(0x100000, 8, Access::Write), "execute-only");
        assert!(!l.allows(0x101000, 8, Access::Read), "write-only");
        assert!(l.allows(0x101000, 8, Access::Write), "write-only");
        assert!(!l.allows(0x102000, 8, Access::Read), "no access");
        assert!(!l.allows(0x102000, 8, Access::Write), "no access");
    }

    #[test]
    fn a_guard_range_added_later_is_honoured() {
        let mut l = typical();
        l.narrow(MEM - 0x12000, MEM - 0x10000, 0);
        assert!(!l.allows(MEM - 0x11000, 8, Access::Read));
        assert!(!l.allows(MEM - 0x10008, 16, Access::Write));
        assert!(l.allows(MEM - 0x10000, 8, Access::Write));
        assert!(l.allows(MEM - 0x12008, 8, Access::Write));
    }

    #[test]
    fn touching_ranges_of_one_kind_share_an_entry() {
        let l = typical();
        // text and rodata: both readable, not writable.
        assert_eq!(l.len, 1);
        assert_eq!(
            l.ranges[0],
            Range {
                start: 0x100000,
                end: 0x103000,
                flags: PF_R
            }
        );
    }

    /// Past MAX_RANGES entries the table only gets stricter: every range
    /// recorded stays refused, and nothing outside them all is refused
    /// below the first nor above the last.
    #[test]
    fn a_full_table_stays_safe() {
        let n = 3 * MAX_RANGES as u64;
        let mut l = Layout::new(MEM);
        // Read-only pages with read/write gaps: 0x100000, 0x102000, ...
        let ro: Vec<u64> = (0..n).map(|i| 0x100000 + i * 0x2000).collect();
        for &a in &ro {
            l.narrow(a, a + 0x1000, PF_R);
        }
        assert_eq!(l.len, MAX_RANGES);
        for &a in &ro {
            assert!(!l.allows(a, 1, Access::Write), "{a:#x}");
            assert!(l.allows(a, 1, Access::Read), "{a:#x}");
        }
        // Gaps between the first entries are still writable.
        assert!(l.allows(0x101000, 0x1000, Access::Write));
        assert!(l.allows(0x0f_f000, 0x1000, Access::Write));
        let top = ro[ro.len() - 1] + 0x1000;
        assert!(l.allows(top, 0x1000, Access::Write));
    }

    #[test]
    fn read_write_and_empty_ranges_take_no_entry() {
        let mut l = Layout::new(MEM);
        l.narrow(0x100000, 0x101000, PF_R | PF_W);
        l.narrow(0x100000, 0x101000, PF_R | PF_W | PF_X);
        l.narrow(0x102000, 0x102000, 0);
        l.narrow(0x103000, 0x102000, 0);
        assert_eq!(l.len, 0);
        assert!(l.allows(0x100000, 0x4000, Access::Write));
    }

    /// Against a byte map of guest memory: random layouts and buffers.
    #[test]
    fn agrees_with_a_byte_map() {
        // 16 pages: at most 16 narrowed ranges, so the table never fills
        // and the answer must be exact.
        const PAGES: usize = 0x10;
        let mem = 0x100000u64 + PAGES as u64 * 0x1000;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let mut l = Layout::new(mem);
            // Per page of [0x100000, mem): allowed flags.
            let mut map = vec![PF_R | PF_W; PAGES];
            let mut page = 0;
            while page < PAGES {
                let len = 1 + (next() % 4) as usize;
                let flags = (next() % 8) as u32;
                let end = (page + len).min(PAGES);
                for f in &mut map[page..end] {
                    *f = flags & (PF_R | PF_W);
                }
                l.narrow(
                    0x100000 + page as u64 * 0x1000,
                    0x100000 + end as u64 * 0x1000,
                    flags,
                );
                page = end + (next() % 2) as usize;
            }
            for _ in 0..200 {
                let addr = 0x100000 + next() % (PAGES as u64 * 0x1000);
                let len = (next() % 0x3000) as usize;
                let end = addr + len as u64;
                let first = ((addr - 0x100000) / 0x1000) as usize;
                let last = (end.saturating_sub(0x100001) / 0x1000) as usize;
                for access in [Access::Read, Access::Write] {
                    let want = end <= mem
                        && (len == 0 || map[first..=last].iter().all(|f| f & access.flag() != 0));
                    assert_eq!(
                        l.allows(addr, len, access),
                        want,
                        "{addr:#x}+{len:#x} {access:?} {map:?}"
                    );
                }
            }
        }
    }
}
