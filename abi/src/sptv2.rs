//! Upstream's spt ABI version 2 (docs/abis.md, "spt ABI version 2").

/// The boot info at [`crate::BOOT_INFO_ADDR`], 40 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// End of guest memory.
    pub mem_size: u64,
    /// End of the highest loaded segment.
    pub kernel_end: u64,
    /// NUL-terminated command line.
    pub cmdline: u64,
    /// The manifest copy, which follows this struct.
    pub mft: u64,
    /// The epoll set (timerfd + every net fd).
    pub epollfd: i32,
    /// The timerfd used by `solo5_yield`.
    pub timerfd: i32,
}

/// `epoll_event.data.u64` of the timerfd in the epoll set. Net devices use
/// their manifest index.
pub const TIMERFD_EPOLL_DATA: u64 = 0xFFFF_FFFE;

const _: () = assert!(core::mem::size_of::<BootInfo>() == 40);
const _: () = assert!(core::mem::offset_of!(BootInfo, epollfd) == 32);
const _: () = assert!(core::mem::offset_of!(BootInfo, timerfd) == 36);
