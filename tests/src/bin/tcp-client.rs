//! tcp-client: the host side of the `tcp` example unikernel's tests and
//! benchmark, a plain `std::net::TcpStream` client.
//!
//! ```text
//! tcp-client stream ADDR:PORT BYTES   read the source stream to its end, check every byte
//! tcp-client echo ADDR:PORT BYTES     send BYTES, read them back, check every byte
//! tcp-client short ADDR:PORT COUNT    COUNT connections one after another, each
//!                                     echoing a short message (1 to 512 bytes)
//! ```
//!
//! The bytes are the `tcp` guest's pattern: byte `i` is byte `i % 8`
//! (little endian) of `splitmix64(i / 8)`. On success it prints one line
//! with the figures (MB is 10^6 bytes) and exits 0; on any failure (a
//! wrong byte, a short stream, a refused or stalled connection) one line
//! `tcp-client: ...` on stderr and exit status 1. Every connection has a
//! 10 s connect timeout and a 60 s read and write timeout.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes per read or write call.
const CHUNK: usize = 64 << 10;

/// Byte `i` of the stream is byte `i % 8` of `pattern_word(i / 8)`; the
/// same function as the guest's.
fn pattern_word(k: u64) -> u64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with the stream's bytes from offset `at`.
fn fill_pattern(at: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let pos = at + i as u64;
        *b = pattern_word(pos / 8).to_le_bytes()[(pos % 8) as usize];
    }
}

/// Checks `got` against the pattern at offset `at`.
fn check_pattern(at: u64, got: &[u8], want: &mut [u8]) -> Result<(), String> {
    let want = &mut want[..got.len()];
    fill_pattern(at, want);
    match got.iter().zip(want.iter()).position(|(g, w)| g != w) {
        None => Ok(()),
        Some(i) => Err(format!(
            "byte {} is {:#04x}, want {:#04x}",
            at + i as u64,
            got[i],
            want[i]
        )),
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| format!("set timeouts: {e}"))?;
    Ok(s)
}

/// MB/s of `bytes` in `t`.
fn rate(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

/// Reads the whole source stream and checks it is exactly `bytes` bytes of
/// the pattern.
fn stream(addr: SocketAddr, bytes: u64) -> Result<String, String> {
    let start = Instant::now();
    let mut s = connect(addr)?;
    let mut buf = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("read after {got} bytes: {e}"))?;
        if n == 0 {
            break;
        }
        check_pattern(got, &buf[..n], &mut want)?;
        got += n as u64;
        if got > bytes {
            return Err(format!("stream longer than {bytes} bytes"));
        }
    }
    let t = start.elapsed();
    if got != bytes {
        return Err(format!("stream ended after {got} of {bytes} bytes"));
    }
    Ok(format!(
        "stream: {got} bytes checked in {:.3} s, {:.1} MB/s",
        t.as_secs_f64(),
        rate(got, t)
    ))
}

/// Sends `bytes` bytes of the pattern from a thread of its own while
/// reading the echo, and checks the echo is exactly what was sent.
fn echo(addr: SocketAddr, bytes: u64) -> Result<String, String> {
    let start = Instant::now();
    let mut s = connect(addr)?;
    let mut w = s.try_clone().map_err(|e| format!("clone socket: {e}"))?;
    let writer = std::thread::spawn(move || -> Result<(), String> {
        let mut buf = vec![0u8; CHUNK];
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(CHUNK as u64) as usize;
            fill_pattern(sent, &mut buf[..n]);
            w.write_all(&buf[..n])
                .map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += n as u64;
        }
        w.shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))
    });
    let mut buf = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    let mut got = 0u64;
    let read = loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(format!("read after {got} bytes: {e}")),
        };
        if let Err(e) = check_pattern(got, &buf[..n], &mut want) {
            break Err(format!("echo {e}"));
        }
        got += n as u64;
        if got > bytes {
            break Err(format!("echo longer than the {bytes} bytes sent"));
        }
    };
    let t = start.elapsed();
    if read.is_err() {
        // Unblock the writer if it is stuck on a full window.
        let _ = s.shutdown(Shutdown::Both);
    }
    let wrote = writer
        .join()
        .unwrap_or_else(|_| Err("writer thread panicked".into()));
    read?;
    wrote?;
    if got != bytes {
        return Err(format!("echo ended after {got} of {bytes} bytes"));
    }
    Ok(format!(
        "echo: {got} bytes sent and checked back in {:.3} s, {:.1} MB/s each way",
        t.as_secs_f64(),
        rate(got, t)
    ))
}

/// `count` connections in turn: each sends a short message, half-closes,
/// and must read exactly the message back, then the end of the stream.
fn short(addr: SocketAddr, count: u64) -> Result<String, String> {
    let start = Instant::now();
    let mut msg = vec![0u8; 512];
    let mut back = vec![0u8; 1024];
    let mut want = vec![0u8; 512];
    for i in 0..count {
        let len = 1 + (i * 37 % 512) as usize;
        let at = i * 512;
        fill_pattern(at, &mut msg[..len]);
        let mut s = connect(addr).map_err(|e| format!("connection {i}: {e}"))?;
        s.write_all(&msg[..len])
            .and_then(|()| s.shutdown(Shutdown::Write))
            .map_err(|e| format!("connection {i}: write: {e}"))?;
        let mut got = 0;
        loop {
            let n = s
                .read(&mut back[got..])
                .map_err(|e| format!("connection {i}: read after {got} bytes: {e}"))?;
            if n == 0 {
                break;
            }
            got += n;
            if got > len {
                return Err(format!("connection {i}: echo longer than {len} bytes"));
            }
        }
        if got != len {
            return Err(format!("connection {i}: echo of {got} of {len} bytes"));
        }
        check_pattern(at, &back[..got], &mut want)
            .map_err(|e| format!("connection {i}: echo {e}"))?;
    }
    let t = start.elapsed();
    Ok(format!(
        "short: {count} connections in {:.3} s, {:.0} connections/s",
        t.as_secs_f64(),
        count as f64 / t.as_secs_f64()
    ))
}

fn run(args: &[String]) -> Result<String, String> {
    let [mode, addr, n] = args else {
        return Err("usage: tcp-client stream|echo|short ADDR:PORT N".into());
    };
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?}: not an address ADDR:PORT"))?;
    let n: u64 = n.parse().map_err(|_| format!("{n:?}: not a count"))?;
    match mode.as_str() {
        "stream" => stream(addr, n),
        "echo" => echo(addr, n),
        "short" => short(addr, n),
        _ => Err(format!("{mode:?}: not stream, echo or short")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tcp-client: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_position_addressed() {
        let mut whole = vec![0u8; 100];
        fill_pattern(0, &mut whole);
        let mut part = vec![0u8; 37];
        fill_pattern(13, &mut part);
        assert_eq!(&whole[13..50], &part[..]);
        // splitmix64 of state 0x9e3779b97f4a7c15 (the first output of
        // seed 0), a published value.
        assert_eq!(pattern_word(0), 0xe220_a839_7b1d_cdaf);
        let mut want = vec![0u8; 100];
        assert!(check_pattern(0, &whole, &mut want).is_ok());
        whole[42] ^= 1;
        let e = check_pattern(0, &whole, &mut want).unwrap_err();
        assert!(e.starts_with("byte 42 is"), "{e}");
    }
}
