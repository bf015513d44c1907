//! The tender's own confinement while the guest runs (docs/hvt.md, "The tender's confinement", made
//! stricter): no READ_IMPLIES_EXEC persona, no capabilities, no_new_privs,
//! and a seccomp filter on every thread that allows `KVM_RUN` on the vcpu
//! and the hypercalls' few calls (solo5_policy::hvt).

use crate::vm::{self, Vm};
use solo5_policy::hvt::Hvt;
use solo5_policy::{Filter, Policy};
use solo5_tender::devices::table::Table;
use solo5_tender::devices::Devices;
use solo5_tender::privileges::{self, DropCapsError};
use thiserror::Error;

/// Why the tender could not confine itself.
#[derive(Debug, Error)]
pub enum SandboxError {
    /// The process runs with READ_IMPLIES_EXEC (upstream's line).
    #[error("Cowardly refusing to run with a sys_personality of READ_IMPLIES_EXEC. Please report a bug, with details of your Linux distribution and GCC version")]
    ReadImpliesExec,
    /// Capabilities.
    #[error(transparent)]
    Caps(#[from] DropCapsError),
    /// Building or installing the filter.
    #[error(transparent)]
    Policy(#[from] solo5_policy::Error),
}

/// The seccomp policy for this VM and these devices, with the net ring's
/// eventfd when the ring is offered, the core dump's descriptors with
/// `--dumpcore` and the debugger's connection with `--gdb`.
pub fn policy(
    vm: &Vm,
    devices: &Devices,
    ring_eventfd: Option<i32>,
    dumpcore: Option<solo5_policy::hvt::Dumpcore>,
    gdb_fd: Option<i32>,
    demoted: bool,
) -> Policy {
    let d = Table::new(devices).policy();
    let h = Hvt {
        vcpu_fd: vm.vcpu_fd(),
        kvm_run: vm::kvm_run_request(),
        kvm_get_regs: (!vm.sync_regs).then(vm::kvm_get_regs_request),
        net_fds: d.net_fds,
        blocks: d.blocks,
        ring_eventfd,
        max_block_request: solo5_tender::devices::io::MAX_BLOCK_REQUEST,
        kvm_debug: vm::kvm_debug_requests(),
        dumpcore,
        gdb_fd,
        demoted,
    };
    solo5_policy::hvt::build(&h)
}

/// Give every privilege up, in upstream's order: the persona check, then
/// every capability set (the bounding set included). Called while the
/// tender has one thread, before the net ring's thread starts:
/// capabilities belong to each thread, so a thread started earlier would
/// keep them.
pub fn drop_privileges() -> Result<(), SandboxError> {
    if privileges::read_implies_exec() {
        return Err(SandboxError::ReadImpliesExec);
    }
    privileges::drop_capabilities()?;
    Ok(())
}

/// Confine every thread: no_new_privs and the filter, installed on all
/// threads at once (TSYNC). The capabilities are gone already
/// ([`drop_privileges`]); they are cleared again here, a no-op that
/// keeps this function correct on its own. After this the tender can
/// only run the guest.
pub fn enter(filter: &Filter) -> Result<(), SandboxError> {
    drop_privileges()?;
    filter.install_all_threads()?;
    Ok(())
}
