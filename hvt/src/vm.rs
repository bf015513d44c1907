//! The KVM side of the tender (docs/hvt.md, "KVM"): `/dev/kvm`, the VM, its
//! one vcpu and its one memory slot, through `kvm-ioctls`.

use crate::memory::GuestMemory;
use kvm_bindings::{kvm_userspace_memory_region, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, IoEventAddress, Kvm, NoDatamatch, SyncReg, VcpuFd, VmFd};
use std::io;
use std::os::fd::AsRawFd;
use thiserror::Error;
use vmm_sys_util::eventfd::EventFd;

/// `KVM_GET_API_VERSION` every KVM since Linux 2.6.22 answers.
const API_VERSION: i32 = 12;

vmm_sys_util::ioctl_io_nr!(KVM_RUN, kvm_bindings::KVMIO, 0x80);
vmm_sys_util::ioctl_ior_nr!(
    KVM_GET_REGS,
    kvm_bindings::KVMIO,
    0x81,
    kvm_bindings::kvm_regs
);

vmm_sys_util::ioctl_iow_nr!(
    KVM_SET_REGS,
    kvm_bindings::KVMIO,
    0x82,
    kvm_bindings::kvm_regs
);
vmm_sys_util::ioctl_ior_nr!(
    KVM_GET_SREGS,
    kvm_bindings::KVMIO,
    0x83,
    kvm_bindings::kvm_sregs
);
vmm_sys_util::ioctl_iow_nr!(
    KVM_SET_SREGS,
    kvm_bindings::KVMIO,
    0x84,
    kvm_bindings::kvm_sregs
);
vmm_sys_util::ioctl_iow_nr!(
    KVM_SET_GUEST_DEBUG,
    kvm_bindings::KVMIO,
    0x9b,
    kvm_bindings::kvm_guest_debug
);

/// The `KVM_RUN` request, for the seccomp policy.
pub fn kvm_run_request() -> u64 {
    KVM_RUN()
}

/// The register and debug requests `--dumpcore` and `--gdb` make under
/// the filter.
pub fn kvm_debug_requests() -> solo5_policy::hvt::KvmDebug {
    solo5_policy::hvt::KvmDebug {
        get_regs: KVM_GET_REGS(),
        set_regs: KVM_SET_REGS(),
        get_sregs: KVM_GET_SREGS(),
        set_sregs: KVM_SET_SREGS(),
        set_guest_debug: KVM_SET_GUEST_DEBUG(),
    }
}

/// The `KVM_GET_REGS` request, for the seccomp policy of a host without
/// `KVM_CAP_SYNC_REGS`.
pub fn kvm_get_regs_request() -> u64 {
    KVM_GET_REGS()
}

