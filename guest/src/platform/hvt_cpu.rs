//! The CPU on hvt: from the tender's jump to Rust code at CPL3.
//!
//! The binary carries our user-mode note (`solo5_abi::usermode`,
//! docs/hvt-user-mode.md): it can be entered at either CPL. `_start` looks
//! at the low bits of CS first:
//!
//! - **CPL3** (our solo5-hvt): the tender owns everything privileged: page
//!   tables with W^X and the stack guard of our stack note, GDT, TSS
//!   (hypercall ports), IDT and trap reporting, CR4.FSGSBASE. `_start`
//!   does nothing privileged: it notes that `wrfsbase` is there and jumps
//!   to [`crate::start::start`] on the tender's stack (the top of
//!   memory), with the spt memory layout (heap from `_end`, guard, stack
//!   at the top). A trap is reported by the tender, with the same lines.
//! - **CPL0** (upstream's solo5-hvt, which ignores the note): everything
//!   below.
//!
//! The tender leaves the vcpu in 64-bit mode at CPL0 with `rdi` = boot
//! info and the stack at `mem_size - 8` (docs/hvt.md, "CPU state at entry" and "Boot info"). On some
//! KVM hosts (kvm_pvm) code at CPL0 is emulated instruction by instruction
//! (about 1 us each) and most SSE instructions cannot be emulated at all,
//! while code at CPL3 runs natively. Rust's prebuilt `core` uses SSE (its
//! integer formatting, for one), so everything but a few hundred
//! instructions of assembly here runs at CPL3. `_start`, in assembly:
//!
//! 1. enables no-execute (EFER.NXE) if CPUID has it;
//! 2. builds the page tables right after the image (`_end`), identity
//!    mapping guest memory with W^X and the user bit:
//!
//!    | range | mapping |
//!    |---|---|
//!    | `0 .. 0x10000` | not present |
//!    | `0x10000 .. _stext` (boot info, manifest, command line) | read-only, no-execute |
//!    | text | read + execute |
//!    | rodata | read-only, no-execute |
//!    | data, bss | read-write, no-execute |
//!    | the page tables | not present |
//!    | guard, [`GUARD_SIZE`] bytes | not present |
//!    | stack, `__solo5_stack_size` bytes | read-write, no-execute |
//!    | heap, up to `mem_size` | read-write, no-execute |
//!    | the net ring, 2 MiB at `mem_size`, when offered (docs/hvt.md, "The net ring") | read-write, no-execute |
//!    | above | not present |
//!
//!    so a stack overflow faults on the guard on every tender, and the
//!    heap runs from the top of the stack to the end of memory;
//! 3. enables `wrfsbase` at CPL3 (CR4.FSGSBASE) if CPUID has it, and
//!    loads its GDT (kernel and user code and data, a TSS whose I/O
//!    permission bitmap opens the hypercall ports and the net ring's kick
//!    port and nothing else), its
//!    IDT (the 32 exception vectors, and vector 0x81: set the FS base, for
//!    CPUs without `wrfsbase`), then the page tables;
//! 4. `iretq`s to CPL3 with interrupts off, on the new stack, into
//!    [`crate::start::start`] with the boot info.
//!
//! Traps: every exception vector enters a stub that records the trap frame
//! (`TRAP_FRAME`: cr2, error code, rip, cs, rflags, rsp, ss, as upstream's
//! cookie, then the vector) and returns to CPL3 on a stack of its own,
//! where [`trap_report`] prints upstream's lines
//! (`Solo5: trap: type=#PF ec=0x2 rip=... rsp=... rflags=...`,
//! `Solo5: trap: cr2=...`) and halts with status 255 and the frame as the
//! cookie. A trap while reporting one halts at once with 255.
//!
//! The structures CPL0 uses (GDT, IDT, TSS, kernel stack) live in the
//! image's data; a unikernel is one application, so they are not hidden
//! from it: the CPL split is for speed and W^X, not isolation.

use core::arch::asm;
use core::cell::UnsafeCell;

pub use crate::image::GUARD_SIZE;
use crate::log::{self, Level};

