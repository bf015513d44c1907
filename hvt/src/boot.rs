//! Low guest memory before the first run (docs/hvt.md, "Guest memory" and "Boot info"): the
//! boot GDT, the page tables, the boot info, the manifest copy and the
//! command line.

use crate::cpu;
use crate::layout::{boot_info as bi, BOOT_INFO_ADDR, BOOT_INFO_SIZE, GDT_ADDR, MFT_ADDR};
use crate::memory::{GuestMemory, MemoryError};
use crate::paging::Page;
use solo5_abi::CMDLINE_SIZE;

/// What the boot info tells the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// Guest memory size (below the net ring, if one is reserved).
    pub mem_size: u64,
    /// The loader's kernel_end.
    pub kernel_end: u64,
    /// TSC frequency in Hz.
    pub cpu_cycle_freq: u64,
    /// `HVT_FEATURE_RING_IO` when the net ring is offered, else 0.
    pub host_features: u32,
    /// GPA of the net ring when offered, else 0.
    pub net_ring: u64,
}

/// The boot info struct, manifest and command line as one block of bytes
/// for `BOOT_INFO_ADDR`: `struct hvt_boot_info`, the manifest right after
/// it, then the 8192-byte command-line buffer (NUL terminated; the
/// command line parser already refused anything longer than 8191).
pub fn boot_block(info: &BootInfo, mft: &[u8], cmdline: &[u8]) -> Vec<u8> {
    let cmdline_addr = MFT_ADDR + mft.len() as u64;
    let mut b = vec![0u8; BOOT_INFO_SIZE as usize + mft.len() + CMDLINE_SIZE];
    let mut put = |off: u64, bytes: &[u8]| {
        b[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
    };
    put(bi::MEM_SIZE, &info.mem_size.to_le_bytes());
    put(bi::KERNEL_END, &info.kernel_end.to_le_bytes());
    put(bi::CPU_CYCLE_FREQ, &info.cpu_cycle_freq.to_le_bytes());
    put(bi::CMDLINE, &cmdline_addr.to_le_bytes());
    put(bi::MFT, &MFT_ADDR.to_le_bytes());
    put(bi::HOST_FEATURES, &info.host_features.to_le_bytes());
    put(bi::GUEST_FEATURES, &0u32.to_le_bytes());
    put(bi::NET_RING, &info.net_ring.to_le_bytes());
    put(BOOT_INFO_SIZE, mft);
    let n = cmdline.len().min(CMDLINE_SIZE - 1);
    put(cmdline_addr - BOOT_INFO_ADDR, &cmdline[..n]);
    b
}

/// Write the GDT and the page tables (all-zero pages are skipped: the
/// memory is fresh).
pub fn write_tables(mem: &mut GuestMemory, pages: &[Page]) -> Result<(), MemoryError> {
    mem.write(GDT_ADDR, &cpu::gdt_bytes())?;
    for p in pages.iter().filter(|p| !p.is_zero()) {
        mem.write(p.gpa, &p.bytes())?;
    }
    Ok(())
}

/// Write the boot info, manifest copy and command line.
pub fn write_boot_info(
    mem: &mut GuestMemory,
    info: &BootInfo,
    mft: &[u8],
    cmdline: &[u8],
) -> Result<(), MemoryError> {
    mem.write(BOOT_INFO_ADDR, &boot_block(info, mft, cmdline))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn layout_of_upstream_dump() {
        // docs/hvt.md, "Boot info": a 4 MiB guest, one-entry manifest (8 + 104 bytes).
        let info = BootInfo {
            mem_size: 0x400000,
            kernel_end: 0x108000,
            cpu_cycle_freq: 0x9af8da00,
            host_features: 0,
            net_ring: 0,
        };
        let mft = vec![0xaau8; 112];
        let b = boot_block(&info, &mft, b"Hello_Solo5");
        assert_eq!(b.len(), 56 + 112 + 8192);
        assert_eq!(u64_at(&b, 0), 0x400000);
        assert_eq!(u64_at(&b, 8), 0x108000);
        assert_eq!(u64_at(&b, 16), 0x9af8da00);
        assert_eq!(u64_at(&b, 24), 0x100a8);
        assert_eq!(u64_at(&b, 32), 0x10038);
        assert_eq!(u64_at(&b, 40), 0, "host and guest features");
        assert_eq!(u64_at(&b, 48), 0, "net_ring");
        assert_eq!(&b[56..168], &mft[..]);
        assert_eq!(&b[168..179], b"Hello_Solo5");
        assert_eq!(b[179], 0);
    }

    #[test]
    fn empty_and_longest_command_lines_are_terminated() {
        let info = BootInfo {
            mem_size: 1,
            kernel_end: 0,
            cpu_cycle_freq: 0,
            host_features: 1,
            net_ring: 0x3fe00000,
        };
        let b = boot_block(&info, &[], b"");
        assert_eq!(b[56], 0);
        assert_eq!(u64_at(&b, 40), 1);
        assert_eq!(u64_at(&b, 48), 0x3fe00000);
        let long = vec![b'x'; CMDLINE_SIZE - 1];
        let b = boot_block(&info, &[], &long);
        assert_eq!(*b.last().unwrap(), 0);
        assert_eq!(b[56 + CMDLINE_SIZE - 2], b'x');
    }
}
