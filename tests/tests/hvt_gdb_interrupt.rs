//! Ctrl-C in a debugger attached to `solo5-hvt --gdb`: a 0x03 byte sent
//! while the guest runs stops it with a `T02` (SIGINT) stop reply within a
//! moment, and the guest is then killed (`k`). Spoken at the protocol
//! level (what gdb sends on Ctrl-C), with the SDK's CPU-bound `cpuwork`
//! guest entered at CPL3, which makes no hypercall for seconds.

use solo5_e2e::hvt::ours;
use solo5_e2e::{guest, Running};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Send one packet `$DATA#CS`.
fn send(s: &mut TcpStream, data: &str) {
    let sum = data.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    write!(s, "${data}#{sum:02x}").expect("send a packet");
}

/// The next packet's data (acknowledged), skipping acks.
fn recv(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).expect("read from the stub");
        buf.push(byte[0]);
        if let Some(start) = buf.iter().position(|&b| b == b'$') {
            if buf.len() >= start + 3 && buf[buf.len() - 3] == b'#' {
                s.write_all(b"+").expect("ack");
                return String::from_utf8_lossy(&buf[start + 1..buf.len() - 3]).into_owned();
            }
        }
    }
}

#[test]
fn ctrl_c_stops_a_running_guest() {
    let Some(t) = ours() else { return };
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut r = Running::spawn(
        Command::new(&t)
            .args(["--mem=4", "--gdb", &format!("--gdb-port={port}"), "--"])
            .arg(guest("hvt", "cpuwork"))
            .args(["float", "4000000000"]),
    );
    let start = Instant::now();
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("no stub on port {port}: {e}: {}", r.stderr()),
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    send(&mut s, "?");
    assert_eq!(recv(&mut s), "T05", "{}", r.stderr());
    send(&mut s, "c");
    std::thread::sleep(Duration::from_millis(500));
    assert!(r.is_running(), "the guest ended early: {}", r.stdout());
    let t0 = Instant::now();
    s.write_all(&[0x03]).unwrap();
    let reply = recv(&mut s);
    let took = t0.elapsed();
    assert!(
        reply.starts_with("T02"),
        "stop reply {reply:?}: {}",
        r.stderr()
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Still under the filter with no capability while stopped.
    let status = std::fs::read_to_string(format!("/proc/{}/status", r.pid())).unwrap();
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    send(&mut s, "k");
    let o = r.finish(Duration::from_secs(10));
    assert_ne!(o.status, 0, "killed, not finished: {}", o.dump());
}
