//! A kernel built for CPL0 (upstream's bindings) entered at CPL3
//! (docs/hvt-user-mode.md, "Kernels built for CPL0").
//!
//! On a paravirtual KVM such as kvm_pvm, code a guest runs at CPL0 is
//! emulated one instruction at a time (about a microsecond each); at CPL3
//! it runs natively. A kernel without our user-mode note expects CPL0, but
//! what it does there that CPL3 cannot is little: upstream's bindings load
//! their own GDT, TSS and IDT (`lgdt`, `ltr`, `lidt`) and set the TLS base
//! with `wrmsr`, once each at start-up; everything else (its code, `in`
//! and `out` to the hypercall ports, `cli`/`sti`, `rdtsc`, SSE) works at
//! CPL3 with IOPL 3.
//!
//! So the tender enters such a kernel at CPL3 on the user-mode page tables
//! and descriptor tables ([`crate::user`]), with RFLAGS.IOPL = 3, and
//! handles what its trap stub reports:
//!
//! - a #GP on `lgdt`, `lidt` or `ltr`: the operand is recorded (the tables
//!   stay the tender's while the kernel runs at CPL3), the instruction is
//!   skipped;
//! - a #GP on `wrmsr` to `FS_BASE` or `GS_BASE`: the base is set, the
//!   instruction is skipped;
//! - anything else (any other trap: a page fault, an undefined
//!   instruction, another privileged instruction, `hlt`): the kernel is
//!   moved to CPL0 for good, with the GDT, IDT and TSS it loaded, and the
//!   instruction runs again there. A fault repeats and reaches the
//!   kernel's own handler exactly as at CPL0 from the start (its trap lines,
//!   its status); an instruction CPL3 could not run now runs. From then on
//!   the kernel runs as upstream's tender would run it.
//!
//! The page tables stay those of the CPL3 entry: the kernel's pages keep
//! exactly the rights of a CPL0 entry, and with SMEP and SMAP cleared at
//! the move CPL0 reaches them. Only the tender's own area differs: at CPL0
//! the kernel could reach the descriptor tables, stub and trap stack there,
//! which is no more than a kernel at CPL0 can do anyway.
//!
//! A trap report counts only when it comes from the stub (CS at DPL 0,
//! the frame where the stub leaves it): with IOPL 3 the kernel can write to
//! the stub's port itself, and is refused like any other port access.
//!
//! Nothing here allocates. The registers come and go through the run area
//! where KVM offers that for the special registers too (kvm_pvm does);
//! elsewhere the four register ioctls are in the filter, only for such a
//! kernel.

use crate::cpu;
use crate::layout::user::KSTACK_END;
use crate::memory::GuestMemory;
use crate::user::Trap;
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};
use kvm_ioctls::VcpuFd;

pub use crate::cpu::IOPL3;
/// `#GP`.
const GP: u64 = 13;
/// `#BP`: a trap, RIP is past the `int3`.
const BP: u64 = 3;
/// The MSRs a kernel's `wrmsr` may set while at CPL3.
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
/// Where the stub's frame starts: the CPU pushes five words (SS, RSP,
/// RFLAGS, CS, RIP) at the end of the trap stack, the stub five more
/// (error code, vector, RAX, RDX, CR2).
pub const FRAME_GPA: u64 = KSTACK_END - 10 * 8;

/// A descriptor-table register as `lgdt`/`lidt` load it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableReg {
    /// Base address.
    pub base: u64,
    /// Limit.
    pub limit: u16,
}

/// A privileged instruction the tender carries out for the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    /// `lgdt m`, at effective address.
    Lgdt(u64),
    /// `lidt m`.
    Lidt(u64),
    /// `ltr r/m16`.
    Ltr(Operand),
    /// `wrmsr`.
    Wrmsr,
    /// `lretq`: the far return upstream's bindings make to reload CS
    /// after `lgdt`.
    Lretq,
    /// `mov r16/r32/r64, Sreg` (0 ES, 2 SS, 3 DS, 4 FS, 5 GS): the
    /// segment reloads after `lgdt`.
    MovSreg(u8),
}

/// A 16-bit operand: a register (0 = RAX ... 15 = R15) or memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A general register.
    Reg(u8),
    /// Memory at the effective address.
    Mem(u64),
}

/// An instruction and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// What it is.
    pub insn: Insn,
    /// Its length in bytes.
    pub len: u64,
}

