//! The vcpu run loop (docs/hvt.md, "Ports" and "Run loop and fatal lines"): enter the guest, serve
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

use crate::demote::{Demoted, Failure, Outcome};
use crate::dumpcore::{self, Dumpcore, Frame};
use crate::gdb::{self, Stop};
use crate::hypercalls::{self, Hypercalls, Next};
use crate::layout::hypercall::{off, MAX, PIO_BASE};
use crate::memory::GuestMemory;
use crate::ring;
use crate::sys::{self, fatal, Errno};
use kvm_bindings::KVM_EXIT_MMIO;
use kvm_ioctls::{VcpuExit, VcpuFd};

/// An exit of `KVM_RUN`, as the run loop needs it (kvm-ioctls'
/// [`VcpuExit`], copied out so that the vcpu is free again).
enum Exit {
    /// An `out` to `port`: the 4 bytes written, if it wrote 4.
    Out(u16, Option<u32>),
    /// An `in` from `port`.
    In(u16),
    /// `KVM_EXIT_FAIL_ENTRY` with its hardware reason.
    FailEntry(u64),
    /// `KVM_EXIT_INTERNAL_ERROR`.
    InternalError,
    /// An access to an address no memory slot backs (or RAM the host
    /// maps read-only, on kvm_pvm).
    Mmio(u64),
    /// `EFAULT` from `KVM_RUN`, or a memory fault exit.
    Fault,
    /// `KVM_EXIT_DEBUG` (breakpoint, single step; only with `--gdb`).
    Debug(kvm_bindings::kvm_debug_exit_arch),
    /// Anything else, by its exit reason.
    Other(u32),
}

/// The value of a hypercall's port write: one 4-byte `out` (`size` 4,
/// `count` 1) whose 4 bytes are `value`. A string instruction (`rep
/// outs`, `count` above 1) or another width names no struct: `None`.
/// (Some KVMs, kvm_pvm among them, deliver a `rep outs` one iteration per
/// exit, each with `count` 1: each is then a whole hypercall, checked as
/// any other.)
pub fn one_outl(size: u8, count: u32, value: Option<u32>) -> Option<u32> {
    value.filter(|_| size == 4 && count == 1)
}

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

/// What the run loop does beyond running the guest: `--dumpcore` and
/// `--gdb`.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Write a core file when the guest aborts or traps.
    pub dumpcore: Option<&'a Dumpcore>,
    /// The debugger's stub.
    pub gdb: Option<&'a mut gdb::Stub>,
    /// A kernel built for CPL0 entered at CPL3: its traps are the
    /// tender's to carry out ([`crate::demote`]).
    pub demoted: Option<&'a mut Demoted>,
}

/// The debugger killed the guest (`k`): one line, status 1.
fn killed() -> ! {
    sys::fatal(format_args!("gdb: the debugger killed the guest"))
}

/// The registers KVM has for the vcpu now (the run area's copy where
/// there is one) and its special registers, for a core file.
fn core_regs(
    vcpu: &mut VcpuFd,
    sync_regs: bool,
) -> (
    Option<kvm_bindings::kvm_regs>,
    Option<kvm_bindings::kvm_sregs>,
) {
    let regs = if sync_regs {
        Some(vcpu.sync_regs().regs)
    } else {
        vcpu.get_regs().ok()
    };
    (regs, vcpu.get_sregs().ok())
}

