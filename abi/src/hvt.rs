//! The hvt ABI, version 2: what a guest in its own KVM virtual machine
//! and the hvt tender agree on (docs/hvt.md). One definition, used by the
//! tender (`solo5-hvt`) and by the guest SDK's `hvt` flavor alike.
//!
//! Guest memory is identity mapped from guest physical address 0. The
//! tender writes its own data below the kernel image (the boot GDT, the
//! boot page tables, the boot info, a copy of the manifest and the command
//! line) and enters the kernel at `e_entry` with RDI = [`BOOT_INFO_ADDR`].
//! A hypercall is one `outl` of the guest physical address of its
//! argument struct to port [`PIO_BASE`] + its number; the tender reads
//! and writes that struct in place.
//!
//! Every struct is `repr(C)`, x86_64, little endian; its size and field
//! offsets are asserted below against upstream Solo5's `hvt_abi.h`.

use core::mem::{offset_of, size_of};

/// Alignment and rounding unit of guest memory (one 2 MiB page).
pub const MEM_ALIGN: u64 = 0x20_0000;
/// Largest guest memory: what four page directories of 2 MiB pages cover.
pub const MAX_MEM: u64 = 1 << 32;
/// The boot GDT.
pub const GDT_ADDR: u64 = 0x1000;
/// The page-table root (PML4); the PDPT, four page directories and the
/// 4 KiB page tables follow up to [`PT_POOL_END`].
pub const PML4_ADDR: u64 = 0x2000;
/// The page-directory-pointer table.
pub const PDPT_ADDR: u64 = 0x3000;
/// The first of four contiguous page directories, one per GiB.
pub const PD_ADDR: u64 = 0x4000;
/// The first 4 KiB page table.
pub const PT_POOL_START: u64 = 0x8000;
/// End of the room for page tables, where the boot info begins.
pub const PT_POOL_END: u64 = 0x10000;
/// [`BootInfo`], passed to the kernel in RDI.
pub const BOOT_INFO_ADDR: u64 = 0x10000;
/// Where the manifest copy goes: right after the boot info.
pub const MFT_ADDR: u64 = BOOT_INFO_ADDR + size_of::<BootInfo>() as u64;
/// Lowest address of the kernel image.
pub const GUEST_MIN_BASE: u64 = 0x10_0000;

/// `struct hvt_boot_info`: what the tender tells the kernel at entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInfo {
    /// Bytes of guest memory the guest may use (the net ring lies above).
    pub mem_size: u64,
    /// End of the kernel image (its highest segment end).
    pub kernel_end: u64,
    /// TSC frequency in Hz.
    pub cpu_cycle_freq: u64,
    /// Guest physical address of the NUL-terminated command line.
    pub cmdline: u64,
    /// Guest physical address of the manifest copy.
    pub mft: u64,
    /// What the tender offers: [`FEATURE_RING_IO`].
    pub host_features: u32,
    /// What the guest uses (written by nobody here).
    pub guest_features: u32,
    /// Guest physical address of the net [`Ring`], 0 without one.
    pub net_ring: u64,
}

/// Port of hypercall 0: hypercall N is an `outl` to `PIO_BASE + N`.
pub const PIO_BASE: u16 = 0x500;
/// One past the last hypercall number.
pub const HYPERCALL_MAX: u16 = 9;
/// [`Walltime`]: the host's wall clock.
pub const HC_WALLTIME: u16 = 1;
/// [`Puts`]: console output.
pub const HC_PUTS: u16 = 2;
/// [`Poll`]: wait for a net device or a deadline.
pub const HC_POLL: u16 = 3;
/// [`BlockIo`]: write blocks.
pub const HC_BLOCK_WRITE: u16 = 4;
/// [`BlockIo`]: read blocks.
pub const HC_BLOCK_READ: u16 = 5;
/// [`NetIo`]: send one frame.
pub const HC_NET_WRITE: u16 = 6;
/// [`NetIo`]: receive one frame.
pub const HC_NET_READ: u16 = 7;
/// [`Halt`]: end the guest.
pub const HC_HALT: u16 = 8;

/// `struct hvt_hc_walltime`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Walltime {
    /// Out: nanoseconds since the epoch.
    pub nsecs: u64,
}

/// `struct hvt_hc_puts`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Puts {
    /// Guest physical address of the bytes.
    pub data: u64,
    /// How many.
    pub len: u64,
}

