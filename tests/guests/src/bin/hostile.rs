//! hostile CASE [trap]: a guest that aims raw hvt hypercalls (and net ring
//! entries) at what the tender owns in low guest memory, bypassing the
//! SDK. Our solo5-hvt must refuse each of them: status 1 and one line
//! `solo5-hvt: Invalid guest access: gpa=0x..., sz=N` on stderr
//! (tests/tests/hvt_hostile.rs). Each case has a control, `CASE-ok`, that
//! makes the same call with the guest's own memory and must succeed.
//!
//! Devices: net `service0` (the tests pass one end of a socketpair with a
//! frame waiting) and block `storage` (at least one 512-byte block).
//!
//! | CASE | call | what it names |
//! |---|---|---|
//! | walltime-pml4, walltime-gdt | WALLTIME, struct at 0x2000 / 0x1000 | PML4 / GDT |
//! | walltime-bootinfo | WALLTIME, struct at 0x10000 | the boot info (read-only for the guest) |
//! | walltime-guard | WALLTIME, struct at the stack guard's first byte | the guard of the stack note |
//! | puts-pt, puts-stub | PUTS, 64 bytes at 0x2000 / 0xf4000 | page tables / trap stub (a read) |
//! | poll-idt | POLL, struct at 0xf0000 | IDT |
//! | block-read-stub, block-read-kstack | BLOCK_READ, 512 bytes into 0xf4000 / 0xf5000 | stub / trap stack |
//! | block-struct-kstack | BLOCK_READ, struct at 0xf5000 | trap stack |
//! | net-read-tss | NET_READ, 1514 bytes into 0xf1000 | TSS |
//! | net-write-pt | NET_WRITE, 64 bytes from 0x3000 | page tables (a read) |
//! | halt-cookie-pt | HALT, cookie 0x2000 | page tables (a read) |
//! | ring-read-stub, ring-write-stub | a net ring entry, data at 0xf4000 | stub |
//! | ud2 | no call: a trap, reported through the stub | |
//!
//! When a hostile call returns (the tender served it), the guest prints
//! `hostile: CASE served (...)` and exits with status 3 (never 1, which is
//! the tender's), or, with the second word `trap`, executes `ud2`, so a
//! stub the call overwrote shows in the trap report.
//!
//! Controls print `hostile: CASE-ok: ...` and `SUCCESS`, exit 0
//! (`halt-cookie-ok` halts with status 0 and a cookie in its own memory,
//! after `SUCCESS`).
//!
//! Only the `hvt` flavor does anything; the spt flavors say FAILURE.
#![no_std]
#![no_main]

use solo5_guest::{println, StartInfo};
#[cfg(not(feature = "hvt"))]
use solo5_test_guests::failure;

#[cfg(feature = "hvt")]
solo5_guest::manifest! { net "service0", block "storage" }
#[cfg(not(feature = "hvt"))]
solo5_guest::manifest! {}
solo5_guest::main!(app);

/// Status of a hostile call the tender served.
pub const SERVED: i32 = 3;

#[cfg(not(feature = "hvt"))]
fn app(_start: &StartInfo) -> i32 {
    solo5_test_guests::banner("hostile");
    println!("hostile: an hvt guest");
    failure(format_args!("hostile runs on hvt only"))
}

#[cfg(feature = "hvt")]
fn app(start: &StartInfo) -> i32 {
    solo5_test_guests::banner("hostile");
    let mut words = start.cmdline().split_ascii_whitespace();
    let case = words.next().unwrap_or("");
    let trap = words.next() == Some("trap");
    println!("hostile: {case}");
    hvt::run(start, case, trap)
}

#[cfg(feature = "hvt")]
mod hvt {
    use super::SERVED;
    use core::arch::asm;
    use core::sync::atomic::{fence, AtomicU32, Ordering};
    use solo5_guest::abi::result;
    use solo5_guest::{clock, println, Block, Net, StartInfo};
    use solo5_test_guests::{failure, success, Global};

    /// Hypercall numbers (port `PIO_BASE + NR`), from the ABI crate.
    mod nr {
        pub use solo5_abi::hvt::{
            HC_BLOCK_READ as BLOCK_READ, HC_HALT as HALT, HC_NET_READ as NET_READ,
            HC_NET_WRITE as NET_WRITE, HC_POLL as POLL, HC_PUTS as PUTS, HC_WALLTIME as WALLTIME,
            PIO_BASE,
        };
    }

