//! Hostile hvt guests entered at CPL3: the `hostile` test unikernel (built
//! by our SDK) aims raw hypercalls and net ring entries at what our
//! solo5-hvt owns in low guest memory (GDT 0x1000, page tables
//! 0x2000..0x10000, IDT 0xf0000, TSS 0xf1000, trap stub 0xf4000, trap stack
//! 0xf5000: docs/hvt-user-mode.md), at the stack guard of its stack note,
//! and writes into the read-only boot info at 0x10000. The tender must
//! refuse each with one line, `solo5-hvt: Invalid guest access: gpa=...,
//! sz=...`, and exit status 1, before it reads or writes a byte there; the
//! same call on the guest's own memory (each case's `-ok` control)
//! succeeds.
//!
//! The guest cannot read those pages itself (supervisor-only, or not
//! mapped), so "nothing changed" is shown by what happens next: the guest
//! is dead (status 1, the line, nothing it prints after the call), a net
//! write sent nothing to the host, and a trap in a separate run is still
//! reported through the stub with the normal lines. With `trap` after the
//! case the guest executes `ud2` right after a call the tender served:
//! there, a stub or TSS the call overwrote shows (before the tender
//! refused these calls, `block-read-stub trap` and `net-read-tss trap`
//! ended in `KVM: unhandled exit: exit_reason=0x8`, a triple fault, and
//! `walltime-pml4` in the same line at once: the tender had written the
//! time into the PML4).
//!
//! On upstream's solo5-hvt the same binary is entered at CPL0 and builds
//! its own page tables, GDT, TSS and IDT after its image: those low pages
//! are the tender's boot-time leftovers, unused by the guest, and
//! upstream checks only that a buffer lies inside guest memory. So every
//! hostile call is served there (status 3, the guest's "served" line),
//! deterministically; see `upstreams_tender_serves_them_all`.
//!
//! Tests skip with a message where /dev/kvm (and, for upstream's tender,
//! root, /dev/net/tun, ip, ping or upstream's binaries) are absent. A
//! missing `hostile` guest is a failure.

use solo5_e2e::hvt::{assert_success, assert_trapped, ours, upstream_hvt, LIMIT};
use solo5_e2e::{guest, pass_as_fd3, run_cmd, skip_unless_ping, Netns, Outcome, TempDir};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CPL3: &str =
    "\nSolo5: hvt: entered at CPL3 (tender-owned page tables, descriptor tables, traps)\n";
const CPL0: &str =
    "\nSolo5: hvt: entered at CPL0 (own page tables, descriptor tables, traps), running at CPL3\n";
const RING: &str = "\nSolo5: hvt: net I/O through the shared ring\n";
/// The guest's exit status when the tender served a hostile call.
const SERVED: i32 = 3;
/// Guest memory: upstream's floor. The stack note's guard then lies at
/// `2 MiB - 256 KiB (stack) - 64 KiB (guard)`.
const MEM: &str = "--mem=2";
const GUARD: u64 = (2 << 20) - (256 << 10) - (64 << 10);
/// Length of the frame left waiting for the guest.
const FRAME_LEN: usize = 60;

fn hostile() -> PathBuf {
    guest("hvt", "hostile")
}

/// A connected `SOCK_SEQPACKET` socketpair: (the end the tender gets,
/// ours).
fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two descriptors into sv.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: both were just created and are ours alone.
    unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) }
}

/// Every frame waiting on `fd` (non-blocking reads until none is left).
fn drain(fd: &OwnedFd) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    loop {
        let mut buf = vec![0u8; 65536];
        // SAFETY: buf is a live buffer of that length.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            return frames;
        }
        buf.truncate(n as usize);
        frames.push(buf);
    }
}

/// A run of `hostile` on our tender: what it showed, the frames it sent
/// to the host, and whether its disk is unchanged.
struct Run {
    o: Outcome,
    sent: Vec<Vec<u8>>,
    disk_intact: bool,
}

