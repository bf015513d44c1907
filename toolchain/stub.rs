//! The `stub` bindings (`solo5_stub.o`): what `x86_64-solo5-none-static-cc`
//! links when no `-z solo5-abi=` is given, so that configure-style probes
//! ("does this symbol link?") succeed. Like upstream's stub bindings it
//! defines every function of solo5.h, doing nothing: `_start` and the exit
//! calls spin, the clocks return `!0`, every device call fails with
//! `SOLO5_R_EUNSPEC`. A stub binary is not meant to run: it carries no ABI
//! note, so every tender refuses it.
#![no_std]
#![allow(non_upper_case_globals, clippy::missing_safety_doc)]

use core::ffi::c_void;

const EUNSPEC: u32 = 3;

#[no_mangle]
pub extern "C" fn _start(_arg: *const c_void) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}

#[no_mangle]
#[used]
pub static mut __stack_chk_guard: usize = 0;

#[no_mangle]
pub extern "C" fn __stack_chk_fail() -> ! {
    _start(core::ptr::null())
}

/// `PT_INTERP`, as every Solo5 binary has: the host kernel refuses to exec it.
#[no_mangle]
#[used]
#[link_section = ".interp"]
pub static SOLO5_INTERP: [u8; 20] = *b"/nonexistent/solo5/\0";

#[no_mangle]
pub extern "C" fn solo5_console_write(_buf: *const u8, _size: usize) {}

#[no_mangle]
pub extern "C" fn solo5_exit(_status: i32) -> ! {
    _start(core::ptr::null())
}

#[no_mangle]
pub extern "C" fn solo5_abort() -> ! {
    _start(core::ptr::null())
}

#[no_mangle]
pub extern "C" fn solo5_clock_monotonic() -> u64 {
    !0
}

#[no_mangle]
pub extern "C" fn solo5_clock_wall() -> u64 {
    !0
}

#[no_mangle]
pub extern "C" fn solo5_yield(_deadline: u64, _ready_set: *mut u64) {}

#[no_mangle]
pub extern "C" fn solo5_net_acquire(_name: *const u8, _h: *mut u64, _info: *mut c_void) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_net_write(_h: u64, _buf: *const u8, _size: usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_net_read(_h: u64, _buf: *mut u8, _size: usize, _n: *mut usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_block_acquire(_name: *const u8, _h: *mut u64, _info: *mut c_void) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_block_write(_h: u64, _off: u64, _buf: *const u8, _size: usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_block_read(_h: u64, _off: u64, _buf: *mut u8, _size: usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_set_tls_base(_base: usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_tls_size() -> usize {
    0
}

#[no_mangle]
pub extern "C" fn solo5_tls_init(_tls: usize) -> u32 {
    EUNSPEC
}

#[no_mangle]
pub extern "C" fn solo5_tls_tp_offset(tls: usize) -> usize {
    tls
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    _start(core::ptr::null())
}