    /// What the tender owns (docs/hvt-user-mode.md).
    const GDT: u64 = 0x1000;
    const PML4: u64 = 0x2000;
    const PDPT: u64 = 0x3000;
    const BOOT_INFO: u64 = 0x10000;
    const IDT: u64 = 0xf0000;
    const TSS: u64 = 0xf1000;
    const STUB: u64 = 0xf4000;
    const KSTACK: u64 = 0xf5000;

    /// `outl` of `gpa` to port `0x500 + n`: hypercall `n` with its struct
    /// at `gpa`, straight to the tender.
    fn hypercall(n: u16, gpa: u64) {
        // SAFETY: the TSS opens the hypercall ports to CPL3; the tender
        // reads and writes only the struct at gpa and the buffers it
        // names (the point of this guest is to name the wrong ones). No
        // `nomem`: the tender may write guest memory.
        unsafe {
            asm!("out dx, eax", in("dx") nr::PIO_BASE + n, in("eax") gpa as u32,
                 options(nostack, preserves_flags))
        };
    }

    /// The address of `v` as the tender sees it (identity map).
    fn gpa<T>(v: &mut T) -> u64 {
        v as *mut T as usize as u64
    }

    use solo5_abi::hvt::{BlockIo, Halt, NetIo, Poll, Puts};

    /// A buffer of the guest's own for the controls.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);
    static BUF: Global<Page> = Global::new(Page([0; 4096]));
    /// The WALLTIME control's struct, in .bss.
    static NSECS: Global<u64> = Global::new(0);

    fn buf() -> u64 {
        BUF.as_ptr() as u64
    }

    fn puts(data: u64, len: u64) {
        let mut a = Puts { data, len };
        hypercall(nr::PUTS, gpa(&mut a));
    }

    fn block_read(handle: u64, data: u64, len: u64) -> i32 {
        let mut a = BlockIo {
            handle,
            offset: 0,
            data,
            len,
            ret: -1,
        };
        hypercall(nr::BLOCK_READ, gpa(&mut a));
        // SAFETY: a is a live local the tender may have written.
        unsafe { core::ptr::addr_of!(a.ret).read_volatile() }
    }

    fn net(n: u16, handle: u64, data: u64, len: u64) -> (i32, u64) {
        let mut a = NetIo {
            handle,
            data,
            len,
            ret: -1,
        };
        hypercall(n, gpa(&mut a));
        // SAFETY: a is a live local the tender may have written.
        unsafe {
            (
                core::ptr::addr_of!(a.ret).read_volatile(),
                core::ptr::addr_of!(a.len).read_volatile(),
            )
        }
    }

    /// POLL with a struct of our own: (ready set, ret).
    fn poll(timeout_nsecs: u64) -> (u64, i32) {
        let mut a = Poll {
            timeout_nsecs,
            ready_set: u64::MAX,
            ret: -1,
        };
        hypercall(nr::POLL, gpa(&mut a));
        // SAFETY: a is a live local the tender wrote.
        unsafe {
            (
                core::ptr::addr_of!(a.ready_set).read_volatile(),
                core::ptr::addr_of!(a.ret).read_volatile(),
            )
        }
    }

    /// Waits up to 5 s for a frame on `handle` (at once when the test
    /// left one waiting; on a tap, for the ARP requests of the test's
    /// ping), so that a read has something to write.
    fn wait_readable(handle: u64) {
        let deadline = clock::monotonic() + 5_000_000_000;
        while clock::monotonic() < deadline {
            if poll(500_000_000).0 & (1 << handle) != 0 {
                return;
            }
        }
    }

    fn halt(cookie: u64, status: i32) {
        let mut a = Halt {
            cookie,
            exit_status: status,
        };
        hypercall(nr::HALT, gpa(&mut a));
    }

    /// The hvt boot info at 0x10000 (read-only for us).
    fn boot_u64(off: u64) -> u64 {
        // SAFETY: the tender wrote the boot info at 0x10000 and maps it
        // read-only for the guest at CPL3 (the SDK read it at start-up).
        unsafe { ((BOOT_INFO + off) as *const u64).read_volatile() }
    }

    /// The net ring (docs/hvt.md, "The net ring"), when the tender offers it.
    struct Ring(u64);

