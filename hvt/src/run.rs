//! The vcpu run loop (HVT.md sections 5.1 and 9.1): enter the guest, serve
//! its hypercalls, and turn every other exit into upstream's one fatal
//! line and exit status 1. A HALT ends the process with the guest's status.
//!
//! For a guest entered at CPL3, a write of the tender's trap stub to its
//! port ([`crate::user`]) ends the guest with upstream's trap lines and
//! status 255; the guest itself cannot reach that port.
//!
//! It runs under the seccomp filter: it never allocates, and it makes no
//! system call but `KVM_RUN` on the vcpu and what the hypercalls need. The
//! registers for the fatal lines come from the run area
//! (`KVM_CAP_SYNC_REGS`), or from `KVM_GET_REGS` on a host without it.

use crate::hypercalls::{self, Hypercalls, Next};
use crate::layout::hypercall::{MAX, PIO_BASE};
use crate::memory::GuestMemory;
use crate::ring;
use crate::sys::{self, fatal, Errno};
use kvm_bindings::{
    KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_IO, KVM_EXIT_IO_OUT, KVM_EXIT_MMIO,
};
use kvm_ioctls::VcpuFd;

/// The guest's RIP after an exit or a failed `KVM_RUN`.
fn rip(vcpu: &mut VcpuFd, sync_regs: bool, what: &str) -> u64 {
    if sync_regs {
        return vcpu.sync_regs().regs.rip;
    }
    match vcpu.get_regs() {
        Ok(r) => r.rip,
        Err(e) => fatal(format_args!(
            "KVM: ioctl (GET_REGS) failed after {what}: {}",
            Errno(e.errno())
        )),
    }
}

/// Run the guest until it halts; then end the process with its status.
/// `ring`: the net ring's thread, woken when POLL finds a frame and
/// drained at HALT. `user`: the guest was entered at CPL3, so its traps
/// come from the tender's stub.
pub fn run(
    vcpu: &mut VcpuFd,
    sync_regs: bool,
    mem: &GuestMemory,
    hc: &mut Hypercalls,
    ring: Option<&ring::Thread>,
    user: bool,
) -> ! {
    loop {
        if let Err(e) = vcpu.run() {
            match e.errno() {
                libc::EINTR => continue,
                libc::EFAULT => {
                    let rip = rip(vcpu, sync_regs, "guest fault");
                    fatal(format_args!(
                        "KVM: host/guest translation fault: rip={rip:#x}"
                    ))
                }
                n => fatal(format_args!("KVM: ioctl (RUN) failed: {}", Errno(n))),
            }
        }
        let run = vcpu.get_kvm_run();
        match run.exit_reason {
            KVM_EXIT_IO => {
                // SAFETY: exit_reason says the io member is the valid one.
                let io = unsafe { run.__bindgen_anon_1.io };
                let port = io.port;
                // One `outl`: a `rep outsl` (count above 1) names no
                // hypercall struct, it is refused like any other port use.
                let outl =
                    u32::from(io.direction) == KVM_EXIT_IO_OUT && io.size == 4 && io.count == 1;
                let trap = user && port == crate::user::PORT;
                if !outl || !(trap || (PIO_BASE..PIO_BASE + MAX).contains(&port)) {
                    fatal(format_args!("Invalid guest port access: port={port:#x}"));
                }
                // The value the guest wrote: the u32 at data_offset.
                let base = (run as *mut kvm_bindings::kvm_run).cast::<u8>();
                // SAFETY: the kernel puts the data of an I/O exit inside the
                // run area it maps for us (at least a page), at data_offset;
                // an `outl` leaves 4 bytes there.
                let gpa = unsafe {
                    core::ptr::read_unaligned(base.add(io.data_offset as usize).cast::<u32>())
                };
                if trap {
                    crate::user::report(mem, u64::from(gpa));
                }
                match hc.dispatch(mem, port - PIO_BASE, u64::from(gpa)) {
                    Ok(Next::Resume) => {}
                    Ok(Next::NetReady) => {
                        if let Some(t) = ring {
                            t.wake();
                        }
                    }
                    Ok(Next::Halt(status)) => {
                        if let Some(t) = ring {
                            t.drain();
                        }
                        sys::exit(status)
                    }
                    Err(f) => hypercalls::stop(f),
                }
            }
            KVM_EXIT_FAIL_ENTRY => {
                // SAFETY: exit_reason says fail_entry is the valid member.
                let reason = unsafe {
                    run.__bindgen_anon_1
                        .fail_entry
                        .hardware_entry_failure_reason
                };
                fatal(format_args!(
                    "KVM: entry failure: hw_entry_failure_reason={reason:#x}"
                ))
            }
            KVM_EXIT_INTERNAL_ERROR => {
                // SAFETY: exit_reason says internal is the valid member.
                let sub = unsafe { run.__bindgen_anon_1.internal.suberror };
                fatal(format_args!("KVM: internal error exit: suberror={sub:#x}"))
            }
            KVM_EXIT_MMIO => {
                // SAFETY: exit_reason says mmio is the valid member.
                let addr = unsafe { run.__bindgen_anon_1.mmio.phys_addr };
                let rip = rip(vcpu, sync_regs, "unhandled exit");
                if addr < mem.alloc_size() {
                    // Guest RAM the host refused to write (a read-only
                    // segment): on kvm_pvm this is what other KVMs report
                    // as EFAULT, so it gets the same line.
                    fatal(format_args!(
                        "KVM: host/guest translation fault: rip={rip:#x}"
                    ))
                }
                fatal(format_args!(
                    "KVM: unhandled exit: exit_reason={KVM_EXIT_MMIO:#x}, rip={rip:#x}"
                ))
            }
            reason => {
                let rip = rip(vcpu, sync_regs, "unhandled exit");
                fatal(format_args!(
                    "KVM: unhandled exit: exit_reason={reason:#x}, rip={rip:#x}"
                ))
            }
        }
    }
}
