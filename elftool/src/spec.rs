//! The manifest source (`manifest.json`) that `gen-manifest` reads:
//!
//! ```json
//! { "type": "solo5.manifest", "version": 1,
//!   "devices": [ { "name": "service0", "type": "NET_BASIC" } ] }
//! ```
//!
//! Checked the way upstream's elftool checks it, in the same order and with
//! the same messages, plus two checks upstream leaves to the C compiler or
//! to the tender: a device type other than NET_BASIC and BLOCK_BASIC (the C
//! file would not compile) and a name declared twice with the same type
//! (only the first could ever be attached, so the unikernel could never
//! start). The same name for a net and a block device is allowed, as
//! upstream allows it: `--net:NAME=` and `--block:NAME=` each find theirs.

use crate::json::{self, Kind, Value};
use solo5_abi::mft::{self, kind};
use thiserror::Error;

/// The value of the top-level `type` key.
pub const SPEC_TYPE: &str = "solo5.manifest";

/// One declared device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// 1 to 67 characters of `[A-Za-z0-9]`, unique among the devices of
    /// its type.
    pub name: String,
    /// [`kind::NET_BASIC`] or [`kind::BLOCK_BASIC`].
    pub kind: u32,
}

/// A validated manifest source: the devices, without the reserved entry 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    /// At most [`mft::MAX_DEVICES`] devices, in source order.
    pub devices: Vec<Device>,
}