    mod ring {
        pub const ENT_TAIL: u64 = 0;
        pub const COM_HEAD: u64 = 4;
        pub const COM_TAIL: u64 = 68;
        pub const ENTRIES: u64 = 128;
        pub const COMMITS: u64 = 32896;
        pub const OP_NET_WRITE: u32 = 1;
        pub const OP_NET_READ: u32 = 2;
        pub const KICK_PORT: u16 = 0x600;
    }

    impl Ring {
        fn offered() -> Option<Ring> {
            let features = boot_u64(40) as u32;
            let at = boot_u64(48);
            (features & 1 != 0 && at == boot_u64(0) && at != 0).then_some(Ring(at))
        }

        fn word(&self, off: u64) -> &AtomicU32 {
            // SAFETY: the ring (49280 bytes, 64-aligned, read-write for
            // us) lies at self.0 and off is a 4-aligned offset inside it;
            // the tender accesses these words atomically.
            unsafe { AtomicU32::from_ptr((self.0 + off) as *mut u32) }
        }

        /// Queues one entry and kicks; the entry's index.
        fn submit(&self, op: u32, handle: u32, data: u64, len: u32) -> u32 {
            let index = self.word(ring::ENT_TAIL).load(Ordering::Relaxed);
            let at = ring::ENTRIES + u64::from(index & 1023) * 32;
            for (o, v) in [
                (0, op),
                (4, handle),
                (8, data as u32),
                (12, (data >> 32) as u32),
                (16, len),
                (20, index),
            ] {
                self.word(at + o).store(v, Ordering::Relaxed);
            }
            self.word(ring::ENT_TAIL)
                .store(index.wrapping_add(1), Ordering::Release);
            fence(Ordering::SeqCst);
            // SAFETY: the kick port is open to CPL3 when the ring is
            // offered; always kicking is harmless.
            unsafe {
                asm!("out dx, eax", in("dx") ring::KICK_PORT, in("eax") 0u32,
                     options(nomem, nostack, preserves_flags))
            };
            index
        }

        /// Waits up to 5 s for the next completion: (id, ret, len).
        fn complete(&self) -> Option<(u32, u32, u32)> {
            let head = self.word(ring::COM_HEAD).load(Ordering::Relaxed);
            let deadline = clock::monotonic() + 5_000_000_000;
            while self.word(ring::COM_TAIL).load(Ordering::Acquire) == head {
                if clock::monotonic() > deadline {
                    return None;
                }
                core::hint::spin_loop();
            }
            let at = ring::COMMITS + u64::from(head & 1023) * 16;
            let c = (
                self.word(at).load(Ordering::Relaxed),
                self.word(at + 4).load(Ordering::Relaxed),
                self.word(at + 8).load(Ordering::Relaxed),
            );
            self.word(ring::COM_HEAD)
                .store(head.wrapping_add(1), Ordering::Release);
            Some(c)
        }

        /// Waits up to 5 s until the tender has taken every entry.
        fn drained(&self) -> bool {
            let deadline = clock::monotonic() + 5_000_000_000;
            loop {
                let tail = self.word(ring::ENT_TAIL).load(Ordering::Relaxed);
                if self.word(64).load(Ordering::Acquire) == tail {
                    return true;
                }
                if clock::monotonic() > deadline {
                    return false;
                }
                core::hint::spin_loop();
            }
        }
    }

    /// After a hostile call that returned.
    fn served(case: &str, what: core::fmt::Arguments<'_>, trap: bool) -> i32 {
        println!("hostile: {case} served ({what})");
        if trap {
            // SAFETY: raises #UD, reported through the tender's stub.
            unsafe { asm!("ud2", options(nostack)) };
        }
        SERVED
    }

