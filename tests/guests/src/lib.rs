//! Helpers shared by the test unikernels in `src/bin/`.
//!
//! Each test program behaves like the upstream Solo5 test of the same name:
//! it prints `**** Solo5 standalone test_NAME ****`, then `SUCCESS` and
//! exits 0, or `FAILURE: <what>` and exits 1; the fault tests end with a
//! signal instead (checked by the tender's test suite).
#![no_std]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt;

use solo5_guest::{console, println, EXIT_FAILURE, EXIT_SUCCESS};

pub mod net;

/// Prints the upstream-style banner of test `name`.
pub fn banner(name: &str) {
    solo5_guest::print!("\n**** Solo5 standalone test_{name} ****\n\n");
}

/// Prints `SUCCESS` and returns the success status.
pub fn success() -> i32 {
    console::write_str("SUCCESS\n");
    EXIT_SUCCESS
}

/// Prints `FAILURE: <what>` and returns the failure status.
pub fn failure(what: fmt::Arguments<'_>) -> i32 {
    println!("FAILURE: {what}");
    EXIT_FAILURE
}

/// Returns `failure(...)` from the enclosing function unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($what:tt)*) => {
        if !$cond {
            return $crate::failure(::core::format_args!($($what)*));
        }
    };
}

/// A mutable static for single-threaded guests: the tests need data in
/// `.data` and `.bss` that they write and read back.
#[repr(transparent)]
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: a unikernel has one thread; nothing runs concurrently with the
// code that touches a Global.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// A static with initial value `v`.
    pub const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// Address of the value.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

impl<T: Copy> Global<T> {
    /// Reads the value with a volatile load, so the compiler cannot assume
    /// the initial value.
    pub fn read(&self) -> T {
        // SAFETY: the pointer comes from a live static; single thread.
        unsafe { self.as_ptr().read_volatile() }
    }

    /// Writes the value with a volatile store.
    pub fn write(&self, v: T) {
        // SAFETY: as for read.
        unsafe { self.as_ptr().write_volatile(v) }
    }
}

/// Issues raw system call `nr` with six arguments, bypassing the Solo5 API
/// (what a misbehaving guest would do), and returns the kernel's result.
///
/// # Safety
/// Whatever the call does to this process is the caller's business; the
/// tests use it to be killed by the tender's seccomp filter.
pub unsafe fn raw_syscall(nr: u64, args: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: the caller accepts the call's effects; `syscall` clobbers rcx
    // and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as i64 => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    ret
}
