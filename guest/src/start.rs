//! Startup: from the tender's jump to the application's entry point.
//!
//! The tender jumps to `_start` with `rdi` = the boot info address and the
//! stack pointer at `mem_size - 8`, i.e. exactly like a call, so `_start` is
//! an ordinary `extern "C"` function. It then, as upstream's bindings do:
//!
//! 1. checks and records the boot info (the flavor's `platform::init`);
//!    if it is unusable, prints why and exits with status 255;
//! 2. sets the TLS base to 0 (on the native ABI through the hypercall
//!    table, which shows that table functions never touch TLS);
//! 3. takes the leading `--solo5:LEVEL` options off the command line;
//! 4. prints the banner and the memory map at `info` level;
//! 5. computes the heap from the image's own end (the linker's `_end`,
//!    as upstream's bindings do: the guest never depends on how the tender
//!    counts a `.bss`-only segment; the boot info's `kernel_end` only
//!    moves it up should a section lie past `_end`) up to the guard range
//!    below the stack (see [`MemoryMap`]), and stops with "Not enough
//!    memory" if there is too little;
//! 6. calls `solo5_app_main` (a C application defines it; [`crate::main!`]
//!    defines it for a Rust one) and exits with its return value.
//!
//! # Memory layout
//! ```text
//! _end (page aligned)                                     mem_size
//! | heap ------------> | guard (PROT_NONE) | <------------ stack |
//!                      ^ heap end          ^ mem_size - stack_size
//! ```
//! The stack is `__solo5_stack_size` bytes (linker script, default 256
//! KiB) at the top; below it [`GUARD_SIZE`] bytes that our tender makes
//! inaccessible, as the stack note asks (`solo5_abi::stack`): a stack
//! overflow faults there (SIGSEGV, exit status 139) instead of running
//! into the heap. The heap is everything from `_end` to the guard; the
//! allocator of the `alloc` feature never hands out a byte past it, so
//! running out of heap is a failed allocation, never a write into the
//! stack.
//!
//! On hvt, entered at CPL3 by our tender, the layout is this one, the
//! tender's page tables leaving the guard unmapped (our stack note). Entered
//! at CPL0 (upstream's tender), the guest builds its own page tables
//! instead (see `platform/hvt_cpu.rs`): after `_end` come the page tables
//! and the guard (both unmapped), then the stack, and the heap runs from
//! the top of the stack to `mem_size`; the same 512 KiB floor counts from
//! `_end`.

use core::ffi::{c_char, CStr};

use solo5_abi::PAGE_SIZE;

use crate::image::Layout;
pub use crate::image::GUARD_SIZE;
use crate::log::{self, Level};
use crate::platform::Placed;

/// The least free memory (heap, guard and stack together, from `_end` to
/// the top) the bindings start an application with: 512 KiB, upstream's
/// floor.
const MIN_FREE: u64 = 512 << 10;

/// Start of day information for the application (`struct
/// solo5_start_info` of `solo5.h`, same layout).
#[repr(C)]
#[derive(Debug)]
pub struct StartInfo {
    cmdline: *const c_char,
    heap_start: usize,
    heap_size: usize,
}

impl StartInfo {
    /// The command line, without the bindings' `--solo5:` options, as
    /// bytes.
    pub fn cmdline_bytes(&self) -> &[u8] {
        // SAFETY: startup sets cmdline to a NUL-terminated string in the
        // tender's command-line buffer (or a static empty one), which stays
        // in place for the life of the guest.
        unsafe { CStr::from_ptr(self.cmdline) }.to_bytes()
    }

