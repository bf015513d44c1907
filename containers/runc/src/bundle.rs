//! Turning a unikernel bundle into one runc can run: the process becomes
//! solo5-netns-exec wrapping the host's tender (both mounted read-only
//! from solo5-runc's install directory), with `/dev/net/tun` (and
//! `/dev/kvm` for hvt), CAP_NET_ADMIN and the few capabilities the helper
//! needs before it drops them all, and `--mem` from the memory limit.

use crate::urunc::{Hypervisor, Unikernel};
use oci_spec::runtime::{
    Capability, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, MountBuilder, Spec,
};
use solo5_abi::mft::kind;
use solo5_tender::cmdline::MIN_MEM_MIB;
use solo5_tender::notes::{self, NoteError};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the install directory appears inside the container.
pub const MOUNT: &str = "/.solo5";
/// Memory the tender itself needs beside the guest's, inside the
/// container's limit.
const TENDER_MIB: i64 = 8;

/// Why a unikernel bundle was refused.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The kernel is not in the image.
    #[error("unikernel binary {0} is not in the image")]
    NoKernel(String, #[source] std::io::Error),
    /// The kernel is not a Solo5 binary for the hypervisor.
    #[error("unikernel binary {0} is not a Solo5 {1} binary: {2}")]
    NotSolo5(String, &'static str, NoteError),
    /// The memory limit leaves too little for the guest.
    #[error("memory limit of {0} MiB leaves less than the {MIN_MEM_MIB} MiB a unikernel needs (plus {TENDER_MIB} MiB for the tender)")]
    Memory(i64),
    /// A block file named by the image is missing.
    #[error("block file {0} is not in the image")]
    NoBlock(String, #[source] std::io::Error),
    /// The image has a block file but the kernel has no block device.
    #[error("the image names block file {0} but {1} has no block device")]
    NoBlockDevice(String, String),
    /// Handing the block file to the tender's user failed.
    #[error("could not give block file {0} to uid 65534")]
    Chown(String, #[source] std::io::Error),
    /// A tender or the helper that needs a dynamic loader the image lacks.
    #[error("{0} is dynamically linked; a container needs the static build (scripts/build-all)")]
    Dynamic(String),
    /// The spec could not be built.
    #[error("could not build the runtime spec: {0}")]
    Spec(String),
}

/// `path` (absolute in the image) under `rootfs`.
pub fn in_rootfs(rootfs: &Path, path: &str) -> PathBuf {
    rootfs.join(path.trim_start_matches('/'))
}

/// Whether the ELF executable at `p` exists and has no PT_INTERP (needs
/// no dynamic loader, which a `FROM scratch` image does not have).
fn is_static(p: &Path) -> bool {
    let Ok(elf) = std::fs::read(p) else {
        return false;
    };
    let rd = |at: usize, n: usize| -> Option<u64> {
        let b = elf.get(at..at + n)?;
        Some(b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    let (Some(phoff), Some(size), Some(num)) = (rd(32, 8), rd(54, 2), rd(56, 2)) else {
        return false;
    };
    (0..num).all(|i| rd((phoff + i * size) as usize, 4).is_some_and(|t| t != 3))
}

/// The network arguments the guest gets for its kind.
fn network_args(kind: &str) -> Vec<String> {
    match kind {
        "mirage" => vec!["--ipv4={addr}/{prefix}".into(), "--ipv4-gateway={gw}".into()],
        "rumprun" => vec![r#"{"net":{"if":"ukvmif0","cloner":"True","type":"inet","method":"static","addr":"{addr}","mask":"{prefix}","gw":"{gw}"}}"#.into()],
        _ => Vec::new(),
    }
}

fn caps(set: &Option<HashSet<Capability>>) -> HashSet<Capability> {
    let mut s = set.clone().unwrap_or_default();
    s.extend([
        Capability::NetAdmin,
        Capability::Bpf,
        Capability::Setuid,
        Capability::Setgid,
        Capability::Setpcap,
        Capability::DacOverride,
    ]);
    s
}

/// Rewrite `spec` (whose root file system is `rootfs`) to run `u`.
pub fn rewrite(
    spec: &mut Spec,
    rootfs: &Path,
    u: &Unikernel,
    install: &Path,
) -> Result<(), BundleError> {
    let kernel = in_rootfs(rootfs, &u.binary);
    let file = std::fs::read(&kernel).map_err(|e| BundleError::NoKernel(u.binary.clone(), e))?;
    let not = |e| {
        BundleError::NotSolo5(
            u.binary.clone(),
            match u.hypervisor {
                Hypervisor::Spt => "spt",
                Hypervisor::Hvt => "hvt",
            },
            e,
        )
    };
    match u.hypervisor {
        Hypervisor::Spt => notes::spt_abi(&file).map(|_| ()).map_err(not)?,
        Hypervisor::Hvt => notes::check_abi(
            &file,
            solo5_abi::note::target::HVT,
            solo5_abi::note::version::HVT,
            "hvt",
        )
        .map(|_| ())
        .map_err(not)?,
    }
    let manifest = notes::manifest(&file).map_err(not)?;
    let spec_err = |e: oci_spec::OciSpecError| BundleError::Spec(e.to_string());

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    let limit = resources
        .memory()
        .as_ref()
        .and_then(|m| m.limit())
        .filter(|l| *l > 0);
    let mem = match limit {
        Some(l) => {
            let mib = l / (1 << 20);
            if mib - TENDER_MIB < MIN_MEM_MIB as i64 {
                return Err(BundleError::Memory(mib));
            }
            Some(mib - TENDER_MIB)
        }
        None => None,
    };

    for exe in ["solo5-netns-exec", u.hypervisor.tender()] {
        let p = install.join(exe);
        if !is_static(&p) {
            return Err(BundleError::Dynamic(p.display().to_string()));
        }
    }
    let mut tender = vec![format!("{MOUNT}/{}", u.hypervisor.tender())];
    if let Some(m) = mem {
        tender.push(format!("--mem={m}"));
    }
    if let Some(b) = &u.block {
        let path = in_rootfs(rootfs, b);
        std::fs::metadata(&path).map_err(|e| BundleError::NoBlock(b.clone(), e))?;
        let dev = manifest
            .devices()
            .find(|(_, e)| e.kind == kind::BLOCK_BASIC)
            .map(|(_, e)| String::from_utf8_lossy(e.name()).into_owned())
            .ok_or_else(|| BundleError::NoBlockDevice(b.clone(), u.binary.clone()))?;
        // The tender runs as 65534 and opens the file itself: the
        // container's copy becomes that user's.
        std::os::unix::fs::chown(&path, Some(65534), Some(65534))
            .map_err(|e| BundleError::Chown(b.clone(), e))?;
        tender.push(format!("--block:{dev}={b}"));
    }
    tender.push(u.binary.clone());

    let mut process = spec.process().clone().unwrap_or_default();
    let mut args = vec![format!("{MOUNT}/solo5-netns-exec"), "--".into()];
    args.extend(tender);
    args.extend(network_args(&u.kind));
    if !u.cmdline.is_empty() {
        args.push(u.cmdline.clone());
    }
    args.extend(process.args().clone().unwrap_or_default());
    process.set_args(Some(args));
    let mut user = process.user().clone();
    user.set_uid(0);
    user.set_gid(0);
    process.set_user(user);
    let mut c = process.capabilities().clone().unwrap_or_default();
    c.set_bounding(Some(caps(c.bounding())));
    c.set_effective(Some(caps(c.effective())));
    c.set_permitted(Some(caps(c.permitted())));
    process.set_capabilities(Some(c));
    spec.set_process(Some(process));

    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        MountBuilder::default()
            .destination(MOUNT)
            .typ("bind")
            .source(install)
            .options(vec![
                "rbind".to_string(),
                "ro".to_string(),
                "nosuid".to_string(),
            ])
            .build()
            .map_err(spec_err)?,
    );
    spec.set_mounts(Some(mounts));

    let mut nodes = vec![("/dev/net/tun", 10, 200)];
    if u.hypervisor == Hypervisor::Hvt {
        nodes.push(("/dev/kvm", 10, 232));
    }
    let mut devices = linux.devices().clone().unwrap_or_default();
    let mut rules = resources.devices().clone().unwrap_or_default();
    for (path, major, minor) in nodes {
        devices.push(
            LinuxDeviceBuilder::default()
                .path(path)
                .typ(LinuxDeviceType::C)
                .major(major)
                .minor(minor)
                .file_mode(0o666u32)
                .uid(0u32)
                .gid(0u32)
                .build()
                .map_err(spec_err)?,
        );
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(major)
                .minor(minor)
                .access("rwm")
                .build()
                .map_err(spec_err)?,
        );
    }
    linux.set_devices(Some(devices));
    resources.set_devices(Some(rules));
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    Ok(())
}
