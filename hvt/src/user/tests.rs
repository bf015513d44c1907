//! The tender's user-mode structures, decoded; then real guests at CPL3
//! under KVM: every exception vector delivered through the IDT to the stub
//! and reported, and every privileged operation a guest might try ending
//! in a trap report.

use super::*;
use crate::cpu;
use crate::layout::user::{KSTACK_ADDR, TSS_END};
use crate::paging::{self, Mode};
use crate::vm::Vm;
use kvm_bindings::kvm_vcpu_events;
use kvm_ioctls::VcpuExit;
use solo5_tender::elf::{Segment, PF_R, PF_W, PF_X};

#[test]
fn stub_pushes_the_vector_and_a_zero_error_code_where_the_cpu_does_not() {
    let b = stub_bytes();
    for v in 0..IDT_ENTRIES {
        let s = &b[(v * STUB_SLOT) as usize..][..STUB_SLOT as usize];
        let rest = if has_error_code(v) {
            s
        } else {
            assert_eq!(&s[..2], &[0x6a, 0], "vector {v}: push 0");
            &s[2..]
        };
        assert_eq!(&rest[..2], &[0x6a, v as u8], "vector {v}: push v");
        assert_eq!(rest[2], 0xe9, "vector {v}: jmp");
        let rel = i32::from_le_bytes(rest[3..7].try_into().unwrap());
        let next = v * STUB_SLOT + (s.len() - rest.len()) as u64 + 7;
        assert_eq!(next as i64 + i64::from(rel), COMMON as i64, "vector {v}");
    }
    let common = &b[COMMON as usize..];
    let port = TRAP_PORT.to_le_bytes();
    assert_eq!(
        common,
        &[
            0x50, 0x52, 0x0f, 0x20, 0xd0, 0x50, 0x89, 0xe0, 0x66, 0xba, port[0], port[1], 0xef,
            0x48, 0x83, 0xc4, 0x08, 0x5a, 0x58, 0x48, 0x83, 0xc4, 0x10, 0x48, 0xcf
        ]
    );
    assert!(b.len() as u64 <= 0x1000);
    // 8 error-code vectors: the CPU's list.
    let with: Vec<u64> = (0..32).filter(|&v| has_error_code(v)).collect();
    assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
}

#[test]
fn idt_gates_point_at_the_stub_at_cpl0() {
    let b = idt_bytes();
    assert_eq!(b.len(), 32 * 16);
    for (v, g) in b.chunks_exact(16).enumerate() {
        let lo = u16::from_le_bytes([g[0], g[1]]) as u64;
        let mid = u16::from_le_bytes([g[6], g[7]]) as u64;
        let hi = u32::from_le_bytes(g[8..12].try_into().unwrap()) as u64;
        assert_eq!(lo | mid << 16 | hi << 32, STUB_ADDR + v as u64 * STUB_SLOT);
        assert_eq!(u16::from_le_bytes([g[2], g[3]]), 0x08, "kernel code");
        assert_eq!(g[4], 0, "no IST");
        let dpl = if v == 3 { 3 } else { 0 };
        assert_eq!(g[5], 0x8e | dpl << 5, "vector {v}");
    }
}

#[test]
fn tss_opens_the_hypercall_and_kick_ports_only() {
    let b = tss_bytes();
    assert_eq!(b.len(), 104 + 8193);
    assert_eq!(u64::from_le_bytes(b[4..12].try_into().unwrap()), KSTACK_END);
    assert_eq!(u16::from_le_bytes([b[102], b[103]]), 104);
    assert_eq!(*b.last().unwrap(), 0xff, "trailing byte");
    let open: Vec<u16> = (0..=u16::MAX)
        .filter(|&p| b[104 + usize::from(p / 8)] & (1 << (p % 8)) == 0)
        .collect();
    let want: Vec<u16> = (0x500..0x50c).chain(0x600..0x604).collect();
    assert_eq!(open, want);
    assert!(!port_open(TRAP_PORT));
    assert!(TSS_ADDR + b.len() as u64 <= TSS_END);
}