    /// The command line as text; invalid UTF-8 yields the valid prefix.
    pub fn cmdline(&self) -> &str {
        let b = self.cmdline_bytes();
        match core::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) => {
                // valid_up_to() marks a prefix that is valid UTF-8.
                core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or("")
            }
        }
    }

    /// The command line as a C string.
    pub fn cmdline_ptr(&self) -> *const c_char {
        self.cmdline
    }

    /// First address of the heap: memory the application owns (read and
    /// write, never execute).
    pub fn heap_start(&self) -> usize {
        self.heap_start
    }

    /// Size of the heap in bytes.
    pub fn heap_size(&self) -> usize {
        self.heap_size
    }
}

/// Declares the Rust function that is the application's entry point.
///
/// The function takes `&StartInfo` and returns the exit status. The macro
/// defines the C symbol `solo5_app_main` that startup calls, so a binary
/// has either this or a C `solo5_app_main`, never both (the link fails).
///
/// ```ignore
/// solo5_guest::main!(app);
/// fn app(start: &solo5_guest::StartInfo) -> i32 { 0 }
/// ```
#[macro_export]
macro_rules! main {
    ($f:path) => {
        const _: () = {
            #[no_mangle]
            extern "C" fn solo5_app_main(start: &$crate::StartInfo) -> i32 {
                let f: fn(&$crate::StartInfo) -> i32 = $f;
                f(start)
            }
        };
    };
}

/// The memory regions the banner describes.
pub(crate) struct MemoryMap {
    pub mem_size: u64,
    pub layout: Layout,
    /// First byte of the heap: `_end` (or `kernel_end`, if higher)
    /// rounded up to a page.
    pub heap_start: u64,
    /// End of the heap (exclusive); on spt the start of the guard range,
    /// 0 when the guard and the stack do not fit in memory.
    pub heap_end: u64,
    /// The guard range and the stack: `(guard start, stack start, stack
    /// end)`, all exclusive ends.
    stack: (u64, u64, u64),
    /// Where the free memory that [`MIN_FREE`] counts starts: the heap's
    /// start on spt, the image's end on hvt (the stack comes first there).
    free_from: u64,
}

impl MemoryMap {
    /// The heap for the image of `layout` in `mem_size` bytes of memory.
    /// The image ends at `_end`; `kernel_end` (the end of the segments the
    /// tender loaded) counts only if it is higher, which the linker script
    /// never lets happen: it is a bound, not the source.
    pub fn new(mem_size: u64, kernel_end: u64, layout: Layout) -> MemoryMap {
        let end = (layout.end as u64).max(kernel_end);
        let heap_start = end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let heap_end = mem_size.saturating_sub(layout.stack_size as u64 + GUARD_SIZE);
        MemoryMap {
            mem_size,
            layout,
            heap_start,
            heap_end,
            stack: (heap_end, heap_end + GUARD_SIZE, mem_size),
            free_from: heap_start,
        }
    }

