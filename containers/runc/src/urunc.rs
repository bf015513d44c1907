//! urunc's image format: `com.urunc.unikernel.*` annotations in the
//! bundle's `config.json`, or a `/urunc.json` file at the root of the
//! image with the same keys and base64-encoded values (Docker, nerdctl
//! and ctr do not pass image labels to the runtime). Values of both are
//! decoded by urunc's rule ([`decode`]).

use crate::image::{ImageError, Rootfs, URUNC_JSON_CAP};
use base64::Engine;
use std::collections::HashMap;
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
    /// A `b64:` value that is not base64 of UTF-8 text.
    #[error("{0}: not valid base64 after 'b64:'")]
    Base64(String),
    /// An annotation whose value is not a string.
    #[error("annotation {0} is not a string")]
    Annotation(String),
    /// `/urunc.json` could not be read.
    #[error(transparent)]
    Image(#[from] ImageError),
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

/// The base64 urunc decodes with: Go's `base64.StdEncoding` (standard
/// alphabet, canonical `=` padding, non-zero trailing bits accepted; Go
/// also skips `\r` and `\n`, which [`decode`] removes first).
const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

fn go_std_decode(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    GO_STD.decode(s).ok()
}

/// urunc's decoding of a value (`decodeConfigValue` in urunc's
/// `pkg/unikontainers/config.go`): an empty value is empty; after a
/// `b64:` prefix, base64 that must decode (a value that does not is an
/// error); else base64 when the whole value decodes to UTF-8 text (the
/// form older urunc tools wrote); else the value as it is. `key` names
/// the value in errors.
pub fn decode(key: &str, v: &str) -> Result<String, UruncError> {
    if let Some(rest) = v.strip_prefix("b64:") {
        return go_std_decode(rest)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| UruncError::Base64(key.to_string()));
    }
    Ok(go_std_decode(v)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_string()))
}

/// The `com.urunc.unikernel.*` values (without prefix) of a config.json's
/// `annotations` object, decoded: engines pass them as they are (Podman's
/// `--annotation`, a pod's annotations) or as urunc's tools encode them.
pub fn from_annotations(
    annotations: &serde_json::Map<String, serde_json::Value>,
) -> Result<HashMap<String, String>, UruncError> {
    let mut out = HashMap::new();
    for (k, v) in annotations {
        let Some(short) = k.strip_prefix(PREFIX) else {
            continue;
        };
        let s = v
            .as_str()
            .ok_or_else(|| UruncError::Annotation(k.clone()))?;
        out.insert(short.to_string(), decode(k, s)?);
    }
    Ok(out)
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
        let short = k.strip_prefix(PREFIX).unwrap_or(k);
        out.insert(short.to_string(), decode(k, s)?);
    }
    Ok(out)
}

/// Where urunc's description is in the image.
pub const URUNC_JSON: &str = "/urunc.json";

