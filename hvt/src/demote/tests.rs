use super::*;

/// Registers with distinct values: register n holds 0x1000 * (n + 1).
fn regs() -> [u64; 16] {
    core::array::from_fn(|n| 0x1000 * (n as u64 + 1))
}

fn d(code: &[u8], rip: u64) -> Option<Decoded> {
    decode(code, rip, &regs())
}

fn dec(insn: Insn, len: u64) -> Option<Decoded> {
    Some(Decoded { insn, len })
}

// Encodings as GNU as writes them (objdump of `as` output).

#[test]
fn descriptor_table_loads_in_every_addressing_form() {
    let r = regs();
    assert_eq!(d(&[0x0f, 0x01, 0x10], 0), dec(Insn::Lgdt(r[0]), 3)); // (%rax)
    assert_eq!(d(&[0x0f, 0x01, 0x18], 0), dec(Insn::Lidt(r[0]), 3)); // lidt (%rax)
    assert_eq!(d(&[0x41, 0x0f, 0x01, 0x17], 0), dec(Insn::Lgdt(r[15]), 4)); // (%r15)
    assert_eq!(
        d(&[0x0f, 0x01, 0x54, 0x24, 0x08], 0),
        dec(Insn::Lgdt(r[4] + 8), 5) // 8(%rsp)
    );
    assert_eq!(
        d(&[0x0f, 0x01, 0x15, 0x10, 0, 0, 0], 0x10_0000),
        dec(Insn::Lgdt(0x10_0000 + 7 + 0x10), 7) // 0x10(%rip)
    );
    assert_eq!(
        d(&[0x0f, 0x01, 0x5d, 0xe0], 0),
        dec(Insn::Lidt(r[5] - 0x20), 4) // -0x20(%rbp)
    );
    assert_eq!(
        d(&[0x0f, 0x01, 0x94, 0x8b, 0x78, 0x56, 0x34, 0x12], 0),
        dec(Insn::Lgdt(0x1234_5678 + r[3] + r[1] * 4), 8) // (%rbx,%rcx,4)
    );
    assert_eq!(
        d(&[0x41, 0x0f, 0x01, 0x1c, 0x24], 0),
        dec(Insn::Lidt(r[12]), 5) // (%r12)
    );
    assert_eq!(
        d(&[0x0f, 0x01, 0x14, 0x25, 0x00, 0x10, 0, 0], 0),
        dec(Insn::Lgdt(0x1000), 8) // absolute 0x1000
    );
}

#[test]
fn ltr_and_wrmsr() {
    let r = regs();
    assert_eq!(
        d(&[0x0f, 0x00, 0xd8], 0),
        dec(Insn::Ltr(Operand::Reg(0)), 3)
    ); // %ax
    assert_eq!(
        d(&[0x0f, 0x00, 0xdf], 0),
        dec(Insn::Ltr(Operand::Reg(7)), 3)
    ); // %di
    assert_eq!(
        d(&[0x41, 0x0f, 0x00, 0xd9], 0),
        dec(Insn::Ltr(Operand::Reg(9)), 4) // %r9w
    );
    assert_eq!(
        d(&[0x0f, 0x00, 0x1e], 0),
        dec(Insn::Ltr(Operand::Mem(r[6])), 3) // (%rsi)
    );
    assert_eq!(d(&[0x0f, 0x30], 0), dec(Insn::Wrmsr, 2));
}

#[test]
fn the_reloads_after_lgdt() {
    assert_eq!(d(&[0x48, 0xcb], 0), dec(Insn::Lretq, 2)); // lretq
    assert_eq!(d(&[0xcb], 0), None); // lret (32-bit): not upstream's
    assert_eq!(d(&[0x8e, 0xd0], 0), dec(Insn::MovSreg(2), 2)); // mov %eax,%ss
    assert_eq!(d(&[0x8e, 0xd8], 0), dec(Insn::MovSreg(3), 2)); // mov %eax,%ds
    assert_eq!(d(&[0x8e, 0xc0], 0), dec(Insn::MovSreg(0), 2)); // mov %eax,%es
    assert_eq!(d(&[0x8e, 0xe0], 0), dec(Insn::MovSreg(4), 2)); // mov %eax,%fs
    assert_eq!(d(&[0x8e, 0xe8], 0), dec(Insn::MovSreg(5), 2)); // mov %eax,%gs
    assert_eq!(d(&[0x8e, 0xc8], 0), None); // mov to CS: #UD
    assert_eq!(d(&[0x8e, 0x18], 0), None); // from memory: not upstream's
}

#[test]
fn anything_else_is_not_ours() {
    assert_eq!(d(&[0x0f, 0x01, 0xd0], 0), None); // xgetbv
    assert_eq!(d(&[0xf4], 0), None); // hlt
    assert_eq!(d(&[0x0f, 0x32], 0), None); // rdmsr
    assert_eq!(d(&[0x0f, 0x22, 0xd8], 0), None); // mov %rax, %cr3
    assert_eq!(d(&[0x0f, 0x01, 0x08], 0), None); // sidt (%rax)
    assert_eq!(d(&[0x0f, 0x00, 0x10], 0), None); // lldt (%rax)
    assert_eq!(d(&[0x66, 0x0f, 0x01, 0x10], 0), None); // a prefix we do not take
    assert_eq!(d(&[0x0f, 0x00, 0xc8], 0), None); // str %ax (mod 3, reg 1)
}

#[test]
fn truncated_code_is_refused_not_read_past() {
    assert_eq!(d(&[], 0), None);
    assert_eq!(d(&[0x0f], 0), None);
    assert_eq!(d(&[0x0f, 0x01], 0), None);
    assert_eq!(d(&[0x0f, 0x01, 0x54, 0x24], 0), None); // disp8 missing
    assert_eq!(d(&[0x0f, 0x01, 0x15, 0x10, 0], 0), None); // disp32 short
    assert_eq!(d(&[0x41], 0), None);
}

#[test]
fn the_tss_register_comes_from_its_descriptor() {
    // A busy 64-bit TSS at 0x1_2345_6789 with limit 0x67, DPL 0, as
    // upstream's tss_init leaves it after ltr.
    let base: u64 = 0x1_2345_6789;
    let lo = 0x67 | ((base & 0xff_ffff) << 16) | (0x8b << 40) | (((base >> 24) & 0xff) << 56);
    let hi = base >> 32;
    let s = tss_segment(0x18, lo, hi);
    assert_eq!((s.base, s.limit, s.selector), (base, 0x67, 0x18));
    assert_eq!((s.type_, s.present, s.dpl, s.s), (11, 1, 0, 0));
}

#[test]
fn the_stub_frame_is_where_the_stub_leaves_it() {
    // Ten words below the end of the trap stack (TSS.RSP0).
    assert_eq!(FRAME_GPA + 80, crate::layout::user::KSTACK_END);
    assert_eq!(crate::user::slot::SS, 9);
}
