//! Just enough of a CRI client to play kubelet against containerd's CRI
//! plugin: gRPC unary calls over HTTP/2 (prior knowledge, one stream at a
//! time) on a Unix socket, with the few `runtime.v1` messages a pod's
//! life needs encoded and decoded by hand (field numbers from the
//! Kubernetes CRI's `api.proto`). No dependency.
//!
//! Response headers and trailers are not decoded (HPACK with Huffman
//! coding): a call that returns no message is an error, and containerd's
//! log says why.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A protobuf message being encoded.
#[derive(Clone, Debug, Default)]
pub struct Pb(pub Vec<u8>);

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Pb {
    /// An empty message.
    pub fn new() -> Pb {
        Pb(Vec::new())
    }

    fn bytes(mut self, field: u32, b: &[u8]) -> Pb {
        varint(&mut self.0, u64::from(field) << 3 | 2);
        varint(&mut self.0, b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A string field (proto3: an empty string is not sent).
    pub fn string(self, field: u32, s: &str) -> Pb {
        if s.is_empty() {
            self
        } else {
            self.bytes(field, s.as_bytes())
        }
    }

    /// A repeated string field.
    pub fn strings(self, field: u32, v: &[&str]) -> Pb {
        v.iter().fold(self, |m, s| m.bytes(field, s.as_bytes()))
    }

    /// An embedded message.
    pub fn msg(self, field: u32, m: Pb) -> Pb {
        self.bytes(field, &m.0)
    }

    /// A varint field (uint32/uint64/int64/bool/enum).
    pub fn uint(mut self, field: u32, v: u64) -> Pb {
        if v != 0 {
            varint(&mut self.0, u64::from(field) << 3);
            varint(&mut self.0, v);
        }
        self
    }

    /// One entry of a `map<string, string>` field.
    pub fn map_entry(self, field: u32, k: &str, v: &str) -> Pb {
        self.msg(field, Pb::new().string(1, k).string(2, v))
    }
}

/// A decoded field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire types 1 and 5 (little-endian).
    Fixed(u64),
}

fn read_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let x = *b.get(*at)?;
        *at += 1;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Every field of message `b`, in order; None when it is malformed.
pub fn fields(b: &[u8]) -> Option<Vec<(u32, Value<'_>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = read_varint(b, &mut at)?;
        let field = u32::try_from(key >> 3).ok()?;
        let v = match key & 7 {
            0 => Value::Varint(read_varint(b, &mut at)?),
            2 => {
                let n = usize::try_from(read_varint(b, &mut at)?).ok()?;
                let v = b.get(at..at.checked_add(n)?)?;
                at += n;
                Value::Bytes(v)
            }
            1 => {
                let v = b.get(at..at + 8)?;
                at += 8;
                Value::Fixed(u64::from_le_bytes(v.try_into().ok()?))
            }
            5 => {
                let v = b.get(at..at + 4)?;
                at += 4;
                Value::Fixed(u64::from(u32::from_le_bytes(v.try_into().ok()?)))
            }
            _ => return None,
        };
        out.push((field, v));
    }
    Some(out)
}

/// The last occurrence of length-delimited `field` in `b`.
pub fn get_bytes(b: &[u8], field: u32) -> Option<&[u8]> {
    fields(b)?.into_iter().rev().find_map(|(f, v)| match v {
        Value::Bytes(x) if f == field => Some(x),
        _ => None,
    })
}

/// String `field` of `b` ("" when absent, as proto3 reads it).
pub fn get_string(b: &[u8], field: u32) -> String {
    get_bytes(b, field)
        .map(|x| String::from_utf8_lossy(x).into_owned())
        .unwrap_or_default()
}

/// Varint `field` of `b` (0 when absent).
pub fn get_uint(b: &[u8], field: u32) -> u64 {
    fields(b)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .find_map(|(f, v)| match v {
            Value::Varint(x) if f == field => Some(x),
            _ => None,
        })
        .unwrap_or(0)
}

/// The value of key `key` in `map<string, string>` field `field` of `b`.
pub fn get_map(b: &[u8], field: u32, key: &str) -> Option<String> {
    fields(b)?.into_iter().find_map(|(f, v)| match v {
        Value::Bytes(e) if f == field && get_string(e, 1) == key => Some(get_string(e, 2)),
        _ => None,
    })
}

// HTTP/2 frame types and flags (RFC 9113).
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const END_STREAM: u8 = 1;
const ACK: u8 = 1;
const END_HEADERS: u8 = 4;
const PADDED: u8 = 8;

/// A gRPC connection (HTTP/2 with prior knowledge) on a Unix socket.
pub struct Grpc {
    sock: UnixStream,
    next_stream: u32,
}

