//! The hvt ABI, version 2, as the tender sees it (HVT.md sections 1, 4, 5
//! and 6): where things lie in guest physical memory, the boot info, the
//! hypercall ports and their argument structs. Offsets are the C layout of
//! upstream's `hvt_abi.h`; they are checked by the tests below against the
//! sizes HVT.md gives.

/// Alignment and rounding unit of guest memory (one 2 MiB page).
pub const MEM_ALIGN: u64 = 0x20_0000;
/// Largest guest memory: what four page directories of 2 MiB pages cover.
pub const MAX_MEM: u64 = 1 << 32;
/// The boot GDT.
pub const GDT_ADDR: u64 = 0x1000;
/// The page-table root (PML4), then the PDPT, four page directories and
/// the 4 KiB page tables up to `PT_POOL_END`.
pub const PML4_ADDR: u64 = 0x2000;
/// The page-directory-pointer table.
pub const PDPT_ADDR: u64 = 0x3000;
/// The first of four contiguous page directories, one per GiB.
pub const PD_ADDR: u64 = 0x4000;
/// The first 4 KiB page table (the one for the first 2 MiB).
pub const PT_POOL_START: u64 = 0x8000;
/// End of the room for 4 KiB page tables, where boot info begins.
pub const PT_POOL_END: u64 = 0x10000;
/// `struct hvt_boot_info`.
pub const BOOT_INFO_ADDR: u64 = 0x10000;
/// Size of `struct hvt_boot_info`.
pub const BOOT_INFO_SIZE: u64 = 56;
/// Where the manifest copy goes: right after the boot info.
pub const MFT_ADDR: u64 = BOOT_INFO_ADDR + BOOT_INFO_SIZE;
/// Lowest address of the kernel image (`HVT_GUEST_MIN_BASE`).
pub const GUEST_MIN_BASE: u64 = 0x10_0000;

/// Where the tender puts what it owns for a guest entered at CPL3
/// (docs/hvt-user-mode.md): in the unused top of low memory, below the
/// image, above the largest boot info + manifest + command line. All of it
/// is supervisor-only in the guest's page tables.
pub mod user {
    /// The IDT: 32 interrupt gates (vectors 0..31).
    pub const IDT_ADDR: u64 = 0xF_0000;
    /// Entries of the IDT (its limit is `IDT_ENTRIES * 16 - 1`).
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
    /// The trap stubs (code, read + execute).
    pub const STUB_ADDR: u64 = 0xF_4000;
    /// The stack the CPU switches to on a trap (TSS.RSP0 is its end).
    pub const KSTACK_ADDR: u64 = 0xF_5000;
    /// End of the trap stack, and of the tender's area.
    pub const KSTACK_END: u64 = 0xF_6000;
    /// The port the trap stub writes the trap frame's address to. Outside
    /// what the TSS opens to the guest, so only the stub reaches it.
    pub const TRAP_PORT: u16 = 0x5F0;
}

// The tender's user-mode area: its parts in order, page aligned, below the
// image.
const _: () = assert!(user::IDT_ENTRIES * 16 <= user::TSS_ADDR - user::IDT_ADDR);
const _: () = assert!(user::TSS_ADDR + user::TSS_SIZE + user::IOMAP_SIZE <= user::TSS_END);
const _: () = assert!(user::TSS_END <= user::STUB_ADDR && user::STUB_ADDR < user::KSTACK_ADDR);
const _: () = assert!(user::KSTACK_END <= GUEST_MIN_BASE);

/// Offsets in `struct hvt_boot_info`.
pub mod boot_info {
    /// `uint64_t mem_size`.
    pub const MEM_SIZE: u64 = 0;
    /// `uint64_t kernel_end`.
    pub const KERNEL_END: u64 = 8;
    /// `uint64_t cpu_cycle_freq` (TSC Hz).
    pub const CPU_CYCLE_FREQ: u64 = 16;
    /// `uint64_t cmdline` (GPA).
    pub const CMDLINE: u64 = 24;
    /// `uint64_t mft` (GPA).
    pub const MFT: u64 = 32;
    /// `uint32_t host_features`.
    pub const HOST_FEATURES: u64 = 40;
    /// `uint32_t guest_features`.
    pub const GUEST_FEATURES: u64 = 44;
    /// `uint64_t net_ring` (GPA).
    pub const NET_RING: u64 = 48;
}

/// Hypercalls: `outl %eax, $(PIO_BASE + NR)` with EAX = GPA of the
/// argument struct.
pub mod hypercall {
    /// Port of hypercall 0.
    pub const PIO_BASE: u16 = 0x500;
    /// One past the last hypercall number.
    pub const MAX: u16 = 9;
    /// `struct hvt_hc_walltime { uint64_t nsecs; }`.
    pub const WALLTIME: u16 = 1;
    /// `struct hvt_hc_puts { uint64_t data; uint64_t len; }`.
    pub const PUTS: u16 = 2;
    /// `struct hvt_hc_poll { uint64_t timeout_nsecs; uint64_t ready_set;
    /// int ret; }`.
    pub const POLL: u16 = 3;
    /// `struct hvt_hc_block_write`.
    pub const BLOCK_WRITE: u16 = 4;
    /// `struct hvt_hc_block_read`.
    pub const BLOCK_READ: u16 = 5;
    /// `struct hvt_hc_net_write`.
    pub const NET_WRITE: u16 = 6;
    /// `struct hvt_hc_net_read`.
    pub const NET_READ: u16 = 7;
    /// `struct hvt_hc_halt { uint64_t cookie; int exit_status; }`.
    pub const HALT: u16 = 8;

