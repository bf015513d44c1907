//! The vcpu's state at entry (docs/hvt.md, "Boot GDT" and "CPU state at entry"): the boot GDT,
//! CPUID, control and segment registers, general registers.
//!
//! As upstream, except that EFER.NXE is set so that the no-execute bits
//! of the W^X page tables count (CR0.WP, already set by upstream, makes the
//! read-only pages read-only at CPL0 too).
//!
//! A guest entered at CPL3 (docs/hvt-user-mode.md) gets [`USER_GDT`]
//! instead of the boot GDT, CS and SS of DPL 3, the tender's TSS and IDT
//! ([`crate::user`]) and CR4 with FSGSBASE, UMIP, SMEP and SMAP
//! ([`USER_CR4`]). The general registers are the same.

use crate::layout::{user, BOOT_INFO_ADDR, GDT_ADDR, PML4_ADDR};
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

/// CR4.UMIP: `sgdt`, `sidt`, `sldt`, `str` and `smsw` fault at CPL3.
pub const CR4_UMIP: u64 = 1 << 11;
/// CR4.FSGSBASE: `wrfsbase` and friends at CPL3.
pub const CR4_FSGSBASE: u64 = 1 << 16;
/// CR4.SMEP: no supervisor fetch from a user page.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP: no supervisor data access to a user page.
pub const CR4_SMAP: u64 = 1 << 21;
/// CR4 of a guest entered at CPL3 (TSD stays clear: `rdtsc` works at
/// CPL3).
pub const USER_CR4: u64 = CR4 | CR4_UMIP | CR4_FSGSBASE | CR4_SMEP | CR4_SMAP;

/// RFLAGS.IOPL = 3: `in`, `out`, `cli` and `sti` at CPL3 (a kernel built
/// for CPL0 entered at CPL3, [`crate::demote`]).
pub const IOPL3: u64 = 3 << 12;

/// Selector of the code segment (GDT entry 1).
const CS: u16 = 0x08;
/// Selector of the data segment (GDT entry 2).
const DS: u16 = 0x10;

/// The boot GDT: null, 64-bit code, data (all flat, DPL 0). The guest
/// loads its own at once; this one only has to be valid.
pub const GDT: [u64; 3] = [0, 0x00AF_9900_0000_FFFF, 0x00CF_9300_0000_FFFF];
/// GDTR limit: three entries.
const GDT_LIMIT: u16 = (GDT.len() * 8 - 1) as u16;

/// Selector of the CPL3 data segment (GDT entry 3, RPL 3).
pub const USER_DS: u16 = 0x18 | 3;
/// Selector of the CPL3 code segment (GDT entry 4, RPL 3).
pub const USER_CS: u16 = 0x20 | 3;
/// Selector of the TSS (GDT entries 5 and 6).
pub const TSS_SEL: u16 = 0x28;
/// Limit of the TSS: its 104 bytes, the bitmap and the trailing byte.
pub const TSS_LIMIT: u32 = (user::TSS_SIZE + user::IOMAP_SIZE - 1) as u32;

/// The busy 64-bit TSS descriptor (two GDT slots) for `base`, `limit`.
const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let limit = limit as u64;
    let lo = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x8b << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [lo, base >> 32]
}

const TSS_DESC: [u64; 2] = tss_descriptor(user::TSS_ADDR, TSS_LIMIT);

/// The GDT of a guest entered at CPL3: null, kernel code64 (the trap
/// stub's), kernel data, user data, user code64, the TSS. Accessed bits
/// are set, so that the CPU never writes to it (it is mapped read-only).
pub const USER_GDT: [u64; 7] = [
    0,
    0x00AF_9B00_0000_FFFF,
    0x00CF_9300_0000_FFFF,
    0x00CF_F300_0000_FFFF,
    0x00AF_FB00_0000_FFFF,
    TSS_DESC[0],
    TSS_DESC[1],
];

