//! `--gdb`: a GDB remote serial protocol stub over TCP (docs/hvt.md,
//! "The GDB stub").
//!
//! Before the seccomp filter the tender listens (127.0.0.1:1234 unless
//! `--gdb-listen`/`--gdb-port` say otherwise), prints upstream's lines,
//! blocks in `accept` and closes the listening socket; the guest has not
//! run an instruction yet. Under the filter the stub reads and writes the
//! one connected socket, and reaches the vcpu with `KVM_GET_REGS`,
//! `KVM_SET_REGS`, `KVM_GET_SREGS` and `KVM_SET_GUEST_DEBUG` only.
//!
//! How the guest is stopped depends on where it runs:
//!
//! - **CPL0** (upstream's binaries): `KVM_SET_GUEST_DEBUG` with
//!   `USE_SW_BP` (an `int3` exits to the tender instead of reaching the
//!   guest's IDT), `SINGLESTEP`, and `USE_HW_BP` with the debug registers
//!   for `Z1`..`Z4`; the stops are `KVM_EXIT_DEBUG`.
//! - **CPL3** (our SDK's guests, on the tender's trap stub,
//!   docs/hvt-user-mode.md): on kvm_pvm an `int3` or a single-step trap at
//!   CPL3 is delivered through the guest's IDT whatever
//!   `KVM_SET_GUEST_DEBUG` says, so the stub uses the tender's trap path,
//!   which works on every KVM: an `int3` is a #BP the trap stub reports, a
//!   step sets RFLAGS.TF (in the registers, or in the stub's frame) and
//!   ends in a #DB the stub reports; resuming lets the stub return with
//!   `iretq` (the frame's RIP moved back onto the breakpoint). A real
//!   fault stops the guest with the signal Linux would send (SIGSEGV for
//!   a #PF), registers from the frame; continuing with that signal ends it
//!   as without a debugger.
//!
//! Ctrl-C: a timer signal (20 Hz, to the run thread only) interrupts
//! `KVM_RUN`; the run loop then polls the socket for 0x03.
//!
//! Guest addresses are virtual: the stub walks the guest's page tables
//! from CR3 in guest memory; an address they do not map, or that maps
//! outside guest memory, is an `E14` reply.

pub mod proto;

use crate::dumpcore::signal_of;
use crate::memory::GuestMemory;
use crate::sys::{self, Errno};
use crate::user::slot;
use kvm_bindings::{
    kvm_debug_exit_arch, kvm_guest_debug, kvm_regs, kvm_sregs, KVM_GUESTDBG_ENABLE,
    KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP, KVM_GUESTDBG_USE_SW_BP,
};
use kvm_ioctls::VcpuFd;
use proto::{addr_len, decode_hex, parse_hex, Framer, Input, Reply, PACKET_SIZE};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, IntoRawFd};
use thiserror::Error;

/// Where the stub listens unless `--gdb-listen` says otherwise: the
/// loopback address only (upstream listens on every address).
pub const DEFAULT_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Upstream's default port.
pub const DEFAULT_PORT: u16 = 1234;
/// How often the timer interrupts `KVM_RUN` to look for Ctrl-C.
const TICK_NS: i64 = 50_000_000;
/// RFLAGS.TF.
const TF: u64 = 1 << 8;
/// Software breakpoints at once.
const MAX_SW: usize = 64;
/// The signal numbers gdb knows (Linux's, for these).
const SIGINT: u8 = 2;
const SIGTRAP: u8 = 5;

