//! Upstream's hvt ABI version 2 (docs/hvt.md): the guest runs in a KVM virtual
//! machine and calls its tender with `outl` on ports `0x500 + NR`, EAX
//! holding the guest physical address of a per-call argument struct.
//!
//! Before any Rust code runs, `_start` (`hvt_cpu.rs`) either finds itself
//! at CPL3 on the tender's set-up (our solo5-hvt, docs/hvt-user-mode.md)
//! or takes over the CPU from the tender at CPL0 (its own page tables,
//! GDT, TSS and IDT) and drops to CPL3. Either way everything else (this
//! module included) runs at CPL3, and hypercalls are made from CPL3; the
//! TSS's I/O permission bitmap opens exactly the hypercall ports.
//!
//! Net I/O goes through the shared net ring when the tender offers it
//! (`hvt_net.rs`, `hvt_ring.rs`, docs/hvt.md, "The net ring"), else through the
//! NET_READ and NET_WRITE hypercalls.
//!
//! Time: monotonic time is the TSC scaled by `cpu_cycle_freq` from the
//! boot info (the only frequency source the ABI gives), counted from the
//! first reading at startup; wall time is the WALLTIME hypercall.

use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering};

use solo5_abi::mft::Entry;
use solo5_abi::note::{target, version};
use solo5_abi::result;

use super::hvt_call::{halt, hypercall};
use super::{hvt_cpu, hvt_net};
use super::{manifest_at, Boot};

/// ABI1 note target of this flavor.
pub(crate) const ABI_TARGET: u32 = target::HVT;
/// ABI1 note version of this flavor.
pub(crate) const ABI_VERSION: u32 = version::HVT;

/// The hvt ABI's boot info and hypercall structs: one definition, shared
/// with the tender.
pub(crate) use solo5_abi::hvt::{BlockIo, BootInfo, NetIo, Poll, Puts, Walltime};

/// Hypercall numbers (port = `PIO_BASE + NR`; HALT is in `hvt_call`).
pub(crate) mod nr {
    pub use solo5_abi::hvt::{
        HC_BLOCK_READ as BLOCK_READ, HC_BLOCK_WRITE as BLOCK_WRITE, HC_NET_READ as NET_READ,
        HC_NET_WRITE as NET_WRITE, HC_POLL as POLL, HC_PUTS as PUTS, HC_WALLTIME as WALLTIME,
    };
}

/// The TSC at startup: monotonic time counts from there.
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per tick as a 32.32 fixed-point factor.
static NS_PER_TICK: AtomicU64 = AtomicU64::new(0);

fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: rdtsc reads the time-stamp counter (CR4.TSD is clear, so
    // also at CPL3); no memory is touched.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Records the boot info at `arg`; `_start` already set up the CPU.
///
/// # Safety
/// `arg` must be the value the tender passed to `_start` in rdi.
pub(crate) unsafe fn init(arg: *const c_void) -> Result<Boot, &'static str> {
    let bi = arg as *const BootInfo;
    if bi.is_null() || !bi.is_aligned() {
        return Err("boot info: bad address");
    }
    // SAFETY: the tender wrote a 56-byte hvt boot info at this address
    // (rdi at entry); the page tables of hvt_cpu map it read-only for us.
    let bi = unsafe { *bi };
    if bi.mem_size == 0 || bi.kernel_end > bi.mem_size {
        return Err("boot info: bad memory size");
    }
    if bi.cpu_cycle_freq == 0 {
        return Err("boot info: no TSC frequency");
    }
    NS_PER_TICK.store(
        ((1_000_000_000u128 << 32) / u128::from(bi.cpu_cycle_freq)) as u64,
        Ordering::Relaxed,
    );
    TSC_BASE.store(rdtsc(), Ordering::Relaxed);
    // SAFETY: the tender copies the manifest right after the boot info.
    let mft = unsafe { manifest_at(bi.mft, None) }?;
    // The ring where docs/hvt.md, "The net ring", puts it, as `_start` maps it at CPL0.
    if bi.host_features & solo5_abi::hvt::FEATURE_RING_IO != 0 && bi.net_ring == bi.mem_size {
        hvt_net::offer(bi.net_ring);
    }
    let mut boot = Boot::new(bi.mem_size, bi.kernel_end, bi.cmdline, mft);
    // At CPL3 from the start, the tender's stack is at the top of memory
    // (the spt layout, with the guard of our stack note); otherwise
    // `_start` put it below the heap.
    if !hvt_cpu::entered_at_cpl3() {
        boot.placed = Some(super::Placed {
            heap_start: hvt_cpu::heap_start(),
            stack: hvt_cpu::stack_range(),
        });
    }
    Ok(boot)
}