/// The user-mode GDT as bytes, for guest memory at `GDT_ADDR`.
pub fn user_gdt_bytes() -> Vec<u8> {
    USER_GDT.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// The GDT as bytes, for guest memory at `GDT_ADDR`.
pub fn gdt_bytes() -> Vec<u8> {
    GDT.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// A flat segment for `selector` (DPL = its RPL) of type `type_`.
pub(crate) fn segment(selector: u16, type_: u8, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: (selector & 3) as u8,
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

/// The special registers of a guest entered at CPL3 with CR4 = `cr4`: CS
/// and SS of DPL 3, the tender's GDT, IDT and TSS.
pub fn user_sregs(cr4: u64) -> kvm_sregs {
    let data = segment(USER_DS, 3, false);
    let mut s = kvm_sregs {
        cs: segment(USER_CS, 11, true),
        ds: data,
        es: data,
        fs: data,
        gs: data,
        ss: data,
        cr0: CR0,
        cr3: PML4_ADDR,
        cr4,
        efer: EFER,
        ..Default::default()
    };
    s.tr = kvm_segment {
        base: user::TSS_ADDR,
        limit: TSS_LIMIT,
        selector: TSS_SEL,
        type_: 11,
        present: 1,
        ..Default::default()
    };
    s.ldt = kvm_segment {
        unusable: 1,
        ..Default::default()
    };
    s.gdt.base = GDT_ADDR;
    s.gdt.limit = (USER_GDT.len() * 8 - 1) as u16;
    s.idt.base = user::IDT_ADDR;
    s.idt.limit = (user::IDT_ENTRIES * 16 - 1) as u16;
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

/// As [`setup`], for a guest entered at CPL3. CR4 is [`USER_CR4`]; where
/// KVM refuses it (SMEP, SMAP or UMIP unknown to it), without those three.
/// Returns the CR4 the guest got, or `None` when KVM refuses CR4.FSGSBASE
/// too: without `wrfsbase` the guest has no TLS at CPL3, so the caller
/// enters it at CPL0 instead. (kvm_pvm accepts all of them although its
/// CPUID lists none: what KVM accepts decides, not the CPUID.)
pub fn setup_user(vm: &Vm, entry: u64, mem_size: u64) -> Result<Option<u64>, VmError> {
    vm.vcpu
        .set_cpuid2(&vm.cpuid)
        .map_err(|e| VmError::SetCpuid(os(e)))?;
    let Some(cr4) = [USER_CR4, CR4 | CR4_FSGSBASE]
        .into_iter()
        .find(|&cr4| vm.vcpu.set_sregs(&user_sregs(cr4)).is_ok())
    else {
        return Ok(None);
    };
    vm.vcpu
        .set_regs(&regs(entry, mem_size))
        .map_err(|e| VmError::SetRegs(os(e)))?;
    Ok(Some(cr4))
}

/// The general registers of a kernel built for CPL0 entered at CPL3
/// ([`crate::demote`]): those of [`setup_user`], with RFLAGS.IOPL = 3 so
/// that its `in`, `out`, `cli` and `sti` work there.
pub fn allow_port_io(vm: &Vm, entry: u64, mem_size: u64) -> Result<(), VmError> {
    let mut r = regs(entry, mem_size);
    r.rflags |= IOPL3;
    vm.vcpu.set_regs(&r).map_err(|e| VmError::SetRegs(os(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mode_registers_and_gdt() {
        let s = user_sregs(USER_CR4);
        assert_eq!((s.cs.selector, s.cs.dpl, s.cs.l, s.cs.db), (0x23, 3, 1, 0));
        for d in [s.ds, s.es, s.fs, s.gs, s.ss] {
            assert_eq!((d.selector, d.dpl, d.type_, d.db), (0x1b, 3, 3, 1));
        }
        assert_eq!(s.cr4 & (1 << 2), 0, "TSD clear: rdtsc at CPL3");
        assert_eq!(s.cr4 & CR4_FSGSBASE, CR4_FSGSBASE);
        assert_eq!(s.cr4 & (CR4_SMEP | CR4_SMAP), CR4_SMEP | CR4_SMAP);
        assert_eq!((s.tr.selector, s.tr.type_, s.tr.s), (0x28, 11, 0));
        assert_eq!((s.tr.base, s.tr.limit), (0xF1000, 104 + 8192));
        assert_eq!((s.gdt.base, s.gdt.limit), (0x1000, 55));
        assert_eq!((s.idt.base, s.idt.limit), (0xF0000, 511));
        assert_eq!(s.efer & (1 << 11), 1 << 11, "NXE");
        // The descriptors match the registers: DPL, type, accessed.
        let dpl = |d: u64| (d >> 45) & 3;
        let ty = |d: u64| (d >> 40) & 0xf;
        assert_eq!((dpl(USER_GDT[1]), ty(USER_GDT[1])), (0, 0xb));
        assert_eq!((dpl(USER_GDT[3]), ty(USER_GDT[3])), (3, 3));
        assert_eq!((dpl(USER_GDT[4]), ty(USER_GDT[4])), (3, 0xb));
        assert_eq!((USER_GDT[4] >> 53) & 1, 1, "user code is 64-bit");
        let [lo, hi] = TSS_DESC;
        let base = ((lo >> 16) & 0xff_ffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
        let limit = (lo & 0xffff) | (((lo >> 48) & 0xf) << 16);
        assert_eq!((base, limit, ty(lo), dpl(lo)), (0xF1000, 8296, 0xb, 0));
        assert_eq!(user_gdt_bytes().len(), 56);
    }

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