/// Why `--gdb` cannot be served.
#[derive(Debug, Error)]
pub enum GdbError {
    /// bind or listen.
    #[error("gdb: cannot listen on {0}")]
    Listen(SocketAddr, #[source] io::Error),
    /// accept.
    #[error("gdb: accept failed")]
    Accept(#[source] io::Error),
    /// The Ctrl-C timer.
    #[error("gdb: cannot set up the interrupt timer")]
    Timer(#[source] io::Error),
}

/// The listening socket, bound at set-up.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Listen on `addr`.
    pub fn bind(addr: SocketAddr) -> Result<Listener, GdbError> {
        let listener = TcpListener::bind(addr).map_err(|e| GdbError::Listen(addr, e))?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(Listener { listener, addr })
    }

    /// Print upstream's lines, wait for the debugger, close the listening
    /// socket; start the Ctrl-C timer. `kernel` names the kernel in the
    /// suggested command line; `user`: the guest is entered at CPL3.
    pub fn accept(self, kernel: &str, user: bool) -> Result<Box<Stub>, GdbError> {
        let host = match self.addr.ip() {
            IpAddr::V4(a) if a.is_loopback() || a.is_unspecified() => "localhost".to_string(),
            IpAddr::V6(a) if a.is_loopback() || a.is_unspecified() => "localhost".to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        };
        let prog = sys::PROG;
        eprintln!("{prog}: Waiting for a debugger. Connect to it like this:");
        eprintln!(
            "{prog}: \tgdb --ex=\"target remote {host}:{}\" {kernel}",
            self.addr.port()
        );
        let (stream, peer) = loop {
            match self.listener.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(GdbError::Accept(e)),
            }
        };
        let _ = stream.set_nodelay(true);
        eprintln!("{prog}: Connection from debugger at {}", peer.ip());
        drop(self);
        start_tick().map_err(GdbError::Timer)?;
        Ok(Stub::new(stream.into_raw_fd(), user))
    }

    /// For `--print-policy`: the descriptor the connection would get
    /// (what `accept` would return, then the listening socket closed).
    pub fn would_accept(self) -> io::Result<i32> {
        // SAFETY: dup of our own descriptor, kept open until the process
        // ends (it stands for the connection).
        let fd = unsafe { libc::dup(self.listener.as_raw_fd()) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        drop(self);
        Ok(fd)
    }
}

/// Make all of guest memory host-writable (never executable), so that
/// breakpoints can be written into the guest's text, as upstream's debug
/// tender does. The hypercalls still refuse to write into the read-only
/// segments on the guest's behalf.
pub fn make_writable(mem: &GuestMemory) -> io::Result<()> {
    // SAFETY: the whole guest mapping is the tender's own; no Rust
    // reference into it exists.
    let rc = unsafe {
        libc::mprotect(
            mem.host_base() as *mut libc::c_void,
            mem.alloc_size() as usize,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" fn tick(_: libc::c_int) {}

/// A SIGALRM every [`TICK_NS`] to this thread only (the run thread), whose
/// handler returns at once: `KVM_RUN` returns EINTR, other calls restart.
fn start_tick() -> io::Result<()> {
    // SAFETY: the handler does nothing; `sa` is fully initialised.
    let rc = unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = tick as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, core::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system calls on our own timer; `ev` and `its` are
    // fully initialised.
    unsafe {
        let mut ev: libc::sigevent = core::mem::zeroed();
        ev.sigev_notify = libc::SIGEV_THREAD_ID;
        ev.sigev_signo = libc::SIGALRM;
        ev.sigev_notify_thread_id = libc::gettid();
        let mut timer: libc::timer_t = core::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut timer) != 0 {
            return Err(io::Error::last_os_error());
        }
        let t = libc::timespec {
            tv_sec: 0,
            tv_nsec: TICK_NS,
        };
        let its = libc::itimerspec {
            it_interval: t,
            it_value: t,
        };
        if libc::timer_settime(timer, 0, &its, core::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Why the guest stopped.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Before its first instruction.
    Initial,
    /// The debugger's Ctrl-C.
    Interrupt,
    /// `KVM_EXIT_DEBUG` (a guest at CPL0).
    Debug(kvm_debug_exit_arch),
    /// The trap stub reported `vector` with its frame at `gpa` (a guest
    /// at CPL3).
    Trap {
        /// The frame's guest physical address.
        gpa: u64,
        /// The exception vector.
        vector: u64,
    },
}

/// What the run loop does after a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Enter the guest again (through the stub's `iretq` after a trap).
    Resume,
    /// The debugger killed the guest.
    Kill,
    /// Continue with the trap's signal: end the guest as without a
    /// debugger (trap lines, core, status 255).
    Deliver,
}

#[derive(Clone, Copy, Default)]
struct Sw {
    used: bool,
    addr: u64,
    gpa: u64,
    orig: u8,
}

#[derive(Clone, Copy, Default)]
struct Hw {
    used: bool,
    addr: u64,
    /// 1 exec (Z1), 2 write (Z2), 3 read (Z3), 4 access (Z4).
    kind: u8,
    len: u8,
}

/// The stub: the connection and the breakpoints.
pub struct Stub {
    fd: i32,
    user: bool,
    connected: bool,
    noack: bool,
    framer: Framer,
    reply: Reply,
    inbuf: [u8; 4096],
    inpos: usize,
    inlen: usize,
    sw: [Sw; MAX_SW],
    hw: [Hw; 4],
    /// Resume with a single step.
    step: bool,
    /// The stub's frame while stopped in a CPL3 trap.
    frame: Option<u64>,
    /// The last stop reply, for `?`.
    last: [u8; 48],
    last_len: usize,
    /// The guest debug control last given to KVM.
    control: u32,
    /// The signal of the current stop.
    signal: u8,
    /// The host's KVM is kvm_pvm.
    pvm: bool,
}

/// A register of gdb's amd64 `g` packet, by its number.
const NREGS: usize = 24;

impl Stub {
    fn new(fd: i32, user: bool) -> Box<Stub> {
        Box::new(Stub {
            fd,
            user,
            connected: true,
            noack: false,
            framer: Framer::default(),
            reply: Reply::default(),
            inbuf: [0; 4096],
            inpos: 0,
            inlen: 0,
            sw: [Sw::default(); MAX_SW],
            hw: [Hw::default(); 4],
            step: false,
            frame: None,
            last: [0; 48],
            last_len: 0,
            control: 0,
            signal: SIGTRAP,
            pvm: crate::on_kvm_pvm(),
        })
    }

    /// The connection's descriptor, for the filter.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// Whether a debugger is still attached.
    pub fn connected(&self) -> bool {
        self.connected
    }

    // ---- I/O ----------------------------------------------------------

    fn write_raw(&mut self, bytes: &[u8]) {
        if !self.connected {
            return;
        }
        // SAFETY: `bytes` is a live buffer.
        if unsafe { sys::write_all(self.fd, bytes.as_ptr(), bytes.len()) }.is_err() {
            self.connected = false;
        }
    }

    /// The next byte from the debugger, waiting for it; None at end of
    /// file or on an error (the debugger is gone).
    fn read_byte(&mut self) -> Option<u8> {
        if self.inpos == self.inlen {
            if !self.connected {
                return None;
            }
            loop {
                // SAFETY: reads into our own buffer.
                let n = unsafe {
                    libc::read(self.fd, self.inbuf.as_mut_ptr().cast(), self.inbuf.len())
                };
                if n > 0 {
                    self.inpos = 0;
                    self.inlen = n as usize;
                    break;
                }
                if n < 0 && Errno::last().0 == libc::EINTR {
                    continue;
                }
                self.connected = false;
                return None;
            }
        }
        let b = self.inbuf[self.inpos];
        self.inpos += 1;
        Some(b)
    }

    /// Send the reply built in `self.reply` as one packet, and wait for
    /// its acknowledgement unless in no-ack mode.
    fn send(&mut self) {
        let mut head = [0u8; 1];
        head[0] = b'$';
        for _ in 0..5 {
            let sum = proto::checksum(self.reply.payload());
            let tail = [b'#', proto::hex_digit(sum >> 4), proto::hex_digit(sum)];
            // Three writes (no buffer to copy into under the filter).
            self.write_raw(&head);
            let p = self.reply.payload().as_ptr();
            let n = self.reply.len();
            if self.connected {
                // SAFETY: the reply's payload, live for the call.
                if unsafe { sys::write_all(self.fd, p, n) }.is_err() {
                    self.connected = false;
                }
            }
            self.write_raw(&tail);
            if self.noack || !self.connected {
                return;
            }
            loop {
                let Some(b) = self.read_byte() else { return };
                match self.framer.push(b) {
                    Input::Ack(true) => return,
                    Input::Ack(false) => break,
                    _ => {}
                }
            }
        }
    }

    fn send_text(&mut self, s: &[u8]) {
        self.reply.clear();
        self.reply.text(s);
        self.send();
    }

    /// The next packet's length (its payload in `self.framer.packet`), or
    /// None when the debugger is gone.
    fn next_packet(&mut self) -> Option<usize> {
        loop {
            let b = self.read_byte()?;
            match self.framer.push(b) {
                Input::Packet { len, ok } => {
                    if !self.noack {
                        self.write_raw(if ok { b"+" } else { b"-" });
                    }
                    if ok {
                        return Some(len);
                    }
                }
                Input::Interrupt | Input::Ack(_) | Input::Partial => {}
            }
        }
    }

    /// While the guest runs: whether the debugger sent Ctrl-C. A closed
    /// connection detaches the debugger (the guest runs on).
    pub fn interrupted(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory) -> bool {
        if !self.connected {
            return false;
        }
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if sys::wait_readable(core::slice::from_mut(&mut p), 0) == 0 {
            return false;
        }
        // SAFETY: reads into our own buffer.
        let n = unsafe { libc::read(self.fd, self.inbuf.as_mut_ptr().cast(), self.inbuf.len()) };
        if n <= 0 {
            self.connected = false;
            self.forget(vcpu, mem);
            return false;
        }
        let got = &self.inbuf[..n as usize];
        let stop = got.contains(&0x03);
        self.inpos = 0;
        self.inlen = 0;
        stop
    }

    /// The guest exited with `status`: `W` with it.
    pub fn exited(&mut self, status: i32) {
        if self.connected {
            self.reply.clear();
            self.reply.text(b"W");
            self.reply.hex(&[status as u8]);
            self.send();
        }
    }

    // ---- registers ----------------------------------------------------

    fn regs(&self, vcpu: &VcpuFd, mem: &GuestMemory) -> ([u64; NREGS], kvm_regs) {
        let r = vcpu.get_regs().unwrap_or_default();
        let s = vcpu.get_sregs().unwrap_or_default();
        let mut v = [
            r.rax,
            r.rbx,
            r.rcx,
            r.rdx,
            r.rsi,
            r.rdi,
            r.rbp,
            r.rsp,
            r.r8,
            r.r9,
            r.r10,
            r.r11,
            r.r12,
            r.r13,
            r.r14,
            r.r15,
            r.rip,
            r.rflags,
            u64::from(s.cs.selector),
            u64::from(s.ss.selector),
            u64::from(s.ds.selector),
            u64::from(s.es.selector),
            u64::from(s.fs.selector),
            u64::from(s.gs.selector),
        ];
        if let Some(f) = self.frame {
            let w = |i: u64| mem.read_own_u64(f + i * 8).unwrap_or(0);
            v[0] = w(slot::RAX);
            v[3] = w(slot::RDX);
            v[7] = w(slot::RSP);
            v[16] = w(slot::RIP);
            v[17] = w(slot::RFLAGS);
            v[18] = w(slot::CS);
            v[19] = w(slot::SS);
        }
        (v, r)
    }

    /// Set registers `v` (segment selectors are not changed).
    fn set_regs(&mut self, vcpu: &VcpuFd, mem: &GuestMemory, v: &[u64; NREGS], mut r: kvm_regs) {
        if let Some(f) = self.frame {
            let put = |i: u64, x: u64| {
                if let Ok(p) = mem.reserved_ptr(f + i * 8, 8) {
                    // SAFETY: 8 bytes of the trap stack, in the mapping.
                    unsafe { core::ptr::write_unaligned(p.cast::<u64>(), x) };
                }
            };
            put(slot::RAX, v[0]);
            put(slot::RDX, v[3]);
            put(slot::RSP, v[7]);
            put(slot::RIP, v[16]);
            put(slot::RFLAGS, v[17]);
        } else {
            r.rax = v[0];
            r.rdx = v[3];
            r.rsp = v[7];
            r.rip = v[16];
            r.rflags = v[17];
        }
        r.rbx = v[1];
        r.rcx = v[2];
        r.rsi = v[4];
        r.rdi = v[5];
        r.rbp = v[6];
        r.r8 = v[8];
        r.r9 = v[9];
        r.r10 = v[10];
        r.r11 = v[11];
        r.r12 = v[12];
        r.r13 = v[13];
        r.r14 = v[14];
        r.r15 = v[15];
        let _ = vcpu.set_regs(&r);
    }

    fn reg_width(n: usize) -> usize {
        if n < 17 {
            8
        } else {
            4
        }
    }

    // ---- memory -------------------------------------------------------

    /// The guest physical address of virtual `va`, through the page
    /// tables at CR3 in guest memory.
    fn translate(sregs: &kvm_sregs, mem: &GuestMemory, va: u64) -> Option<u64> {
        const PRESENT: u64 = 1;
        const PS: u64 = 1 << 7;
        const ADDR: u64 = 0x000f_ffff_ffff_f000;
        let gpa = if sregs.cr0 & (1 << 31) == 0 {
            va
        } else {
            let entry = |table: u64, index: u64| -> Option<u64> {
                let e = mem.read_own_u64((table & ADDR) + index * 8).ok()?;
                (e & PRESENT != 0).then_some(e)
            };
            let l4 = entry(sregs.cr3, (va >> 39) & 511)?;
            let l3 = entry(l4, (va >> 30) & 511)?;
            if l3 & PS != 0 {
                (l3 & ADDR & !((1 << 30) - 1)) | (va & ((1 << 30) - 1))
            } else {
                let l2 = entry(l3, (va >> 21) & 511)?;
                if l2 & PS != 0 {
                    (l2 & ADDR & !((1 << 21) - 1)) | (va & ((1 << 21) - 1))
                } else {
                    let l1 = entry(l2, (va >> 12) & 511)?;
                    (l1 & ADDR) | (va & 0xfff)
                }
            }
        };
        (gpa < mem.alloc_size()).then_some(gpa)
    }

    /// Host pointer of virtual `va` (one byte).
    fn byte_ptr(sregs: &kvm_sregs, mem: &GuestMemory, va: u64) -> Option<*mut u8> {
        let gpa = Self::translate(sregs, mem, va)?;
        mem.reserved_ptr(gpa, 1).ok()
    }

    fn read_mem(&mut self, vcpu: &VcpuFd, mem: &GuestMemory, addr: u64, len: u64) {
        let s = vcpu.get_sregs().unwrap_or_default();
        self.reply.clear();
        let len = len.min(PACKET_SIZE as u64 / 2);
        for i in 0..len {
            match Self::byte_ptr(&s, mem, addr.wrapping_add(i)) {
                // SAFETY: one byte inside the guest mapping.
                Some(p) => self.reply.hex(&[unsafe { p.read() }]),
                None => break,
            }
        }
        if self.reply.is_empty() && len > 0 {
            self.reply.text(b"E14");
        }
        self.send();
    }

    fn write_mem(&mut self, vcpu: &VcpuFd, mem: &GuestMemory, addr: u64, data: &[u8]) -> bool {
        let s = vcpu.get_sregs().unwrap_or_default();
        for (i, &b) in data.iter().enumerate() {
            match Self::byte_ptr(&s, mem, addr.wrapping_add(i as u64)) {
                // SAFETY: one byte inside the guest mapping, which is
                // host-writable with --gdb.
                Some(p) => unsafe { p.write(b) },
                None => return false,
            }
        }
        true
    }

    // ---- breakpoints --------------------------------------------------

    fn insert_sw(&mut self, vcpu: &VcpuFd, mem: &GuestMemory, addr: u64) -> bool {
        if self.sw.iter().any(|b| b.used && b.addr == addr) {
            return true;
        }
        let s = vcpu.get_sregs().unwrap_or_default();
        let Some(gpa) = Self::translate(&s, mem, addr) else {
            return false;
        };
        let Ok(p) = mem.reserved_ptr(gpa, 1) else {
            return false;
        };
        let Some(slot) = self.sw.iter_mut().find(|b| !b.used) else {
            return false;
        };
        // SAFETY: one byte inside the guest mapping, host-writable with
        // --gdb.
        let orig = unsafe { p.read() };
        // SAFETY: as above.
        unsafe { p.write(0xcc) };
        *slot = Sw {
            used: true,
            addr,
            gpa,
            orig,
        };
        true
    }

    fn remove_sw(&mut self, mem: &GuestMemory, addr: u64) {
        for b in self.sw.iter_mut().filter(|b| b.used && b.addr == addr) {
            if let Ok(p) = mem.reserved_ptr(b.gpa, 1) {
                // SAFETY: the byte the breakpoint replaced.
                unsafe { p.write(b.orig) };
            }
            b.used = false;
        }
    }

    /// Remove every breakpoint and stop debugging the vcpu (detach, or
    /// the debugger gone).
    fn forget(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory) {
        for i in 0..MAX_SW {
            if self.sw[i].used {
                let a = self.sw[i].addr;
                self.remove_sw(mem, a);
            }
        }
        self.hw = [Hw::default(); 4];
        self.step = false;
        self.apply(vcpu);
    }

    /// Give KVM the guest debug state: software breakpoints and single
    /// step at CPL0, the debug registers for hardware breakpoints.
    fn apply(&mut self, vcpu: &mut VcpuFd) {
        let mut d = kvm_guest_debug::default();
        let mut dr7 = 0u64;
        for (i, h) in self.hw.iter().enumerate() {
            if !h.used {
                continue;
            }
            d.arch.debugreg[i] = h.addr;
            let rw = match h.kind {
                1 => 0,
                2 => 1,
                _ => 3,
            };
            let len = match h.len {
                2 => 1,
                8 => 2,
                4 => 3,
                _ => 0,
            };
            dr7 |= 1 << (i * 2) | (rw | len << 2) << (16 + i * 4);
        }
        let mut control = 0;
        if self.connected && !self.user {
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
            if self.step {
                control |= KVM_GUESTDBG_SINGLESTEP;
            }
        }
        if dr7 != 0 {
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
            d.arch.debugreg[7] = dr7 | 0x400;
        }
        d.control = control;
        if control != 0 || self.control != 0 {
            if let Err(e) = vcpu.set_guest_debug(&d) {
                sys::warn(format_args!(
                    "gdb: KVM_SET_GUEST_DEBUG failed: {}",
                    Errno(e.errno())
                ));
            }
        }
        self.control = control;
    }

    // ---- stops --------------------------------------------------------

    fn set_stop(&mut self, text: &[u8]) {
        let n = text.len().min(self.last.len());
        self.last[..n].copy_from_slice(&text[..n]);
        self.last_len = n;
    }

    fn stop_reply(&mut self, signal: u8, extra: &[u8], watch: Option<(&[u8], u64)>) {
        self.reply.clear();
        self.reply.text(b"T");
        self.reply.hex(&[signal]);
        self.reply.text(extra);
        if let Some((kind, addr)) = watch {
            self.reply.text(kind);
            self.reply.text(b":");
            self.reply.num(addr);
            self.reply.text(b";");
        }
        let mut tmp = [0u8; 48];
        let n = self.reply.len().min(48);
        tmp[..n].copy_from_slice(&self.reply.payload()[..n]);
        self.set_stop(&tmp[..n]);
    }

    /// The guest stopped: tell the debugger (except before the first
    /// instruction: it asks) and serve it until it resumes the guest.
    pub fn stopped(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory, why: Stop) -> Next {
        if !self.connected {
            return Next::Resume;
        }
        let was_step = self.step;
        self.step = false;
        self.frame = None;
        match why {
            Stop::Initial => {
                self.signal = SIGTRAP;
                self.stop_reply(SIGTRAP, b"", None);
            }
            Stop::Interrupt => {
                self.signal = SIGINT;
                self.stop_reply(SIGINT, b"", None);
                self.send_last();
            }
            Stop::Debug(arch) => {
                self.signal = SIGTRAP;
                self.debug_stop(vcpu, arch);
                self.send_last();
            }
            Stop::Trap { gpa, vector } => {
                self.frame = Some(gpa);
                self.trap_stop(mem, gpa, vector, was_step);
                self.send_last();
            }
        }
        self.serve(vcpu, mem)
    }

    fn send_last(&mut self) {
        self.reply.clear();
        let (buf, n) = (self.last, self.last_len);
        self.reply.text(&buf[..n]);
        self.send();
    }

    fn debug_stop(&mut self, vcpu: &VcpuFd, arch: kvm_debug_exit_arch) {
        if arch.exception == 3 {
            // KVM reports the int3's own address; a KVM that reported the
            // next one is moved back onto the breakpoint.
            let pc = arch.pc;
            if !self.sw.iter().any(|b| b.used && b.addr == pc)
                && self
                    .sw
                    .iter()
                    .any(|b| b.used && b.addr == pc.wrapping_sub(1))
            {
                if let Ok(mut r) = vcpu.get_regs() {
                    r.rip = r.rip.wrapping_sub(1);
                    let _ = vcpu.set_regs(&r);
                }
            }
            self.stop_reply(SIGTRAP, b"swbreak:;", None);
            return;
        }
        for (i, h) in self.hw.iter().enumerate() {
            if h.used && arch.dr6 & (1 << i) != 0 {
                let (kind, addr) = (h.kind, h.addr);
                match kind {
                    1 => self.stop_reply(SIGTRAP, b"hwbreak:;", None),
                    2 => self.stop_reply(SIGTRAP, b"", Some((b"watch", addr))),
                    3 => self.stop_reply(SIGTRAP, b"", Some((b"rwatch", addr))),
                    _ => self.stop_reply(SIGTRAP, b"", Some((b"awatch", addr))),
                }
                return;
            }
        }
        self.stop_reply(SIGTRAP, b"", None);
    }

    fn trap_stop(&mut self, mem: &GuestMemory, gpa: u64, vector: u64, was_step: bool) {
        let frame = |i: u64| gpa + i * 8;
        let rip = mem.read_own_u64(frame(slot::RIP)).unwrap_or(0);
        let put = |i: u64, x: u64| {
            if let Ok(p) = mem.reserved_ptr(frame(i), 8) {
                // SAFETY: 8 bytes of the trap stack, in the mapping.
                unsafe { core::ptr::write_unaligned(p.cast::<u64>(), x) };
            }
        };
        match vector {
            3 => {
                self.signal = SIGTRAP;
                if self
                    .sw
                    .iter()
                    .any(|b| b.used && b.addr == rip.wrapping_sub(1))
                {
                    // Back onto the breakpoint: gdb sees its address, and
                    // the original instruction runs once it is removed.
                    put(slot::RIP, rip.wrapping_sub(1));
                    self.stop_reply(SIGTRAP, b"swbreak:;", None);
                } else {
                    self.stop_reply(SIGTRAP, b"", None);
                }
            }
            1 => {
                self.signal = SIGTRAP;
                if was_step {
                    let fl = mem.read_own_u64(frame(slot::RFLAGS)).unwrap_or(0);
                    put(slot::RFLAGS, fl & !TF);
                }
                self.stop_reply(SIGTRAP, b"", None);
            }
            v => {
                let sig = signal_of(Some(v)) as u8;
                self.signal = sig;
                self.stop_reply(sig, b"", None);
            }
        }
    }

    /// Prepare to resume: single step or not, at `addr` if given.
    fn resume(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory, step: bool, addr: Option<u64>) {
        if let Some(a) = addr {
            let (mut v, r) = self.regs(vcpu, mem);
            v[16] = a;
            self.set_regs(vcpu, mem, &v, r);
        }
        self.step = step;
        if step && self.user {
            // The tender's trap path: TF makes the next instruction end in
            // a #DB that the stub reports.
            let (mut v, r) = self.regs(vcpu, mem);
            v[17] |= TF;
            self.set_regs(vcpu, mem, &v, r);
        }
        self.apply(vcpu);
        self.frame = None;
    }

    /// Serve packets until the guest is to run again.
    fn serve(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory) -> Next {
        let mut pkt = [0u8; PACKET_SIZE + 64];
        let mut data = [0u8; PACKET_SIZE / 2];
        loop {
            let Some(len) = self.next_packet() else {
                // The debugger is gone: the guest runs on without it.
                self.forget(vcpu, mem);
                self.frame = None;
                return Next::Resume;
            };
            pkt[..len].copy_from_slice(&self.framer.packet[..len]);
            let p = &pkt[..len];
            let Some((&cmd, args)) = p.split_first() else {
                self.send_text(b"");
                continue;
            };
            match cmd {
                b'?' => self.send_last(),
                b'g' => {
                    let (v, _) = self.regs(vcpu, mem);
                    self.reply.clear();
                    for (i, x) in v.iter().enumerate() {
                        self.reply.hex(&x.to_le_bytes()[..Self::reg_width(i)]);
                    }
                    self.send();
                }
                b'G' => {
                    let (mut v, r) = self.regs(vcpu, mem);
                    let mut at = 0;
                    for (i, x) in v.iter_mut().enumerate() {
                        let w = Self::reg_width(i);
                        let mut b = [0u8; 8];
                        if at + 2 * w > args.len()
                            || decode_hex(&args[at..at + 2 * w], &mut b[..w]).is_none()
                        {
                            break;
                        }
                        *x = u64::from_le_bytes(b);
                        at += 2 * w;
                    }
                    self.set_regs(vcpu, mem, &v, r);
                    self.send_text(b"OK");
                }
                b'p' => match parse_hex(args).map(|n| n as usize) {
                    Some(n) if n < NREGS => {
                        let (v, _) = self.regs(vcpu, mem);
                        self.reply.clear();
                        self.reply.hex(&v[n].to_le_bytes()[..Self::reg_width(n)]);
                        self.send();
                    }
                    _ => self.send_text(b"E45"),
                },
                b'P' => {
                    let eq = args.iter().position(|&c| c == b'=');
                    let parsed = eq.and_then(|e| {
                        let n = parse_hex(&args[..e])? as usize;
                        let mut b = [0u8; 8];
                        let hex = &args[e + 1..];
                        let w = decode_hex(hex, &mut b)?;
                        (n < NREGS && w <= 8).then_some((n, u64::from_le_bytes(b)))
                    });
                    match parsed {
                        Some((n, x)) => {
                            let (mut v, r) = self.regs(vcpu, mem);
                            v[n] = x;
                            self.set_regs(vcpu, mem, &v, r);
                            self.send_text(b"OK");
                        }
                        None => self.send_text(b"E45"),
                    }
                }
                b'm' => match addr_len(args) {
                    Some((a, l, _)) => self.read_mem(vcpu, mem, a, l),
                    None => self.send_text(b"E01"),
                },
                b'M' => match addr_len(args) {
                    Some((a, l, hex)) if hex.len() as u64 == 2 * l => {
                        let ok = decode_hex(hex, &mut data)
                            .is_some_and(|n| self.write_mem(vcpu, mem, a, &data[..n]));
                        self.send_text(if ok { b"OK" } else { b"E14" });
                    }
                    _ => self.send_text(b"E01"),
                },
                b'Z' | b'z' => self.breakpoint(vcpu, mem, cmd == b'Z', args),
                b'c' | b's' | b'C' | b'S' => {
                    let step = cmd == b's' || cmd == b'S';
                    let (sig, addr) = match cmd {
                        b'C' | b'S' => {
                            let semi = args.iter().position(|&c| c == b';');
                            let sig = parse_hex(&args[..semi.unwrap_or(args.len())]).unwrap_or(0);
                            (sig, semi.and_then(|i| parse_hex(&args[i + 1..])))
                        }
                        _ => (0, parse_hex(args)),
                    };
                    if let Some(n) = self.go(vcpu, mem, step, sig, addr) {
                        return n;
                    }
                }
                b'v' => {
                    if p == b"vCont?" {
                        self.send_text(b"vCont;c;C;s;S");
                    } else if let Some(actions) = p.strip_prefix(b"vCont;") {
                        let action = actions.split(|&c| c == b';').next().unwrap_or(b"");
                        let head = action.split(|&c| c == b':').next().unwrap_or(b"");
                        let (step, sig) = match head.first() {
                            Some(b's') => (true, 0),
                            Some(b'S') => (true, parse_hex(&head[1..]).unwrap_or(0)),
                            Some(b'C') => (false, parse_hex(&head[1..]).unwrap_or(0)),
                            _ => (false, 0),
                        };
                        if let Some(n) = self.go(vcpu, mem, step, sig, None) {
                            return n;
                        }
                    } else if p.starts_with(b"vKill") {
                        self.send_text(b"OK");
                        return Next::Kill;
                    } else {
                        self.send_text(b"");
                    }
                }
                b'k' => return Next::Kill,
                b'D' => {
                    self.send_text(b"OK");
                    self.connected = false;
                    self.forget(vcpu, mem);
                    self.frame = None;
                    return Next::Resume;
                }
                b'H' | b'T' => self.send_text(b"OK"),
                b'q' => self.query(args),
                b'Q' => {
                    if args == b"StartNoAckMode" {
                        self.send_text(b"OK");
                        self.noack = true;
                    } else {
                        self.send_text(b"");
                    }
                }
                _ => self.send_text(b""),
            }
        }
    }

    /// `c`/`s` (and `C`/`S` with signal `sig`): resume, or end the guest
    /// when continuing a fatal trap with its signal.
    fn go(
        &mut self,
        vcpu: &mut VcpuFd,
        mem: &GuestMemory,
        step: bool,
        sig: u64,
        addr: Option<u64>,
    ) -> Option<Next> {
        if self.frame.is_some() && sig != 0 && self.signal != SIGTRAP && self.signal != SIGINT {
            return Some(Next::Deliver);
        }
        self.resume(vcpu, mem, step, addr);
        Some(Next::Resume)
    }

    fn query(&mut self, q: &[u8]) {
        if q.starts_with(b"Supported") {
            self.send_text(b"PacketSize=1000;swbreak+;hwbreak+;QStartNoAckMode+;vContSupported+");
        } else if q == b"Attached" {
            self.send_text(b"1");
        } else if q == b"C" {
            self.send_text(b"QC1");
        } else if q == b"fThreadInfo" {
            self.send_text(b"m1");
        } else if q == b"sThreadInfo" {
            self.send_text(b"l");
        } else if q.starts_with(b"Symbol") {
            self.send_text(b"OK");
        } else {
            self.send_text(b"");
        }
    }

    fn breakpoint(&mut self, vcpu: &mut VcpuFd, mem: &GuestMemory, insert: bool, args: &[u8]) {
        let (Some(&kind), Some((addr, len, _))) = (args.first(), args.get(2..).and_then(addr_len))
        else {
            return self.send_text(b"E01");
        };
        let held = |s: &Stub, k: u8| s.hw.iter().any(|h| h.used && h.addr == addr && h.kind == k);
        match kind {
            // At CPL0 on kvm_pvm an int3 the tender wrote ends in an
            // emulation failure (docs/hvt.md, "The GDB stub"): a Z0 takes
            // a debug register while one is free.
            b'0' if !self.user
                && (held(self, 1) || (insert && self.hw.iter().any(|h| !h.used))) =>
            {
                let r = self.hw_change(vcpu, insert, addr, 1, 1);
                self.send_text(r);
            }
            b'0' => {
                if insert {
                    let ok = self.insert_sw(vcpu, mem, addr);
                    self.send_text(if ok { b"OK" } else { b"E14" });
                } else {
                    self.remove_sw(mem, addr);
                    self.send_text(b"OK");
                }
            }
            // kvm_pvm: debug registers never fire at CPL3, nor data
            // breakpoints at CPL0 (measured): refused, so that gdb says
            // so instead of waiting for a stop that never comes; a
            // software watchpoint (`set can-use-hw-watchpoints 0`) works.
            b'1'..=b'4' if self.pvm && (self.user || kind != b'1') => self.send_text(b""),
            b'1'..=b'4' => {
                let k = kind - b'0';
                let len = if k == 1 { 1 } else { len as u8 };
                if k != 1 && (!matches!(len, 1 | 2 | 4 | 8) || addr % u64::from(len) != 0) {
                    return self.send_text(b"E22");
                }
                let r = self.hw_change(vcpu, insert, addr, k, len);
                self.send_text(r);
            }
            _ => self.send_text(b""),
        }
    }

    /// Insert or remove a debug-register breakpoint; the reply.
    fn hw_change(
        &mut self,
        vcpu: &mut VcpuFd,
        insert: bool,
        addr: u64,
        kind: u8,
        len: u8,
    ) -> &'static [u8] {
        if insert {
            if self
                .hw
                .iter()
                .any(|h| h.used && h.addr == addr && h.kind == kind)
            {
                return b"OK";
            }
            let Some(h) = self.hw.iter_mut().find(|h| !h.used) else {
                return b"E28";
            };
            *h = Hw {
                used: true,
                addr,
                kind,
                len,
            };
        } else {
            for h in self
                .hw
                .iter_mut()
                .filter(|h| h.used && h.addr == addr && h.kind == kind)
            {
                h.used = false;
            }
        }
        self.apply(vcpu);
        b"OK"
    }
}