    pub fn run(start: &StartInfo, case: &str, trap: bool) -> i32 {
        let (Ok(n), Ok(b)) = (Net::acquire("service0"), Block::acquire("storage")) else {
            return failure(format_args!("could not acquire service0 and storage"));
        };
        let (net_h, blk_h) = (n.handle().0, b.handle().0);
        // The heap ends where the guard of the stack note starts (at
        // CPL3; at CPL0 the heap runs to the end of memory).
        let guard = (start.heap_start() + start.heap_size()) as u64;
        match case {
            "walltime-pml4" | "walltime-gdt" | "walltime-bootinfo" | "walltime-guard" => {
                let at = match case {
                    "walltime-pml4" => PML4,
                    "walltime-gdt" => GDT,
                    "walltime-bootinfo" => BOOT_INFO,
                    _ => guard,
                };
                println!("hostile: WALLTIME at {at:#x}");
                hypercall(nr::WALLTIME, at);
                served(case, format_args!("struct at {at:#x}"), trap)
            }
            "walltime-ok" => {
                NSECS.write(0);
                hypercall(nr::WALLTIME, NSECS.as_ptr() as u64);
                let ns = NSECS.read();
                solo5_test_guests::check!(ns > 1_500_000_000_000_000_000, "walltime {ns}");
                println!("hostile: walltime-ok: {ns}");
                success()
            }
            "puts-pt" | "puts-stub" => {
                let at = if case == "puts-pt" { PML4 } else { STUB };
                puts(at, 64);
                served(case, format_args!("64 bytes from {at:#x}"), trap)
            }
            "puts-ok" => {
                let msg = b"hostile: puts-ok: own bytes\n";
                puts(msg.as_ptr() as u64, msg.len() as u64);
                success()
            }
            "poll-idt" => {
                hypercall(nr::POLL, IDT);
                served(case, format_args!("struct at {IDT:#x}"), trap)
            }
            "poll-ok" => {
                let (set, ret) = poll(5_000_000_000);
                // The tests leave a frame waiting on service0, or send
                // some.
                solo5_test_guests::check!(
                    set == 1 << net_h && ret == 1,
                    "poll: set {set:#x}, ret {ret}"
                );
                println!("hostile: poll-ok: set={set:#x} ret={ret}");
                success()
            }
            "block-read-stub" | "block-read-kstack" => {
                let at = if case == "block-read-stub" {
                    STUB
                } else {
                    KSTACK
                };
                let ret = block_read(blk_h, at, 512);
                served(
                    case,
                    format_args!("512 bytes into {at:#x}: ret={ret}"),
                    trap,
                )
            }
            "block-struct-kstack" => {
                hypercall(nr::BLOCK_READ, KSTACK);
                served(case, format_args!("struct at {KSTACK:#x}"), trap)
            }
            "block-read-ok" => {
                let ret = block_read(blk_h, buf(), 512);
                solo5_test_guests::check!(ret == result::OK as i32, "block read: {ret}");
                println!("hostile: block-read-ok: ret={ret}");
                success()
            }
            "net-read-tss" => {
                wait_readable(net_h);
                let (ret, len) = net(nr::NET_READ, net_h, TSS, 1514);
                served(
                    case,
                    format_args!("1514 bytes into {TSS:#x}: ret={ret} len={len}"),
                    trap,
                )
            }
            "net-read-ok" => {
                wait_readable(net_h);
                let (ret, len) = net(nr::NET_READ, net_h, buf(), 1514);
                solo5_test_guests::check!(
                    ret == result::OK as i32 && len > 0 && len <= 1514,
                    "net read: ret {ret}, len {len}"
                );
                println!("hostile: net-read-ok: ret={ret} len={len}");
                success()
            }
            "net-write-pt" => {
                let (ret, _) = net(nr::NET_WRITE, net_h, PDPT, 64);
                served(
                    case,
                    format_args!("64 bytes from {PDPT:#x}: ret={ret}"),
                    trap,
                )
            }
            "net-write-ok" => {
                // SAFETY: BUF is ours; nothing else touches it now.
                unsafe { core::ptr::write_bytes(BUF.as_ptr().cast::<u8>(), 0x5a, 64) };
                let (ret, _) = net(nr::NET_WRITE, net_h, buf(), 64);
                solo5_test_guests::check!(ret == result::OK as i32, "net write: {ret}");
                println!("hostile: net-write-ok: ret={ret}");
                success()
            }
            "halt-cookie-pt" => {
                halt(PML4, 0);
                served(case, format_args!("cookie {PML4:#x}"), trap)
            }
            "halt-cookie-ok" => {
                println!("hostile: halt-cookie-ok: cookie {:#x}", buf());
                solo5_guest::console::write_str("SUCCESS\n");
                halt(buf(), 0);
                failure(format_args!("HALT returned"))
            }
            "ring-read-stub" | "ring-read-ok" | "ring-write-stub" | "ring-write-ok" => {
                let Some(r) = Ring::offered() else {
                    return failure(format_args!("the tender offers no net ring"));
                };
                let own = case.ends_with("-ok");
                let data = if own { buf() } else { STUB };
                if case.starts_with("ring-read") {
                    wait_readable(net_h);
                    let index = r.submit(ring::OP_NET_READ, net_h as u32, data, 1514);
                    let Some((id, ret, len)) = r.complete() else {
                        return failure(format_args!("no completion for entry {index}"));
                    };
                    if own {
                        solo5_test_guests::check!(
                            id == index && ret == result::OK && len > 0 && len <= 1514,
                            "ring read: id {id}, ret {ret}, len {len}"
                        );
                        println!("hostile: ring-read-ok: ret={ret} len={len}");
                        return success();
                    }
                    served(
                        case,
                        format_args!("ring read into {data:#x}: ret={ret} len={len}"),
                        trap,
                    )
                } else {
                    if own {
                        // SAFETY: BUF is ours; nothing else touches it now.
                        unsafe { core::ptr::write_bytes(BUF.as_ptr().cast::<u8>(), 0x5a, 64) };
                    }
                    r.submit(ring::OP_NET_WRITE, net_h as u32, data, 64);
                    if !r.drained() {
                        return failure(format_args!("the tender never took the entry"));
                    }
                    // A write has no completion: a POLL gives the tender's
                    // thread time to have written the frame.
                    poll(100_000_000);
                    if own {
                        println!("hostile: ring-write-ok: taken");
                        return success();
                    }
                    served(case, format_args!("ring write from {data:#x}"), trap)
                }
            }
            "net-write-oversize" => {
                // One byte above MTU + 14 (the socket's MTU is 1500).
                // SAFETY: BUF is ours; nothing else touches it now.
                unsafe { core::ptr::write_bytes(BUF.as_ptr().cast::<u8>(), 0x5a, 1515) };
                let (ret, _) = net(nr::NET_WRITE, net_h, buf(), 1515);
                println!("hostile: net-write-oversize: ret={ret}");
                success()
            }
            "net-write-handle-high" => {
                // The device's handle with bit 32 set: no handle at all,
                // not the device (upstream truncates it to 32 bits).
                // SAFETY: BUF is ours; nothing else touches it now.
                unsafe { core::ptr::write_bytes(BUF.as_ptr().cast::<u8>(), 0x5a, 64) };
                let (ret, _) = net(nr::NET_WRITE, net_h | 1 << 32, buf(), 64);
                println!("hostile: net-write-handle-high: ret={ret}");
                success()
            }
            "rep-outs" => {
                // `rep outsd` to the WALLTIME port of two struct
                // addresses, our own and the PML4's: a string instruction,
                // not one `outl`. Refused whole where KVM reports it so;
                // where KVM exits once per iteration, the second is a
                // hypercall aimed at the page tables, refused as such.
                NSECS.write(0);
                let gpas = [NSECS.as_ptr() as u32, PML4 as u32];
                // SAFETY: the port is open to CPL3 (the hypercall ports);
                // rsi points at two live u32s, rcx counts them.
                unsafe {
                    asm!("rep outsd dx, dword ptr [rsi]",
                         in("dx") nr::PIO_BASE + nr::WALLTIME,
                         inout("rsi") gpas.as_ptr() => _,
                         inout("rcx") 2u64 => _,
                         options(nostack, preserves_flags, readonly))
                };
                served(case, format_args!("rep outsd"), trap)
            }
            "trap-port" => {
                // A forged trap report: the tender's stub's port, with the
                // address where the stub leaves its frame. Closed to CPL3
                // (a #GP) where the I/O bitmap decides; open with IOPL 3
                // (a kernel built for CPL0 entered at CPL3), where the
                // tender must see that the stub did not write it.
                // SAFETY: an `out`; the tender ends the guest either way.
                unsafe {
                    asm!("out dx, eax",
                         in("dx") solo5_abi::hvt::user::TRAP_PORT,
                         in("eax") (solo5_abi::hvt::user::KSTACK_END - 80) as u32,
                         options(nostack, preserves_flags))
                };
                served(case, format_args!("trap port"), trap)
            }
            "ud2" => {
                // SAFETY: raises #UD, reported through the tender's stub.
                unsafe { asm!("ud2", options(nostack)) };
                failure(format_args!("ud2 returned"))
            }
            _ => failure(format_args!("unknown case '{case}'")),
        }
    }
}