/// Bytes of the CPL0 stack (traps and the FS-base gate).
const KSTACK_SIZE: usize = 16 << 10;
/// Bytes of the CPL3 stack the trap report runs on.
const TRAP_STACK_SIZE: usize = 32 << 10;
/// TSS size up to the I/O bitmap.
const TSS_SIZE: usize = 104;
/// I/O bitmap: 65536 ports, plus the all-ones byte the CPU reads past it.
const IOMAP_SIZE: usize = 8192 + 1;

/// What `_start` prints when the tables, guard and stack do not fit.
static NOMEM: [u8; 32] = *b"Solo5: ABORT: Not enough memory\n";

/// Selectors of our GDT.
const KERNEL_CS: u64 = 0x08;
const USER_DS: u64 = 0x18 | 3;
const USER_CS: u64 = 0x20 | 3;
const TSS_SEL: u64 = 0x28;

/// Memory that only assembly (and the trap report) touches.
#[repr(C, align(16))]
struct Cpu<T>(UnsafeCell<T>);

// SAFETY: one vcpu, interrupts off; the assembly at CPL0 and the code at
// CPL3 never run at the same time.
unsafe impl<T> Sync for Cpu<T> {}

/// The TSS (only `rsp0` and the I/O bitmap matter) followed by its bitmap.
#[repr(C, align(16))]
struct Tss {
    bytes: [u8; TSS_SIZE + IOMAP_SIZE],
}

/// The TSS with `iomap_base` = 104 and a bitmap that allows only the
/// hypercall ports and the ring's kick port; `rsp0` is filled in at boot.
const fn tss() -> Tss {
    let mut bytes = [0u8; TSS_SIZE + IOMAP_SIZE];
    bytes[102] = TSS_SIZE as u8;
    let mut i = TSS_SIZE;
    while i < TSS_SIZE + IOMAP_SIZE {
        bytes[i] = 0xff;
        i += 1;
    }
    // Ports 0x500..0x507 are the bits of byte 0xa0, 0x508.. those of
    // 0xa1 (both ports 8-aligned, asserted in solo5_abi::hvt). A 4-byte `out` needs the bits of all four ports it covers, so
    // HALT (0x508) needs 0x508..=0x50b (the tender refuses any port above
    // 0x508 itself).
    const HC: usize = solo5_abi::hvt::PIO_BASE as usize / 8;
    bytes[TSS_SIZE + HC] = 0x00;
    bytes[TSS_SIZE + HC + 1] = 0xf0;
    // The net ring's kick (`outl` to 0x600..=0x603, bits 0-3 of byte
    // 0xc0); written only when the tender offers the ring.
    const KICK: usize = solo5_abi::hvt::RING_KICK_PORT as usize / 8;
    bytes[TSS_SIZE + KICK] = 0xf0;
    Tss { bytes }
}

/// null, kernel code64, kernel data, user data, user code64, TSS (two
/// slots, filled in at boot).
static GDT: Cpu<[u64; 7]> = Cpu(UnsafeCell::new([
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0,
    0,
]));
static TSS: Cpu<Tss> = Cpu(UnsafeCell::new(tss()));
static IDT: Cpu<[u64; 512]> = Cpu(UnsafeCell::new([0; 512]));
static KSTACK: Cpu<[u8; KSTACK_SIZE]> = Cpu(UnsafeCell::new([0; KSTACK_SIZE]));
static TRAP_STACK: Cpu<[u8; TRAP_STACK_SIZE]> = Cpu(UnsafeCell::new([0; TRAP_STACK_SIZE]));
/// cr2, ec, rip, cs, rflags, rsp, ss (upstream's cookie), vector.
static TRAP_FRAME: Cpu<[u64; 8]> = Cpu(UnsafeCell::new([0; 8]));
/// Non-zero once a trap is being reported.
static IN_TRAP: Cpu<u64> = Cpu(UnsafeCell::new(0));
/// Non-zero when `_start` enabled `wrfsbase` (CR4.FSGSBASE).
static FSGSBASE: Cpu<u64> = Cpu(UnsafeCell::new(0));
/// The CPL `_start` was entered at (0 or 3).
static ENTRY_CPL: Cpu<u64> = Cpu(UnsafeCell::new(0));
/// Where the page tables start, where the stack starts (above the guard)
/// and where it ends (= the heap's start): written by `_start`.
static LAYOUT: Cpu<[u64; 3]> = Cpu(UnsafeCell::new([0; 3]));