#[test]
fn trap_lines_are_upstreams() {
    let t = Trap {
        cr2: 0x4_0000_0000,
        vector: 14,
        ec: 6,
        rip: 0x100abc,
        cs: 0x23,
        rflags: 0x10246,
        rsp: 0x1fff80,
        ss: 0x1b,
        ..Trap::default()
    };
    assert_eq!(
        t.to_string(),
        "Solo5: trap: type=#PF ec=0x6 rip=0x100abc rsp=0x1fff80 rflags=0x10246\n\
         Solo5: trap: cr2=0x400000000\n\
         Solo5: ABORT: Fatal trap\n"
    );
    let ud = Trap { vector: 6, ..t };
    assert_eq!(
        ud.to_string(),
        "Solo5: trap: type=#UD ec=0x6 rip=0x100abc rsp=0x1fff80 rflags=0x10246\n\
         Solo5: ABORT: Fatal trap\n"
    );
    assert_eq!(NAMES[21], "#21");
    assert_eq!(NAMES[31], "#31");
}

/// Guest memory of the test guests: 2 MiB.
const MEM: u64 = 2 << 20;
/// Their code: one page of text, then a page of data.
const TEXT: u64 = 0x100000;
const DATA: u64 = 0x101000;

fn kvm() -> bool {
    let ok = std::path::Path::new("/dev/kvm").exists();
    if !ok {
        assert!(
            !crate::vm::tests::strict(),
            "/dev/kvm is absent (SOLO5_TEST_STRICT)"
        );
        eprintln!("SKIP: /dev/kvm is absent");
    }
    ok
}

/// A guest at CPL3 on the tender's user-mode set-up, with `code` at the
/// start of its text; the rest of the text is `int3`.
fn guest(code: &[u8]) -> (Vm, GuestMemory) {
    let segs = [
        Segment {
            vaddr: TEXT,
            offset: 0,
            filesz: 0x1000,
            memsz: 0x1000,
            flags: PF_R | PF_X,
            start: TEXT,
            end: DATA,
        },
        Segment {
            vaddr: DATA,
            offset: 0,
            filesz: 0x1000,
            memsz: 0x1000,
            flags: PF_R | PF_W,
            start: DATA,
            end: DATA + 0x1000,
        },
    ];
    let pages = paging::build_for(&segs, MEM, Mode::User { guard: None }).unwrap();
    let vm = Vm::create().expect("KVM");
    let mut mem = GuestMemory::new(MEM).unwrap();
    vm.set_memory(&mem).unwrap();
    let mut text = vec![0xcc; 0x1000];
    text[..code.len()].copy_from_slice(code);
    mem.write(TEXT, &text).unwrap();
    crate::boot::write_tables(&mut mem, &pages).unwrap();
    write(&mut mem).unwrap();
    let cr4 = cpu::setup_user(&vm, TEXT, MEM).unwrap();
    assert_eq!(cr4, Some(cpu::USER_CR4), "KVM took SMEP, SMAP and UMIP");
    (vm, mem)
}

/// How a guest's run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The stub reported this trap.
    Trap(Trap),
    /// An `out` to another port.
    Out(u16),
    /// Anything else, as text.
    Other(String),
}

fn run(vm: &mut Vm, mem: &GuestMemory) -> End {
    match vm.vcpu.run() {
        Ok(VcpuExit::IoOut(port, data)) if port == TRAP_PORT && data.len() == 4 => {
            let gpa = u32::from_le_bytes(data.try_into().unwrap());
            End::Trap(read_trap(mem, u64::from(gpa)).expect("frame in memory"))
        }
        Ok(VcpuExit::IoOut(port, _)) => End::Out(port),
        Ok(other) => End::Other(format!("{other:?}")),
        Err(e) => End::Other(format!("error {e}")),
    }
}

/// Run `code` at CPL3; the trap it must end in.
fn trap_of(code: &[u8]) -> Trap {
    let (mut vm, mem) = guest(code);
    match run(&mut vm, &mem) {
        End::Trap(t) => {
            assert_eq!((t.cs, t.ss), (0x23, 0x1b), "came from CPL3: {t:?}");
            t
        }
        other => panic!("{code:02x?}: {other:?}"),
    }
}