/// `struct hvt_hc_poll`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Poll {
    /// In: how long to wait at most, in nanoseconds.
    pub timeout_nsecs: u64,
    /// Out: one bit per ready net device, by manifest index.
    pub ready_set: u64,
    /// Out: how many are ready.
    pub ret: i32,
}

/// `struct hvt_hc_block_write` and `struct hvt_hc_block_read`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockIo {
    /// Manifest index of the block device.
    pub handle: u64,
    /// Byte offset on the device.
    pub offset: u64,
    /// Guest physical address of the buffer.
    pub data: u64,
    /// Bytes to move.
    pub len: u64,
    /// Out: a Solo5 result code.
    pub ret: i32,
}

/// `struct hvt_hc_net_write` and `struct hvt_hc_net_read`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NetIo {
    /// Manifest index of the net device.
    pub handle: u64,
    /// Guest physical address of the frame (or buffer).
    pub data: u64,
    /// The frame's length; NET_READ: in the buffer's size, out the
    /// frame's.
    pub len: u64,
    /// Out: a Solo5 result code.
    pub ret: i32,
}

/// `struct hvt_hc_halt`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Halt {
    /// Guest physical address of the trap frame of an abort, or 0.
    pub cookie: u64,
    /// The guest's exit status.
    pub exit_status: i32,
}

/// Bytes of the trap frame a guest may pass as [`Halt::cookie`].
pub const HALT_COOKIE_MAX: u64 = 512;

/// Boot info `host_features` bit: the net [`Ring`] is offered.
pub const FEATURE_RING_IO: u32 = 1;
/// The port the guest writes (`outl`) to wake the tender's ring thread.
pub const RING_KICK_PORT: u16 = 0x600;
/// Entries (and completions) in the ring.
pub const RING_SLOTS: u32 = 1024;
/// [`RingEntry::operation`]: send the frame, no completion.
pub const RING_OP_NET_WRITE: u32 = 1;
/// [`RingEntry::operation`]: receive a frame into the buffer; one
/// [`RingCommit`] follows.
pub const RING_OP_NET_READ: u32 = 2;

/// One submission of the net ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RingEntry {
    /// [`RING_OP_NET_WRITE`] or [`RING_OP_NET_READ`].
    pub operation: u32,
    /// Manifest index of the net device.
    pub handle: u32,
    /// Guest physical address of the frame or buffer.
    pub data: u64,
    /// Its length.
    pub len: u32,
    /// The guest's tag, copied into the completion.
    pub id: u32,
    /// Zero.
    pub reserved: u64,
}

/// One completion of the net ring (reads only).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RingCommit {
    /// The entry's [`RingEntry::id`].
    pub id: u32,
    /// A Solo5 result code.
    pub ret: i32,
    /// Bytes received.
    pub len: u32,
    /// Zero.
    pub reserved: u32,
}

/// `struct hvt_ring`: at [`BootInfo::net_ring`], above the guest's
/// `mem_size`. Indices are free-running u32 (slot = index & 1023). The
/// guest owns `ent_tail` and `com_head`; the tender `ent_head`,
/// `com_tail` and `needs_kick`; each pair on its own cache line.
#[repr(C)]
pub struct Ring {
    /// Guest: one past the last entry submitted.
    pub ent_tail: u32,
    /// Guest: the next completion it will take.
    pub com_head: u32,
    /// Padding to the next cache line.
    pub pad0: [u8; 56],
    /// Tender: the next entry it will serve.
    pub ent_head: u32,
    /// Tender: one past the last completion posted.
    pub com_tail: u32,
    /// Tender: non-zero when its thread is about to sleep, so that the
    /// guest must kick ([`RING_KICK_PORT`]).
    pub needs_kick: u32,
    /// Padding to the next cache line.
    pub pad1: [u8; 52],
    /// The submissions.
    pub entries: [RingEntry; RING_SLOTS as usize],
    /// The completions.
    pub commits: [RingCommit; RING_SLOTS as usize],
}