/// Decode the instruction in `code` at `rip`, if it is one of [`Insn`]
/// in a form the compilers emit (REX prefixes only; 64-bit addressing:
/// register, base + index * scale + displacement, RIP-relative). `regs`
/// are the general registers in encoding order (RAX, RCX, RDX, RBX, RSP,
/// RBP, RSI, RDI, R8 ... R15). Anything else is `None`.
pub fn decode(code: &[u8], rip: u64, regs: &[u64; 16]) -> Option<Decoded> {
    let byte = |i: usize| code.get(i).copied();
    let mut i = 0;
    let mut rex = 0u8;
    if let Some(b @ 0x40..=0x4f) = byte(0) {
        rex = b;
        i = 1;
    }
    match byte(i)? {
        0x0f => {}
        0xcb if rex & 8 != 0 => {
            return Some(Decoded {
                insn: Insn::Lretq,
                len: i as u64 + 1,
            })
        }
        0x8e => {
            let modrm = byte(i + 1)?;
            let sreg = (modrm >> 3) & 7;
            return match (modrm >> 6, sreg) {
                (3, 0 | 2..=5) => Some(Decoded {
                    insn: Insn::MovSreg(sreg),
                    len: i as u64 + 2,
                }),
                _ => None,
            };
        }
        _ => return None,
    }
    let op = byte(i + 1)?;
    if op == 0x30 {
        return Some(Decoded {
            insn: Insn::Wrmsr,
            len: i as u64 + 2,
        });
    }
    if op != 0x00 && op != 0x01 {
        return None;
    }
    let modrm = byte(i + 2)?;
    let (md, reg, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    let rex_b = (rex & 1) << 3;
    let rex_x = (rex & 2) << 2;
    let mut j = i + 3;
    // Register operand (mod 3): only for ltr.
    if md == 3 {
        return match (op, reg) {
            (0x00, 3) => Some(Decoded {
                insn: Insn::Ltr(Operand::Reg(rm | rex_b)),
                len: j as u64,
            }),
            _ => None,
        };
    }
    let mut ea: u64 = 0;
    let mut rip_relative = false;
    let mut disp32 = md == 2;
    if rm == 4 {
        let sib = byte(j)?;
        j += 1;
        let (scale, index, base) = (sib >> 6, ((sib >> 3) & 7) | rex_x, sib & 7);
        if index != 4 {
            ea = ea.wrapping_add(regs[usize::from(index)] << scale);
        }
        if base == 5 && md == 0 {
            disp32 = true;
        } else {
            ea = ea.wrapping_add(regs[usize::from(base | rex_b)]);
        }
    } else if rm == 5 && md == 0 {
        rip_relative = true;
        disp32 = true;
    } else {
        ea = regs[usize::from(rm | rex_b)];
    }
    if md == 1 {
        ea = ea.wrapping_add(byte(j)? as i8 as i64 as u64);
        j += 1;
    } else if disp32 {
        let d = code.get(j..j + 4)?;
        ea = ea.wrapping_add(i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64 as u64);
        j += 4;
    }
    let len = j as u64;
    if rip_relative {
        ea = ea.wrapping_add(rip.wrapping_add(len));
    }
    let insn = match (op, reg) {
        (0x01, 2) => Insn::Lgdt(ea),
        (0x01, 3) => Insn::Lidt(ea),
        (0x00, 3) => Insn::Ltr(Operand::Mem(ea)),
        _ => return None,
    };
    Some(Decoded { insn, len })
}

/// What became of a trap report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The instruction was carried out; the kernel goes on at CPL3.
    Emulated,
    /// The kernel now runs at CPL0, at the instruction that trapped.
    Lowered,
    /// Not a report of the stub: the kernel wrote to its port itself.
    NotTheStub,
}

/// Why the kernel could not be moved on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A register ioctl failed (its errno).
    Ioctl(&'static str, i32),
}

/// The state of a CPL0 kernel entered at CPL3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demoted {
    /// The registers travel in the run area (`KVM_CAP_SYNC_REGS` with
    /// the special registers): no register ioctl at all.
    sync: bool,
    gdt: Option<TableReg>,
    idt: Option<TableReg>,
    tr: Option<u16>,
    /// Moved to CPL0: the stub reports nothing any more.
    lowered: bool,
}

fn ioctl<T>(what: &'static str, r: Result<T, kvm_ioctls::Error>) -> Result<T, Failure> {
    r.map_err(|e| Failure::Ioctl(what, e.errno()))
}

/// The general registers in encoding order.
fn by_number(r: &kvm_regs) -> [u64; 16] {
    [
        r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ]
}

/// A flat 64-bit code or data segment for `selector` (DPL = its RPL) with
/// `base`.
fn flat(selector: u16, code: bool, base: u64) -> kvm_segment {
    kvm_segment {
        base,
        ..cpu::segment(selector, if code { 11 } else { 3 }, code)
    }
}