    /// Struct sizes (C `sizeof`, trailing padding included).
    pub const WALLTIME_SIZE: u64 = 8;
    /// `sizeof(struct hvt_hc_puts)`.
    pub const PUTS_SIZE: u64 = 16;
    /// `sizeof(struct hvt_hc_poll)`.
    pub const POLL_SIZE: u64 = 24;
    /// `sizeof(struct hvt_hc_halt)`.
    pub const HALT_SIZE: u64 = 16;
    /// `sizeof(struct hvt_hc_block_write)` (and `_read`).
    pub const BLOCK_SIZE: u64 = 40;
    /// `sizeof(struct hvt_hc_net_write)` (and `_read`).
    pub const NET_SIZE: u64 = 32;
    /// Bytes of the trap frame a guest may pass as HALT cookie.
    pub const HALT_COOKIE_MAX: u64 = 512;

    /// Field offsets of the core structs.
    pub mod off {
        /// walltime.nsecs.
        pub const WALLTIME_NSECS: u64 = 0;
        /// puts.data.
        pub const PUTS_DATA: u64 = 0;
        /// puts.len.
        pub const PUTS_LEN: u64 = 8;
        /// poll.timeout_nsecs.
        pub const POLL_TIMEOUT: u64 = 0;
        /// poll.ready_set.
        pub const POLL_READY_SET: u64 = 8;
        /// poll.ret.
        pub const POLL_RET: u64 = 16;
        /// block.handle.
        pub const BLOCK_HANDLE: u64 = 0;
        /// block.offset.
        pub const BLOCK_OFFSET: u64 = 8;
        /// block.data (GPA).
        pub const BLOCK_DATA: u64 = 16;
        /// block.len.
        pub const BLOCK_LEN: u64 = 24;
        /// block.ret.
        pub const BLOCK_RET: u64 = 32;
        /// net.handle.
        pub const NET_HANDLE: u64 = 0;
        /// net.data (GPA).
        pub const NET_DATA: u64 = 8;
        /// net.len (NET_READ: in buffer size, out bytes read).
        pub const NET_LEN: u64 = 16;
        /// net.ret.
        pub const NET_RET: u64 = 24;
        /// halt.cookie.
        pub const HALT_COOKIE: u64 = 0;
        /// halt.exit_status.
        pub const HALT_EXIT_STATUS: u64 = 8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_memory_fits_below_the_image() {
        assert_eq!(PD_ADDR + 4 * 0x1000, PT_POOL_START);
        assert_eq!(PT_POOL_END, BOOT_INFO_ADDR);
        assert_eq!(MFT_ADDR, 0x10038);
        // The largest manifest (64 entries) and the command line end far
        // below the image.
        let largest = MFT_ADDR + 8 + 64 * 104 + solo5_abi::CMDLINE_SIZE as u64;
        assert!(largest < GUEST_MIN_BASE);
        assert_eq!(MAX_MEM / MEM_ALIGN, 4 * 512);
        // The tender's user-mode area lies above all of that, below the
        // image, page aligned, its parts in order.
        assert!(largest <= user::IDT_ADDR);
        assert!(!(hypercall::PIO_BASE..hypercall::PIO_BASE + 12).contains(&user::TRAP_PORT));
    }

    #[test]
    fn struct_layouts_match_hvt_md() {
        use hypercall::off::*;
        use hypercall::*;
        assert_eq!(boot_info::NET_RING + 8, BOOT_INFO_SIZE);
        assert_eq!(PUTS_LEN + 8, PUTS_SIZE);
        assert_eq!(POLL_RET + 4 + 4, POLL_SIZE);
        assert_eq!(HALT_EXIT_STATUS + 4 + 4, HALT_SIZE);
        assert_eq!(WALLTIME_NSECS + 8, WALLTIME_SIZE);
        assert_eq!((PUTS_DATA, POLL_TIMEOUT, HALT_COOKIE), (0, 0, 0));
        assert_eq!(POLL_READY_SET, 8);
        assert_eq!(PIO_BASE + HALT, 0x508);
        assert_eq!(BLOCK_RET + 4 + 4, BLOCK_SIZE);
        assert_eq!(NET_RET + 4 + 4, NET_SIZE);
        assert_eq!(
            (BLOCK_HANDLE, NET_HANDLE, BLOCK_LEN, NET_LEN),
            (0, 0, 24, 16)
        );
    }
}
