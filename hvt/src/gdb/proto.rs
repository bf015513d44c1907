//! The GDB remote serial protocol's framing and encodings, on fixed
//! buffers (the stub runs under the seccomp filter and never allocates):
//! `$payload#checksum` packets, `+`/`-` acknowledgements (until
//! `QStartNoAckMode`), Ctrl-C (0x03) between packets, hex numbers and
//! bytes.

/// The largest packet payload the stub takes (`PacketSize` in
/// `qSupported`, hex 0x1000).
pub const PACKET_SIZE: usize = 4096;

/// Hex digit of `v` (0..16).
pub fn hex_digit(v: u8) -> u8 {
    b"0123456789abcdef"[usize::from(v & 0xf)]
}

/// The value of hex digit `c`.
pub fn from_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A hex number (at most 16 digits), as in `m ADDR,LEN`.
pub fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter()
        .try_fold(0u64, |v, &c| Some(v << 4 | u64::from(from_hex_digit(c)?)))
}

/// Bytes from hex pairs into `out`; the count, or None on a bad digit or
/// an odd length.
pub fn decode_hex(s: &[u8], out: &mut [u8]) -> Option<usize> {
    if !s.len().is_multiple_of(2) || s.len() / 2 > out.len() {
        return None;
    }
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = from_hex_digit(pair[0])? << 4 | from_hex_digit(pair[1])?;
    }
    Some(s.len() / 2)
}

/// `ADDR,LEN` (and what follows a `:`, if any).
pub fn addr_len(s: &[u8]) -> Option<(u64, u64, &[u8])> {
    let (head, rest) = match s.iter().position(|&c| c == b':') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &s[s.len()..]),
    };
    let comma = head.iter().position(|&c| c == b',')?;
    Some((
        parse_hex(&head[..comma])?,
        parse_hex(&head[comma + 1..])?,
        rest,
    ))
}

/// A reply being built.
pub struct Reply {
    buf: [u8; 2 * PACKET_SIZE + 8],
    len: usize,
}

impl Default for Reply {
    fn default() -> Reply {
        Reply {
            buf: [0; 2 * PACKET_SIZE + 8],
            len: 0,
        }
    }
}

impl Reply {
    /// Start over.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Append raw text (none of `$#}*`).
    pub fn text(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    /// Append `bytes` as hex pairs.
    pub fn hex(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.text(&[hex_digit(b >> 4), hex_digit(b)]);
        }
    }

    /// Append `v` as a hex number without leading zeros.
    pub fn num(&mut self, v: u64) {
        let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            self.text(&[hex_digit((v >> (i * 4)) as u8)]);
        }
    }

    /// The payload so far.
    pub fn payload(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Number of bytes so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The checksum of a payload: its bytes added modulo 256.
pub fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// What the framing found in the incoming bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A whole packet whose payload is `[0, len)` of the packet buffer;
    /// `ok`: its checksum matched.
    Packet { len: usize, ok: bool },
    /// Ctrl-C outside a packet.
    Interrupt,
    /// An acknowledgement (`+` or `-`).
    Ack(bool),
    /// More bytes are needed.
    Partial,
}

/// The framing state of incoming bytes.
pub struct Framer {
    state: State,
    /// The payload of the packet being read.
    pub packet: [u8; PACKET_SIZE + 64],
    len: usize,
    sum: u8,
    got: [u8; 2],
    overflow: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Payload,
    Sum1,
    Sum2,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer {
            state: State::Idle,
            packet: [0; PACKET_SIZE + 64],
            len: 0,
            sum: 0,
            got: [0; 2],
            overflow: false,
        }
    }
}

impl Framer {
    /// Take one byte.
    pub fn push(&mut self, b: u8) -> Input {
        match self.state {
            State::Idle => match b {
                b'$' => {
                    self.state = State::Payload;
                    self.len = 0;
                    self.sum = 0;
                    self.overflow = false;
                    Input::Partial
                }
                0x03 => Input::Interrupt,
                b'+' => Input::Ack(true),
                b'-' => Input::Ack(false),
                _ => Input::Partial,
            },
            State::Payload => {
                if b == b'#' {
                    self.state = State::Sum1;
                } else {
                    self.sum = self.sum.wrapping_add(b);
                    if self.len < self.packet.len() {
                        self.packet[self.len] = b;
                        self.len += 1;
                    } else {
                        self.overflow = true;
                    }
                }
                Input::Partial
            }
            State::Sum1 => {
                self.got[0] = b;
                self.state = State::Sum2;
                Input::Partial
            }
            State::Sum2 => {
                self.got[1] = b;
                self.state = State::Idle;
                let want = from_hex_digit(self.got[0])
                    .zip(from_hex_digit(self.got[1]))
                    .map(|(h, l)| h << 4 | l);
                Input::Packet {
                    len: self.len,
                    ok: want == Some(self.sum) && !self.overflow,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(f: &mut Framer, bytes: &[u8]) -> Vec<Input> {
        bytes
            .iter()
            .map(|&b| f.push(b))
            .filter(|i| *i != Input::Partial)
            .collect()
    }

    #[test]
    fn packets_acks_and_interrupts_are_told_apart() {
        let mut f = Framer::default();
        let got = feed(&mut f, b"+$qSupported:swbreak+#00\x03-$g#67$g#00");
        assert_eq!(
            got,
            [
                Input::Ack(true),
                Input::Packet { len: 19, ok: false },
                Input::Interrupt,
                Input::Ack(false),
                Input::Packet { len: 1, ok: true },
                Input::Packet { len: 1, ok: false },
            ]
        );
        assert_eq!(checksum(b"g"), 0x67);
        let s = checksum(b"qSupported:swbreak+");
        let mut f = Framer::default();
        let mut p = b"$qSupported:swbreak+#".to_vec();
        p.extend_from_slice(&[hex_digit(s >> 4), hex_digit(s)]);
        assert_eq!(feed(&mut f, &p), [Input::Packet { len: 19, ok: true }]);
        assert_eq!(&f.packet[..19], b"qSupported:swbreak+");
    }

    #[test]
    fn numbers_and_hex() {
        assert_eq!(parse_hex(b"10fFa"), Some(0x10ffa));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"12345678901234567"), None);
        assert_eq!(parse_hex(b"12g"), None);
        assert_eq!(addr_len(b"104000,4"), Some((0x104000, 4, &b""[..])));
        assert_eq!(addr_len(b"10,2:abcd"), Some((0x10, 2, &b"abcd"[..])));
        assert_eq!(addr_len(b"10"), None);
        let mut out = [0u8; 4];
        assert_eq!(decode_hex(b"cc90", &mut out), Some(2));
        assert_eq!(&out[..2], &[0xcc, 0x90]);
        assert_eq!(decode_hex(b"c", &mut out), None);
        assert_eq!(decode_hex(b"0011223344", &mut out), None);
        let mut r = Reply::default();
        r.text(b"W");
        r.num(0xff);
        r.text(b";");
        r.num(0);
        r.hex(&[0x12, 0xab]);
        assert_eq!(r.payload(), b"Wff;012ab");
    }
}