/// A header field as HPACK "literal without indexing, new name", no
/// Huffman coding (RFC 7541 6.2.2); names and values under 127 bytes.
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    assert!(name.len() < 127 && value.len() < 127, "header too long");
    out.push(0);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

impl Grpc {
    /// Connect to `socket` and send the client preface and SETTINGS.
    pub fn connect(socket: &Path) -> std::io::Result<Grpc> {
        let sock = UnixStream::connect(socket)?;
        sock.set_read_timeout(Some(Duration::from_secs(180)))?;
        let mut g = Grpc {
            sock,
            next_stream: 1,
        };
        g.sock.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")?;
        g.frame(SETTINGS, 0, 0, &[])?;
        Ok(g)
    }

    fn frame(&mut self, typ: u8, flags: u8, stream: u32, payload: &[u8]) -> std::io::Result<()> {
        let n = payload.len();
        let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, typ, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        self.sock.write_all(&f)
    }

    fn read_frame(&mut self) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
        let mut h = [0u8; 9];
        self.sock.read_exact(&mut h)?;
        let n = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let mut p = vec![0u8; n];
        self.sock.read_exact(&mut p)?;
        Ok((h[3], h[4], stream, p))
    }

    /// Call `method` (e.g. `/runtime.v1.RuntimeService/Version`) with
    /// `request`; the response message, or why there is none.
    pub fn call(&mut self, method: &str, request: &Pb) -> Result<Vec<u8>, String> {
        self.exchange(method, request)
            .map_err(|e| format!("{method}: {e}"))?
            .ok_or_else(|| format!("{method}: the call failed (no response message)"))
    }

    fn exchange(&mut self, method: &str, request: &Pb) -> std::io::Result<Option<Vec<u8>>> {
        let stream = self.next_stream;
        self.next_stream += 2;
        let mut hb = Vec::new();
        for (k, v) in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ] {
            hpack_literal(&mut hb, k, v);
        }
        self.frame(HEADERS, END_HEADERS, stream, &hb)?;
        let mut body = vec![0u8];
        body.extend_from_slice(&(request.0.len() as u32).to_be_bytes());
        body.extend_from_slice(&request.0);
        self.frame(DATA, END_STREAM, stream, &body)?;
        let mut data = Vec::new();
        loop {
            let (typ, flags, s, p) = self.read_frame()?;
            match typ {
                SETTINGS if flags & ACK == 0 => self.frame(SETTINGS, ACK, 0, &[])?,
                PING if flags & ACK == 0 => self.frame(PING, ACK, 0, &p)?,
                GOAWAY => {
                    return Err(std::io::Error::other("the server closed the connection"));
                }
                RST_STREAM if s == stream => {
                    return Err(std::io::Error::other("the server reset the stream"));
                }
                DATA if s == stream => {
                    let body = if flags & PADDED != 0 && !p.is_empty() {
                        let pad = usize::from(p[0]);
                        &p[1..p.len().saturating_sub(pad)]
                    } else {
                        &p[..]
                    };
                    data.extend_from_slice(body);
                    if !p.is_empty() {
                        // Give the window back, for the connection and
                        // the stream.
                        let inc = (p.len() as u32).to_be_bytes();
                        self.frame(WINDOW_UPDATE, 0, 0, &inc)?;
                        if flags & END_STREAM == 0 {
                            self.frame(WINDOW_UPDATE, 0, stream, &inc)?;
                        }
                    }
                    if flags & END_STREAM != 0 {
                        break;
                    }
                }
                HEADERS if s == stream && flags & END_STREAM != 0 => break,
                _ => {}
            }
        }
        if data.len() < 5 {
            return Ok(None);
        }
        let n = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        Ok(data.get(5..5 + n).map(<[u8]>::to_vec))
    }
}

/// `runtime.v1.RuntimeService/METHOD`.
pub fn runtime(method: &str) -> String {
    format!("/runtime.v1.RuntimeService/{method}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = Pb::new()
            .string(1, "id")
            .msg(5, Pb::new().string(1, "10.0.0.2"))
            .uint(3, 1)
            .map_entry(2, "info", "{\"pid\": 7}")
            .strings(4, &["a", "b"]);
        assert_eq!(get_string(&m.0, 1), "id");
        assert_eq!(get_string(get_bytes(&m.0, 5).unwrap(), 1), "10.0.0.2");
        assert_eq!(get_uint(&m.0, 3), 1);
        assert_eq!(get_uint(&m.0, 9), 0);
        assert_eq!(get_map(&m.0, 2, "info").as_deref(), Some("{\"pid\": 7}"));
        assert_eq!(get_string(&m.0, 4), "b");
        let long = "x".repeat(300);
        let m = Pb::new().string(1, &long);
        assert_eq!(get_string(&m.0, 1), long);
        assert!(fields(&[0x0a, 0x05, 0x61]).is_none());
    }
}