// _start: CPL0, rdi = boot info. Registers:
//   r15 boot info, r14 mem_size, r13 NX bit (or 0), r12 tables (PML4),
//   r11 page directories (count), r10 page tables (count), r9 tables end
//   (then the end of what is mapped), r8 stack bottom (guard end), rbp
//   stack top (heap start), rbx the end of what is mapped (until r9).
// The entry needs the SDK's startup, which host-side unit tests do not
// build.
#[cfg(not(test))]
core::arch::global_asm!(
    ".pushsection .text.solo5_hvt_start,\"ax\",@progbits",
    ".globl _start",
    ".type _start,@function",
    "_start:",
    // Entered at CPL3: the tender did everything privileged.
    "mov ax, cs",
    "test al, 3",
    "jnz 60f",
    "mov r15, rdi",
    "mov r14, qword ptr [rdi]",
    // No-execute, if the CPU has it.
    "xor r13d, r13d",
    "mov eax, 0x80000001",
    "cpuid",
    "bt edx, 20",
    "jnc 2f",
    "mov ecx, 0xc0000080",
    "rdmsr",
    "or eax, 0x800",
    "wrmsr",
    "mov r13, 0x8000000000000000",
    "2:",
    // wrfsbase at CPL3, if the CPU has it (CPUID 7.0:EBX bit 0).
    "mov eax, 7",
    "xor ecx, ecx",
    "cpuid",
    "bt ebx, 0",
    "jnc 2f",
    "mov rax, cr4",
    "bts rax, 16",
    "mov cr4, rax",
    "lea rax, [rip + {fsgsbase}]",
    "mov qword ptr [rax], 1",
    "2:",
    // Mapped: up to mem_size, and the 2 MiB of the net ring above it when
    // the boot info offers the ring there (host_features bit 0, net_ring
    // == mem_size: docs/hvt.md, "The net ring").
    "mov rbx, r14",
    "test dword ptr [r15 + 40], 1",
    "jz 2f",
    "cmp qword ptr [r15 + 48], r14",
    "jne 2f",
    "add rbx, 0x200000",
    "2:",
    // Layout: tables at _end: PML4, PDPT, r11 directories, r10 tables.
    "lea r12, [rip + _end]",
    "add r12, 0xfff",
    "and r12, -0x1000",
    "mov r11, rbx",
    "add r11, 0x3fffffff",
    "shr r11, 30",
    // Tables cover [0, r10 * 2 MiB): an upper bound of the stack top with
    // at most 4 directories and 8 tables.
    "lea rax, [r12 + 14 * 0x1000 + {guard}]",
    "mov rcx, offset __solo5_stack_size",
    "add rax, rcx",
    "add rax, 0x1fffff",
    "shr rax, 21",
    "mov r10, rax",
    "lea r9, [r11 + r10 + 2]",
    "shl r9, 12",
    "add r9, r12",
    "lea r8, [r9 + {guard}]",
    "mov r9, rbx",
    "lea rbp, [r8 + rcx]",
    // The stack must end inside memory and inside the tables' reach.
    "cmp rbp, r14",
    "ja 90f",
    "mov rax, r10",
    "shl rax, 21",
    "cmp rbp, rax",
    "ja 90f",
    // PML4[0] -> PDPT.
    "lea rax, [r12 + 0x1007]",
    "mov qword ptr [r12], rax",
    // PDPT[j] -> directory j.
    "xor ecx, ecx",
    "3:",
    "mov rax, rcx",
    "add rax, 2",
    "shl rax, 12",
    "add rax, r12",
    "or rax, 7",
    "mov qword ptr [r12 + 0x1000 + rcx * 8], rax",
    "inc rcx",
    "cmp rcx, r11",
    "jb 3b",
    // Directory entries k < r9 / 2 MiB: a table for k < r10, else a
    // 2 MiB page, read-write, no-execute.
    "lea rsi, [r11 + 2]",
    "shl rsi, 12",
    "add rsi, r12",
    "mov rdx, r9",
    "shr rdx, 21",
    "xor ecx, ecx",
    "4:",
    "cmp rcx, r10",
    "jae 5f",
    "mov rax, rcx",
    "shl rax, 12",
    "add rax, rsi",
    "or rax, 7",
    "jmp 6f",
    "5:",
    "mov rax, rcx",
    "shl rax, 21",
    "or rax, 0x87",
    "or rax, r13",
    "6:",
    "mov qword ptr [r12 + 0x2000 + rcx * 8], rax",
    "inc rcx",
    "cmp rcx, rdx",
    "jb 4b",
    // Page table entries for [0, r10 * 2 MiB), rsi = first table,
    // rbx = address.
    "lea rdi, [rip + _etext]",
    "lea rdx, [rip + _erodata]",
    "lea rax, [rip + _end]",
    "push rax",
    "xor ebx, ebx",
    "7:",
    "xor eax, eax",
    "cmp rbx, r9",
    "jae 8f",
    "cmp rbx, {boot_info}",
    "jb 8f",
    "mov rax, rbx",
    "or rax, 5",
    "lea rcx, [rip + _stext]",
    "cmp rbx, rcx",
    "jb 20f",
    "cmp rbx, rdi",
    "jb 8f",
    "cmp rbx, rdx",
    "jb 20f",
    "or rax, 2",
    "cmp rbx, qword ptr [rsp]",
    "jb 20f",
    "xor eax, eax",
    "cmp rbx, r8",
    "jb 8f",
    "mov rax, rbx",
    "or rax, 7",
    "20:",
    "or rax, r13",
    "8:",
    "mov rcx, rbx",
    "shr rcx, 12",
    "mov qword ptr [rsi + rcx * 8], rax",
    "add rbx, 0x1000",
    "mov rax, r10",
    "shl rax, 21",
    "cmp rbx, rax",
    "jb 7b",
    "pop rax",
    // TSS: rsp0, and its descriptor in GDT slots 5 and 6 (type 9,
    // present, limit = TSS + bitmap - 1).
    "lea rax, [rip + {kstack} + {kstack_size}]",
    "lea rdi, [rip + {tss}]",
    "mov qword ptr [rdi + 4], rax",
    "lea rsi, [rip + {gdt}]",
    "mov rax, rdi",
    "and rax, 0xffffff",
    "shl rax, 16",
    "or rax, {tss_limit}",
    "mov rcx, 0x890000000000",
    "or rax, rcx",
    "mov rcx, rdi",
    "shr rcx, 24",
    "and rcx, 0xff",
    "shl rcx, 56",
    "or rax, rcx",
    "mov qword ptr [rsi + 40], rax",
    "mov rax, rdi",
    "shr rax, 32",
    "mov qword ptr [rsi + 48], rax",
    // IDT: vectors 0..31 -> the stubs (interrupt gates, DPL 0), 0x81 ->
    // the FS base gate (DPL 3).
    "lea rdi, [rip + {idt}]",
    "lea rsi, [rip + solo5_hvt_trap_stubs]",
    "xor ecx, ecx",
    "9:",
    "mov rax, rcx",
    "shl rax, 4",
    "add rax, rsi",
    "mov edx, 0x8e00",
    "call 30f",
    "inc rcx",
    "cmp rcx, 32",
    "jb 9b",
    "mov ecx, 0x81",
    "lea rax, [rip + solo5_hvt_fs_gate]",
    "mov edx, 0xee00",
    "call 30f",
    // Load GDT, IDT and TSS (the descriptor tables are 10-byte operands
    // on the stack), user data selectors, then the page tables.
    "sub rsp, 16",
    "mov word ptr [rsp], 55",
    "lea rax, [rip + {gdt}]",
    "mov qword ptr [rsp + 2], rax",
    "lgdt [rsp]",
    "mov word ptr [rsp], 4095",
    "lea rax, [rip + {idt}]",
    "mov qword ptr [rsp + 2], rax",
    "lidt [rsp]",
    "add rsp, 16",
    "mov ax, {tss_sel}",
    "ltr ax",
    "mov ax, {user_ds}",
    "mov ds, ax",
    "mov es, ax",
    "mov fs, ax",
    "mov gs, ax",
    "lea rax, [rip + {layout}]",
    "mov qword ptr [rax], r12",
    "mov qword ptr [rax + 8], r8",
    "mov qword ptr [rax + 16], rbp",
    "mov cr3, r12",
    // To CPL3: the stack as after a call, interrupts off.
    "lea rsp, [rip + {kstack} + {kstack_size}]",
    "push {user_ds}",
    "lea rax, [rbp - 8]",
    "push rax",
    "push 2",
    "push {user_cs}",
    "lea rax, [rip + {entry}]",
    "push rax",
    "mov rdi, r15",
    "xor ebp, ebp",
    "iretq",
    // CPL3 entry: rdi = boot info, rsp = the tender's stack (as after a
    // call). wrfsbase is enabled (docs/hvt-user-mode.md).
    "60:",
    "lea rax, [rip + {fsgsbase}]",
    "mov qword ptr [rax], 1",
    "lea rax, [rip + {entry_cpl}]",
    "mov qword ptr [rax], 3",
    "xor ebp, ebp",
    "jmp {entry}",
    // IDT entry rcx <- handler rax, type/attributes in dx.
    "30:",
    "push rcx",
    "shl rcx, 4",
    "add rcx, rdi",
    "mov word ptr [rcx], ax",
    "mov word ptr [rcx + 2], {kernel_cs}",
    "mov word ptr [rcx + 4], dx",
    "shr rax, 16",
    "mov word ptr [rcx + 6], ax",
    "shr rax, 16",
    "mov dword ptr [rcx + 8], eax",
    "mov dword ptr [rcx + 12], 0",
    "pop rcx",
    "ret",
    // Not enough memory for the tables, guard and stack: say so and halt
    // with 255 (PUTS and HALT structs on the tender's stack).
    "90:",
    "lea rax, [rip + {nomem}]",
    "push {nomem_len}",
    "push rax",
    "mov eax, esp",
    "mov dx, {puts_port}",
    "out dx, eax",
    "push 255",
    "push 0",
    "mov eax, esp",
    "mov dx, {halt_port}",
    "out dx, eax",
    "jmp 90b",
    ".size _start, . - _start",
    // Exception stubs, 16 bytes apart: push a zero error code where the
    // CPU pushes none, then the vector.
    ".balign 16",
    "solo5_hvt_trap_stubs:",
    ".irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".balign 16",
    ".if (\\v == 8) || ((\\v >= 10) && (\\v <= 14)) || (\\v == 17) || (\\v == 21) || (\\v == 29) || (\\v == 30)",
    ".else",
    "push 0",
    ".endif",
    "push \\v",
    "jmp solo5_hvt_trap_common",
    ".endr",
    // Common trap path, CPL0: record the frame, then report at CPL3.
    "solo5_hvt_trap_common:",
    "lea rdi, [rip + {in_trap}]",
    "cmp qword ptr [rdi], 0",
    "jne 40f",
    "mov qword ptr [rdi], 1",
    "lea rdi, [rip + {frame}]",
    "mov rax, cr2",
    "mov qword ptr [rdi], rax",
    "mov rax, qword ptr [rsp + 8]",
    "mov qword ptr [rdi + 8], rax",
    "mov rax, qword ptr [rsp + 16]",
    "mov qword ptr [rdi + 16], rax",
    "mov rax, qword ptr [rsp + 24]",
    "mov qword ptr [rdi + 24], rax",
    "mov rax, qword ptr [rsp + 32]",
    "mov qword ptr [rdi + 32], rax",
    "mov rax, qword ptr [rsp + 40]",
    "mov qword ptr [rdi + 40], rax",
    "mov rax, qword ptr [rsp + 48]",
    "mov qword ptr [rdi + 48], rax",
    "mov rax, qword ptr [rsp]",
    "mov qword ptr [rdi + 56], rax",
    "push {user_ds}",
    "lea rax, [rip + {trap_stack} + {trap_stack_size} - 8]",
    "push rax",
    "push 2",
    "push {user_cs}",
    "lea rax, [rip + {report}]",
    "push rax",
    "iretq",
    "40:",
    "push 255",
    "push 0",
    "mov eax, esp",
    "mov dx, {halt_port}",
    "out dx, eax",
    "jmp 40b",
    // int 0x81 from CPL3: FS base <- rdi.
    "solo5_hvt_fs_gate:",
    "push rax",
    "push rcx",
    "push rdx",
    "mov ecx, 0xc0000100",
    "mov eax, edi",
    "mov rdx, rdi",
    "shr rdx, 32",
    "wrmsr",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "iretq",
    ".popsection",
    guard = const GUARD_SIZE,
    puts_port = const solo5_abi::hvt::PIO_BASE + solo5_abi::hvt::HC_PUTS,
    boot_info = const solo5_abi::hvt::BOOT_INFO_ADDR,
    halt_port = const solo5_abi::hvt::PIO_BASE + solo5_abi::hvt::HC_HALT,
    kstack = sym KSTACK,
    kstack_size = const KSTACK_SIZE,
    trap_stack = sym TRAP_STACK,
    trap_stack_size = const TRAP_STACK_SIZE,
    tss = sym TSS,
    tss_limit = const TSS_SIZE + IOMAP_SIZE - 1,
    gdt = sym GDT,
    idt = sym IDT,
    frame = sym TRAP_FRAME,
    in_trap = sym IN_TRAP,
    layout = sym LAYOUT,
    fsgsbase = sym FSGSBASE,
    entry_cpl = sym ENTRY_CPL,
    kernel_cs = const KERNEL_CS,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    tss_sel = const TSS_SEL,
    entry = sym user_entry,
    report = sym trap_report,
    nomem = sym NOMEM,
    nomem_len = const NOMEM.len(),
);

