//! test_fpu: SSE works: packed single multiplication in asm (upstream's
//! check), plus scalar float and double arithmetic the compiler cannot
//! fold, plus a square root in SSE2.
#![no_std]
#![no_main]

use core::arch::asm;
use core::hint::black_box;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, check, success};

solo5_guest::manifest! {}
solo5_guest::main!(app);

fn app(_start: &StartInfo) -> i32 {
    banner("fpu");

    let mut c: [f32; 4] = [2.0, 5.0, 0.5, -3.0];
    // SAFETY: reads and writes the 16 bytes of `c`; xmm1 is declared
    // clobbered.
    unsafe {
        asm!(
            "movups xmm1, [{p}]",
            "mulps xmm1, xmm1",
            "movups [{p}], xmm1",
            p = in(reg) c.as_mut_ptr(),
            out("xmm1") _,
            options(nostack)
        );
    }
    check!(c == [4.0, 25.0, 0.25, 9.0], "mulps gave {:?}", c);

    let mut a = black_box(1.5f32);
    a *= black_box(5.0f32);
    check!(a == 7.5, "1.5 * 5.0 = {}", a);

    let d = black_box(1.0f64) / black_box(3.0f64);
    check!(d * 3.0 == 1.0, "(1/3) * 3 = {}", d * 3.0);
    let s = black_box(0.1f64) + black_box(0.2f64);
    check!(s > 0.3 && s < 0.300_000_000_001, "0.1 + 0.2 = {}", s);

    let root: f64;
    // SAFETY: register-only instruction.
    unsafe {
        asm!("sqrtsd {r}, {x}", r = lateout(xmm_reg) root, x = in(xmm_reg) black_box(2.25f64),
             options(pure, nomem, nostack))
    };
    check!(root == 1.5, "sqrt(2.25) = {}", root);

    success()
}