pub(crate) fn console_write(buf: &[u8]) {
    if buf.is_empty() {
        return;
    }
    let mut a = Puts {
        data: buf.as_ptr() as u64,
        len: buf.len() as u64,
    };
    hypercall(nr::PUTS, &mut a);
}

pub(crate) fn exit(status: i32) -> ! {
    halt(status, 0)
}

/// Ticks to nanoseconds: 32.32 fixed point, exact to well under a
/// nanosecond per second.
fn ticks_to_ns(ticks: u64) -> u64 {
    ((u128::from(ticks) * u128::from(NS_PER_TICK.load(Ordering::Relaxed))) >> 32) as u64
}

pub(crate) fn clock_monotonic() -> u64 {
    ticks_to_ns(rdtsc().wrapping_sub(TSC_BASE.load(Ordering::Relaxed)))
}

pub(crate) fn clock_wall() -> u64 {
    let mut a = Walltime::default();
    hypercall(nr::WALLTIME, &mut a);
    a.nsecs
}

pub(crate) fn yield_until(deadline: u64) -> u64 {
    if let Some(set) = hvt_net::yield_spin(deadline, clock_monotonic) {
        return set;
    }
    poll(deadline.saturating_sub(clock_monotonic()))
}

/// The POLL hypercall: sleeps up to `timeout_nsecs` in the tender, until a
/// net device is readable; the set of readable devices.
pub(crate) fn poll(timeout_nsecs: u64) -> u64 {
    let mut a = Poll {
        timeout_nsecs,
        ..Poll::default()
    };
    hypercall(nr::POLL, &mut a);
    a.ready_set
}

/// The lines the banner adds on hvt: how the guest was entered, and
/// whether net I/O goes through the ring.
pub(crate) fn entry_line() -> &'static str {
    match (hvt_cpu::entered_at_cpl3(), hvt_net::in_use()) {
        (true, false) => {
            "Solo5: hvt: entered at CPL3 (tender-owned page tables, descriptor tables, traps)\n"
        }
        (true, true) => concat!(
            "Solo5: hvt: entered at CPL3 (tender-owned page tables, descriptor tables, traps)\n",
            "Solo5: hvt: net I/O through the shared ring\n"
        ),
        (false, false) => {
            "Solo5: hvt: entered at CPL0 (own page tables, descriptor tables, traps), running at CPL3\n"
        }
        (false, true) => concat!(
            "Solo5: hvt: entered at CPL0 (own page tables, descriptor tables, traps), running at CPL3\n",
            "Solo5: hvt: net I/O through the shared ring\n"
        ),
    }
}

pub(crate) fn set_tls_base(base: u64) -> u32 {
    // Only canonical user addresses: a non-canonical base would make the
    // wrmsr fault at CPL0.
    if base >= 1 << 47 {
        return result::EINVAL;
    }
    hvt_cpu::set_fs_base(base);
    result::OK
}

pub(crate) fn net_read(handle: u64, _e: &Entry, buf: &mut [u8]) -> Result<usize, u32> {
    if let Some(r) = hvt_net::read(handle, buf) {
        return r;
    }
    let mut a = NetIo {
        handle,
        data: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        ret: 0,
    };
    hypercall(nr::NET_READ, &mut a);
    if a.ret as u32 == result::OK {
        Ok((a.len as usize).min(buf.len()))
    } else {
        Err(a.ret as u32)
    }
}

pub(crate) fn net_write(handle: u64, _e: &Entry, buf: &[u8]) -> u32 {
    if hvt_net::write(handle, buf) {
        return result::OK;
    }
    let mut a = NetIo {
        handle,
        data: buf.as_ptr() as u64,
        len: buf.len() as u64,
        ret: 0,
    };
    hypercall(nr::NET_WRITE, &mut a);
    a.ret as u32
}

fn block_io(n: u16, handle: u64, offset: u64, data: u64, len: usize) -> u32 {
    let mut a = BlockIo {
        handle,
        offset,
        data,
        len: len as u64,
        ret: 0,
    };
    hypercall(n, &mut a);
    a.ret as u32
}

/// What one BLOCK_READ/BLOCK_WRITE may move: our tender serves up to
/// [`solo5_abi::MAX_BLOCK_REQUEST`], upstream's any whole request inside
/// the device.
pub(crate) fn max_block_request() -> u64 {
    solo5_abi::MAX_BLOCK_REQUEST
}

pub(crate) fn block_read(handle: u64, _e: &Entry, offset: u64, buf: &mut [u8]) -> u32 {
    block_io(
        nr::BLOCK_READ,
        handle,
        offset,
        buf.as_mut_ptr() as u64,
        buf.len(),
    )
}

pub(crate) fn block_write(handle: u64, _e: &Entry, offset: u64, buf: &[u8]) -> u32 {
    block_io(
        nr::BLOCK_WRITE,
        handle,
        offset,
        buf.as_ptr() as u64,
        buf.len(),
    )
}