/// Why a manifest source was refused, and on which line.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("line {line}: {problem}")]
pub struct SpecError {
    /// Line (1-based) of the offending value.
    pub line: usize,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong with a manifest source. The texts are upstream's where
/// upstream has a check.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON.
    #[error("JSON parse error")]
    Json(#[source] json::ErrorKind),
    /// A value of the wrong JSON type.
    #[error("{loc}: expected {want}, got {got}")]
    Expected {
        /// Where: `(root)`, `.type`, `.devices[]`, ...
        loc: &'static str,
        /// Expected JSON type.
        want: &'static str,
        /// Found JSON type.
        got: &'static str,
    },
    /// A key this format does not define.
    #[error("{loc}: unknown key: {key}")]
    UnknownKey {
        /// `(root)` or `.devices[...]`.
        loc: &'static str,
        /// The key.
        key: String,
    },
    /// A required key is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// `type` is not [`SPEC_TYPE`].
    #[error(".type: invalid value, expected \"solo5.manifest\"")]
    BadType,
    /// `version` is not 1.
    #[error(".version: invalid version {0}, expected 1")]
    BadVersion(i64),
    /// More than 63 devices.
    #[error(".devices[]: too many entries, maximum {}", mft::MAX_DEVICES)]
    TooMany,
    /// A device without a `name` or `type`.
    #[error(".devices[...]: missing {0}")]
    DeviceMissing(&'static str),
    /// An empty device name.
    #[error(".devices[...]: .name may not be empty")]
    EmptyName,
    /// A device name longer than 67 bytes.
    #[error(".devices[...]: name too long")]
    LongName,
    /// A device name with characters outside `[A-Za-z0-9]`.
    #[error(".devices[...]: name is not alphanumeric")]
    BadName,
    /// A device type other than NET_BASIC and BLOCK_BASIC.
    #[error(
        ".devices[...]: .type: invalid value {0:?}, expected \"BLOCK_BASIC\" or \"NET_BASIC\""
    )]
    BadDeviceType(String),
    /// Two devices of the same type with the same name.
    #[error(".devices[...]: duplicate {1} name \"{0}\"")]
    DuplicateName(String, &'static str),
}

fn fail<T>(line: usize, problem: Problem) -> Result<T, SpecError> {
    Err(SpecError { line, problem })
}

fn wrong<T>(v: &Value, want: &'static str, loc: &'static str) -> Result<T, SpecError> {
    let got = v.kind.name();
    fail(v.line, Problem::Expected { loc, want, got })
}

fn object<'v>(v: &'v Value, loc: &'static str) -> Result<&'v [(String, Value)], SpecError> {
    match &v.kind {
        Kind::Object(m) => Ok(m),
        _ => wrong(v, "OBJECT", loc),
    }
}

fn string<'v>(v: &'v Value, loc: &'static str) -> Result<&'v str, SpecError> {
    match &v.kind {
        Kind::String(s) => Ok(s),
        _ => wrong(v, "STRING", loc),
    }
}

/// Parse and check a manifest source.
pub fn parse(text: &[u8]) -> Result<Spec, SpecError> {
    let root = json::parse(text).map_err(|e| SpecError {
        line: e.line,
        problem: Problem::Json(e.kind),
    })?;
    let members = object(&root, "(root)")?;
    let (mut ty, mut version, mut devices) = (None, None, None);
    for (key, v) in members {
        match key.as_str() {
            "type" => ty = Some((v.line, string(v, ".type")?)),
            "version" => match v.kind {
                Kind::Int(i) => version = Some((v.line, i)),
                _ => return wrong(v, "INTEGER", ".version"),
            },
            "devices" => match &v.kind {
                Kind::Array(items) => {
                    for item in items {
                        object(item, ".devices[]")?;
                    }
                    devices = Some((v.line, items));
                }
                _ => return wrong(v, "ARRAY", ".devices"),
            },
            _ => {
                let key = key.clone();
                return fail(v.line, Problem::UnknownKey { loc: "(root)", key });
            }
        }
    }
    let Some((ty_line, ty)) = ty else {
        return fail(root.line, Problem::Missing(".type"));
    };
    let Some((version_line, version)) = version else {
        return fail(root.line, Problem::Missing(".version"));
    };
    let Some((devices_line, items)) = devices else {
        return fail(root.line, Problem::Missing(".devices[]"));
    };
    if ty != SPEC_TYPE {
        return fail(ty_line, Problem::BadType);
    }
    if version != i64::from(mft::VERSION) {
        return fail(version_line, Problem::BadVersion(version));
    }
    if items.len() > mft::MAX_DEVICES {
        return fail(devices_line, Problem::TooMany);
    }
    let mut spec = Spec::default();
    for item in items {
        let dev = device(item)?;
        if spec
            .devices
            .iter()
            .any(|d| d.name == dev.name && d.kind == dev.kind)
        {
            let kind = kind::name(dev.kind);
            return fail(item.line, Problem::DuplicateName(dev.name, kind));
        }
        spec.devices.push(dev);
    }
    Ok(spec)
}

/// One element of `devices`.
fn device(item: &Value) -> Result<Device, SpecError> {
    let members = object(item, ".devices[]")?;
    let (mut name, mut ty) = (None, None);
    for (key, v) in members {
        let slot = match key.as_str() {
            "name" => &mut name,
            "type" => &mut ty,
            _ => {
                let key = key.clone();
                return fail(
                    v.line,
                    Problem::UnknownKey {
                        loc: ".devices[...]",
                        key,
                    },
                );
            }
        };
        *slot = Some((v.line, string(v, ".devices[...]")?));
    }
    let Some((line, name)) = name else {
        return fail(item.line, Problem::DeviceMissing(".name"));
    };
    if name.is_empty() {
        return fail(line, Problem::EmptyName);
    }
    if name.len() > mft::NAME_MAX {
        return fail(line, Problem::LongName);
    }
    if !name.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return fail(line, Problem::BadName);
    }
    let Some((line, ty)) = ty else {
        return fail(item.line, Problem::DeviceMissing(".type"));
    };
    let kind = match ty {
        "NET_BASIC" => kind::NET_BASIC,
        "BLOCK_BASIC" => kind::BLOCK_BASIC,
        _ => return fail(line, Problem::BadDeviceType(ty.to_owned())),
    };
    Ok(Device {
        name: name.to_owned(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(s: &str) -> Problem {
        parse(s.as_bytes()).unwrap_err().problem
    }

    #[test]
    fn accepts_devices_in_order() {
        let s = parse(
            br#"{"devices": [{"type": "BLOCK_BASIC", "name": "disk0"},
                {"name": "net0", "type": "NET_BASIC"}],
                "version": 1, "type": "solo5.manifest"}"#,
        )
        .unwrap();
        let names: Vec<_> = s
            .devices
            .iter()
            .map(|d| (d.name.as_str(), d.kind))
            .collect();
        assert_eq!(names, [("disk0", 1), ("net0", 2)]);
    }

    #[test]
    fn refuses_like_upstream() {
        let head = r#""type": "solo5.manifest", "version": 1"#;
        let dev = |d: &str| problem(&format!("{{{head}, \"devices\": [{d}]}}"));
        assert_eq!(
            problem("[]"),
            Problem::Expected {
                loc: "(root)",
                want: "OBJECT",
                got: "ARRAY"
            }
        );
        assert_eq!(
            problem(r#"{"version": 1, "devices": []}"#),
            Problem::Missing(".type")
        );
        assert_eq!(
            problem(&format!("{{{head}}}")),
            Problem::Missing(".devices[]")
        );
        assert_eq!(
            problem(r#"{"type": "x", "version": 1, "devices": []}"#),
            Problem::BadType
        );
        assert_eq!(
            problem(r#"{"type": "solo5.manifest", "version": 2, "devices": []}"#),
            Problem::BadVersion(2)
        );
        assert_eq!(
            problem(r#"{"type": "solo5.manifest", "version": "1", "devices": []}"#),
            Problem::Expected {
                loc: ".version",
                want: "INTEGER",
                got: "STRING"
            }
        );
        assert_eq!(
            problem(&format!("{{{head}, \"devices\": [], \"x\": 0}}")),
            Problem::UnknownKey {
                loc: "(root)",
                key: "x".into()
            }
        );
        assert_eq!(
            dev("1"),
            Problem::Expected {
                loc: ".devices[]",
                want: "OBJECT",
                got: "INTEGER"
            }
        );
        assert_eq!(
            dev(r#"{"type": "NET_BASIC"}"#),
            Problem::DeviceMissing(".name")
        );
        assert_eq!(dev(r#"{"name": "a"}"#), Problem::DeviceMissing(".type"));
        assert_eq!(
            dev(r#"{"name": "", "type": "NET_BASIC"}"#),
            Problem::EmptyName
        );
        assert_eq!(
            dev(r#"{"name": "a-b", "type": "NET_BASIC"}"#),
            Problem::BadName
        );
        assert_eq!(
            dev(r#"{"name": "a", "type": "NET"}"#),
            Problem::BadDeviceType("NET".into())
        );
        assert_eq!(
            dev(r#"{"name": "a", "type": "NET_BASIC", "mtu": 1}"#),
            Problem::UnknownKey {
                loc: ".devices[...]",
                key: "mtu".into()
            }
        );
        assert_eq!(
            dev(r#"{"name": "a", "type": "BLOCK_BASIC"}, {"name": "a", "type": "BLOCK_BASIC"}"#),
            Problem::DuplicateName("a".into(), "BLOCK_BASIC")
        );
        let both = format!(
            r#"{{{head}, "devices": [{{"name": "a", "type": "NET_BASIC"}},
            {{"name": "a", "type": "BLOCK_BASIC"}}]}}"#
        );
        assert_eq!(parse(both.as_bytes()).unwrap().devices.len(), 2);
        let long = "a".repeat(68);
        assert_eq!(
            dev(&format!(r#"{{"name": "{long}", "type": "NET_BASIC"}}"#)),
            Problem::LongName
        );
        let ok = "a".repeat(67);
        assert!(parse(
            format!("{{{head}, \"devices\": [{{\"name\": \"{ok}\", \"type\": \"NET_BASIC\"}}]}}")
                .as_bytes()
        )
        .is_ok());
    }
}