/// A failed KVM step; each is upstream's line (docs/hvt.md, "CPU state at entry"
/// and "KVM").
#[derive(Debug, Error)]
pub enum VmError {
    /// `/dev/kvm` missing, not permitted, ...
    #[error("Could not open: /dev/kvm")]
    Open(#[source] io::Error),
    /// Not the KVM API this tender speaks.
    #[error("KVM: API version is {0}, solo5-hvt requires version {API_VERSION}")]
    ApiVersion(i32),
    /// `KVM_CREATE_VM`.
    #[error("KVM: ioctl (CREATE_VM) failed")]
    CreateVm(#[source] io::Error),
    /// `KVM_CREATE_VCPU` (or mapping its run area).
    #[error("KVM: ioctl (CREATE_VCPU) failed")]
    CreateVcpu(#[source] io::Error),
    /// No user memory slots.
    #[error("KVM: host does not support KVM_CAP_USER_MEMORY")]
    NoUserMemory,
    /// `KVM_SET_USER_MEMORY_REGION`.
    #[error("KVM: ioctl (SET_USER_MEMORY_REGION) failed")]
    SetMemory(#[source] io::Error),
    /// `KVM_GET_SUPPORTED_CPUID`.
    #[error("KVM: ioctl (GET_SUPPORTED_CPUID) failed")]
    GetCpuid(#[source] io::Error),
    /// `KVM_SET_CPUID2`.
    #[error("KVM: ioctl (SET_CPUID2) failed")]
    SetCpuid(#[source] io::Error),
    /// `KVM_SET_SREGS`.
    #[error("KVM: ioctl (SET_SREGS) failed")]
    SetSregs(#[source] io::Error),
    /// `KVM_SET_REGS`.
    #[error("KVM: ioctl (SET_REGS) failed")]
    SetRegs(#[source] io::Error),
    /// No way to learn the TSC frequency.
    #[error("KVM: host does not support KVM_CAP_GET_TSC_KHZ")]
    NoTscKhz,
    /// `KVM_GET_TSC_KHZ` said EIO.
    #[error("KVM: host TSC is unstable, cannot continue")]
    TscUnstable,
    /// `KVM_GET_TSC_KHZ`, any other error.
    #[error("KVM: ioctl (KVM_GET_TSC_KHZ) failed")]
    GetTscKhz(#[source] io::Error),
}

fn os(e: kvm_ioctls::Error) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

/// Everything `KVM_GET_SUPPORTED_CPUID` reports, asking for as many
/// entries as KVM itself can return (`KVM_MAX_CPUID_ENTRIES`, the kernel's
/// own limit), not a fixed 100.
fn supported_cpuid(kvm: &Kvm) -> Result<CpuId, VmError> {
    kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| VmError::GetCpuid(os(e)))
}

/// The VM and its vcpu.
pub struct Vm {
    kvm: Kvm,
    vm: VmFd,
    /// The one vcpu, id 0.
    pub vcpu: VcpuFd,
    /// Whether KVM copies the registers into the run area at every exit
    /// (`KVM_CAP_SYNC_REGS`), so the run loop needs no `KVM_GET_REGS`.
    pub sync_regs: bool,
    /// Whether KVM can also hand over (and take back) the special
    /// registers in the run area; used only for a demoted kernel
    /// ([`crate::demote`]).
    pub sync_sregs: bool,
    /// Everything `KVM_GET_SUPPORTED_CPUID` reported.
    pub cpuid: CpuId,
}

impl Vm {
    /// Open `/dev/kvm`, check the API, create the VM and vcpu 0 (with its
    /// run area mapped) and read the supported CPUID.
    pub fn create() -> Result<Vm, VmError> {
        let kvm = Kvm::new().map_err(|e| VmError::Open(os(e)))?;
        let api = kvm.get_api_version();
        if api != API_VERSION {
            return Err(VmError::ApiVersion(api));
        }
        let vm = kvm.create_vm().map_err(|e| VmError::CreateVm(os(e)))?;
        let mut vcpu = vm.create_vcpu(0).map_err(|e| VmError::CreateVcpu(os(e)))?;
        let cpuid = supported_cpuid(&kvm)?;
        if !kvm.check_extension(Cap::UserMemory) {
            return Err(VmError::NoUserMemory);
        }
        let sync_caps = kvm.check_extension_int(Cap::SyncRegs) as u32;
        let sync_regs = sync_caps & kvm_bindings::KVM_SYNC_X86_REGS != 0;
        let sync_sregs = sync_regs && sync_caps & kvm_bindings::KVM_SYNC_X86_SREGS != 0;
        if sync_regs {
            vcpu.set_sync_valid_reg(SyncReg::Register);
        }
        Ok(Vm {
            kvm,
            vm,
            vcpu,
            sync_regs,
            sync_sregs,
            cpuid,
        })
    }

    /// Give the VM `mem` as slot 0 at guest physical address 0.
    pub fn set_memory(&self, mem: &GuestMemory) -> Result<(), VmError> {
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: mem.alloc_size(),
            userspace_addr: mem.host_base(),
        };
        // SAFETY: the region is our own anonymous mapping of exactly
        // `alloc_size` bytes; it stays mapped for as long as the VM runs
        // (the tender exits without unmapping it while the VM exists).
        unsafe { self.vm.set_user_memory_region(region) }.map_err(|e| VmError::SetMemory(os(e)))
    }

    /// The TSC frequency in Hz, for the boot info.
    pub fn tsc_hz(&self) -> Result<u64, VmError> {
        if self.kvm.check_extension_int(Cap::GetTscKhz) != 1 {
            return Err(VmError::NoTscKhz);
        }
        match self.vcpu.get_tsc_khz() {
            Ok(khz) => Ok(u64::from(khz) * 1000),
            Err(e) if e.errno() == libc::EIO => Err(VmError::TscUnstable),
            Err(e) => Err(VmError::GetTscKhz(os(e))),
        }
    }

    /// Whether KVM can signal an eventfd on a guest port write
    /// (`KVM_CAP_IOEVENTFD`), which the net ring's kick needs.
    pub fn has_ioeventfd(&self) -> bool {
        self.kvm.check_extension_int(Cap::Ioeventfd) > 0
    }

    /// Have KVM signal `efd` when the guest writes port `port`, with no
    /// exit to the tender (`KVM_IOEVENTFD`, any length, no data match).
    pub fn kick_eventfd(&self, efd: &EventFd, port: u64) -> io::Result<()> {
        self.vm
            .register_ioevent(efd, &IoEventAddress::Pio(port), NoDatamatch)
            .map_err(os)
    }

    /// The vcpu descriptor, for the seccomp policy.
    pub fn vcpu_fd(&self) -> i32 {
        self.vcpu.as_raw_fd()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Strict mode (`SOLO5_TEST_STRICT=1`, as CI sets it): a test that
    /// would skip fails instead.
    pub(crate) fn strict() -> bool {
        std::env::var_os("SOLO5_TEST_STRICT").is_some_and(|v| !v.is_empty() && v != "0")
    }

    use super::*;
    use solo5_policy::hvt::{build, Hvt};

    /// How a forked child that installs a filter allowing `run` and
    /// `get_regs` as requests, then makes both calls through kvm-ioctls,
    /// ended: (killed, signal or exit code).
    fn child_with(vm: &mut Vm, run: u64, get_regs: u64) -> (bool, i32) {
        let h = Hvt {
            vcpu_fd: vm.vcpu_fd(),
            kvm_run: run,
            kvm_get_regs: Some(get_regs),
            ..Hvt::default()
        };
        let filter = build(&h).compile().expect("compiles");
        // SAFETY: the child installs the filter (no allocation), makes two
        // ioctls through kvm-ioctls (no allocation on their error paths:
        // KVM refuses a vcpu used from another process) and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = if filter.install().is_ok() {
                let _ = vm.vcpu.run();
                let _ = vm.vcpu.get_regs();
                0
            } else {
                2
            };
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waits for our own child; status is a live int.
        while unsafe { libc::waitpid(pid, &mut status, 0) } != pid {}
        if libc::WIFSIGNALED(status) {
            (true, libc::WTERMSIG(status))
        } else {
            (false, libc::WEXITSTATUS(status))
        }
    }

    /// The request numbers the policy allows are exactly those kvm-ioctls
    /// uses: a wrong one would kill the tender at its first KVM_RUN.
    #[test]
    fn policy_requests_are_the_ones_kvm_ioctls_makes() {
        if !std::path::Path::new("/dev/kvm").exists() {
            assert!(!strict(), "/dev/kvm is absent (SOLO5_TEST_STRICT)");
            eprintln!("SKIP: /dev/kvm is absent");
            return;
        }
        let mut vm = Vm::create().expect("KVM");
        let (run, regs) = (kvm_run_request(), kvm_get_regs_request());
        assert_eq!(child_with(&mut vm, run, regs), (false, 0));
        assert_eq!(
            child_with(&mut vm, run + 1, regs),
            (true, libc::SIGSYS),
            "a different KVM_RUN number is caught"
        );
        assert_eq!(
            child_with(&mut vm, run, regs + 1),
            (true, libc::SIGSYS),
            "a different KVM_GET_REGS number is caught"
        );
    }
}
