//! solo5-runc: an OCI runtime with runc's command line. A bundle that
//! carries urunc's `com.urunc.unikernel.*` annotations or `/urunc.json`
//! is a unikernel: its `config.json` is rewritten so that runc runs
//! solo5-netns-exec and the host's tender (see [`bundle`]); everything
//! else, and every other command, goes to runc unchanged. `delete` also
//! removes stale tc state of ours left in the pod's network namespace.
//! Its system calls are `nix`'s: the crate has no `unsafe`.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod cli;
pub mod image;
pub mod log;
mod sys;
pub mod urunc;

use serde_json::{Map, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Why a unikernel bundle could not be prepared.
#[derive(Debug, Error)]
pub enum CreateError {
    /// config.json could not be written.
    #[error("could not write {0}: {1}")]
    Write(String, std::io::Error),
    /// The root file system of a unikernel bundle could not be opened.
    #[error("could not open the bundle's root file system")]
    Rootfs,
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

/// The root file system `root.path` of config.json `cfg` in `bundle`
/// (relative to the bundle unless absolute), None without one.
fn rootfs_path(cfg: &Value, bundle: &Path) -> Option<PathBuf> {
    let p = PathBuf::from(cfg.pointer("/root/path")?.as_str()?);
    Some(if p.is_absolute() { p } else { bundle.join(p) })
}

/// Whether config.json `cfg` (in `bundle`) is a unikernel's, and its
/// description: from the raw JSON (the annotations, `root.path`) and the
/// image's `/urunc.json`, opened inside the root file system. Nothing
/// else of config.json is looked at.
pub fn classify(
    cfg: &Value,
    bundle: &Path,
) -> Result<Option<(urunc::Unikernel, image::Rootfs)>, CreateError> {
    let rootfs = rootfs_path(cfg, bundle).and_then(|p| image::Rootfs::open(&p).ok());
    let empty = Map::new();
    let annotations = cfg
        .get("annotations")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(values) = urunc::find(annotations, rootfs.as_ref())? else {
        return Ok(None);
    };
    let rootfs = rootfs.ok_or(CreateError::Rootfs)?;
    Ok(Some((urunc::parse(&values)?, rootfs)))
}

/// Rewrite the bundle when it is a unikernel; Ok(false) when it is not,
/// and then config.json has not been written (nor parsed beyond JSON):
/// runc gets it byte for byte. A config.json that cannot be read or is
/// not JSON is not a unikernel's (runc reports it).
pub fn prepare(bundle: &Path) -> Result<bool, CreateError> {
    let path = bundle.join("config.json");
    let Ok(text) = std::fs::read(&path) else {
        return Ok(false);
    };
    let Ok(mut cfg) = serde_json::from_slice::<Value>(&text) else {
        return Ok(false);
    };
    let Some((u, rootfs)) = classify(&cfg, bundle)? else {
        return Ok(false);
    };
    let install = install_dir().map_err(CreateError::Install)?;
    bundle::rewrite(&mut cfg, &rootfs, &u, &install)?;
    let out = serde_json::to_vec_pretty(&cfg).expect("a JSON value serializes");
    std::fs::write(&path, out).map_err(|e| CreateError::Write(path.display().to_string(), e))?;
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
                    let msg = one_line(&format!("solo5-runc: {e}"));
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

/// `s` with its control characters escaped (`\n` as `\\n`...): values an
/// image gives (paths, a hypervisor's name) cannot split the error line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn exec_runc(argv: &[String]) -> i32 {
    let e = Command::new(runc()).args(argv).exec();
    eprintln!("solo5-runc: could not run {}: {e}", runc().display());
    1
}

/// The network namespace path of a unikernel container of ours, from its
/// bundle (None for anything else).
fn our_netns(bundle: &Path) -> Option<PathBuf> {
    let text = std::fs::read(bundle.join("config.json")).ok()?;
    let cfg: Value = serde_json::from_slice(&text).ok()?;
    let helper = format!("{}/solo5-netns-exec", bundle::MOUNT);
    if cfg.pointer("/process/args/0")?.as_str()? != helper {
        return None;
    }
    cfg.pointer("/linux/namespaces")?
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?
        .get("path")?
        .as_str()
        .map(PathBuf::from)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_stay_one_line() {
        assert_eq!(one_line("a\nb\tc 'd' \"e\""), "a\\nb\\tc 'd' \"e\"");
    }

    #[test]
    fn plain_bundles_are_not_unikernels() {
        let cfg = serde_json::json!({
            "root": {"path": "/nonexistent-solo5-runc-rootfs"},
            "process": {"capabilities": {"bounding": ["CAP_NOT_A_CAPABILITY"]}},
            "annotations": {"org.opencontainers.image.title": "x"},
        });
        assert!(classify(&cfg, Path::new("/")).unwrap().is_none());
        // Annotations without a root file system to read the kernel from.
        let cfg = serde_json::json!({
            "root": {"path": "/nonexistent-solo5-runc-rootfs"},
            "annotations": {"com.urunc.unikernel.hypervisor": "spt", "com.urunc.unikernel.binary": "/k"},
        });
        assert!(matches!(
            classify(&cfg, Path::new("/")),
            Err(CreateError::Rootfs)
        ));
    }
}
