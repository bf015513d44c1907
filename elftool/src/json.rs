//! A small, strict JSON parser for manifest sources (RFC 8259), keeping a
//! line for each value so that errors point at the line upstream's elftool
//! names (`SOURCE:LINE: ...`): for an object member, the line of its `:`;
//! for an array element, the line it starts on; the top-level value is
//! line 1.
//!
//! Stricter than upstream's parser on purpose: separators are required,
//! nothing may follow the top-level value, object keys must be unique and
//! strings must be valid UTF-8. Integers (no fraction, no exponent) are told
//! apart from reals, as upstream does, so that `"version": 1.0` is refused.

use thiserror::Error;

/// Deepest nesting of arrays and objects accepted. A manifest needs 3; the
/// limit keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value and its line (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// Where upstream places the value: the line of the `:` before it in
    /// an object, the line of its first character in an array, 1 for the
    /// top-level value.
    pub line: usize,
    /// The value.
    pub kind: Kind,
}

/// The kinds of JSON values.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A string.
    String(String),
    /// A number without fraction or exponent that fits in an `i64`.
    Int(i64),
    /// Any other number, as written in the source.
    Real(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in source order, keys unique.
    Object(Vec<(String, Value)>),
}

impl Kind {
    /// Upstream's name for the kind of a value, used in
    /// "expected OBJECT, got ARRAY".
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Null => "NULL",
            Kind::Bool(_) => "BOOLEAN",
            Kind::String(_) => "STRING",
            Kind::Int(_) => "INTEGER",
            Kind::Real(_) => "REAL",
            Kind::Array(_) => "ARRAY",
            Kind::Object(_) => "OBJECT",
        }
    }
}

/// Why a document is not valid JSON, and on which line.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("line {line}: {kind}")]
pub struct Error {
    /// Line (1-based) where the problem was found.
    pub line: usize,
    /// What is wrong there.
    pub kind: ErrorKind,
}

/// What is wrong with a JSON document.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ErrorKind {
    /// The document ends inside a value.
    #[error("premature end of JSON data")]
    Eof,
    /// A character that cannot start or continue what is being read.
    #[error("unexpected {0}")]
    Unexpected(Found),
    /// A backslash escape that JSON does not define.
    #[error("unknown escape code {0}")]
    BadEscape(Found),
    /// A `\u` escape with a lone or mismatched UTF-16 surrogate.
    #[error("invalid \\u escape (unpaired surrogate)")]
    BadSurrogate,
    /// An unescaped control character inside a string.
    #[error("unescaped control character in string")]
    Control,
    /// A string whose bytes are not UTF-8.
    #[error("string is not valid UTF-8")]
    Utf8,
    /// An integer too large for 64 bits.
    #[error("integer out of range: {0}")]
    IntRange(String),
    /// The same key twice in one object.
    #[error("duplicate key \"{0}\"")]
    DuplicateKey(String),
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Something other than whitespace after the top-level value.
    #[error("trailing data after the JSON value: {0}")]
    Trailing(Found),
}

/// A byte found where it does not belong, shown readably.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found(pub u8);

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            c @ 0x21..=0x7e => write!(f, "'{}'", c as char),
            c => write!(f, "byte 0x{c:02x}"),
        }
    }
}