/// CPL3 entry from `_start`: the SDK's startup.
#[cfg(not(test))]
extern "C" fn user_entry(boot_info: *const core::ffi::c_void) -> ! {
    // SAFETY: boot_info is the tender's rdi, passed through unchanged.
    unsafe { crate::start::start(boot_info) }
}

/// Whether `_start` was entered at CPL3, on the tender's page tables,
/// descriptor tables and trap reporting.
pub(crate) fn entered_at_cpl3() -> bool {
    // SAFETY: written once by _start before any Rust code runs.
    unsafe { *ENTRY_CPL.0.get() == 3 }
}

/// The page tables' start, the stack's bottom (above the guard) and top.
fn layout() -> [u64; 3] {
    // SAFETY: written once by _start before any Rust code runs.
    unsafe { *LAYOUT.0.get() }
}

/// First byte of the heap: the top of the stack.
pub(crate) fn heap_start() -> u64 {
    layout()[2]
}

/// The guard range and the stack, for the memory map:
/// `(guard_start, stack_start, stack_end)`.
pub(crate) fn stack_range() -> (u64, u64, u64) {
    let [_, bottom, top] = layout();
    (bottom - GUARD_SIZE, bottom, top)
}

/// Sets the FS base: `wrfsbase` where `_start` enabled it, else through
/// the CPL0 gate.
pub(crate) fn set_fs_base(base: u64) {
    // SAFETY: written once by _start before any Rust code runs.
    if unsafe { *FSGSBASE.0.get() } != 0 {
        // SAFETY: CR4.FSGSBASE is set, so wrfsbase is allowed at CPL3; the
        // caller checked that base is canonical. It touches no memory.
        unsafe { asm!("wrfsbase {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
    } else {
        // SAFETY: vector 0x81 is the FS-base gate _start installed (DPL
        // 3); it writes IA32_FS_BASE from rdi and preserves every
        // register. The caller checked that base is canonical.
        unsafe { asm!("int 0x81", in("rdi") base, options(nostack, preserves_flags)) };
    }
}

/// Mnemonic of exception `vector`.
fn trap_name(vector: u64) -> &'static str {
    const NAMES: [&str; 22] = [
        "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS", "#NP", "#SS",
        "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("#??")
}

/// CPL3, on the trap stack: upstream's trap lines, then HALT with status
/// 255 and the frame as the cookie.
extern "C" fn trap_report() -> ! {
    // SAFETY: the trap stub wrote the frame before switching here; the
    // IN_TRAP flag keeps it from being written again.
    let f = unsafe { *TRAP_FRAME.0.get() };
    let [cr2, ec, rip, _cs, rflags, rsp, _ss, vector] = f;
    log::log(
        Level::Error,
        format_args!(
            "Solo5: trap: type={} ec={ec:#x} rip={rip:#x} rsp={rsp:#x} rflags={rflags:#x}\n",
            trap_name(vector)
        ),
    );
    if vector == 14 {
        log::log(Level::Error, format_args!("Solo5: trap: cr2={cr2:#x}\n"));
    }
    log::log(Level::Error, format_args!("Solo5: ABORT: Fatal trap\n"));
    super::hvt_call::halt(crate::EXIT_ABORT, TRAP_FRAME.0.get() as u64)
}
