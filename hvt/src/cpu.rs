//! The vcpu's state at entry (HVT.md sections 1.4 and 2): the boot GDT,
//! CPUID, control and segment registers, general registers.
//!
//! As upstream, except that EFER.NXE is set so that the no-execute bits
//! of the W^X page tables count (CR0.WP, already set by upstream, makes the
//! read-only pages read-only at CPL0 too).

use crate::layout::{BOOT_INFO_ADDR, GDT_ADDR, PML4_ADDR};
use crate::vm::{Vm, VmError};
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};
use std::io;

/// CR0: protection, numeric errors, write protect, paging.
pub const CR0: u64 = CR0_PE | CR0_NE | CR0_WP | CR0_PG;
const CR0_PE: u64 = 1 << 0;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
/// CR4: PAE, OSFXSR, OSXMMEXCPT (SSE usable; no XSAVE).
pub const CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10);
/// EFER: long mode enabled and active, and no-execute enabled.
pub const EFER: u64 = EFER_LME | EFER_LMA | EFER_NXE;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Selector of the code segment (GDT entry 1).
const CS: u16 = 0x08;
/// Selector of the data segment (GDT entry 2).
const DS: u16 = 0x10;

/// The boot GDT: null, 64-bit code, data (all flat, DPL 0). The guest
/// loads its own at once; this one only has to be valid.
pub const GDT: [u64; 3] = [0, 0x00AF_9900_0000_FFFF, 0x00CF_9300_0000_FFFF];
/// GDTR limit: three entries.
const GDT_LIMIT: u16 = (GDT.len() * 8 - 1) as u16;

/// The GDT as bytes, for guest memory at `GDT_ADDR`.
pub fn gdt_bytes() -> Vec<u8> {
    GDT.iter().flat_map(|e| e.to_le_bytes()).collect()
}

fn segment(selector: u16, type_: u8, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// The special registers at entry, built from zero as upstream does.
pub fn sregs() -> kvm_sregs {
    let data = segment(DS, 3, false);
    let mut s = kvm_sregs {
        cs: segment(CS, 9, true),
        ds: data,
        es: data,
        fs: data,
        gs: data,
        ss: data,
        cr0: CR0,
        cr3: PML4_ADDR,
        cr4: CR4,
        efer: EFER,
        ..Default::default()
    };
    // A busy 64-bit TSS at 0, never used: the guest installs its own.
    s.tr = kvm_segment {
        type_: 11,
        present: 1,
        ..Default::default()
    };
    s.ldt = kvm_segment {
        unusable: 1,
        ..Default::default()
    };
    s.gdt.base = GDT_ADDR;
    s.gdt.limit = GDT_LIMIT;
    s
}

/// The general registers at entry: `_start(boot_info)` with the stack at
/// the top of the guest's memory.
pub fn regs(entry: u64, mem_size: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rflags: 0x2,
        rsp: mem_size - 8,
        rdi: BOOT_INFO_ADDR,
        ..Default::default()
    }
}

fn os(e: kvm_ioctls::Error) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

/// Load CPUID (everything KVM supports, unchanged), then the special and
/// general registers, in that order: KVM accepts EFER.NXE only once the
/// guest's CPUID says NX.
pub fn setup(vm: &Vm, entry: u64, mem_size: u64) -> Result<(), VmError> {
    vm.vcpu
        .set_cpuid2(&vm.cpuid)
        .map_err(|e| VmError::SetCpuid(os(e)))?;
    vm.vcpu
        .set_sregs(&sregs())
        .map_err(|e| VmError::SetSregs(os(e)))?;
    vm.vcpu
        .set_regs(&regs(entry, mem_size))
        .map_err(|e| VmError::SetRegs(os(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_of_hvt_md_plus_nxe() {
        assert_eq!(CR0, 0x8001_0021);
        assert_eq!(CR4, 0x620);
        assert_eq!(EFER, 0x500 | 0x800);
        let s = sregs();
        assert_eq!((s.cs.selector, s.cs.type_, s.cs.l, s.cs.db), (8, 9, 1, 0));
        for d in [s.ds, s.es, s.fs, s.gs, s.ss] {
            assert_eq!((d.selector, d.type_, d.l, d.db, d.g), (0x10, 3, 0, 1, 1));
            assert_eq!((d.base, d.limit, d.present, d.s), (0, 0xffff_ffff, 1, 1));
        }
        assert_eq!((s.tr.type_, s.tr.present, s.tr.s), (11, 1, 0));
        assert_eq!(s.ldt.unusable, 1);
        assert_eq!((s.gdt.base, s.gdt.limit), (0x1000, 23));
        assert_eq!((s.idt.base, s.idt.limit, s.cr2, s.apic_base), (0, 0, 0, 0));
        assert_eq!(s.cr3, 0x2000);
        let r = regs(0x100020, 0x2000_0000);
        assert_eq!(
            (r.rip, r.rflags, r.rsp, r.rdi),
            (0x100020, 2, 0x1fff_fff8, 0x10000)
        );
        assert_eq!((r.rax, r.rsi, r.rbp), (0, 0, 0));
    }

    #[test]
    fn gdt_entries_decode_as_hvt_md_says() {
        let b = gdt_bytes();
        assert_eq!(b.len(), 24);
        let code = GDT[1];
        assert_eq!((code >> 40) & 0xf, 9, "type");
        assert_eq!((code >> 53) & 1, 1, "L");
        assert_eq!((code >> 54) & 1, 0, "D");
        let data = GDT[2];
        assert_eq!((data >> 40) & 0xf, 3, "type");
        assert_eq!((data >> 54) & 1, 1, "D/B");
        assert_eq!((data >> 47) & 1, 1, "present");
    }
}
