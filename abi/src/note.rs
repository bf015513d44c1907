//! ELF notes that every Solo5 executable carries (docs/abis.md, "ELF notes").

/// Note owner name, NUL included (`n_namesz` = 6, padded to 8 in the file).
pub const NAME: &[u8; 6] = b"Solo5\0";
/// Owner name as it is laid out in a note: padded to 8 bytes.
pub const NAME_PADDED: [u8; 8] = *b"Solo5\0\0\0";
/// Note type of the ABI note ("ABI1").
pub const TYPE_ABI1: u32 = 0x3149_4241;
/// Note type of the manifest note ("MFT1").
pub const TYPE_MFT1: u32 = 0x3154_464d;
/// Descriptor size of the ABI note.
pub const ABI1_DESC_SIZE: u32 = 16;

/// `abi_target` values. The first six are upstream's.
pub mod target {
    /// solo5-hvt (KVM and friends).
    pub const HVT: u32 = 1;
    /// solo5-spt, upstream's syscall ABI.
    pub const SPT: u32 = 2;
    /// virtio.
    pub const VIRTIO: u32 = 3;
    /// Muen.
    pub const MUEN: u32 = 4;
    /// Genode.
    pub const GENODE: u32 = 5;
    /// Xen.
    pub const XEN: u32 = 6;
    /// Our native spt ABI: the guest calls the tender through a function
    /// table. A target number of our own, far from upstream's, so that
    /// upstream tenders refuse such a binary with "Executable is not for the
    /// solo5-spt target" and upstream's elftool never takes it for spt v2.
    pub const SPT_NATIVE: u32 = 0x5254_0002;

    /// The name `solo5-elftool query-abi` prints for a target.
    pub const fn name(target: u32) -> Option<&'static str> {
        match target {
            HVT => Some("hvt"),
            SPT => Some("spt"),
            VIRTIO => Some("virtio"),
            MUEN => Some("muen"),
            GENODE => Some("genode"),
            XEN => Some("xen"),
            SPT_NATIVE => Some("spt-native"),
            _ => None,
        }
    }
}

/// ABI versions this project implements.
pub mod version {
    /// Upstream spt ABI version.
    pub const SPT: u32 = 2;
    /// Upstream hvt ABI version.
    pub const HVT: u32 = 2;
    /// Version of our native spt ABI (see `native`).
    pub const SPT_NATIVE: u32 = 1;
}

/// Descriptor of the ABI1 note.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiDesc {
    /// One of [`target`].
    pub abi_target: u32,
    /// ABI version for that target.
    pub abi_version: u32,
    /// Must be zero.
    pub reserved0: u32,
    /// Must be zero.
    pub reserved1: u32,
}

/// A complete ABI1 note as it lies in `.note.solo5.abi`.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug)]
pub struct AbiNote {
    /// 6.
    pub n_namesz: u32,
    /// 16.
    pub n_descsz: u32,
    /// [`TYPE_ABI1`].
    pub n_type: u32,
    /// [`NAME_PADDED`].
    pub name: [u8; 8],
    /// The descriptor.
    pub desc: AbiDesc,
}

impl AbiNote {
    /// The note for `abi_target` / `abi_version`.
    pub const fn new(abi_target: u32, abi_version: u32) -> Self {
        AbiNote {
            n_namesz: NAME.len() as u32,
            n_descsz: ABI1_DESC_SIZE,
            n_type: TYPE_ABI1,
            name: NAME_PADDED,
            desc: AbiDesc {
                abi_target,
                abi_version,
                reserved0: 0,
                reserved1: 0,
            },
        }
    }
}

const _: () = assert!(core::mem::size_of::<AbiDesc>() == 16);
const _: () = assert!(core::mem::size_of::<AbiNote>() == 36);
