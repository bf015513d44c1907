//! Guest SDK for Solo5 unikernels on solo5-spt and solo5-hvt.
//!
//! A unikernel built with this crate is a static ELF executable that a Solo5
//! tender loads and jumps into. The SDK provides everything between that
//! jump and the application:
//!
//! - the entry point `_start`: checks the boot information, sets the TLS
//!   base to 0, parses `--solo5:quiet|error|warn|info|debug` off the command
//!   line, prints the banner and memory map (at `info` level, like upstream
//!   bindings), computes the heap and calls the application;
//! - the C ABI of `solo5.h` (`include/solo5.h`), so C programs link against
//!   it unchanged: they define `solo5_app_main`;
//! - a safe Rust API on top: [`console`], [`clock`], [`Net`], [`Block`],
//!   [`HandleSet`], [`tls`], [`exit`]; a Rust application names its entry
//!   point with [`main!`];
//! - the manifest from code: [`manifest!`] declares the devices and produces
//!   the MFT1 note at compile time; the SDK itself emits the ABI1 note;
//! - the panic handler, and (through the `solo5-guest-mem` crate) the
//!   `memcpy` family that compiled code needs without a libc;
//! - the linker script (`ld/spt.ld`), whose path dependents' build scripts
//!   get as `DEP_SOLO5_GUEST_LDSCRIPT`.
//!
//! # Flavors
//! Exactly one cargo feature selects the tender ABI:
//! - `spt` (default): our native spt ABI; the guest calls the tender through
//!   a versioned table of functions (`solo5_abi::native`).
//! - `spt-v2`: upstream's spt ABI version 2; the guest makes the raw
//!   syscalls itself (`solo5_abi::sptv2`), so upstream's `solo5-spt` runs it
//!   too.
//!
//! - `hvt`: upstream's hvt ABI version 2 (KVM); the guest sets up its own
//!   page tables, GDT and IDT and runs at CPL3, calling the tender with
//!   `outl` hypercalls (`solo5-hvt`, ours or upstream's).
//!
//! Everything but the small `platform` module is the same for all.
//!
//! # A Rust unikernel
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! solo5_guest::manifest! { net "service0" }
//! solo5_guest::main!(app);
//!
//! fn app(start: &solo5_guest::StartInfo) -> i32 {
//!     let net = match solo5_guest::Net::acquire("service0") {
//!         Ok(net) => net,
//!         Err(_) => return 1,
//!     };
//!     solo5_guest::println!("mac {:02x?}, cmdline '{}'", net.mac(), start.cmdline());
//!     0
//! }
//! ```
//! Its build.rs passes the link arguments (see `tests/guests/build.rs`).
#![cfg_attr(not(test), no_std)]
// Host unit tests compile out `_start`, which is what uses startup's parts.
#![cfg_attr(test, allow(dead_code))]

#[cfg(any(
    all(feature = "spt", feature = "spt-v2"),
    all(feature = "spt", feature = "hvt"),
    all(feature = "spt-v2", feature = "hvt")
))]
compile_error!("solo5-guest: enable exactly one flavor feature: `spt`, `spt-v2` or `hvt`");
#[cfg(not(any(feature = "spt", feature = "spt-v2", feature = "hvt")))]
compile_error!("solo5-guest: enable exactly one flavor feature: `spt`, `spt-v2` or `hvt`");

// Links memcpy and friends into the guest. Not in this crate's unit tests,
// whose host binary has a libc.
#[cfg(not(test))]
extern crate solo5_guest_mem;

/// The interface crate, re-exported for the macros.
pub use solo5_abi as abi;

pub mod block;
pub mod capi;
pub mod clock;
mod cmdline;
pub mod console;
mod handle;
#[cfg(feature = "alloc")]
mod heap;
mod image;
pub mod log;
pub mod manifest;
mod mft;
pub mod net;
mod panic;
mod platform;
mod ssp;
mod start;
#[cfg(not(feature = "hvt"))]
mod sys;
pub mod tls;

pub use block::{Block, BlockInfo};
pub use clock::yield_until;
pub use handle::{Error, Handle, HandleSet, Handles};
pub use net::{Net, NetInfo};
pub use start::{StartInfo, GUARD_SIZE};

/// Exit status of a successful application.
pub const EXIT_SUCCESS: i32 = 0;
/// Exit status of a failed application.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status of [`abort`]; 255 and above are reserved for Solo5.
pub const EXIT_ABORT: i32 = abi::EXIT_ABORT;

/// Ends the application with `status`, after logging
/// `Solo5: solo5_exit(<status>) called` at `info` level.
pub fn exit(status: i32) -> ! {
    log::log(
        log::Level::Info,
        format_args!("Solo5: solo5_exit({status}) called\n"),
    );
    platform::exit(status)
}

/// Ends the application abnormally (status 255), after logging
/// `Solo5: solo5_abort() called` at `info` level.
pub fn abort() -> ! {
    log::log(
        log::Level::Info,
        format_args!("Solo5: solo5_abort() called\n"),
    );
    platform::exit(EXIT_ABORT)
}

/// Sets the TLS base (the `%fs` base) to `base`.
///
/// Code that touches thread-locals afterwards reads and writes relative to
/// `base`; see [`tls`] to build a proper block.
pub fn set_tls_base(base: usize) -> Result<(), Error> {
    handle::result(platform::set_tls_base(base as u64))
}
