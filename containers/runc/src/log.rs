//! Error records where runc writes them: the `--log` file, which is where
//! containerd's shim reads the reason for a failed `create` (stderr alone
//! is lost), as JSON (`--log-format json`) or runc's text format.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 in UTC.
fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One error record.
pub fn record(msg: &str, json: bool) -> String {
    if json {
        serde_json::json!({"level": "error", "msg": msg, "time": now()}).to_string()
    } else {
        format!("time={:?} level=error msg={:?}", now(), msg)
    }
}

/// Append an error record to `path` (best effort: the line also goes to
/// stderr).
pub fn error(path: Option<&Path>, json: bool, msg: &str) {
    if let Some(p) = path {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{}", record(msg, json));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_record_is_what_the_shim_parses() {
        let r: serde_json::Value = serde_json::from_str(&record("bad \"image\"", true)).unwrap();
        assert_eq!(r["level"], "error");
        assert_eq!(r["msg"], "bad \"image\"");
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
        assert!(record("x", false).contains("level=error msg=\"x\""));
    }
}