/// The trap frame a guest passed as HALT's cookie (upstream's `struct
/// trap_regs`: cr2, ec, rip, cs, rflags, rsp, ss), if any and if it lies
/// in guest memory.
fn cookie_frame(mem: &GuestMemory, halt_gpa: u64) -> Option<Frame> {
    let cookie = mem.read_u64(halt_gpa + off::HALT_COOKIE).ok()?;
    if cookie == 0 {
        return None;
    }
    let w = |i: u64| mem.read_u64(cookie + i * 8).ok();
    Some(Frame {
        rip: w(2)?,
        cs: w(3)?,
        rflags: w(4)?,
        rsp: w(5)?,
        ss: w(6)?,
        rax_rdx: None,
    })
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
    hooks: Hooks<'_>,
) -> ! {
    let mut gdb = hooks.gdb;
    let mut demoted = hooks.demoted;
    if let Some(g) = gdb.as_deref_mut() {
        if g.stopped(vcpu, mem, Stop::Initial) == gdb::Next::Kill {
            killed()
        }
    }
    loop {
        // What the exit was, copied out of the run area (the borrow of
        // the vcpu ends here).
        let exit = match vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                let mut value = [0u8; 4];
                let whole = data.len() == 4;
                if whole {
                    value.copy_from_slice(data);
                }
                Exit::Out(port, whole.then_some(u32::from_le_bytes(value)))
            }
            Ok(VcpuExit::IoIn(port, _)) => Exit::In(port),
            Ok(VcpuExit::FailEntry(reason, _)) => Exit::FailEntry(reason),
            Ok(VcpuExit::InternalError) => Exit::InternalError,
            Ok(VcpuExit::MmioRead(addr, _)) | Ok(VcpuExit::MmioWrite(addr, _)) => Exit::Mmio(addr),
            Ok(VcpuExit::MemoryFault { .. }) => Exit::Fault,
            Ok(VcpuExit::Debug(arch)) => Exit::Debug(arch),
            Ok(_) => Exit::Other(vcpu.get_kvm_run().exit_reason),
            Err(e) => match e.errno() {
                libc::EINTR => {
                    // The debugger's Ctrl-C is looked for at each timer
                    // tick (only with --gdb).
                    if let Some(g) = gdb.as_deref_mut() {
                        if g.interrupted(vcpu, mem)
                            && g.stopped(vcpu, mem, Stop::Interrupt) == gdb::Next::Kill
                        {
                            killed()
                        }
                    }
                    continue;
                }
                libc::EFAULT => Exit::Fault,
                n => fatal(format_args!("KVM: ioctl (RUN) failed: {}", Errno(n))),
            },
        };
        match exit {
            Exit::Out(port, value) => {
                // One `outl`: a string instruction (`rep outs`, count above
                // 1) or another width names no hypercall struct, and is
                // refused like any other port use.
                let run = vcpu.get_kvm_run();
                // SAFETY: exit_reason is KVM_EXIT_IO (run() said IoOut), so
                // the io member of the union is the valid one.
                let io = unsafe { run.__bindgen_anon_1.io };
                // A demoted kernel moved to CPL0 has no stub any more.
                let at_cpl3 = user && demoted.as_deref().is_none_or(Demoted::at_cpl3);
                let trap = at_cpl3 && port == crate::user::PORT;
                let Some(gpa) = one_outl(io.size, io.count, value) else {
                    fatal(format_args!("Invalid guest port access: port={port:#x}"))
                };
                if !(trap || (PIO_BASE..PIO_BASE + MAX).contains(&port)) {
                    fatal(format_args!("Invalid guest port access: port={port:#x}"));
                }
                if let Some(d) = demoted.as_deref_mut().filter(|_| trap) {
                    match d.trap(vcpu, mem, u64::from(gpa)) {
                        Ok(Outcome::Emulated | Outcome::Lowered) => continue,
                        Ok(Outcome::NotTheStub) => {
                            fatal(format_args!("Invalid guest port access: port={port:#x}"))
                        }
                        Err(Failure::Ioctl(what, errno)) => {
                            fatal(format_args!("KVM: ioctl ({what}) failed: {}", Errno(errno)))
                        }
                    }
                }
                if trap {
                    if let Some(g) = gdb.as_deref_mut().filter(|g| g.connected()) {
                        let vector = crate::user::read_trap(mem, u64::from(gpa))
                            .map(|t| t.vector)
                            .unwrap_or(u64::MAX);
                        let stop = Stop::Trap {
                            gpa: u64::from(gpa),
                            vector,
                        };
                        match g.stopped(vcpu, mem, stop) {
                            // The stub returns to the guest with iretq.
                            gdb::Next::Resume => continue,
                            gdb::Next::Kill => killed(),
                            gdb::Next::Deliver => {}
                        }
                    }
                    let t = crate::user::report(mem, u64::from(gpa));
                    if let Some(d) = hooks.dumpcore {
                        let (regs, sregs) = core_regs(vcpu, sync_regs);
                        let signal = dumpcore::signal_of(Some(t.vector));
                        d.dump(mem, regs.as_ref(), sregs.as_ref(), Some(&t.frame()), signal);
                    }
                    if let Some(g) = gdb.as_deref_mut() {
                        g.exited(solo5_abi::EXIT_ABORT);
                    }
                    sys::exit(solo5_abi::EXIT_ABORT)
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
                        match hooks.dumpcore {
                            Some(d) if status == solo5_abi::EXIT_ABORT => {
                                let frame = cookie_frame(mem, u64::from(gpa));
                                let (mut regs, mut sregs) = core_regs(vcpu, sync_regs);
                                if let Some(d) = demoted.as_deref() {
                                    d.as_the_kernel_sees(regs.as_mut(), sregs.as_mut());
                                }
                                let signal = dumpcore::signal_of(None);
                                d.dump(mem, regs.as_ref(), sregs.as_ref(), frame.as_ref(), signal);
                            }
                            _ => {}
                        }
                        if let Some(g) = gdb.as_deref_mut() {
                            g.exited(status);
                        }
                        sys::exit(status)
                    }
                    Err(f) => hypercalls::stop(f),
                }
            }
            Exit::In(port) => fatal(format_args!("Invalid guest port access: port={port:#x}")),
            Exit::FailEntry(reason) => fatal(format_args!(
                "KVM: entry failure: hw_entry_failure_reason={reason:#x}"
            )),
            Exit::InternalError => {
                let run = vcpu.get_kvm_run();
                // SAFETY: exit_reason is KVM_EXIT_INTERNAL_ERROR (run() said
                // InternalError), so internal is the valid member.
                let sub = unsafe { run.__bindgen_anon_1.internal.suberror };
                fatal(format_args!("KVM: internal error exit: suberror={sub:#x}"))
            }
            Exit::Fault => {
                let rip = rip(vcpu, sync_regs, "guest fault");
                fatal(format_args!(
                    "KVM: host/guest translation fault: rip={rip:#x}"
                ))
            }
            Exit::Mmio(addr) => {
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
            Exit::Debug(arch) => {
                if let Some(g) = gdb.as_deref_mut() {
                    if g.stopped(vcpu, mem, Stop::Debug(arch)) == gdb::Next::Kill {
                        killed()
                    }
                }
            }
            Exit::Other(reason) => {
                let rip = rip(vcpu, sync_regs, "unhandled exit");
                fatal(format_args!(
                    "KVM: unhandled exit: exit_reason={reason:#x}, rip={rip:#x}"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::one_outl;

    #[test]
    fn only_one_four_byte_out_is_a_hypercall() {
        assert_eq!(one_outl(4, 1, Some(0x20_0000)), Some(0x20_0000));
        // rep outsd of two, as a KVM that batches string I/O reports it.
        assert_eq!(one_outl(4, 2, Some(0x20_0000)), None);
        assert_eq!(one_outl(4, 0, Some(0x20_0000)), None);
        // outb, outw.
        assert_eq!(one_outl(1, 1, Some(7)), None);
        assert_eq!(one_outl(2, 1, Some(7)), None);
        // Not 4 bytes of data at all.
        assert_eq!(one_outl(4, 1, None), None);
    }
}
