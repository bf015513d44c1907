//! The C ABI of `solo5.h` (`guest/include/solo5.h`).
//!
//! Each function checks what it can (null pointers, handles, block
//! requests) and forwards to the same core as the Rust API. Results are
//! `solo5_result_t` values (`solo5_abi::result`).
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_int, CStr};

use solo5_abi::result;

use crate::handle::Error;
use crate::{block, clock, console, net, tls};

/// `solo5_result_t`.
pub type solo5_result_t = u32;
/// `solo5_handle_t`: a manifest index.
pub type solo5_handle_t = u64;
/// `solo5_handle_set_t`: one bit per manifest index.
pub type solo5_handle_set_t = u64;
/// `solo5_time_t`: nanoseconds.
pub type solo5_time_t = u64;
/// `solo5_off_t`: bytes.
pub type solo5_off_t = u64;
/// `struct solo5_start_info`.
pub type solo5_start_info = crate::StartInfo;

/// `struct solo5_net_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct solo5_net_info {
    /// MAC address.
    pub mac_address: [u8; 6],
    /// MTU, Ethernet header not included.
    pub mtu: usize,
}

/// `struct solo5_block_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct solo5_block_info {
    /// Capacity in bytes.
    pub capacity: solo5_off_t,
    /// Block size in bytes.
    pub block_size: solo5_off_t,
}

const _: () = assert!(core::mem::size_of::<solo5_net_info>() == 16);
const _: () = assert!(core::mem::size_of::<solo5_block_info>() == 16);
const _: () = assert!(core::mem::size_of::<solo5_start_info>() == 24);

fn code<T>(r: Result<T, Error>) -> solo5_result_t {
    match r {
        Ok(_) => result::OK,
        Err(e) => e.code(),
    }
}

/// A buffer argument as a slice: `None` for a null pointer with a non-zero
/// size.
///
/// # Safety
/// A non-null `buf` must be valid for reads of `size` bytes.
unsafe fn slice<'a>(buf: *const u8, size: usize) -> Option<&'a [u8]> {
    if size == 0 {
        return Some(&[]);
    }
    // SAFETY: buf is non-null (checked) and the caller vouches for size
    // readable bytes.
    (!buf.is_null()).then(|| unsafe { core::slice::from_raw_parts(buf, size) })
}

/// The mutable counterpart of [`slice`].
///
/// # Safety
/// A non-null `buf` must be valid for writes of `size` bytes and not be
/// aliased for the duration of the call.
unsafe fn slice_mut<'a>(buf: *mut u8, size: usize) -> Option<&'a mut [u8]> {
    if size == 0 {
        return Some(&mut []);
    }
    // SAFETY: non-null checked; the caller vouches for size writable,
    // unaliased bytes.
    (!buf.is_null()).then(|| unsafe { core::slice::from_raw_parts_mut(buf, size) })
}

/// `void solo5_exit(int status)`.
#[no_mangle]
pub extern "C" fn solo5_exit(status: c_int) -> ! {
    crate::exit(status)
}

/// `void solo5_abort(void)`.
#[no_mangle]
pub extern "C" fn solo5_abort() -> ! {
    crate::abort()
}

/// `solo5_time_t solo5_clock_monotonic(void)`.
#[no_mangle]
pub extern "C" fn solo5_clock_monotonic() -> solo5_time_t {
    clock::monotonic()
}

/// `solo5_time_t solo5_clock_wall(void)`.
#[no_mangle]
pub extern "C" fn solo5_clock_wall() -> solo5_time_t {
    clock::wall()
}

/// `void solo5_yield(solo5_time_t deadline, solo5_handle_set_t
/// *ready_set)`.
///
/// # Safety
/// `ready_set` is null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn solo5_yield(deadline: solo5_time_t, ready_set: *mut solo5_handle_set_t) {
    let set = clock::yield_until(deadline);
    if !ready_set.is_null() {
        // SAFETY: non-null, and the caller vouches it is writable.
        unsafe { ready_set.write(set.bits()) };
    }
}

/// `void solo5_console_write(const char *buf, size_t size)`.
///
/// # Safety
/// `buf` is valid for reads of `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn solo5_console_write(buf: *const c_char, size: usize) {
    // SAFETY: the caller's contract.
    if let Some(s) = unsafe { slice(buf as *const u8, size) } {
        console::write(s);
    }
}

/// `solo5_result_t solo5_net_acquire(const char *name, solo5_handle_t
/// *handle, struct solo5_net_info *info)`.
///
/// # Safety
/// `name` is a NUL-terminated string; `handle` and `info` are valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn solo5_net_acquire(
    name: *const c_char,
    handle: *mut solo5_handle_t,
    info: *mut solo5_net_info,
) -> solo5_result_t {
    if name.is_null() || handle.is_null() || info.is_null() {
        return result::EINVAL;
    }
    // SAFETY: non-null, NUL-terminated by the caller's contract.
    let name = unsafe { CStr::from_ptr(name) };
    match net::acquire(name.to_bytes()) {
        Ok((h, i)) => {
            // SAFETY: both non-null and writable by the caller's contract.
            unsafe {
                handle.write(h.index());
                info.write(solo5_net_info {
                    mac_address: i.mac,
                    mtu: i.mtu,
                });
            }
            result::OK
        }
        Err(e) => e.code(),
    }
}

