//! Turning a unikernel bundle into one runc can run: the process becomes
//! solo5-netns-exec wrapping the host's tender (both mounted read-only
//! from solo5-runc's install directory), with `/dev/net/tun` (and
//! `/dev/kvm` for hvt), CAP_NET_ADMIN and the few capabilities the helper
//! needs before it drops them all, and `--mem` from the memory limit.
//!
//! config.json is edited as JSON (`serde_json::Value`): every field this
//! module does not name stays as the engine wrote it, whether or not a
//! typed OCI model knows it.

use crate::image::{self, ImageError, Rootfs, KERNEL_CAP};
use crate::urunc::{Hypervisor, Unikernel};
use serde_json::{json, Map, Value};
use solo5_abi::mft::kind;
use solo5_tender::cmdline::MIN_MEM_MIB;
use solo5_tender::notes::{self, NoteError};
use std::path::Path;
use thiserror::Error;

/// Where the install directory appears inside the container.
pub const MOUNT: &str = "/.solo5";
/// Memory the tender itself needs beside the guest's, inside the
/// container's limit.
const TENDER_MIB: i64 = 8;
/// The user the tender runs as (solo5-netns-exec's default), who must be
/// able to open the block file.
pub const TENDER_UID: u32 = 65534;

/// The inits engines put in front of the container's args, by their
/// path inside the container, each followed by `--`: Docker's `--init`
/// (`/sbin/docker-init`; `/dev/init` in older releases) and Podman's
/// (`/run/podman-init`; `/dev/init` in old releases).
pub const ENGINE_INITS: &[&str] = &["/sbin/docker-init", "/dev/init", "/run/podman-init"];

/// Why a unikernel bundle was refused.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The kernel is not in the image.
    #[error("unikernel binary {0} is not in the image")]
    NoKernel(String),
    /// The block file is not in the image.
    #[error("block file {0} is not in the image")]
    NoBlock(String),
    /// A file of the image was refused (not a regular file, too large...).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The kernel is not a Solo5 binary for the hypervisor.
    #[error("unikernel binary {0} is not a Solo5 {1} binary: {2}")]
    NotSolo5(String, &'static str, NoteError),
    /// The memory limit leaves too little for the guest.
    #[error("memory limit of {0} MiB leaves less than the {MIN_MEM_MIB} MiB a unikernel needs (plus {TENDER_MIB} MiB for the tender)")]
    Memory(i64),
    /// The image has a block file but the kernel has no block device.
    #[error("the image names block file {0} but {1} has no block device")]
    NoBlockDevice(String, String),
    /// A tender or the helper that needs a dynamic loader the image lacks.
    #[error("{0} is dynamically linked; a container needs the static build (scripts/build-all)")]
    Dynamic(String),
    /// config.json does not have the shape the runtime spec gives it.
    #[error("config.json: {0}")]
    Spec(String),
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

/// The container's own args without an engine's init in front
/// ([`ENGINE_INITS`] then `--`): the init is dropped, the tender is the
/// container's process (and handles SIGTERM itself).
pub fn without_engine_init(args: &[String]) -> &[String] {
    match args {
        [init, sep, rest @ ..] if ENGINE_INITS.contains(&init.as_str()) && sep == "--" => rest,
        _ => args,
    }
}

/// The container's process args for `u`: the helper, the tender with
/// `--mem` and the block device, `--`, the kernel, the guest's network
/// args, urunc's `cmdline` (one argument) and the container's own args
/// (`args`, an engine's init removed).
pub fn process_args(
    u: &Unikernel,
    mem: Option<i64>,
    block: Option<(&str, &str)>,
    args: &[String],
) -> Vec<String> {
    let mut v = vec![
        format!("{MOUNT}/solo5-netns-exec"),
        "--".into(),
        format!("{MOUNT}/{}", u.hypervisor.tender()),
    ];
    if let Some(m) = mem {
        v.push(format!("--mem={m}"));
    }
    if let Some((dev, path)) = block {
        v.push(format!("--block:{dev}={}", image::absolute(path)));
    }
    v.push("--".into());
    v.push(image::absolute(&u.binary));
    v.extend(network_args(&u.kind));
    if !u.cmdline.is_empty() {
        v.push(u.cmdline.clone());
    }
    v.extend(without_engine_init(args).iter().cloned());
    v
}

/// config.json's top-level object.
fn top(cfg: &mut Value) -> Result<&mut Map<String, Value>, BundleError> {
    cfg.as_object_mut()
        .ok_or_else(|| BundleError::Spec("not a JSON object".into()))
}

/// `m[key]` as an object, made when absent or null.
fn object<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Map<String, Value>, BundleError> {
    let e = m.entry(key).or_insert(Value::Null);
    if e.is_null() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut()
        .ok_or_else(|| BundleError::Spec(format!("{key} is not an object")))
}

/// `m[key]` as an array, made when absent or null.
fn array<'a>(m: &'a mut Map<String, Value>, key: &str) -> Result<&'a mut Vec<Value>, BundleError> {
    let e = m.entry(key).or_insert(Value::Null);
    if e.is_null() {
        *e = Value::Array(Vec::new());
    }
    e.as_array_mut()
        .ok_or_else(|| BundleError::Spec(format!("{key} is not an array")))
}