impl Demoted {
    /// The state at entry; where KVM can, the special registers are
    /// copied into the run area at every exit from now on.
    pub fn new(vm: &mut crate::vm::Vm) -> Demoted {
        if vm.sync_sregs {
            vm.vcpu
                .set_sync_valid_reg(kvm_ioctls::SyncReg::SystemRegister);
        }
        Demoted {
            sync: vm.sync_sregs,
            ..Demoted::default()
        }
    }

    /// Whether the filter must allow the register ioctls (no run-area
    /// copy of the special registers on this host).
    pub fn needs_ioctls(&self) -> bool {
        !self.sync
    }

    fn get(&self, vcpu: &mut VcpuFd) -> Result<(kvm_regs, kvm_sregs), Failure> {
        if self.sync {
            let s = vcpu.sync_regs();
            return Ok((s.regs, s.sregs));
        }
        Ok((
            ioctl("GET_REGS", vcpu.get_regs())?,
            ioctl("GET_SREGS", vcpu.get_sregs())?,
        ))
    }

    fn set(&self, vcpu: &mut VcpuFd, regs: &kvm_regs, sregs: &kvm_sregs) -> Result<(), Failure> {
        if self.sync {
            let s = vcpu.sync_regs_mut();
            s.regs = *regs;
            s.sregs = *sregs;
            vcpu.set_sync_dirty_reg(kvm_ioctls::SyncReg::Register);
            vcpu.set_sync_dirty_reg(kvm_ioctls::SyncReg::SystemRegister);
            return Ok(());
        }
        ioctl("SET_SREGS", vcpu.set_sregs(sregs))?;
        ioctl("SET_REGS", vcpu.set_regs(regs))
    }

    /// Registers for a core file as the kernel believes they are: CS and
    /// SS its own CPL0 selectors, IOPL 0 (what upstream's tender would
    /// write for the same run).
    pub fn as_the_kernel_sees(&self, regs: Option<&mut kvm_regs>, sregs: Option<&mut kvm_sregs>) {
        if self.lowered {
            return;
        }
        if let Some(r) = regs {
            r.rflags &= !IOPL3;
        }
        if let Some(s) = sregs {
            s.cs = flat(0x08, true, s.cs.base);
            s.ss = flat(0x10, false, s.ss.base);
        }
    }

    /// Whether the kernel still runs at CPL3 (its traps come from the stub).
    pub fn at_cpl3(&self) -> bool {
        !self.lowered
    }

    /// Handle the stub's report at `gpa` (the value written to its port).
    pub fn trap(
        &mut self,
        vcpu: &mut VcpuFd,
        mem: &GuestMemory,
        gpa: u64,
    ) -> Result<Outcome, Failure> {
        let (mut regs, sregs) = self.get(vcpu)?;
        if sregs.cs.dpl != 0 || gpa != FRAME_GPA {
            return Ok(Outcome::NotTheStub);
        }
        let Ok(t) = crate::user::read_trap(mem, gpa) else {
            return Ok(Outcome::NotTheStub);
        };
        // The registers of the kernel at the trap: the stub changed RAX,
        // RDX and RSP only.
        regs.rax = t.rax;
        regs.rdx = t.rdx;
        regs.rsp = t.rsp;
        regs.rip = t.rip;
        regs.rflags = t.rflags;
        if t.vector == GP {
            if let Some(next) = self.emulate(mem, &t, &regs) {
                let mut s = sregs;
                s.cs = flat(cpu::USER_CS, true, 0);
                s.ss = flat(cpu::USER_DS, false, 0);
                if let Some((fs, gs)) = next.bases {
                    s.fs.base = fs.unwrap_or(s.fs.base);
                    s.gs.base = gs.unwrap_or(s.gs.base);
                }
                regs.rip = next.rip;
                regs.rsp = next.rsp;
                self.set(vcpu, &regs, &s)?;
                return Ok(Outcome::Emulated);
            }
        }
        self.lower(vcpu, mem, sregs, regs, &t)?;
        Ok(Outcome::Lowered)
    }

