//! What the tender owns for a guest entered at CPL3 (docs/hvt-user-mode.md):
//! its IDT, TSS and trap stub, and the report of a trap.
//!
//! A guest whose user-mode note allows it ([`solo5_tender::usermode_note`])
//! starts at CPL3 with the registers and boot info of a CPL0 entry. Every
//! privileged structure is the tender's, in [`crate::layout::user`] and
//! supervisor-only in the guest's page tables ([`crate::paging::Mode`]):
//!
//! - the GDT at `0x1000` ([`crate::cpu::USER_GDT`]);
//! - the TSS: `rsp0` = the end of the trap stack, and an I/O permission
//!   bitmap that opens the hypercall ports (`0x500..0x50b`: a 4-byte `out`
//!   to HALT at `0x508` needs the bits of `0x508..0x50b`) and the net
//!   ring's kick port (`0x600..0x603`), nothing else: any other `in` or
//!   `out` is a #GP in the guest;
//! - the IDT: interrupt gates for vectors 0..31 to the stub, DPL 0 except
//!   #BP (so that `int3` reports #BP, as at CPL0); other vectors are
//!   beyond its limit (an `int N` is a #GP);
//! - the stub, a few instructions at CPL0 (which a paravirtual KVM may
//!   emulate one by one): per vector, push a zero error code where the CPU
//!   pushes none and the vector; then, common to all, push RAX, RDX and
//!   CR2 and write the stack pointer (the frame's guest address) to
//!   [`TRAP_PORT`], which only CPL0 can reach. It touches no guest page
//!   (SMAP holds, no `stac`). The tender ends the process at that exit;
//!   only a debugger's breakpoint or single step resumes it (`crate::gdb`),
//!   and the stub then pops what it pushed and returns with `iretq`.
//!
//! The run loop hands that exit to [`report`], which prints upstream's trap
//! lines on the guest's console (standard output) and ends the process
//! with status 255, as a guest's own trap handler does.

use crate::cpu;
use crate::layout::hypercall::PIO_BASE;
use crate::layout::user::{
    IDT_ADDR, IDT_ENTRIES, IOMAP_SIZE, KSTACK_END, STUB_ADDR, TRAP_PORT, TSS_ADDR, TSS_SIZE,
};
use crate::layout::GDT_ADDR;
use crate::memory::{BadAccess, GuestMemory, MemoryError};
use crate::sys;
use core::fmt::{self, Write};

pub use crate::layout::user::TRAP_PORT as PORT;

/// Bytes between two vector entries of the stub.
pub const STUB_SLOT: u64 = 16;
/// Offset of the common part of the stub.
const COMMON: u64 = IDT_ENTRIES * STUB_SLOT;
use solo5_abi::hvt::RING_KICK_PORT as KICK_PORT;

/// Whether the CPU pushes an error code for exception `vector`.
pub fn has_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Upstream's names of the 32 exception vectors (`bindings/cpu_x86_64.c`).
pub const NAMES: [&str; 32] = [
    "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS", "#NP", "#SS",
    "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#21", "#22", "#23", "#24", "#25",
    "#26", "#27", "#28", "#29", "#30", "#31",
];