/// `solo5_result_t solo5_net_read(solo5_handle_t handle, uint8_t *buf,
/// size_t size, size_t *read_size)`.
///
/// # Safety
/// `buf` is valid for writes of `size` bytes, `read_size` for a write.
#[no_mangle]
pub unsafe extern "C" fn solo5_net_read(
    handle: solo5_handle_t,
    buf: *mut u8,
    size: usize,
    read_size: *mut usize,
) -> solo5_result_t {
    // SAFETY: the caller's contract.
    let Some(buf) = (unsafe { slice_mut(buf, size) }) else {
        return result::EINVAL;
    };
    if read_size.is_null() {
        return result::EINVAL;
    }
    match net::read(handle, buf) {
        Ok(n) => {
            // SAFETY: non-null and writable by the caller's contract.
            unsafe { read_size.write(n) };
            result::OK
        }
        Err(e) => e.code(),
    }
}

/// `solo5_result_t solo5_net_write(solo5_handle_t handle, const uint8_t
/// *buf, size_t size)`.
///
/// # Safety
/// `buf` is valid for reads of `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn solo5_net_write(
    handle: solo5_handle_t,
    buf: *const u8,
    size: usize,
) -> solo5_result_t {
    // SAFETY: the caller's contract.
    match unsafe { slice(buf, size) } {
        Some(buf) => code(net::write(handle, buf)),
        None => result::EINVAL,
    }
}

/// `solo5_result_t solo5_block_acquire(const char *name, solo5_handle_t
/// *handle, struct solo5_block_info *info)`.
///
/// # Safety
/// `name` is a NUL-terminated string; `handle` and `info` are valid for
/// writes.
#[no_mangle]
pub unsafe extern "C" fn solo5_block_acquire(
    name: *const c_char,
    handle: *mut solo5_handle_t,
    info: *mut solo5_block_info,
) -> solo5_result_t {
    if name.is_null() || handle.is_null() || info.is_null() {
        return result::EINVAL;
    }
    // SAFETY: non-null, NUL-terminated by the caller's contract.
    let name = unsafe { CStr::from_ptr(name) };
    match block::acquire(name.to_bytes()) {
        Ok((h, i)) => {
            // SAFETY: both non-null and writable by the caller's contract.
            unsafe {
                handle.write(h.index());
                info.write(solo5_block_info {
                    capacity: i.capacity,
                    block_size: i.block_size,
                });
            }
            result::OK
        }
        Err(e) => e.code(),
    }
}

/// `solo5_result_t solo5_block_read(solo5_handle_t handle, solo5_off_t
/// offset, uint8_t *buf, size_t size)`.
///
/// # Safety
/// `buf` is valid for writes of `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn solo5_block_read(
    handle: solo5_handle_t,
    offset: solo5_off_t,
    buf: *mut u8,
    size: usize,
) -> solo5_result_t {
    // SAFETY: the caller's contract.
    match unsafe { slice_mut(buf, size) } {
        Some(buf) => code(block::read(handle, offset, buf)),
        None => result::EINVAL,
    }
}

/// `solo5_result_t solo5_block_write(solo5_handle_t handle, solo5_off_t
/// offset, const uint8_t *buf, size_t size)`.
///
/// # Safety
/// `buf` is valid for reads of `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn solo5_block_write(
    handle: solo5_handle_t,
    offset: solo5_off_t,
    buf: *const u8,
    size: usize,
) -> solo5_result_t {
    // SAFETY: the caller's contract.
    match unsafe { slice(buf, size) } {
        Some(buf) => code(block::write(handle, offset, buf)),
        None => result::EINVAL,
    }
}

/// `solo5_result_t solo5_set_tls_base(uintptr_t base)`.
#[no_mangle]
pub extern "C" fn solo5_set_tls_base(base: usize) -> solo5_result_t {
    code(crate::set_tls_base(base))
}

/// `size_t solo5_tls_size(void)`: see [`tls::size`].
#[no_mangle]
pub extern "C" fn solo5_tls_size() -> usize {
    tls::size()
}

/// `uintptr_t solo5_tls_tp_offset(uintptr_t tls)`: see [`tls::tp_offset`].
#[no_mangle]
pub extern "C" fn solo5_tls_tp_offset(block: usize) -> usize {
    tls::tp_offset(block)
}

/// `solo5_result_t solo5_tls_init(uintptr_t tls)`: see [`tls::init`].
///
/// # Safety
/// `block` is valid for writes of `solo5_tls_size()` bytes.
#[no_mangle]
pub unsafe extern "C" fn solo5_tls_init(block: usize) -> solo5_result_t {
    // SAFETY: the caller's contract.
    code(unsafe { tls::init(block as *mut u8) })
}
