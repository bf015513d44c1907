//! test_stack_overflow: a recursion that never ends must stop at the guard
//! range below the stack (SIGSEGV, exit status 139), never run into the
//! heap.
//!
//! With an argument N it recurses N KiB deep and succeeds: the stack the
//! SDK promises is there. Without one it recurses until something stops
//! it. Every frame checks a canary at the top of the heap, just below the
//! guard: a tender that puts no guard there (upstream's, which ignores the
//! stack note) lets the stack overwrite it, and the guest says so
//! (`FAILURE: the stack ran into the heap`, exit 1) instead of faulting.
#![no_std]
#![no_main]

use core::hint::black_box;

use solo5_guest::StartInfo;
use solo5_test_guests::{banner, check, failure, success, Global};

solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Bytes of each frame's local buffer.
const FRAME: usize = 1024;
/// The canary pattern.
const CANARY: u64 = 0x5afe_5afe_dead_beef;
/// Words of canary at the top of the heap.
const CANARY_WORDS: usize = 512;

/// Address of the canary's words, set by `app` before the recursion.
static CANARY_AT: Global<usize> = Global::new(0);

fn canary_intact() -> bool {
    let words = CANARY_AT.read() as *const u64;
    // SAFETY: app points CANARY_AT at CANARY_WORDS words of the heap, which
    // the application owns, before any recursion; volatile reads, because
    // what changes them (the stack running into them) is not a Rust write.
    (0..CANARY_WORDS).all(|i| unsafe { words.add(i).read_volatile() } == CANARY)
}

/// Recurse `depth` more levels (usize::MAX: forever), each with a frame of
/// at least FRAME bytes that the compiler cannot drop. Returns false when
/// the canary is damaged.
#[inline(never)]
fn recurse(depth: usize) -> bool {
    let mut buf = [0u8; FRAME];
    // Touch the whole frame, so every page of the stack is written.
    for (i, b) in buf.iter_mut().enumerate() {
        *b = i as u8;
    }
    black_box(&mut buf);
    if !canary_intact() {
        return false;
    }
    if depth == 0 {
        return true;
    }
    let ok = recurse(black_box(depth - 1));
    // Use the frame after the call, so the recursion is not a tail call.
    black_box(&buf);
    ok
}

fn app(start: &StartInfo) -> i32 {
    banner("stack_overflow");
    let top = start.heap_start() + start.heap_size();
    check!(
        start.heap_size() >= CANARY_WORDS * 8,
        "heap of {} bytes",
        start.heap_size()
    );
    let words = (top - CANARY_WORDS * 8) as *mut u64;
    // SAFETY: the last CANARY_WORDS words of the heap belong to the
    // application; one thread.
    unsafe {
        for i in 0..CANARY_WORDS {
            words.add(i).write_volatile(CANARY);
        }
    }
    CANARY_AT.write(words as usize);
    let depth = match start.cmdline().trim() {
        "" => usize::MAX,
        kib => match kib.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return failure(format_args!("bad depth '{kib}'")),
        },
    };
    if !recurse(depth) {
        return failure(format_args!("the stack ran into the heap"));
    }
    check!(depth != usize::MAX, "an endless recursion returned");
    solo5_guest::println!("recursed {depth} KiB deep");
    success()
}