/// The stub's machine code, for guest memory at `STUB_ADDR`.
pub fn stub_bytes() -> Vec<u8> {
    let mut b = vec![0xcc; COMMON as usize];
    for v in 0..IDT_ENTRIES {
        let at = (v * STUB_SLOT) as usize;
        let mut code = Vec::with_capacity(STUB_SLOT as usize);
        if !has_error_code(v) {
            code.extend_from_slice(&[0x6a, 0x00]); // push 0
        }
        code.extend_from_slice(&[0x6a, v as u8]); // push v
        let next = (at + code.len() + 5) as i64;
        let rel = (COMMON as i64 - next) as i32;
        code.push(0xe9); // jmp common
        code.extend_from_slice(&rel.to_le_bytes());
        b[at..at + code.len()].copy_from_slice(&code);
    }
    b.push(0x50); // push rax
    b.push(0x52); // push rdx
    b.extend_from_slice(&[0x0f, 0x20, 0xd0]); // mov rax, cr2
    b.push(0x50); // push rax
    b.extend_from_slice(&[0x89, 0xe0]); // mov eax, esp
    b.extend_from_slice(&[0x66, 0xba]); // mov dx, TRAP_PORT
    b.extend_from_slice(&TRAP_PORT.to_le_bytes());
    b.push(0xef); // out dx, eax
                  // Reached only when the tender resumes the guest (a debugger's
                  // breakpoint or step, crate::gdb); otherwise the tender has ended
                  // the process at the `out`.
    b.extend_from_slice(&[0x48, 0x83, 0xc4, 0x08]); // add rsp, 8 (cr2)
    b.push(0x5a); // pop rdx
    b.push(0x58); // pop rax
    b.extend_from_slice(&[0x48, 0x83, 0xc4, 0x10]); // add rsp, 16 (vector, ec)
    b.extend_from_slice(&[0x48, 0xcf]); // iretq
    b
}