/// `solo5-hvt --mem=2 --net-ring=RING --net:service0=@3
/// --block:storage=DISK -- hostile ARGS`, with one frame of
/// [`FRAME_LEN`] bytes waiting on service0 and a 4 KiB disk of 0xa5.
fn run_ours(t: &Path, ring: bool, args: &[&str]) -> Run {
    run_kernel(t, &hostile(), ring, args)
}

/// As [`run_ours`], for `kernel`.
fn run_kernel(t: &Path, kernel: &Path, ring: bool, args: &[&str]) -> Run {
    let tmp = TempDir::new("hostile");
    let disk_bytes = vec![0xa5u8; 4096];
    let disk = tmp.file("disk.img", &disk_bytes);
    let (theirs, mine) = seqpacket_pair();
    let frame: Vec<u8> = (0..FRAME_LEN).map(|i| (i as u8).wrapping_mul(3)).collect();
    // SAFETY: frame is a live buffer of that length.
    let n = unsafe { libc::send(mine.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(n, FRAME_LEN as isize);
    let mut c = Command::new(t);
    c.arg(MEM)
        .arg(if ring {
            "--net-ring=on"
        } else {
            "--net-ring=off"
        })
        .arg("--net:service0=@3")
        .arg(format!("--block:storage={}", disk.display()))
        .arg("--")
        .arg(kernel)
        .args(args);
    pass_as_fd3(&mut c, &theirs);
    let o = run_cmd(&mut c, LIMIT);
    // Before `theirs` is closed: a SOCK_SEQPACKET socket whose peer is
    // gone returns ENOTCONN, not what is queued.
    let sent = drain(&mine);
    drop(theirs);
    let disk_intact = std::fs::read(&disk).is_ok_and(|b| b == disk_bytes);
    Run {
        o,
        sent,
        disk_intact,
    }
}

/// (case, uses the net ring, gpa and sz of the refused range as the
/// tender names it).
const HOSTILE: &[(&str, bool, u64, u64)] = &[
    ("walltime-pml4", false, 0x2000, 8),
    ("walltime-gdt", false, 0x1000, 8),
    ("walltime-bootinfo", false, 0x10000, 8),
    ("walltime-guard", false, GUARD, 8),
    ("puts-pt", false, 0x2000, 64),
    ("puts-stub", false, 0xf4000, 64),
    ("poll-idt", false, 0xf0000, 24),
    ("block-read-stub", false, 0xf4000, 512),
    ("block-read-kstack", false, 0xf5000, 512),
    ("block-struct-kstack", false, 0xf5000, 40),
    ("net-read-tss", false, 0xf1000, 1514),
    ("net-write-pt", false, 0x3000, 64),
    ("halt-cookie-pt", false, 0x2000, 512),
    ("ring-read-stub", true, 0xf4000, 1514),
    ("ring-write-stub", true, 0xf4000, 64),
];

/// Refused: status 1, the one fatal line naming `gpa` and `sz`, the guest
/// reached the call and printed nothing after it, no trap, nothing sent,
/// the disk unchanged.
fn assert_refused(what: &str, r: &Run, case: &str, gpa: u64, sz: u64) {
    let o = &r.o;
    assert_eq!(o.status, 1, "{what}: {}", o.dump());
    let line = format!("solo5-hvt: Invalid guest access: gpa={gpa:#x}, sz={sz}");
    let tender_lines: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("solo5-hvt:"))
        .collect();
    assert_eq!(tender_lines, [line.as_str()], "{what}: {}", o.dump());
    assert!(o.stdout.contains(CPL3), "{what}: not at CPL3: {}", o.dump());
    assert!(
        o.stdout.contains(&format!("\nhostile: {case}\n")),
        "{what}: never got to the call: {}",
        o.dump()
    );
    let served = format!("hostile: {case} served");
    for not in [&served, "SUCCESS", "FAILURE", "Solo5: trap", "solo5_exit"] {
        assert!(!o.stdout.contains(not), "{what}: {not:?}: {}", o.dump());
    }
    assert!(
        r.sent.is_empty(),
        "{what}: the host got {} frame(s): {:02x?}",
        r.sent.len(),
        r.sent
    );
    assert!(r.disk_intact, "{what}: the disk changed");
}

#[test]
fn every_hostile_call_is_refused_with_one_line() {
    hostile();
    let Some(t) = ours() else { return };
    for &(case, ring, gpa, sz) in HOSTILE {
        let r = run_ours(&t, ring, &[case]);
        assert_refused(case, &r, case, gpa, sz);
        if ring {
            assert!(r.o.stdout.contains(RING), "{case}: no ring: {}", r.o.dump());
        }
    }
}

/// With `trap`, a call the tender served would be followed by `ud2`: a
/// stub, trap stack or TSS it had overwritten would show in that trap's
/// report (or as a triple fault). Refused, the guest never gets there.
#[test]
fn refused_calls_never_reach_the_trap_after_them() {
    hostile();
    let Some(t) = ours() else { return };
    for &(case, ring, gpa, sz) in HOSTILE {
        if !matches!(
            case,
            "block-read-stub"
                | "block-read-kstack"
                | "net-read-tss"
                | "ring-read-stub"
                | "walltime-pml4"
                | "walltime-gdt"
        ) {
            continue;
        }
        let what = format!("{case} trap");
        let r = run_ours(&t, ring, &[case, "trap"]);
        assert_refused(&what, &r, case, gpa, sz);
    }
    // The stub works: a trap in a run of its own gets the normal lines.
    for ring in [false, true] {
        let r = run_ours(&t, ring, &["ud2"]);
        assert_trapped("ud2", &r.o, "#UD ec=0x0", None);
        assert!(r.o.stdout.contains(CPL3), "{}", r.o.dump());
        assert!(r.o.stderr.is_empty(), "{}", r.o.dump());
    }
}

/// Each call on the guest's own memory succeeds.
#[test]
fn the_same_calls_on_the_guests_own_memory_succeed() {
    hostile();
    let Some(t) = ours() else { return };
    for (case, ring, line) in [
        ("walltime-ok", false, "hostile: walltime-ok: "),
        ("puts-ok", false, "hostile: puts-ok: own bytes\n"),
        ("poll-ok", false, "hostile: poll-ok: set=0x2 ret=1\n"),
        ("block-read-ok", false, "hostile: block-read-ok: ret=0\n"),
        ("net-read-ok", false, "hostile: net-read-ok: ret=0 len=60\n"),
        ("net-write-ok", false, "hostile: net-write-ok: ret=0\n"),
        (
            "ring-read-ok",
            true,
            "hostile: ring-read-ok: ret=0 len=60\n",
        ),
        ("ring-write-ok", true, "hostile: ring-write-ok: taken\n"),
    ] {
        let r = run_ours(&t, ring, &[case]);
        let o = &r.o;
        assert_success(case, o);
        assert!(o.stdout.contains(CPL3), "{case}: {}", o.dump());
        assert!(
            o.stdout.contains(line),
            "{case}: want {line:?}: {}",
            o.dump()
        );
        assert!(o.stderr.is_empty(), "{case}: {}", o.dump());
        assert_eq!(o.stdout.contains(RING), ring, "{case}: {}", o.dump());
        assert!(r.disk_intact, "{case}: the disk changed");
        if case.contains("write") {
            assert_eq!(r.sent, [vec![0x5a; 64]], "{case}");
        } else {
            assert!(r.sent.is_empty(), "{case}: {:02x?}", r.sent);
        }
    }
    // HALT with a cookie of its own: status 0 (no solo5_exit line: the
    // guest halts by hand).
    let r = run_ours(&t, false, &["halt-cookie-ok"]);
    assert_eq!(r.o.status, 0, "{}", r.o.dump());
    assert!(r.o.stdout.contains("\nSUCCESS\n"), "{}", r.o.dump());
    assert!(r.o.stderr.is_empty(), "{}", r.o.dump());
}

/// Upstream's tender, with a tap: a namespace, `tap0` and a ping that
/// keeps the guest's net device readable (ARP requests).
fn run_upstream(up: &Path, ns: &Netns, disk: &Path, args: &[&str]) -> Outcome {
    let ping = ns.ping(&["-i", "0.2", "10.0.0.2"]);
    let o = solo5_e2e::wait(
        ns.command(up)
            .arg(MEM)
            .arg("--net:service0=tap0")
            .arg(format!("--block:storage={}", disk.display()))
            .arg("--")
            .arg(hostile())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn upstream's tender"),
        LIMIT,
    );
    let _ = ping.kill();
    o
}

/// What upstream's tender does with the same binary (entered at CPL0):
/// upstream checks only that a struct or buffer lies inside guest
/// memory, and those low pages are unused by a guest at CPL0, so every
/// hostile call is served. Two exceptions, both deterministic:
/// `walltime-guard` names the end of the heap, which at CPL0 is the end
/// of guest memory (the guest's guard is elsewhere there), so upstream
/// stops it with its own line (`solo5-hvt: hvt/hvt_core.c:129: Invalid
/// guest access: gpa=0x200000, sz=8`); `halt-cookie-pt` halts with the
/// status it asked for (0), the cookie unread outside a debug tender.
#[test]
fn upstreams_tender_serves_them_all() {
    hostile();
    let Some(up) = upstream_hvt() else { return };
    if skip_unless_ping() {
        return;
    }
    let ns = Netns::with_prefix("hh");
    ns.tap("tap0", "10.0.0.1/24", 1500);
    let tmp = TempDir::new("hostile-up");
    let disk = tmp.file("disk.img", &[0u8; 4096]);
    for &(case, ..) in HOSTILE {
        let o = run_upstream(&up, &ns, &disk, &[case]);
        assert!(o.stdout.contains(CPL0), "{case}: {}", o.dump());
        match case {
            "walltime-guard" => {
                assert_eq!(o.status, 1, "{case}: {}", o.dump());
                assert!(
                    o.stderr
                        .contains("Invalid guest access: gpa=0x200000, sz=8\n"),
                    "{case}: {}",
                    o.dump()
                );
            }
            "halt-cookie-pt" => {
                assert_eq!(o.status, 0, "{case}: {}", o.dump());
                assert!(
                    !o.stdout.contains("hostile: halt-cookie-pt served"),
                    "{case}: {}",
                    o.dump()
                );
            }
            _ => {
                assert_eq!(o.status, SERVED, "{case}: {}", o.dump());
                assert!(
                    o.stdout.contains(&format!("hostile: {case} served (")),
                    "{case}: {}",
                    o.dump()
                );
                assert!(o.stderr.is_empty(), "{case}: {}", o.dump());
            }
        }
        if case.starts_with("ring-") {
            assert!(o.stdout.contains(RING), "{case}: no ring: {}", o.dump());
        }
    }
    // The controls pass there too.
    for case in [
        "walltime-ok",
        "puts-ok",
        "poll-ok",
        "block-read-ok",
        "net-read-ok",
        "net-write-ok",
        "ring-read-ok",
        "ring-write-ok",
    ] {
        let o = run_upstream(&up, &ns, &disk, &[case]);
        assert_success(case, &o);
        assert!(o.stdout.contains(CPL0), "{case}: {}", o.dump());
    }
}

/// The guest is where the tests expect it and says what it is.
/// The same guest without its user-mode note is a kernel built for CPL0;
/// on kvm_pvm our tender enters it at CPL3 all the same, with IOPL 3 and
/// its privileged instructions carried out by the tender
/// (docs/hvt-user-mode.md, "Kernels built for CPL0"). It gets the same
/// refusals as with the note (no stack note, so no guard case), cannot
/// forge a trap report through the stub's port (which IOPL 3 opens to
/// it): one line, status 1. With the note the same `out` is a #GP.
#[test]
fn a_cpl0_kernel_entered_at_cpl3_gets_the_same_refusals_and_forges_no_trap() {
    let Some(t) = ours() else { return };
    let tmp = TempDir::new("hostile-cpl0");
    let plain = solo5_e2e::hvt::without_user_note(&tmp, &hostile());
    let demoted = Path::new("/sys/module/kvm_pvm").exists();
    for (case, ring, gpa, sz) in HOSTILE.iter().filter(|h| h.0 != "walltime-guard") {
        let r = run_kernel(&t, &plain, *ring, &[case, "trap"]);
        if demoted {
            assert!(r.o.stdout.contains(CPL3), "{case}: {}", r.o.dump());
            assert_refused(case, &r, case, *gpa, *sz);
        }
    }
    let r = run_kernel(&t, &plain, false, &["trap-port"]);
    assert_eq!(r.o.status, 1, "{}", r.o.dump());
    assert_eq!(
        r.o.stderr,
        "solo5-hvt: Invalid guest port access: port=0x5f0\n",
        "{}",
        r.o.dump()
    );
    assert!(!r.o.stdout.contains("trap-port served"), "{}", r.o.dump());
    let r = run_ours(&t, false, &["trap-port"]);
    assert_trapped("trap-port with the note", &r.o, "#GP ec=0x0", None);
}

#[test]
fn the_hostile_guest_is_built_and_knows_its_cases() {
    hostile();
    let Some(t) = ours() else { return };
    let r = run_ours(&t, false, &["nothing"]);
    assert_eq!(r.o.status, 1, "{}", r.o.dump());
    assert!(
        r.o.stdout.contains("FAILURE: unknown case 'nothing'"),
        "{}",
        r.o.dump()
    );
    assert!(r.o.stderr.is_empty(), "{}", r.o.dump());
}

/// The smaller edges of the hypercall path: a frame one byte above MTU +
/// 14 and a handle with bit 32 set are EINVAL for the guest, nothing
/// reaches the host, and the guest goes on; a `rep outsd` to a hypercall
/// port (a string instruction, not one `outl`) is refused with upstream's
/// port line, status 1, before anything is served. The same guest with
/// the tender it was aimed at in mind: at CPL0 too (`--net-ring=off`
/// keeps the frames on the hypercall path).
#[test]
fn oversize_frames_high_handles_and_string_outs_are_refused() {
    hostile();
    let Some(t) = ours() else { return };
    for case in ["net-write-oversize", "net-write-handle-high"] {
        let r = run_ours(&t, false, &[case]);
        assert_success(case, &r.o);
        let line = format!("hostile: {case}: ret={}\n", solo5_abi::result::EINVAL);
        assert!(
            r.o.stdout.contains(&line),
            "{case}: want {line:?}: {}",
            r.o.dump()
        );
        assert!(r.sent.is_empty(), "{case}: the host got {:02x?}", r.sent);
        assert!(r.o.stderr.is_empty(), "{case}: {}", r.o.dump());
    }
    // A `rep outsd` of (own struct, PML4) to the WALLTIME port: refused
    // whole as a port access where KVM reports the count, or (kvm_pvm,
    // which exits once per iteration) its second iteration refused as an
    // access to the page tables. Either way status 1, one line, nothing
    // served after it.
    let r = run_ours(&t, false, &["rep-outs"]);
    assert_eq!(r.o.status, 1, "rep-outs: {}", r.o.dump());
    let port = format!(
        "solo5-hvt: Invalid guest port access: port={:#x}\n",
        solo5_abi::hvt::PIO_BASE + solo5_abi::hvt::HC_WALLTIME
    );
    let access = "solo5-hvt: Invalid guest access: gpa=0x2000, sz=8\n";
    assert!(
        r.o.stderr == port || r.o.stderr == access,
        "rep-outs: {}",
        r.o.dump()
    );
    assert!(
        r.o.stdout.contains("\nhostile: rep-outs\n"),
        "{}",
        r.o.dump()
    );
    assert!(!r.o.stdout.contains("rep-outs served"), "{}", r.o.dump());
}