/// Parse a complete JSON document.
pub fn parse(text: &[u8]) -> Result<Value, Error> {
    let mut p = Parser {
        b: text,
        at: 0,
        line: 1,
    };
    let mut v = p.value(0)?;
    v.line = 1;
    p.skip_ws();
    match p.peek() {
        None => Ok(v),
        Some(c) => Err(p.err(ErrorKind::Trailing(Found(c)))),
    }
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn err(&self, kind: ErrorKind) -> Error {
        Error {
            line: self.line,
            kind,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    /// The next byte, or the end-of-data error.
    fn next(&mut self) -> Result<u8, Error> {
        let c = self.peek().ok_or(self.err(ErrorKind::Eof))?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Ok(c)
    }

    fn skip_ws(&mut self) {
        while let Some(c @ (b' ' | b'\t' | b'\n' | b'\r')) = self.peek() {
            self.at += 1;
            if c == b'\n' {
                self.line += 1;
            }
        }
    }

    fn unexpected(&self, c: u8) -> Error {
        self.err(ErrorKind::Unexpected(Found(c)))
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.skip_ws();
        let line = self.line;
        let c = self.peek().ok_or(self.err(ErrorKind::Eof))?;
        let kind = match c {
            b'{' | b'[' if depth >= MAX_DEPTH => return Err(self.err(ErrorKind::TooDeep)),
            b'{' => self.object(depth + 1)?,
            b'[' => self.array(depth + 1)?,
            b'"' => Kind::String(self.string()?),
            b'-' | b'0'..=b'9' => self.number()?,
            b't' => self.word("true", Kind::Bool(true))?,
            b'f' => self.word("false", Kind::Bool(false))?,
            b'n' => self.word("null", Kind::Null)?,
            c => return Err(self.unexpected(c)),
        };
        Ok(Value { line, kind })
    }

    fn word(&mut self, w: &str, kind: Kind) -> Result<Kind, Error> {
        for &want in w.as_bytes() {
            let c = self.next()?;
            if c != want {
                return Err(self.unexpected(c));
            }
        }
        Ok(kind)
    }

    fn array(&mut self, depth: usize) -> Result<Kind, Error> {
        self.next()?; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.next()?;
            return Ok(Kind::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(Kind::Array(items)),
                c => return Err(self.unexpected(c)),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, Error> {
        self.next()?; // '{'
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.next()?;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(c) => return Err(self.unexpected(c)),
                None => return Err(self.err(ErrorKind::Eof)),
            }
            let key = self.string()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(self.err(ErrorKind::DuplicateKey(key)));
            }
            self.skip_ws();
            match self.next()? {
                b':' => {}
                c => return Err(self.unexpected(c)),
            }
            let line = self.line;
            let mut v = self.value(depth)?;
            v.line = line;
            members.push((key, v));
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(Kind::Object(members)),
                c => return Err(self.unexpected(c)),
            }
        }
    }

    fn string(&mut self) -> Result<String, Error> {
        self.next()?; // '"'
        let mut out = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        c => return Err(self.err(ErrorKind::BadEscape(Found(c)))),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err(ErrorKind::Control)),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err(ErrorKind::Utf8))
    }

    /// After `\u`: four hex digits, and a second escape for a surrogate
    /// pair.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let hi = self.hex4()?;
        let code = match hi {
            0xd800..=0xdbff => {
                if self.next()? != b'\\' || self.next()? != b'u' {
                    return Err(self.err(ErrorKind::BadSurrogate));
                }
                let lo = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return Err(self.err(ErrorKind::BadSurrogate));
                }
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.err(ErrorKind::BadSurrogate)),
            c => c,
        };
        char::from_u32(code).ok_or(self.err(ErrorKind::BadSurrogate))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.next()?;
            let d = (c as char).to_digit(16).ok_or(self.unexpected(c))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn digits(&mut self) -> Result<(), Error> {
        match self.peek() {
            Some(b'0'..=b'9') => {}
            Some(c) => return Err(self.unexpected(c)),
            None => return Err(self.err(ErrorKind::Eof)),
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Kind, Error> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0') {
            self.at += 1;
        } else {
            self.digits()?;
        }
        let mut real = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
            real = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits()?;
            real = true;
        }
        // Only ASCII digits, signs, '.' and 'e' were consumed.
        let text = String::from_utf8_lossy(&self.b[start..self.at]).into_owned();
        if real {
            return Ok(Kind::Real(text));
        }
        match text.parse::<i64>() {
            Ok(i) => Ok(Kind::Int(i)),
            Err(_) => Err(self.err(ErrorKind::IntRange(text))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Result<Kind, ErrorKind> {
        parse(s.as_bytes()).map(|v| v.kind).map_err(|e| e.kind)
    }

    #[test]
    fn values() {
        assert_eq!(kind(" 12 "), Ok(Kind::Int(12)));
        assert_eq!(kind("-0"), Ok(Kind::Int(0)));
        assert_eq!(kind("1.0"), Ok(Kind::Real("1.0".into())));
        assert_eq!(kind("1e3"), Ok(Kind::Real("1e3".into())));
        assert_eq!(kind("null"), Ok(Kind::Null));
        assert_eq!(kind("[true, false]").unwrap().name(), "ARRAY");
        assert_eq!(
            kind(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#),
            Ok(Kind::String("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}".into()))
        );
        let v = parse(b"\n{\n \"a\": [\n 1,\n 2 ], \"b\"\n:\n\n3\n}").unwrap();
        assert_eq!(v.line, 1);
        let Kind::Object(m) = v.kind else {
            panic!("not an object")
        };
        assert_eq!((m[0].1.line, m[1].1.line), (3, 6));
        let Kind::Array(a) = &m[0].1.kind else {
            panic!("not an array")
        };
        assert_eq!((a[0].line, a[1].line), (4, 5));
    }

    #[test]
    fn errors() {
        use ErrorKind::*;
        assert_eq!(kind(""), Err(Eof));
        assert_eq!(kind("{\"a\": 1"), Err(Eof));
        assert_eq!(kind("[1,]"), Err(Unexpected(Found(b']'))));
        assert_eq!(kind("[1 2]"), Err(Unexpected(Found(b'2'))));
        assert_eq!(kind("{\"a\" 1}"), Err(Unexpected(Found(b'1'))));
        assert_eq!(kind("{a: 1}"), Err(Unexpected(Found(b'a'))));
        assert_eq!(kind("01"), Err(Trailing(Found(b'1'))));
        assert_eq!(kind("1."), Err(Eof));
        assert_eq!(kind("{} x"), Err(Trailing(Found(b'x'))));
        assert_eq!(kind("tru"), Err(Eof));
        assert_eq!(kind("nul!"), Err(Unexpected(Found(b'!'))));
        assert_eq!(kind("\"\\x\""), Err(BadEscape(Found(b'x'))));
        assert_eq!(kind("\"\\ud800\""), Err(BadSurrogate));
        assert_eq!(kind("\"\\udc00\""), Err(BadSurrogate));
        assert_eq!(kind("\"a\nb\""), Err(Control));
        assert_eq!(kind("\"\u{e9}\""), Ok(Kind::String("\u{e9}".into())));
        assert_eq!(parse(b"\"\xff\"").map_err(|e| e.kind), Err(Utf8));
        assert_eq!(
            kind("99999999999999999999"),
            Err(IntRange("99999999999999999999".into()))
        );
        assert_eq!(kind("{\"a\":1,\"a\":2}"), Err(DuplicateKey("a".into())));
        assert_eq!(kind(&"[".repeat(MAX_DEPTH + 1)), Err(TooDeep));
        assert!(kind(&format!("{}{}", "[".repeat(64), "]".repeat(64))).is_ok());
        assert_eq!(parse(b"\n\n  @").unwrap_err().line, 3);
        assert_eq!(
            parse(b"\n\n  @").unwrap_err().to_string(),
            "line 3: unexpected '@'"
        );
    }
}