/// Read the description, as urunc chooses it: the annotations when they
/// name a hypervisor and a binary, else `/urunc.json` when the image has
/// one (whatever it is: a `/urunc.json` that is not a regular file of at
/// most 1 MiB is refused, not ignored), else the annotations when there
/// are any (refused for what they lack). None when the bundle is not a
/// unikernel. `rootfs` is None when the root file system could not be
/// opened (runc will say why).
pub fn find(
    annotations: &serde_json::Map<String, serde_json::Value>,
    rootfs: Option<&Rootfs>,
) -> Result<Option<HashMap<String, String>>, UruncError> {
    let a = from_annotations(annotations)?;
    let named = |k: &str| a.get(k).is_some_and(|v| !v.trim().is_empty());
    if named("hypervisor") && named("binary") {
        return Ok(Some(a));
    }
    if let Some(r) = rootfs {
        if r.has(URUNC_JSON)? {
            let bytes = r.read(URUNC_JSON, URUNC_JSON_CAP)?;
            return from_json(&bytes).map(Some);
        }
    }
    Ok((!a.is_empty()).then_some(a))
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

    fn d(v: &str) -> String {
        decode("k", v).unwrap()
    }

    #[test]
    fn decodes_as_urunc_does() {
        // urunc's b64: form, strict.
        assert_eq!(d("b64:c3B0"), "spt");
        assert_eq!(d("b64:"), "");
        assert_eq!(decode("k", "b64:spt"), Err(UruncError::Base64("k".into())));
        // b64: of something that is not text.
        assert_eq!(decode("k", "b64:/w=="), Err(UruncError::Base64("k".into())));
        // Plain base64 of text (older tools), as Go decodes it: newlines
        // skipped, trailing bits ignored, padding required.
        assert_eq!(d("c3B0"), "spt");
        assert_eq!(d("L2tl\ncm5lbA=="), "/kernel");
        assert_eq!(d("c3B1"), "spu");
        assert_eq!(d("c3B"), "c3B");
        // Raw values: what does not decode to text stays as it is.
        assert_eq!(d("/unikernel/test_net.spt"), "/unikernel/test_net.spt");
        assert_eq!(d("spt"), "spt");
        assert_eq!(d("hvt"), "hvt");
        assert_eq!(d("mirage"), "mirage");
        assert_eq!(d("solo5"), "solo5");
        assert_eq!(d("/disk.img"), "/disk.img");
        assert_eq!(d("a b"), "a b");
        assert_eq!(d(""), "");
        // The documented ambiguity of urunc's rule: a raw value that is
        // also base64 of text is taken as base64.
        assert_eq!(d("test"), "test"); // decodes, but not to UTF-8
        assert_eq!(d("YWJj"), "abc");
    }

    #[test]
    fn annotations_raw_and_encoded() {
        let raw: serde_json::Value = serde_json::json!({
            "com.urunc.unikernel.hypervisor": "hvt",
            "com.urunc.unikernel.binary": "/unikernel/test_hello.hvt",
            "com.urunc.unikernel.cmdline": "a b",
            "com.urunc.unikernel.unikernelType": "solo5",
            "org.opencontainers.image.title": "x",
        });
        let enc: serde_json::Value = serde_json::json!({
            "com.urunc.unikernel.hypervisor": "aHZ0",
            "com.urunc.unikernel.binary": "b64:L3VuaWtlcm5lbC90ZXN0X2hlbGxvLmh2dA==",
            "com.urunc.unikernel.cmdline": "YSBi",
            "com.urunc.unikernel.unikernelType": "b64:c29sbzU=",
        });
        let a = from_annotations(raw.as_object().unwrap()).unwrap();
        let b = from_annotations(enc.as_object().unwrap()).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a, b);
        let u = parse(&a).unwrap();
        assert_eq!(u.hypervisor, Hypervisor::Hvt);
        assert_eq!(u.binary, "/unikernel/test_hello.hvt");
        assert_eq!(u.cmdline, "a b");
        assert_eq!(u.kind, "solo5");
        let bad = serde_json::json!({"com.urunc.unikernel.binary": 7});
        assert_eq!(
            from_annotations(bad.as_object().unwrap()),
            Err(UruncError::Annotation("com.urunc.unikernel.binary".into()))
        );
        let bad = serde_json::json!({"com.urunc.unikernel.binary": "b64:%%"});
        assert_eq!(
            from_annotations(bad.as_object().unwrap())
                .unwrap_err()
                .to_string(),
            "com.urunc.unikernel.binary: not valid base64 after 'b64:'"
        );
    }

    #[test]
    fn complete_annotations_win_over_urunc_json() {
        let none = serde_json::Map::new();
        assert_eq!(find(&none, None), Ok(None));
        let partial = serde_json::json!({"com.urunc.unikernel.cmdline": "x"});
        let got = find(partial.as_object().unwrap(), None).unwrap().unwrap();
        assert_eq!(parse(&got), Err(UruncError::Hypervisor(String::new())));
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