/// The IDT: one 64-bit interrupt gate per vector 0..31 to its stub entry.
pub fn idt_bytes() -> Vec<u8> {
    let mut b = Vec::with_capacity((IDT_ENTRIES * 16) as usize);
    for v in 0..IDT_ENTRIES {
        let handler = STUB_ADDR + v * STUB_SLOT;
        // Present, interrupt gate (0xe); DPL 3 only for #BP.
        let attr: u16 = if v == 3 { 0xee00 } else { 0x8e00 };
        b.extend_from_slice(&(handler as u16).to_le_bytes());
        b.extend_from_slice(&0x08u16.to_le_bytes());
        b.extend_from_slice(&attr.to_le_bytes());
        b.extend_from_slice(&((handler >> 16) as u16).to_le_bytes());
        b.extend_from_slice(&((handler >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
    }
    b
}

/// Whether the TSS's bitmap lets CPL3 use `port` (for a 1-byte access).
pub fn port_open(port: u16) -> bool {
    (PIO_BASE..PIO_BASE + 12).contains(&port) || (KICK_PORT..KICK_PORT + 4).contains(&port)
}

/// The TSS and its I/O permission bitmap (a clear bit opens a port).
pub fn tss_bytes() -> Vec<u8> {
    let mut b = vec![0u8; (TSS_SIZE + IOMAP_SIZE) as usize];
    b[4..12].copy_from_slice(&KSTACK_END.to_le_bytes()); // rsp0
    b[102..104].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes()); // iomap base
    let map = &mut b[TSS_SIZE as usize..];
    map.fill(0xff);
    for port in 0..=u16::MAX {
        if port_open(port) {
            map[usize::from(port / 8)] &= !(1 << (port % 8));
        }
    }
    b
}

/// Write the GDT, IDT, TSS and stub of a guest entered at CPL3 (after the
/// page tables: the GDT replaces the boot GDT).
pub fn write(mem: &mut GuestMemory) -> Result<(), MemoryError> {
    mem.write(GDT_ADDR, &cpu::user_gdt_bytes())?;
    mem.write(IDT_ADDR, &idt_bytes())?;
    mem.write(TSS_ADDR, &tss_bytes())?;
    mem.write(STUB_ADDR, &stub_bytes())
}

/// Offsets in the frame the stub pushes (u64 slots from its start, the
/// address it writes to the port): what the tender reads, and what a
/// debugger may change before the stub's `iretq` resumes the guest.
pub mod slot {
    /// CR2.
    pub const CR2: u64 = 0;
    /// The guest's RDX (the stub uses RDX).
    pub const RDX: u64 = 1;
    /// The guest's RAX (the stub uses RAX).
    pub const RAX: u64 = 2;
    /// The vector.
    pub const VECTOR: u64 = 3;
    /// The error code.
    pub const EC: u64 = 4;
    /// The CPU's frame: RIP, CS, RFLAGS, RSP, SS.
    pub const RIP: u64 = 5;
    /// CS.
    pub const CS: u64 = 6;
    /// RFLAGS.
    pub const RFLAGS: u64 = 7;
    /// RSP.
    pub const RSP: u64 = 8;
    /// SS.
    pub const SS: u64 = 9;
}

/// What the stub reported: the vector, CR2, the guest's RAX and RDX and
/// the CPU's trap frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trap {
    /// CR2 (the faulting address of a #PF).
    pub cr2: u64,
    /// The guest's RAX at the trap.
    pub rax: u64,
    /// The guest's RDX at the trap.
    pub rdx: u64,
    /// The vector.
    pub vector: u64,
    /// The error code (0 where the CPU pushes none).
    pub ec: u64,
    /// Where the guest was.
    pub rip: u64,
    /// Its code segment.
    pub cs: u64,
    /// Its flags.
    pub rflags: u64,
    /// Its stack pointer.
    pub rsp: u64,
    /// Its stack segment.
    pub ss: u64,
}

/// The frame the stub pushed at `gpa` (the value it wrote to the port).
pub fn read_trap(mem: &GuestMemory, gpa: u64) -> Result<Trap, BadAccess> {
    let w = |i: u64| mem.read_own_u64(gpa + i * 8);
    Ok(Trap {
        cr2: w(slot::CR2)?,
        rax: w(slot::RAX)?,
        rdx: w(slot::RDX)?,
        vector: w(slot::VECTOR)?,
        ec: w(slot::EC)?,
        rip: w(slot::RIP)?,
        cs: w(slot::CS)?,
        rflags: w(slot::RFLAGS)?,
        rsp: w(slot::RSP)?,
        ss: w(slot::SS)?,
    })
}

impl Trap {
    /// The registers a core file or a debugger shows for the guest.
    pub fn frame(&self) -> crate::dumpcore::Frame {
        crate::dumpcore::Frame {
            rip: self.rip,
            cs: self.cs,
            rflags: self.rflags,
            rsp: self.rsp,
            ss: self.ss,
            rax_rdx: Some((self.rax, self.rdx)),
        }
    }
}

impl fmt::Display for Trap {
    /// Upstream's lines (`cpu_trap_handler` and its PANIC), as the SDK
    /// prints them at CPL0.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = NAMES.get(self.vector as usize).copied().unwrap_or("#??");
        writeln!(
            f,
            "Solo5: trap: type={name} ec={:#x} rip={:#x} rsp={:#x} rflags={:#x}",
            self.ec, self.rip, self.rsp, self.rflags
        )?;
        if self.vector == 14 {
            writeln!(f, "Solo5: trap: cr2={:#x}", self.cr2)?;
        }
        writeln!(f, "Solo5: ABORT: Fatal trap")
    }
}

/// A buffer on the stack (the run loop does not allocate).
struct Lines {
    buf: [u8; 512],
    len: usize,
}

impl Write for Lines {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// The trap reported at `gpa`: print its lines on standard output and
/// return it (the run loop then ends the process with status 255, after a
/// core dump if asked for). A frame outside guest memory cannot come from
/// the stub: one fatal line, status 1.
pub fn report(mem: &GuestMemory, gpa: u64) -> Trap {
    let t = match read_trap(mem, gpa) {
        Ok(t) => t,
        Err(b) => sys::fatal(format_args!(
            "Invalid trap report: gpa={:#x}, sz={}",
            b.gpa, b.len
        )),
    };
    let mut out = Lines {
        buf: [0; 512],
        len: 0,
    };
    let _ = write!(out, "{t}");
    // SAFETY: `out.buf` holds `out.len` initialised bytes. Nothing is left
    // to tell if standard output fails.
    let _ = unsafe { sys::write_all(1, out.buf.as_ptr(), out.len) };
    t
}

#[cfg(test)]
mod tests;
