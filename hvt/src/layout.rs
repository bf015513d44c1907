//! The hvt ABI as the tender sees it: the one definition in
//! [`solo5_abi::hvt`] (guest memory layout, boot info, hypercall ports
//! and structs), with the struct sizes and field offsets the tender's
//! checked accessors need, taken from those types (`size_of`,
//! `offset_of!`), never written again here.

use core::mem::{offset_of, size_of};
use solo5_abi::hvt as abi;

pub use abi::{
    user, BOOT_INFO_ADDR, GDT_ADDR, GUEST_MIN_BASE, MAX_MEM, MEM_ALIGN, MFT_ADDR, PDPT_ADDR,
    PD_ADDR, PML4_ADDR, PT_POOL_END, PT_POOL_START,
};

/// Size of `struct hvt_boot_info`.
pub const BOOT_INFO_SIZE: u64 = size_of::<abi::BootInfo>() as u64;

/// Offsets in `struct hvt_boot_info`.
pub mod boot_info {
    use super::{abi::BootInfo, offset_of};
    /// `uint64_t mem_size`.
    pub const MEM_SIZE: u64 = offset_of!(BootInfo, mem_size) as u64;
    /// `uint64_t kernel_end`.
    pub const KERNEL_END: u64 = offset_of!(BootInfo, kernel_end) as u64;
    /// `uint64_t cpu_cycle_freq` (TSC Hz).
    pub const CPU_CYCLE_FREQ: u64 = offset_of!(BootInfo, cpu_cycle_freq) as u64;
    /// `uint64_t cmdline` (GPA).
    pub const CMDLINE: u64 = offset_of!(BootInfo, cmdline) as u64;
    /// `uint64_t mft` (GPA).
    pub const MFT: u64 = offset_of!(BootInfo, mft) as u64;
    /// `uint32_t host_features`.
    pub const HOST_FEATURES: u64 = offset_of!(BootInfo, host_features) as u64;
    /// `uint32_t guest_features`.
    pub const GUEST_FEATURES: u64 = offset_of!(BootInfo, guest_features) as u64;
    /// `uint64_t net_ring` (GPA).
    pub const NET_RING: u64 = offset_of!(BootInfo, net_ring) as u64;
}

/// Hypercalls: `outl %eax, $(PIO_BASE + NR)` with EAX = GPA of the
/// argument struct.
pub mod hypercall {
    use super::abi::{self, BlockIo, Halt, NetIo, Poll, Puts, Walltime};
    use super::size_of;

    pub use abi::{
        HALT_COOKIE_MAX, HC_BLOCK_READ as BLOCK_READ, HC_BLOCK_WRITE as BLOCK_WRITE,
        HC_HALT as HALT, HC_NET_READ as NET_READ, HC_NET_WRITE as NET_WRITE, HC_POLL as POLL,
        HC_PUTS as PUTS, HC_WALLTIME as WALLTIME, HYPERCALL_MAX as MAX, PIO_BASE,
    };

    /// `sizeof(struct hvt_hc_walltime)`.
    pub const WALLTIME_SIZE: u64 = size_of::<Walltime>() as u64;
    /// `sizeof(struct hvt_hc_puts)`.
    pub const PUTS_SIZE: u64 = size_of::<Puts>() as u64;
    /// `sizeof(struct hvt_hc_poll)`.
    pub const POLL_SIZE: u64 = size_of::<Poll>() as u64;
    /// `sizeof(struct hvt_hc_halt)`.
    pub const HALT_SIZE: u64 = size_of::<Halt>() as u64;
    /// `sizeof(struct hvt_hc_block_write)` (and `_read`).
    pub const BLOCK_SIZE: u64 = size_of::<BlockIo>() as u64;
    /// `sizeof(struct hvt_hc_net_write)` (and `_read`).
    pub const NET_SIZE: u64 = size_of::<NetIo>() as u64;

    /// Field offsets of the hypercall structs.
    pub mod off {
        use super::{BlockIo, Halt, NetIo, Poll, Puts, Walltime};
        use core::mem::offset_of;
        /// walltime.nsecs.
        pub const WALLTIME_NSECS: u64 = offset_of!(Walltime, nsecs) as u64;
        /// puts.data.
        pub const PUTS_DATA: u64 = offset_of!(Puts, data) as u64;
        /// puts.len.
        pub const PUTS_LEN: u64 = offset_of!(Puts, len) as u64;
        /// poll.timeout_nsecs.
        pub const POLL_TIMEOUT: u64 = offset_of!(Poll, timeout_nsecs) as u64;
        /// poll.ready_set.
        pub const POLL_READY_SET: u64 = offset_of!(Poll, ready_set) as u64;
        /// poll.ret.
        pub const POLL_RET: u64 = offset_of!(Poll, ret) as u64;
        /// block.handle.
        pub const BLOCK_HANDLE: u64 = offset_of!(BlockIo, handle) as u64;
        /// block.offset.
        pub const BLOCK_OFFSET: u64 = offset_of!(BlockIo, offset) as u64;
        /// block.data (GPA).
        pub const BLOCK_DATA: u64 = offset_of!(BlockIo, data) as u64;
        /// block.len.
        pub const BLOCK_LEN: u64 = offset_of!(BlockIo, len) as u64;
        /// block.ret.
        pub const BLOCK_RET: u64 = offset_of!(BlockIo, ret) as u64;
        /// net.handle.
        pub const NET_HANDLE: u64 = offset_of!(NetIo, handle) as u64;
        /// net.data (GPA).
        pub const NET_DATA: u64 = offset_of!(NetIo, data) as u64;
        /// net.len (NET_READ: in buffer size, out bytes read).
        pub const NET_LEN: u64 = offset_of!(NetIo, len) as u64;
        /// net.ret.
        pub const NET_RET: u64 = offset_of!(NetIo, ret) as u64;
        /// halt.cookie.
        pub const HALT_COOKIE: u64 = offset_of!(Halt, cookie) as u64;
        /// halt.exit_status.
        pub const HALT_EXIT_STATUS: u64 = offset_of!(Halt, exit_status) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_memory_fits_below_the_image() {
        // The largest manifest (64 entries) and the command line end far
        // below the image, and below the tender's user-mode area.
        let largest = MFT_ADDR + 8 + 64 * 104 + solo5_abi::CMDLINE_SIZE as u64;
        assert!(largest < GUEST_MIN_BASE);
        assert!(largest <= user::IDT_ADDR);
    }
}