/// What the tender owns for a guest entered at CPL3 (docs/hvt-user-mode.md):
/// in the unused top of the boot area, below the image, above the largest
/// boot info + manifest + command line; all supervisor-only in the guest's
/// page tables.
pub mod user {
    /// The IDT: 32 interrupt gates (vectors 0..31).
    pub const IDT_ADDR: u64 = 0xF_0000;
    /// Entries of the IDT.
    pub const IDT_ENTRIES: u64 = 32;
    /// The TSS (104 bytes), then its I/O permission bitmap (8192 bytes and
    /// the trailing all-ones byte): three pages.
    pub const TSS_ADDR: u64 = 0xF_1000;
    /// Bytes of the TSS proper; the bitmap starts here.
    pub const TSS_SIZE: u64 = 104;
    /// Bytes of the I/O permission bitmap with its trailing byte.
    pub const IOMAP_SIZE: u64 = 8192 + 1;
    /// End of the TSS pages.
    pub const TSS_END: u64 = 0xF_4000;
    /// The trap stub (code, read + execute, CPL0).
    pub const STUB_ADDR: u64 = 0xF_4000;
    /// The stack the CPU switches to on a trap (TSS.RSP0 is its end).
    pub const KSTACK_ADDR: u64 = 0xF_5000;
    /// End of the trap stack, and of the tender's area.
    pub const KSTACK_END: u64 = 0xF_6000;
    /// The port the trap stub writes the trap frame's address to. The TSS
    /// does not open it to CPL3, so only the stub reaches it.
    pub const TRAP_PORT: u16 = 0x5F0;
}

// Upstream's C layout (`hvt_abi.h`), checked at compile time.
const _: () = {
    assert!(size_of::<BootInfo>() == 56);
    assert!(offset_of!(BootInfo, cmdline) == 24);
    assert!(offset_of!(BootInfo, mft) == 32);
    assert!(offset_of!(BootInfo, host_features) == 40);
    assert!(offset_of!(BootInfo, guest_features) == 44);
    assert!(offset_of!(BootInfo, net_ring) == 48);
    assert!(MFT_ADDR == 0x10038);
    assert!(size_of::<Walltime>() == 8);
    assert!(size_of::<Puts>() == 16);
    assert!(offset_of!(Puts, len) == 8);
    assert!(size_of::<Poll>() == 24);
    assert!(offset_of!(Poll, ready_set) == 8);
    assert!(offset_of!(Poll, ret) == 16);
    assert!(size_of::<BlockIo>() == 40);
    assert!(offset_of!(BlockIo, offset) == 8);
    assert!(offset_of!(BlockIo, data) == 16);
    assert!(offset_of!(BlockIo, len) == 24);
    assert!(offset_of!(BlockIo, ret) == 32);
    assert!(size_of::<NetIo>() == 32);
    assert!(offset_of!(NetIo, data) == 8);
    assert!(offset_of!(NetIo, len) == 16);
    assert!(offset_of!(NetIo, ret) == 24);
    assert!(size_of::<Halt>() == 16);
    assert!(offset_of!(Halt, exit_status) == 8);
    assert!(PIO_BASE + HC_HALT == 0x508);
    assert!(size_of::<RingEntry>() == 32);
    assert!(offset_of!(RingEntry, data) == 8);
    assert!(offset_of!(RingEntry, len) == 16);
    assert!(offset_of!(RingEntry, id) == 20);
    assert!(size_of::<RingCommit>() == 16);
    assert!(offset_of!(RingCommit, ret) == 4);
    assert!(offset_of!(RingCommit, len) == 8);
    assert!(size_of::<Ring>() == 49280);
    assert!(offset_of!(Ring, com_head) == 4);
    assert!(offset_of!(Ring, ent_head) == 64);
    assert!(offset_of!(Ring, com_tail) == 68);
    assert!(offset_of!(Ring, needs_kick) == 72);
    assert!(offset_of!(Ring, entries) == 128);
    assert!(offset_of!(Ring, commits) == 32896);
    // The tender's low memory: page tables below the boot info, its
    // user-mode area in order below the image, its trap port apart from
    // the hypercall ports.
    assert!(PD_ADDR + 4 * 0x1000 == PT_POOL_START);
    assert!(PT_POOL_END == BOOT_INFO_ADDR);
    assert!(MAX_MEM / MEM_ALIGN == 4 * 512);
    assert!(user::IDT_ENTRIES * 16 <= user::TSS_ADDR - user::IDT_ADDR);
    assert!(user::TSS_ADDR + user::TSS_SIZE + user::IOMAP_SIZE <= user::TSS_END);
    assert!(user::TSS_END <= user::STUB_ADDR && user::STUB_ADDR < user::KSTACK_ADDR);
    assert!(user::KSTACK_END <= GUEST_MIN_BASE);
    assert!(user::TRAP_PORT < PIO_BASE || user::TRAP_PORT >= PIO_BASE + 12);
    assert!(RING_KICK_PORT >= PIO_BASE + 12);
    // Each port range starts a byte of the TSS's I/O permission bitmap.
    assert!(PIO_BASE.is_multiple_of(8) && RING_KICK_PORT.is_multiple_of(8));
};
