//! A global allocator over the heap (feature `alloc`).
//!
//! A bump allocator: allocations take the next suitably aligned bytes of
//! the heap; freeing the most recent allocation gives its bytes back,
//! others are never reused. Enough for unikernels that allocate at startup
//! or in stack-like patterns; a heavier workload brings its own allocator
//! and leaves this feature off.
//!
//! With this feature the allocator owns the heap: the application must not
//! use `StartInfo::heap_start()..` for anything else.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bump allocator over `[next, end)`.
pub struct Bump {
    next: AtomicUsize,
    end: AtomicUsize,
}

impl Bump {
    /// An allocator with no memory until [`Bump::init`].
    pub const fn new() -> Bump {
        Bump {
            next: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }

    /// Hands `[start, start + size)` to the allocator.
    pub fn init(&self, start: usize, size: usize) {
        self.end.store(start + size, Ordering::Relaxed);
        self.next.store(start, Ordering::Release);
    }
}

impl Default for Bump {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: alloc returns distinct, suitably aligned ranges inside the heap
// (or null when it is exhausted): the compare-exchange hands each range out
// once. dealloc only moves `next` back when the freed block is the last one
// handed out, so no live block is handed out twice.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let end = self.end.load(Ordering::Relaxed);
        let mut next = self.next.load(Ordering::Acquire);
        loop {
            let Some(start) = next.checked_next_multiple_of(layout.align()) else {
                return core::ptr::null_mut();
            };
            let Some(stop) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            if start == 0 || stop > end {
                return core::ptr::null_mut();
            }
            match self
                .next
                .compare_exchange_weak(next, stop, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return start as *mut u8,
                Err(now) => next = now,
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let stop = ptr as usize + layout.size();
        // Give the bytes back only if this was the last allocation.
        let _ = self
            .next
            .compare_exchange(stop, ptr as usize, Ordering::AcqRel, Ordering::Relaxed);
    }
}

#[cfg_attr(not(test), global_allocator)]
static ALLOCATOR: Bump = Bump::new();

/// Gives the heap to the global allocator; startup calls this.
pub(crate) fn init(start: usize, size: usize) {
    ALLOCATOR.init(start, size);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_aligns_and_reuses_the_last_block() {
        let mut mem = vec![0u64; 64];
        let base = mem.as_mut_ptr() as usize;
        let a = Bump::new();
        a.init(base, 512);
        let l8 = Layout::from_size_align(8, 8).unwrap();
        let l64 = Layout::from_size_align(16, 64).unwrap();
        // SAFETY: the bump hands out pieces of `mem`, which outlives it.
        unsafe {
            let p = a.alloc(l8);
            assert_eq!(p as usize, base);
            let q = a.alloc(l64);
            assert_eq!(q as usize % 64, 0);
            a.dealloc(q, l64);
            let r = a.alloc(l64);
            assert_eq!(r, q);
            assert!(a.alloc(Layout::from_size_align(1024, 8).unwrap()).is_null());
        }
    }
}
