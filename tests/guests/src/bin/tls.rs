//! test_tls: the TLS base can be set and %fs-relative accesses land there.
//!
//! Part 1 is upstream's test: the base is pointed at two plain statics in
//! turn and a store through `%fs:0` must land in each. Part 2 builds real
//! TLS blocks from the executable's TLS template (a `.tdata` and a `.tbss`
//! variable defined below) with `solo5_guest::tls` and checks that each
//! block starts with the template's values and keeps its own.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

use solo5_guest::{set_tls_base, tls, StartInfo};
use solo5_test_guests::{banner, check, success, Global};

solo5_guest::manifest! {}
solo5_guest::main!(app);

// The TLS template: one initialised and one zeroed thread-local.
global_asm!(
    ".pushsection .tdata,\"awT\",@progbits",
    ".p2align 3",
    "test_tls_data: .quad 0x1122334455667788",
    ".popsection",
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    "test_tls_bss: .zero 8",
    ".popsection",
);

const TEMPLATE_DATA: u64 = 0x1122_3344_5566_7788;

fn store_fs0(v: i64) {
    // SAFETY: the TLS base points at a live 8-byte static (set just
    // before), and %fs:0 is its first byte.
    unsafe { asm!("mov qword ptr fs:[0], {}", in(reg) v, options(nostack)) };
}

fn load_fs0() -> u64 {
    let v: u64;
    // SAFETY: the TLS base points at a TLS block built by tls::init, whose
    // thread pointer word lies at %fs:0.
    unsafe { asm!("mov {}, qword ptr fs:[0]", out(reg) v, options(nostack, readonly)) };
    v
}

fn load_data() -> u64 {
    let v: u64;
    // SAFETY: the TLS base is the thread pointer of a block built from the
    // template, so test_tls_data@tpoff lies inside it.
    unsafe {
        asm!("movq %fs:test_tls_data@tpoff, {}", out(reg) v,
             options(att_syntax, nostack, readonly))
    };
    v
}

fn store_data(v: u64) {
    // SAFETY: as for load_data.
    unsafe { asm!("movq {}, %fs:test_tls_data@tpoff", in(reg) v, options(att_syntax, nostack)) };
}

fn load_bss() -> u64 {
    let v: u64;
    // SAFETY: as for load_data.
    unsafe {
        asm!("movq %fs:test_tls_bss@tpoff, {}", out(reg) v,
             options(att_syntax, nostack, readonly))
    };
    v
}

static THREAD_1: Global<i64> = Global::new(0);
static THREAD_2: Global<i64> = Global::new(0);

#[repr(C, align(64))]
struct Block([u8; 256]);
static BLOCK_A: Global<Block> = Global::new(Block([0xEE; 256]));
static BLOCK_B: Global<Block> = Global::new(Block([0xEE; 256]));

fn init_block(g: &'static Global<Block>) -> Result<usize, solo5_guest::Error> {
    // SAFETY: the block is a live 64-byte aligned static of 256 bytes
    // (app checks tls::size() fits), touched only through %fs afterwards.
    unsafe { tls::init(g.as_ptr() as *mut u8) }
}

fn app(_start: &StartInfo) -> i32 {
    banner("tls");

    // Part 1: upstream's test.
    check!(
        set_tls_base(THREAD_1.as_ptr() as usize).is_ok(),
        "set_tls_base refused"
    );
    store_fs0(-12345);
    check!(
        set_tls_base(THREAD_2.as_ptr() as usize).is_ok(),
        "set_tls_base refused"
    );
    store_fs0(56789);
    check!(
        THREAD_1.read() == -12345,
        "thread 1 holds {}",
        THREAD_1.read()
    );
    check!(
        THREAD_2.read() == 56789,
        "thread 2 holds {}",
        THREAD_2.read()
    );

    // Part 2: blocks built from the TLS template.
    check!(tls::size() <= 256, "TLS block needs {} bytes", tls::size());
    let tp_a = match init_block(&BLOCK_A) {
        Ok(tp) => tp,
        Err(e) => return solo5_test_guests::failure(format_args!("tls::init A: {e}")),
    };
    let tp_b = match init_block(&BLOCK_B) {
        Ok(tp) => tp,
        Err(e) => return solo5_test_guests::failure(format_args!("tls::init B: {e}")),
    };

    check!(set_tls_base(tp_a).is_ok(), "set_tls_base(A) refused");
    check!(load_fs0() == tp_a as u64, "%fs:0 is not the thread pointer");
    check!(
        load_data() == TEMPLATE_DATA,
        "block A .tdata variable is {:#x}",
        load_data()
    );
    check!(
        load_bss() == 0,
        "block A .tbss variable is {:#x}",
        load_bss()
    );
    store_data(1);

    check!(set_tls_base(tp_b).is_ok(), "set_tls_base(B) refused");
    check!(
        load_data() == TEMPLATE_DATA,
        "block B .tdata variable is {:#x}",
        load_data()
    );
    store_data(2);

    check!(set_tls_base(tp_a).is_ok(), "set_tls_base(A) refused");
    check!(load_data() == 1, "block A lost its value: {}", load_data());
    check!(set_tls_base(tp_b).is_ok(), "set_tls_base(B) refused");
    check!(load_data() == 2, "block B lost its value: {}", load_data());

    check!(set_tls_base(0).is_ok(), "set_tls_base(0) refused");
    success()
}