/// The capabilities the helper needs before it drops every one.
const HELPER_CAPS: &[&str] = &[
    "CAP_NET_ADMIN",
    "CAP_BPF",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_DAC_OVERRIDE",
];

/// The memory limit in config.json (bytes, when positive).
fn memory_limit(cfg: &Value) -> Option<i64> {
    cfg.pointer("/linux/resources/memory/limit")
        .and_then(Value::as_i64)
        .filter(|l| *l > 0)
}

/// Rewrite config.json `cfg` (whose root file system is `rootfs`) to run
/// `u`. Nothing is changed on a refusal; the block file (the container's
/// own) is chowned last, once everything else has been checked.
pub fn rewrite(
    cfg: &mut Value,
    rootfs: &Rootfs,
    u: &Unikernel,
    install: &Path,
) -> Result<(), BundleError> {
    let missing = |e: ImageError, what: fn(String) -> BundleError| match e.why {
        image::Why::Missing => what(e.path),
        _ => BundleError::Image(e),
    };
    let file = rootfs
        .read(&u.binary, KERNEL_CAP)
        .map_err(|e| missing(e, BundleError::NoKernel))?;
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
    drop(file);

    let mem = match memory_limit(cfg) {
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

    // The block file: a regular file of the image with one name, opened
    // read/write (checked now, chowned last).
    let block = match &u.block {
        Some(b) => {
            let f = rootfs
                .open_file(b, true)
                .map_err(|e| missing(e, BundleError::NoBlock))?;
            let dev = manifest
                .devices()
                .find(|(_, e)| e.kind == kind::BLOCK_BASIC)
                .map(|(_, e)| String::from_utf8_lossy(e.name()).into_owned())
                .ok_or_else(|| BundleError::NoBlockDevice(b.clone(), u.binary.clone()))?;
            Some((dev, b.clone(), f))
        }
        None => None,
    };

    let top = top(cfg)?;
    let process = object(top, "process")?;
    let args: Vec<String> = match process.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| BundleError::Spec("process.args is not an array of strings".into()))?,
        Some(_) => return Err(BundleError::Spec("process.args is not an array".into())),
    };
    let new_args = process_args(
        u,
        mem,
        block.as_ref().map(|(d, p, _)| (d.as_str(), p.as_str())),
        &args,
    );
    process.insert("args".into(), json!(new_args));
    let user = object(process, "user")?;
    user.insert("uid".into(), json!(0));
    user.insert("gid".into(), json!(0));
    let caps = object(process, "capabilities")?;
    for set in ["bounding", "effective", "permitted"] {
        let list = array(caps, set)?;
        for c in HELPER_CAPS {
            if !list.iter().any(|v| v.as_str() == Some(c)) {
                list.push(json!(c));
            }
        }
    }

    array(top, "mounts")?.push(json!({
        "destination": MOUNT,
        "type": "bind",
        "source": install.display().to_string(),
        "options": ["rbind", "ro", "nosuid"],
    }));

    let mut nodes = vec![("/dev/net/tun", 10, 200)];
    if u.hypervisor == Hypervisor::Hvt {
        nodes.push(("/dev/kvm", 10, 232));
    }
    let linux = object(top, "linux")?;
    for (path, major, minor) in &nodes {
        array(linux, "devices")?.push(json!({
            "path": path, "type": "c", "major": major, "minor": minor,
            "fileMode": 0o666, "uid": 0, "gid": 0,
        }));
    }
    let resources = object(linux, "resources")?;
    for (_, major, minor) in &nodes {
        array(resources, "devices")?.push(json!({
            "allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm",
        }));
    }

    // The tender runs as TENDER_UID and opens the block file itself: the
    // container's copy becomes that user's.
    if let Some((_, _, f)) = block {
        f.chown(TENDER_UID, TENDER_UID)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn uk(kind: &str, cmdline: &str) -> Unikernel {
        Unikernel {
            kind: kind.into(),
            hypervisor: Hypervisor::Spt,
            binary: "/unikernel/hello.spt".into(),
            cmdline: cmdline.into(),
            block: None,
        }
    }

    #[test]
    fn engine_inits_are_dropped() {
        for init in ENGINE_INITS {
            assert_eq!(without_engine_init(&s(&[init, "--", "init"])), s(&["init"]));
            assert_eq!(without_engine_init(&s(&[init, "--"])), s(&[]));
            // Not an engine's init line: kept as it is.
            assert_eq!(without_engine_init(&s(&[init, "x"])), s(&[init, "x"]));
        }
        assert_eq!(
            without_engine_init(&s(&["/sbin/tini", "--", "x"])),
            s(&["/sbin/tini", "--", "x"])
        );
        assert_eq!(
            without_engine_init(&s(&["init", "/sbin/docker-init", "--"])),
            s(&["init", "/sbin/docker-init", "--"])
        );
        assert_eq!(without_engine_init(&[]), s(&[]));
    }

    #[test]
    fn guest_gets_cmdline_then_the_users_args_only() {
        let u = uk("solo5", "hello");
        let tail = |args: &[&str]| {
            let a = process_args(&u, None, None, &s(args));
            let k = a.iter().position(|x| x == "/unikernel/hello.spt").unwrap();
            assert_eq!(a[k - 1], "--");
            a[k + 1..].to_vec()
        };
        // docker run --init IMAGE init / podman run --init IMAGE init
        assert_eq!(
            tail(&["/sbin/docker-init", "--", "init"]),
            s(&["hello", "init"])
        );
        assert_eq!(
            tail(&["/run/podman-init", "--", "init"]),
            s(&["hello", "init"])
        );
        assert_eq!(
            tail(&["/dev/init", "--", "a", "b"]),
            s(&["hello", "a", "b"])
        );
        assert_eq!(tail(&["init"]), s(&["hello", "init"]));
        assert_eq!(tail(&[]), s(&["hello"]));
        // An init given by the user after the engine's stays.
        assert_eq!(
            tail(&["/sbin/docker-init", "--", "/sbin/docker-init", "--"]),
            s(&["hello", "/sbin/docker-init", "--"])
        );
    }

    #[test]
    fn argv_has_options_then_double_dash_then_kernel() {
        let mut u = uk("mirage", "");
        u.binary = "-kernel".into();
        let a = process_args(&u, Some(56), Some(("storage", "disk.img")), &s(&["x"]));
        assert_eq!(
            a,
            s(&[
                "/.solo5/solo5-netns-exec",
                "--",
                "/.solo5/solo5-spt",
                "--mem=56",
                "--block:storage=/disk.img",
                "--",
                "/-kernel",
                "--ipv4={addr}/{prefix}",
                "--ipv4-gateway={gw}",
                "x",
            ])
        );
    }

    #[test]
    fn json_edits_keep_what_they_do_not_name() {
        let mut cfg = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["x"], "capabilities": {"bounding": ["CAP_KILL", "CAP_NOT_KNOWN"]},
                        "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]}},
            "linux": {"resources": {"memory": {"limit": 67108864}}, "somethingNew": 1},
            "vendorField": {"a": 1},
        });
        assert_eq!(memory_limit(&cfg), Some(64 << 20));
        let p = object(top(&mut cfg).unwrap(), "process").unwrap();
        let caps = p.get_mut("capabilities").unwrap().as_object_mut().unwrap();
        let b = array(caps, "bounding").unwrap();
        b.push(json!("CAP_NET_ADMIN"));
        assert_eq!(
            cfg["process"]["capabilities"]["bounding"][1],
            "CAP_NOT_KNOWN"
        );
        assert_eq!(cfg["vendorField"]["a"], 1);
        let mut bad = json!({"process": 3});
        assert!(object(top(&mut bad).unwrap(), "process").is_err());
        assert!(top(&mut json!([])).is_err());
    }
}
