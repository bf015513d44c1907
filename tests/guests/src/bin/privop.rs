//! privop OP: try one privileged operation, or an access to what the
//! tender owns, named on the command line. On hvt the guest runs at CPL3,
//! so each must end in a trap (`Solo5: trap: ...`, status 255); if the
//! operation returns, the guest says FAILURE and exits 1
//! (tests/tests/hvt_user_mode.rs).
//!
//! | OP | what | expected |
//! |---|---|---|
//! | lgdt, lidt, ltr | load a descriptor table / task register | #GP |
//! | sgdt | store the GDTR (UMIP) | #GP where CR4.UMIP is set |
//! | mov-cr3, read-cr0 | control registers | #GP |
//! | wrmsr, rdmsr | IA32_FS_BASE | #GP |
//! | hlt, cli, sti | | #GP |
//! | out, in | port 0x80 / 0x60 | #GP |
//! | out-trap | `outl` to the tender's trap port 0x5f0 | #GP |
//! | read-gdt, write-gdt | address 0x1000 | #PF |
//! | read-pt, write-pt | address 0x2000 (page tables) | #PF |
//! | read-idt, write-stub | the tender's IDT (0xf0000), stub (0xf4000) | #PF on our tender |
//! | write-text | this function's code | #PF |
//! | exec-data | jump into writable data | #PF |
//! | ud2, int3, int1, div0 | | #UD, #BP, #DB, #DE |
#![no_std]
#![no_main]

use core::arch::asm;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, failure};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Writable data that `exec-data` jumps into (a `ret`).
static mut DATA: [u8; 16] = [0xc3; 16];

fn read(addr: u64) -> u64 {
    let v: u64;
    // SAFETY: deliberately faults (see the table above); reads 8 bytes and
    // nothing the compiler relies on.
    unsafe { asm!("mov {}, qword ptr [{}]", out(reg) v, in(reg) addr, options(nostack, readonly)) };
    v
}

fn write(addr: u64) {
    // SAFETY: deliberately faults (see the table above).
    unsafe { asm!("mov qword ptr [{}], {}", in(reg) addr, in(reg) 0u64, options(nostack)) };
}

/// Runs `op`; returns only if the CPU let it pass.
fn try_op(op: &str) -> bool {
    let mut table = [0u8; 16];
    let t = table.as_mut_ptr();
    // SAFETY: each arm is a privileged or forbidden operation that must
    // trap at CPL3; the operands are live stack buffers or fixed guest
    // addresses, and nothing the compiler relies on is changed.
    unsafe {
        match op {
            "lgdt" => asm!("lgdt [{}]", in(reg) t, options(nostack)),
            "lidt" => asm!("lidt [{}]", in(reg) t, options(nostack)),
            "ltr" => asm!("ltr {0:x}", in(reg) 0x28u64, options(nostack)),
            "sgdt" => asm!("sgdt [{}]", in(reg) t, options(nostack)),
            "mov-cr3" => asm!("mov cr3, {}", in(reg) 0x2000u64, options(nostack)),
            "read-cr0" => asm!("mov {}, cr0", out(reg) _, options(nostack)),
            "wrmsr" => asm!("wrmsr", in("ecx") 0xc000_0100u32, in("eax") 0, in("edx") 0,
                            options(nostack)),
            "rdmsr" => asm!("rdmsr", in("ecx") 0xc000_0100u32, out("eax") _, out("edx") _,
                            options(nostack)),
            "hlt" => asm!("hlt", options(nostack)),
            "cli" => asm!("cli", options(nostack)),
            "sti" => asm!("sti", options(nostack)),
            "out" => asm!("out 0x80, al", in("al") 0u8, options(nostack)),
            "in" => asm!("in al, 0x60", out("al") _, options(nostack)),
            "out-trap" => asm!("out dx, eax", in("dx") 0x5f0u16, in("eax") 0x10000u32,
                               options(nostack)),
            "read-gdt" => {
                read(0x1000);
            }
            "write-gdt" => write(0x1000),
            "read-pt" => {
                read(0x2000);
            }
            "write-pt" => write(0x2000),
            "read-idt" => {
                read(0xf0000);
            }
            "write-stub" => write(0xf4000),
            "write-text" => write(try_op as *const () as u64),
            "exec-data" => {
                let f: extern "C" fn() = core::mem::transmute(&raw mut DATA as *mut u8);
                f()
            }
            "ud2" => asm!("ud2", options(nostack)),
            "int3" => asm!("int3", options(nostack)),
            "int1" => asm!(".byte 0xf1", options(nostack)),
            "div0" => asm!("div ecx", in("ecx") 0u32, inout("eax") 1u32 => _,
                           inout("edx") 0u32 => _, options(nostack)),
            _ => return false,
        }
    }
    true
}

fn app(start: &StartInfo) -> i32 {
    banner("privop");
    let op = start.cmdline().trim();
    solo5_guest::println!("privop: {op}");
    if try_op(op) {
        failure(format_args!("{op} did not trap"))
    } else {
        failure(format_args!("unknown operation '{op}'"))
    }
}