    /// A flavor's own layout (hvt at CPL0): page tables, guard and stack
    /// after the image, placed by its start-up and handed over in the
    /// boot value, the heap from the top of the stack to the end of
    /// memory.
    pub fn below_heap(mem_size: u64, layout: Layout, placed: Placed) -> MemoryMap {
        MemoryMap {
            mem_size,
            layout,
            heap_start: placed.heap_start,
            heap_end: mem_size,
            stack: placed.stack,
            free_from: (layout.end as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE,
        }
    }

    /// Whether there is enough memory to start the application: at least
    /// [`MIN_FREE`] above the image, and room for the stack and its guard.
    pub fn heap_ok(&self) -> bool {
        self.mem_size >= self.free_from + MIN_FREE && self.heap_end >= self.heap_start
    }

    /// Start of the stack's guard range.
    pub fn guard_start(&self) -> u64 {
        self.stack.0
    }

    /// Lowest address of the stack (= end of the guard range).
    pub fn stack_start(&self) -> u64 {
        self.stack.1
    }

    /// End of the stack (exclusive).
    pub fn stack_end(&self) -> u64 {
        self.stack.2
    }

    /// Prints the banner and memory map like upstream's bindings.
    pub fn log(&self) {
        let l = &self.layout;
        fn info(args: core::fmt::Arguments<'_>) {
            log::log(Level::Info, args);
        }
        info(format_args!("            |      ___|\n"));
        info(format_args!("  __|  _ \\  |  _ \\ __ \\\n"));
        info(format_args!("\\__ \\ (   | | (   |  ) |\n"));
        info(format_args!("____/\\___/ _|\\___/____/\n"));
        info(format_args!("Solo5: Bindings version v0.9.0\n"));
        #[cfg(all(feature = "hvt", not(any(feature = "spt", feature = "spt-v2"))))]
        info(format_args!("{}", crate::platform::entry_line()));
        info(format_args!(
            "Solo5: Memory map: {} MB addressable:\n",
            self.mem_size >> 20
        ));
        info(format_args!(
            "Solo5:   reserved @ (0x0 - {:#x})\n",
            l.stext - 1
        ));
        info(format_args!(
            "Solo5:       text @ ({:#x} - {:#x})\n",
            l.stext,
            l.etext - 1
        ));
        info(format_args!(
            "Solo5:     rodata @ ({:#x} - {:#x})\n",
            l.etext,
            l.erodata - 1
        ));
        info(format_args!(
            "Solo5:       data @ ({:#x} - {:#x})\n",
            l.erodata,
            l.end - 1
        ));
        info(format_args!(
            "Solo5:       heap >= {:#x} < stack < {:#x}\n",
            self.heap_start, self.mem_size
        ));
        if self.heap_ok() {
            log::log(
                Level::Debug,
                format_args!(
                    "Solo5:       heap @ ({:#x} - {:#x}), guard @ ({:#x} - {:#x}), stack @ ({:#x} - {:#x})\n",
                    self.heap_start,
                    self.heap_end - 1,
                    self.guard_start(),
                    self.stack_start() - 1,
                    self.stack_start(),
                    self.stack_end() - 1
                ),
            );
        }
    }
}

/// Prints why the guest cannot start and ends it with status 255.
fn fail(what: &str) -> ! {
    log::log(Level::Error, format_args!("Solo5: ABORT: {what}\n"));
    crate::platform::exit(crate::EXIT_ABORT)
}

#[cfg(not(test))]
extern "C" {
    /// The application: C code or [`crate::main!`] defines it.
    fn solo5_app_main(start: *const StartInfo) -> i32;
}

/// The entry point the tender jumps to, with the boot info address (spt
/// flavors; on hvt `_start` is assembly that sets up the CPU first, see
/// `platform/hvt_cpu.rs`, then calls [`start`]).
///
/// # Safety
/// Only the tender calls this, once, with the boot info it wrote.
#[cfg(all(not(test), not(feature = "hvt")))]
#[no_mangle]
pub unsafe extern "C" fn _start(boot_info: *const core::ffi::c_void) -> ! {
    // SAFETY: boot_info is rdi at entry, as the contract above says.
    unsafe { start(boot_info) }
}

/// Startup proper, once the flavor's entry has the CPU in order.
///
/// # Safety
/// Called once, with the boot info the tender wrote.
#[cfg(not(test))]
pub(crate) unsafe fn start(boot_info: *const core::ffi::c_void) -> ! {
    crate::ssp::init();
    // SAFETY: boot_info is rdi at entry, as the contract above says.
    let boot = match unsafe { crate::platform::init(boot_info) } {
        Ok(boot) => boot,
        Err(what) => fail(what),
    };
    if crate::platform::set_tls_base(0) != solo5_abi::result::OK {
        fail("could not set the TLS base");
    }
    crate::mft::install(boot.mft);

    // SAFETY: the platform returns a NUL-terminated command line that lives
    // in guest memory for the life of the guest.
    let full = unsafe { CStr::from_ptr(boot.cmdline as *const c_char) }.to_bytes();
    let parsed = crate::cmdline::parse(full);
    if let Some(level) = parsed.level {
        log::set_level(level);
    }

    let map = match boot.placed {
        None => MemoryMap::new(boot.mem_size, boot.kernel_end, crate::image::layout()),
        Some(placed) => MemoryMap::below_heap(boot.mem_size, crate::image::layout(), placed),
    };
    map.log();
    if !map.heap_ok() {
        fail("Not enough memory");
    }
    #[cfg(feature = "alloc")]
    crate::heap::init(
        map.heap_start as usize,
        (map.heap_end - map.heap_start) as usize,
    );
    // Upstream's bindings report everything from the heap's start to the
    // end of memory, the initial stack growing down from its top.
    let heap_size = if cfg!(feature = "upstream-start-info") {
        map.mem_size - map.heap_start
    } else {
        map.heap_end - map.heap_start
    };

    let si = StartInfo {
        // full[app_start..] keeps the buffer's NUL terminator after it.
        cmdline: full[parsed.app_start..].as_ptr() as *const c_char,
        heap_start: map.heap_start as usize,
        heap_size: heap_size as usize,
    };
    // SAFETY: solo5_app_main is the application's entry point with the
    // solo5.h signature; si outlives the call.
    let status = unsafe { solo5_app_main(&si) };
    crate::exit(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_runs_from_the_image_end_to_the_guard() {
        let layout = crate::image::layout();
        let m = MemoryMap::new(2 << 20, 0x105000, layout);
        // From _end (0x109000 in the host layout), whatever lower
        // kernel_end the tender computed (a .bss it did not load).
        assert_eq!(m.heap_start, 0x109000);
        assert_eq!(MemoryMap::new(2 << 20, 0, layout).heap_start, 0x109000);
        // A kernel_end past _end (a section the linker put after it) moves
        // the heap up.
        assert_eq!(
            MemoryMap::new(2 << 20, 0x10a008, layout).heap_start,
            0x10b000
        );
        assert_eq!(m.heap_end, (2 << 20) - 0x40000 - GUARD_SIZE);
        assert_eq!(m.guard_start(), m.heap_end);
        assert_eq!(m.stack_start(), (2 << 20) - 0x40000);
        assert!(m.heap_ok());
        // An unaligned _end starts the heap on the next page.
        let mut l = layout;
        l.end = 0x108123;
        assert_eq!(MemoryMap::new(2 << 20, 0x105000, l).heap_start, 0x109000);
    }

    #[test]
    fn too_little_memory_is_refused() {
        let layout = crate::image::layout();
        // Exactly upstream's floor: 512 KiB above the image.
        assert!(MemoryMap::new(0x109000 + MIN_FREE, 0x105000, layout).heap_ok());
        assert!(!MemoryMap::new(0x109000 + MIN_FREE - PAGE_SIZE, 0x105000, layout).heap_ok());
        // A stack that does not fit with its guard, whatever the floor.
        let mut l = layout;
        l.stack_size = 1 << 20;
        assert!(!MemoryMap::new(2 << 20, 0x105000, l).heap_ok());
        assert!(MemoryMap::new(3 << 20, 0x105000, l).heap_ok());
        // Less memory than stack and guard together.
        assert!(!MemoryMap::new(0x10000, 0x105000, layout).heap_ok());
        assert_eq!(MemoryMap::new(0x10000, 0x105000, layout).heap_end, 0);
    }

    #[test]
    fn start_info_exposes_the_command_line() {
        let si = StartInfo {
            cmdline: c"a b".as_ptr(),
            heap_start: 0x109000,
            heap_size: 4096,
        };
        assert_eq!(si.cmdline(), "a b");
        assert_eq!(si.cmdline_bytes(), b"a b");
        assert_eq!((si.heap_start(), si.heap_size()), (0x109000, 4096));
        let bad = StartInfo {
            cmdline: c"ok\xff".as_ptr(),
            heap_start: 0,
            heap_size: 0,
        };
        assert_eq!(bad.cmdline(), "ok");
    }
}