    /// Carry out the instruction of a #GP, if it is one of ours; `None`
    /// moves the kernel to CPL0.
    fn emulate(&mut self, mem: &GuestMemory, t: &Trap, regs: &kvm_regs) -> Option<Next> {
        let mut code = [0u8; 15];
        let n = (0..=code.len())
            .rev()
            .find(|&n| mem.read_into(t.rip, &mut code[..n]).is_ok())?;
        let d = decode(&code[..n], t.rip, &by_number(regs))?;
        let table = |ea: u64| -> Option<TableReg> {
            let limit = mem.read_u64(ea).ok()? as u16;
            let base = mem.read_u64(ea + 2).ok()?;
            Some(TableReg { base, limit })
        };
        let mut bases = None;
        let mut rip = t.rip.wrapping_add(d.len);
        let mut rsp = t.rsp;
        match d.insn {
            Insn::Lretq => {
                // To the kernel's own code selector: CS stays the
                // tender's CPL3 one.
                rip = mem.read_u64(t.rsp).ok()?;
                let _cs = mem.read_u64(t.rsp.wrapping_add(8)).ok()?;
                rsp = t.rsp.wrapping_add(16);
            }
            // A flat data selector: nothing changes at CPL3 but that FS
            // and GS take the descriptor's base, 0.
            Insn::MovSreg(4) => bases = Some((Some(0), None)),
            Insn::MovSreg(5) => bases = Some((None, Some(0))),
            Insn::MovSreg(_) => {}
            Insn::Lgdt(ea) => self.gdt = Some(table(ea)?),
            Insn::Lidt(ea) => self.idt = Some(table(ea)?),
            Insn::Ltr(op) => {
                let sel = match op {
                    Operand::Reg(r) => by_number(regs)[usize::from(r)] as u16,
                    Operand::Mem(ea) => mem.read_u64(ea).ok()? as u16,
                };
                self.tr = Some(sel);
            }
            Insn::Wrmsr => {
                let value = (regs.rdx << 32) | (regs.rax & 0xffff_ffff);
                match regs.rcx as u32 {
                    MSR_FS_BASE => bases = Some((Some(value), None)),
                    MSR_GS_BASE => bases = Some((None, Some(value))),
                    _ => return None,
                }
            }
        }
        Some(Next { rip, rsp, bases })
    }

    /// Move the kernel to CPL0 for good, to run the trapping instruction
    /// again there: the GDT, IDT and TSS it loaded, CS and SS of DPL 0,
    /// the CR4 of a CPL0 entry, IOPL 0.
    fn lower(
        &mut self,
        vcpu: &mut VcpuFd,
        mem: &GuestMemory,
        mut s: kvm_sregs,
        mut regs: kvm_regs,
        t: &Trap,
    ) -> Result<(), Failure> {
        if t.vector == BP {
            // `int3` again, not the instruction after it.
            regs.rip = t.rip.wrapping_sub(1);
        }
        regs.rflags &= !IOPL3;
        s.cs = flat(0x08, true, 0);
        let data = |base| flat(0x10, false, base);
        s.ss = data(0);
        s.ds = data(0);
        s.es = data(0);
        s.fs = data(s.fs.base);
        s.gs = data(s.gs.base);
        if let Some(g) = self.gdt {
            s.gdt.base = g.base;
            s.gdt.limit = g.limit;
        }
        match self.idt {
            Some(i) => {
                s.idt.base = i.base;
                s.idt.limit = i.limit;
            }
            None => {
                s.idt.base = 0;
                s.idt.limit = 0;
            }
        }
        if let (Some(sel), Some(g)) = (self.tr, self.gdt) {
            let at = g.base.wrapping_add(u64::from(sel & !7));
            if let (Ok(lo), Ok(hi)) = (mem.read_u64(at), mem.read_u64(at + 8)) {
                s.tr = tss_segment(sel, lo, hi);
            }
        }
        s.cr4 = cpu::CR4;
        self.set(vcpu, &regs, &s)?;
        self.lowered = true;
        Ok(())
    }
}

/// What an emulated instruction leaves: where the kernel goes on, its
/// stack pointer, and the FS or GS base it set.
struct Next {
    rip: u64,
    rsp: u64,
    bases: Option<(Option<u64>, Option<u64>)>,
}

/// The TSS register for selector `sel` from its 16-byte descriptor
/// (`lo`, `hi`): busy, as `ltr` leaves it.
fn tss_segment(sel: u16, lo: u64, hi: u64) -> kvm_segment {
    let base = ((lo >> 16) & 0xff_ffff) | (((lo >> 56) & 0xff) << 24) | ((hi & 0xffff_ffff) << 32);
    let limit = (lo & 0xffff) | (((lo >> 48) & 0xf) << 16);
    kvm_segment {
        base,
        limit: limit as u32,
        selector: sel,
        type_: 11,
        present: 1,
        dpl: ((lo >> 45) & 3) as u8,
        db: 0,
        s: 0,
        l: 0,
        g: ((lo >> 55) & 1) as u8,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

#[cfg(test)]
mod tests;