#[test]
fn a_guest_at_cpl3_makes_hypercalls_and_reads_the_tsc() {
    if !kvm() {
        return;
    }
    // rdtsc; wrfsbase rax; mov eax, 0x1234; mov dx, 0x508; out dx, eax;
    // the CPL in the low bits of cs goes out on 0x501.
    let code = [
        0x0f, 0x31, // rdtsc
        0xf3, 0x48, 0x0f, 0xae, 0xd0, // wrfsbase rax
        0x8c, 0xc8, // mov eax, cs
        0x66, 0xba, 0x01, 0x05, // mov dx, 0x501
        0xef, // out dx, eax
        0x66, 0xba, 0x08, 0x05, // mov dx, 0x508
        0xef, // out dx, eax
    ];
    let (mut vm, mem) = guest(&code);
    match vm.vcpu.run() {
        Ok(VcpuExit::IoOut(0x501, data)) => {
            assert_eq!(u32::from_le_bytes(data.try_into().unwrap()) & 3, 3, "CPL3");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run(&mut vm, &mem), End::Out(0x508));
}

#[test]
fn every_vector_reaches_the_stub_and_is_reported() {
    if !kvm() {
        return;
    }
    // The CPU delivers each vector from CPL3 (KVM injects it as an
    // exception while the guest spins on `jmp $`).
    for v in 0..32u8 {
        let (mut vm, mem) = guest(&[0xeb, 0xfe]);
        let mut ev = kvm_vcpu_events::default();
        // KVM takes an NMI as such, not as exception 2.
        if v == 2 {
            ev.nmi.injected = 1;
        } else {
            ev.exception.injected = 1;
            ev.exception.nr = v;
        }
        let ec = if has_error_code(u64::from(v)) {
            0x18 + u32::from(v)
        } else {
            0
        };
        ev.exception.has_error_code = u8::from(has_error_code(u64::from(v)));
        ev.exception.error_code = ec;
        vm.vcpu
            .set_vcpu_events(&ev)
            .unwrap_or_else(|e| panic!("inject {v}: {e}"));
        match run(&mut vm, &mem) {
            End::Trap(t) => {
                assert_eq!(t.vector, u64::from(v), "{t:?}");
                assert_eq!(t.ec, u64::from(ec), "vector {v}");
                assert_eq!((t.rip, t.cs, t.ss), (TEXT, 0x23, 0x1b), "vector {v}");
                assert_eq!(t.rsp, MEM - 8, "vector {v}");
            }
            other => panic!("vector {v}: {other:?}"),
        }
    }
}

#[test]
fn exceptions_of_a_cpl3_guest_are_reported() {
    if !kvm() {
        return;
    }
    // (code, vector, error code, rip - TEXT, cr2 where it is a #PF)
    let cases: &[(&[u8], u64, u64, u64, u64)] = &[
        (&[0x31, 0xc9, 0xf7, 0xf1], 0, 0, 2, 0), // xor ecx, ecx; div ecx
        (&[0xf1], 1, 0, 1, 0),                   // int1 (icebp): a trap
        (&[0xcc], 3, 0, 1, 0),                   // int3: a trap
        (&[0x0f, 0x0b], 6, 0, 0, 0),             // ud2
        // mov rsp, 1 << 63; push rax: a non-canonical stack
        (&[0x48, 0xbc, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x50], 12, 0, 10, 0),
        // mov rax, [0x400000000]: beyond memory
        (
            &[0x48, 0xa1, 0, 0, 0, 0, 4, 0, 0, 0],
            14,
            0x4,
            0,
            0x4_0000_0000,
        ),
    ];
    for &(code, vector, ec, rip, cr2) in cases {
        let t = trap_of(code);
        assert_eq!(
            (t.vector, t.ec, t.rip),
            (vector, ec, TEXT + rip),
            "{code:02x?}: {t:?}"
        );
        if vector == 14 {
            assert_eq!(t.cr2, cr2);
        }
    }
    // `int N` to a DPL 0 gate or beyond the IDT: #GP with the vector in
    // the error code on hardware; kvm_pvm raises #UD for any `int N` at
    // CPL3 instead. Either way a trap report, never the gate's handler.
    for n in [14u8, 0x80] {
        let t = trap_of(&[0xcd, n]);
        let gp = (13, u64::from(n) * 8 + 2);
        assert!(
            (t.vector, t.ec) == gp || (t.vector, t.ec) == (6, 0),
            "int {n:#x}: {t:?}"
        );
        assert_eq!(t.rip, TEXT);
    }
}

/// `mov rax, [addr]` (read) or `mov [addr], rax` (write), addr < 2 GiB.
fn access(addr: u32, write: bool) -> Vec<u8> {
    let mut c = vec![0x48, if write { 0x89 } else { 0x8b }, 0x04, 0x25];
    c.extend_from_slice(&addr.to_le_bytes());
    c
}

#[test]
fn privileged_operations_and_tender_pages_trap() {
    if !kvm() {
        return;
    }
    // (what, code, rip - TEXT)
    let gp: &[(&str, &[u8], u64)] = &[
        ("hlt", &[0xf4], 0),
        ("cli", &[0xfa], 0),
        ("sti", &[0xfb], 0),
        ("mov cr3, rax", &[0x0f, 0x22, 0xd8], 0),
        ("mov rax, cr0", &[0x0f, 0x20, 0xc0], 0),
        ("lgdt [rax]", &[0x0f, 0x01, 0x10], 0),
        ("lidt [rax]", &[0x0f, 0x01, 0x18], 0),
        ("sgdt [rsp-16] (UMIP)", &[0x0f, 0x01, 0x44, 0x24, 0xf0], 0),
        ("ltr ax", &[0x0f, 0x00, 0xd8], 0),
        ("wrmsr", &[0x0f, 0x30], 0),
        ("rdmsr", &[0x0f, 0x32], 0),
        ("out 0x80, al", &[0xe6, 0x80], 0),
        ("in al, 0x60", &[0xe4, 0x60], 0),
        // mov dx, TRAP_PORT; out dx, eax: the stub's port is closed.
        ("out to the trap port", &[0x66, 0xba, 0xf0, 0x05, 0xef], 4),
        ("out to 0x50c", &[0x66, 0xba, 0x0c, 0x05, 0xee], 4),
        ("invlpg [rax]", &[0x0f, 0x01, 0x38], 0),
        ("wbinvd", &[0x0f, 0x09], 0),
    ];
    for &(what, code, rip) in gp {
        let t = trap_of(code);
        assert_eq!(
            (t.vector, t.ec, t.rip),
            (13, 0, TEXT + rip),
            "{what}: {t:?}"
        );
    }
    // Page faults: (what, address, write, error code). 0x4: user, 0x1:
    // present, 0x2: write.
    let pf: &[(&str, u32, bool, u64)] = &[
        ("read the GDT", 0x1000, false, 0x5),
        ("write the GDT", 0x1000, true, 0x7),
        ("read the page tables", 0x2000, false, 0x4),
        ("write the page tables", 0x3000, true, 0x6),
        ("read the IDT", IDT_ADDR as u32, false, 0x5),
        ("read the TSS", TSS_ADDR as u32 + 0x1000, false, 0x5),
        ("write the TSS", TSS_ADDR as u32, true, 0x7),
        ("read the stub", STUB_ADDR as u32, false, 0x5),
        (
            "write the trap stack",
            KSTACK_ADDR as u32 + 0xff8,
            true,
            0x7,
        ),
        ("write the boot info", 0x10000, true, 0x7),
        ("write our own text", TEXT as u32, true, 0x7),
        ("read page 0", 0x8, false, 0x4),
    ];
    for &(what, addr, write, ec) in pf {
        let t = trap_of(&access(addr, write));
        assert_eq!(
            (t.vector, t.ec, t.cr2),
            (14, ec, u64::from(addr)),
            "{what}: {t:?}"
        );
    }
    // Fetches: the stub (supervisor) and data (no-execute): 0x10 fetch.
    for (what, target, ec) in [("the stub", STUB_ADDR, 0x15), ("data", DATA, 0x15)] {
        // mov eax, target; jmp rax
        let mut c = vec![0xb8];
        c.extend_from_slice(&(target as u32).to_le_bytes());
        c.extend_from_slice(&[0xff, 0xe0]);
        let t = trap_of(&c);
        assert_eq!(
            (t.vector, t.ec, t.cr2, t.rip),
            (14, ec, target, target),
            "{what}: {t:?}"
        );
    }
    // The boot info is readable: a read, then ud2.
    let mut c = access(0x10000, false);
    c.extend_from_slice(&[0x0f, 0x0b]);
    assert_eq!(trap_of(&c).vector, 6);
}

/// The same loop entered at CPL0 (upstream's set-up: the tender's kernel
/// page tables and boot GDT) and at CPL3 (this module's), timed around
/// `KVM_RUN` (docs/benchmarks.md; `cargo test --release -p solo5-hvt
/// cpl0_and_cpl3 -- --ignored --nocapture`).
#[test]
#[ignore]
fn cpl0_and_cpl3_run_the_same_loop() {
    if !kvm() {
        return;
    }
    const N: u32 = 100_000;
    // rsi = 0x110000, ecx = N, eax = 0; loop: add rax, [rsi]; add rsi, 8;
    // dec ecx; jnz loop; then out to 0x501.
    let mut sum = vec![0x48, 0xc7, 0xc6, 0x00, 0x00, 0x11, 0x00, 0xb9];
    sum.extend_from_slice(&N.to_le_bytes());
    sum.extend_from_slice(&[
        0x31, 0xc0, 0x48, 0x03, 0x06, 0x48, 0x83, 0xc6, 0x08, 0xff, 0xc9,
    ]);
    sum.extend_from_slice(&[0x75, 0xf5, 0x66, 0xba, 0x01, 0x05, 0xef]);
    // ecx = N; loop: imul rax, rax, 3; add rax, 1; dec ecx; jnz loop.
    let mut mul = vec![0xb9];
    mul.extend_from_slice(&N.to_le_bytes());
    mul.extend_from_slice(&[0x48, 0x6b, 0xc0, 0x03, 0x48, 0x83, 0xc0, 0x01, 0xff, 0xc9]);
    mul.extend_from_slice(&[0x75, 0xf4, 0x66, 0xba, 0x01, 0x05, 0xef]);
    for (what, code) in [("checksum of 800 KB", &sum), ("multiply-add", &mul)] {
        for user in [false, true] {
            let (mut vm, mem) = guest(code);
            if !user {
                let segs = [Segment {
                    vaddr: TEXT,
                    offset: 0,
                    filesz: 0x1000,
                    memsz: 0x1000,
                    flags: PF_R | PF_X,
                    start: TEXT,
                    end: DATA,
                }];
                let mut mem = GuestMemory::new(MEM).unwrap();
                vm = Vm::create().unwrap();
                vm.set_memory(&mem).unwrap();
                let mut text = vec![0xcc; 0x1000];
                text[..code.len()].copy_from_slice(code);
                mem.write(TEXT, &text).unwrap();
                crate::boot::write_tables(&mut mem, &paging::build(&segs, MEM).unwrap()).unwrap();
                cpu::setup(&vm, TEXT, MEM).unwrap();
                let t0 = std::time::Instant::now();
                let end = run(&mut vm, &mem);
                let took = t0.elapsed();
                eprintln!("{what}, {N} iterations, CPL0: {took:?} ({end:?})");
                continue;
            }
            let t0 = std::time::Instant::now();
            let end = run(&mut vm, &mem);
            let took = t0.elapsed();
            eprintln!("{what}, {N} iterations, CPL3: {took:?} ({end:?})");
        }
    }
}
