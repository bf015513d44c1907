//! urunc's image format: `com.urunc.unikernel.*` annotations in the
//! bundle's `config.json`, or a `/urunc.json` file at the root of the
//! image with the same keys and base64-encoded values (Docker, nerdctl
//! and ctr do not pass image labels to the runtime).

use base64::Engine;
use std::collections::HashMap;
use std::path::Path;
use thiserror::Error;

/// The annotation prefix.
pub const PREFIX: &str = "com.urunc.unikernel.";

/// Why a unikernel description was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UruncError {
    /// `/urunc.json` is not a JSON object of strings.
    #[error("/urunc.json is not valid: {0}")]
    NotJson(String),
    /// A hypervisor solo5-runc does not run.
    #[error("unikernel hypervisor '{0}' is not supported by solo5-runc (spt or hvt)")]
    Hypervisor(String),
    /// No `binary`.
    #[error("the unikernel description names no binary (com.urunc.unikernel.binary)")]
    NoBinary,
}

/// Which tender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hypervisor {
    /// solo5-spt.
    Spt,
    /// solo5-hvt.
    Hvt,
}

impl Hypervisor {
    /// The tender's name.
    pub fn tender(self) -> &'static str {
        match self {
            Hypervisor::Spt => "solo5-spt",
            Hypervisor::Hvt => "solo5-hvt",
        }
    }
}

/// A unikernel as urunc describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unikernel {
    /// `unikernelType` (`mirage`, `rumprun`, `solo5`...), lower case.
    pub kind: String,
    /// `hypervisor`.
    pub hypervisor: Hypervisor,
    /// `binary`: the kernel's path in the image.
    pub binary: String,
    /// `cmdline`: the guest's arguments, one string.
    pub cmdline: String,
    /// `block`: a block file's path in the image.
    pub block: Option<String>,
}

/// urunc's decoding of a `/urunc.json` value: after a `b64:` prefix,
/// base64; else plain base64 when it decodes to text; else the text.
pub fn decode(v: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(rest) = v.strip_prefix("b64:") {
        if let Ok(s) = b64.decode(rest).map(String::from_utf8) {
            return s.unwrap_or_else(|_| v.to_string());
        }
    }
    match b64.decode(v).ok().and_then(|b| String::from_utf8(b).ok()) {
        Some(s) => s,
        None => v.to_string(),
    }
}

/// The `com.urunc.unikernel.*` values (without prefix) of `annotations`.
pub fn from_annotations(annotations: &HashMap<String, String>) -> HashMap<String, String> {
    annotations
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v.clone())))
        .collect()
}

/// The values of a `/urunc.json`, decoded. Keys may carry the prefix or
/// not.
pub fn from_json(bytes: &[u8]) -> Result<HashMap<String, String>, UruncError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| UruncError::NotJson(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| UruncError::NotJson("not a JSON object".into()))?;
    let mut out = HashMap::new();
    for (k, v) in obj {
        let s = v
            .as_str()
            .ok_or_else(|| UruncError::NotJson(format!("{k}: not a string")))?;
        let k = k.strip_prefix(PREFIX).unwrap_or(k);
        out.insert(k.to_string(), decode(s));
    }
    Ok(out)
}

/// Read the description: annotations first, else `rootfs/urunc.json`.
/// None when the bundle is not a unikernel.
pub fn find(
    annotations: &HashMap<String, String>,
    rootfs: &Path,
) -> Result<Option<HashMap<String, String>>, UruncError> {
    let a = from_annotations(annotations);
    if !a.is_empty() {
        return Ok(Some(a));
    }
    match std::fs::read(rootfs.join("urunc.json")) {
        Ok(bytes) => from_json(&bytes).map(Some),
        Err(_) => Ok(None),
    }
}

/// Interpret the values.
pub fn parse(v: &HashMap<String, String>) -> Result<Unikernel, UruncError> {
    let get = |k: &str| {
        v.get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let hv = get("hypervisor").unwrap_or_default();
    let hypervisor = match hv.to_ascii_lowercase().as_str() {
        "spt" => Hypervisor::Spt,
        "hvt" => Hypervisor::Hvt,
        _ => return Err(UruncError::Hypervisor(hv)),
    };
    Ok(Unikernel {
        kind: get("unikernelType")
            .unwrap_or_default()
            .to_ascii_lowercase(),
        hypervisor,
        binary: get("binary").ok_or(UruncError::NoBinary)?,
        cmdline: v.get("cmdline").cloned().unwrap_or_default(),
        block: get("block"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_urunc_does() {
        assert_eq!(decode("b64:c3B0"), "spt");
        assert_eq!(decode("c3B0"), "spt");
        assert_eq!(decode("/unikernel/test_net.spt"), "/unikernel/test_net.spt");
        assert_eq!(decode("spt"), "spt");
    }

    #[test]
    fn reads_urunc_json() {
        let j = br#"{"com.urunc.unikernel.hypervisor":"c3B0","com.urunc.unikernel.binary":"L2tlcm5lbA==","com.urunc.unikernel.cmdline":"","com.urunc.unikernel.unikernelType":"bWlyYWdl"}"#;
        let u = parse(&from_json(j).unwrap()).unwrap();
        assert_eq!(u.hypervisor, Hypervisor::Spt);
        assert_eq!(u.binary, "/kernel");
        assert_eq!(u.kind, "mirage");
        assert_eq!(u.block, None);
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(matches!(
            from_json(b"{not json"),
            Err(UruncError::NotJson(_))
        ));
        let mut v = HashMap::new();
        v.insert("hypervisor".to_string(), "qemu".to_string());
        v.insert("binary".to_string(), "/k".to_string());
        assert_eq!(parse(&v), Err(UruncError::Hypervisor("qemu".into())));
        v.insert("hypervisor".to_string(), "hvt".to_string());
        v.remove("binary");
        assert_eq!(parse(&v), Err(UruncError::NoBinary));
    }
}
