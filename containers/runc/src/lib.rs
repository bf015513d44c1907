//! solo5-runc: an OCI runtime with runc's command line. A bundle that
//! carries urunc's `com.urunc.unikernel.*` annotations or `/urunc.json`
//! is a unikernel: its `config.json` is rewritten so that runc runs
//! solo5-netns-exec and the host's tender (see [`bundle`]); everything
//! else, and every other command, goes to runc unchanged. `delete` also
//! removes stale tc state of ours left in the pod's network namespace.

pub mod bundle;
pub mod cli;
pub mod log;
mod sys;
pub mod urunc;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Why a unikernel bundle could not be prepared.
#[derive(Debug, Error)]
pub enum CreateError {
    /// config.json unreadable.
    #[error("could not read {0}: {1}")]
    Spec(String, String),
    /// The urunc description was refused.
    #[error(transparent)]
    Urunc(#[from] urunc::UruncError),
    /// The bundle could not be rewritten.
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// The install directory is unknown.
    #[error("could not find solo5-runc's install directory: {0}")]
    Install(std::io::Error),
}

/// The real runc.
fn runc() -> PathBuf {
    std::env::var_os("SOLO5_RUNC_RUNC").map_or_else(|| PathBuf::from("runc"), PathBuf::from)
}

/// The directory holding solo5-runc, solo5-netns-exec and the tenders.
fn install_dir() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// The root file system of `spec` in `bundle`.
fn rootfs(spec: &Spec, bundle: &Path) -> PathBuf {
    let p = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_else(|| "rootfs".into());
    if p.is_absolute() {
        p
    } else {
        bundle.join(p)
    }
}

/// Rewrite the bundle when it is a unikernel; Ok(false) when it is not.
pub fn prepare(bundle: &Path) -> Result<bool, CreateError> {
    let cfg = bundle.join("config.json");
    let mut spec = Spec::load(&cfg)
        .map_err(|e| CreateError::Spec(cfg.display().to_string(), e.to_string()))?;
    let root = rootfs(&spec, bundle);
    let annotations = spec.annotations().clone().unwrap_or_default();
    let Some(values) = urunc::find(&annotations, &root)? else {
        return Ok(false);
    };
    let u = urunc::parse(&values)?;
    let install = install_dir().map_err(CreateError::Install)?;
    bundle::rewrite(&mut spec, &root, &u, &install)?;
    spec.save(&cfg)
        .map_err(|e| CreateError::Spec(cfg.display().to_string(), e.to_string()))?;
    Ok(true)
}

/// Run with runc's command line `argv` (without the program name);
/// returns the exit status when it does not exec runc.
pub fn run(argv: Vec<String>) -> i32 {
    let inv = cli::parse(argv);
    match inv.command.as_deref() {
        Some("create" | "run") => {
            let bundle = inv.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            // A config.json we cannot read is runc's to report.
            if bundle.join("config.json").exists() {
                if let Err(e) = prepare(&bundle) {
                    let msg = format!("solo5-runc: {e}");
                    log::error(inv.log.as_deref(), inv.log_json, &msg);
                    eprintln!("{msg}");
                    return 1;
                }
            }
            exec_runc(&inv.argv)
        }
        Some("delete") => delete(&inv),
        _ => exec_runc(&inv.argv),
    }
}

fn exec_runc(argv: &[String]) -> i32 {
    let e = Command::new(runc()).args(argv).exec();
    eprintln!("solo5-runc: could not run {}: {e}", runc().display());
    1
}

/// The network namespace path of a unikernel container of ours, from its
/// bundle (None for anything else).
fn our_netns(bundle: &Path) -> Option<PathBuf> {
    let spec = Spec::load(bundle.join("config.json")).ok()?;
    let ours = spec
        .process()
        .as_ref()
        .and_then(|p| p.args().as_ref())
        .and_then(|a| a.first())
        .is_some_and(|a| a == &format!("{}/solo5-netns-exec", bundle::MOUNT));
    if !ours {
        return None;
    }
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)?
        .path()
        .clone()
}

/// `delete`: runc's, then our stale tc state in the pod's namespace (a
/// namespace of the container's own goes with it).
fn delete(inv: &cli::Invocation) -> i32 {
    let netns = inv.id.as_ref().and_then(|id| {
        let out = Command::new(runc())
            .args(&inv.globals)
            .args(["state", id])
            .output()
            .ok()?;
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        our_netns(Path::new(state["bundle"].as_str()?))
    });
    let status = match Command::new(runc()).args(&inv.argv).status() {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("solo5-runc: could not run {}: {e}", runc().display());
            return 1;
        }
    };
    if let Some(ns) = netns {
        let cleaned = sys::enter_netns(&ns)
            .map_err(|e| e.to_string())
            .and_then(|()| solo5_netns_exec::wiring::clean_namespace().map_err(|e| e.to_string()));
        if let Err(e) = cleaned {
            let msg = format!("solo5-runc: delete: could not clean {}: {e}", ns.display());
            log::error(inv.log.as_deref(), inv.log_json, &msg);
            eprintln!("{msg}");
        }
    }
    status
}
