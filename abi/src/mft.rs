//! The application manifest (MFT1 note descriptor, docs/abis.md, "The
//! manifest").

/// Manifest format version.
pub const VERSION: u32 = 1;
/// Maximum number of entries, reserved entry 0 included.
pub const MAX_ENTRIES: usize = 64;
/// Maximum number of devices an application can declare.
pub const MAX_DEVICES: usize = MAX_ENTRIES - 1;
/// Size of the name field, NUL included.
pub const NAME_SIZE: usize = 68;
/// Longest device name.
pub const NAME_MAX: usize = NAME_SIZE - 1;
/// Size of one entry.
pub const ENTRY_SIZE: usize = 104;
/// Size of the manifest header (`version`, `entries`).
pub const HEADER_SIZE: usize = 8;
/// Bytes of padding between the note header and the manifest; they belong
/// to the descriptor.
pub const NOTE_DESC_PAD: usize = 4;
/// Largest valid `n_descsz` of an MFT1 note.
pub const MAX_NOTE_DESC_SIZE: usize = NOTE_DESC_PAD + HEADER_SIZE + MAX_ENTRIES * ENTRY_SIZE;

/// Size in bytes of a manifest with `entries` entries.
pub const fn size(entries: usize) -> usize {
    HEADER_SIZE + entries * ENTRY_SIZE
}

/// Device types (`mft_type`).
pub mod kind {
    /// Block device.
    pub const BLOCK_BASIC: u32 = 1;
    /// Network device.
    pub const NET_BASIC: u32 = 2;
    /// Entry 0 of every manifest.
    pub const RESERVED_FIRST: u32 = 1 << 30;

    /// Upstream's name for a type, as used in error lines and JSON
    /// (`mft_type_to_string`: any other type is "<undefined type>").
    pub const fn name(kind: u32) -> &'static str {
        match kind {
            BLOCK_BASIC => "BLOCK_BASIC",
            NET_BASIC => "NET_BASIC",
            RESERVED_FIRST => "RESERVED_FIRST",
            _ => "<undefined type>",
        }
    }
}

/// Offsets inside an entry.
pub mod off {
    /// `name`.
    pub const NAME: usize = 0;
    /// `type`.
    pub const TYPE: usize = 68;
    /// Block: `u64 capacity`.
    pub const BLOCK_CAPACITY: usize = 72;
    /// Block: `u16 block_size`.
    pub const BLOCK_SIZE: usize = 80;
    /// Net: `u8 mac[6]`.
    pub const NET_MAC: usize = 72;
    /// Net: `u16 mtu`.
    pub const NET_MTU: usize = 78;
    /// `hostfd` (i32) or a pointer, private to tender and bindings.
    pub const HOSTFD: usize = 88;
    /// `attached` (bool).
    pub const ATTACHED: usize = 96;
}

/// Manifest header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// [`VERSION`].
    pub version: u32,
    /// Number of entries, reserved entry 0 included.
    pub entries: u32,
}

/// One manifest entry, 104 bytes. The 16-byte `u` field is a union: block
/// devices keep `capacity` (u64) and `block_size` (u16) in it, network
/// devices `mac` (6 bytes) and `mtu` (u16 at offset 6).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// NUL-terminated name.
    pub name: [u8; NAME_SIZE],
    /// One of [`kind`].
    pub kind: u32,
    /// Per-type data, see the struct documentation.
    pub u: [u8; 16],
    /// Host fd (spt v2) or a private pointer.
    pub hostfd: u64,
    /// Set by the tender when the device is attached.
    pub attached: u8,
    /// Padding.
    pub pad: [u8; 7],
}

impl Entry {
    /// An unused entry.
    pub const EMPTY: Entry = Entry {
        name: [0; NAME_SIZE],
        kind: 0,
        u: [0; 16],
        hostfd: 0,
        attached: 0,
        pad: [0; 7],
    };

    /// Entry 0 of every manifest.
    pub const RESERVED: Entry = Entry {
        kind: kind::RESERVED_FIRST,
        ..Entry::EMPTY
    };

    /// A declared, not yet attached device. The name is cut at
    /// [`NAME_MAX`] bytes; callers validate names beforehand.
    pub const fn device(name: &str, kind: u32) -> Entry {
        let mut e = Entry {
            kind,
            ..Entry::EMPTY
        };
        let b = name.as_bytes();
        let mut i = 0;
        while i < b.len() && i < NAME_MAX {
            e.name[i] = b[i];
            i += 1;
        }
        e
    }

    /// The name up to its NUL.
    pub fn name(&self) -> &[u8] {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(NAME_SIZE);
        &self.name[..end]
    }

    /// Block capacity in bytes.
    pub fn block_capacity(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.u[0..8]);
        u64::from_le_bytes(b)
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u16 {
        u16::from_le_bytes([self.u[8], self.u[9]])
    }

    /// Set block capacity and block size.
    pub fn set_block(&mut self, capacity: u64, block_size: u16) {
        self.u = [0; 16];
        self.u[0..8].copy_from_slice(&capacity.to_le_bytes());
        self.u[8..10].copy_from_slice(&block_size.to_le_bytes());
    }

    /// Network MAC address.
    pub fn net_mac(&self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.u[0..6]);
        m
    }

    /// Network MTU.
    pub fn net_mtu(&self) -> u16 {
        u16::from_le_bytes([self.u[6], self.u[7]])
    }

    /// Set MAC address and MTU.
    pub fn set_net(&mut self, mac: [u8; 6], mtu: u16) {
        self.u = [0; 16];
        self.u[0..6].copy_from_slice(&mac);
        self.u[6..8].copy_from_slice(&mtu.to_le_bytes());
    }
}

/// A manifest of `N` entries (entry 0 included) as it lies in memory.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Manifest<const N: usize> {
    /// Header.
    pub header: Header,
    /// Entries.
    pub entries: [Entry; N],
}

/// A complete MFT1 note with `N` entries, as it lies in
/// `.note.solo5.manifest`: 20-byte note header, 4 bytes of padding that
/// belong to the descriptor, then the 8-byte aligned manifest.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct Note<const N: usize> {
    /// 6.
    pub n_namesz: u32,
    /// 4 + manifest size.
    pub n_descsz: u32,
    /// `TYPE_MFT1`.
    pub n_type: u32,
    /// "Solo5\0" padded to 8.
    pub name: [u8; 8],
    /// Padding, part of the descriptor.
    pub pad: u32,
    /// The manifest.
    pub manifest: Manifest<N>,
}

impl<const N: usize> Note<N> {
    /// The note for `devices` (entry 0 is added here): `N` must be
    /// `devices.len() + 1`.
    pub const fn new(devices: [Entry; N]) -> Self {
        let mut entries = devices;
        entries[0] = Entry::RESERVED;
        Note {
            n_namesz: crate::note::NAME.len() as u32,
            n_descsz: (NOTE_DESC_PAD + size(N)) as u32,
            n_type: crate::note::TYPE_MFT1,
            name: crate::note::NAME_PADDED,
            pad: 0,
            manifest: Manifest {
                header: Header {
                    version: VERSION,
                    entries: N as u32,
                },
                entries,
            },
        }
    }
}

const _: () = assert!(core::mem::size_of::<Entry>() == ENTRY_SIZE);
const _: () = assert!(core::mem::offset_of!(Entry, kind) == off::TYPE);
const _: () = assert!(core::mem::offset_of!(Entry, u) == off::BLOCK_CAPACITY);
const _: () = assert!(core::mem::offset_of!(Entry, hostfd) == off::HOSTFD);
const _: () = assert!(core::mem::offset_of!(Entry, attached) == off::ATTACHED);
const _: () = assert!(core::mem::size_of::<Manifest<64>>() == size(64));
const _: () = assert!(core::mem::offset_of!(Note<1>, manifest) == 24);
const _: () = assert!(core::mem::size_of::<Note<64>>() == 20 + MAX_NOTE_DESC_SIZE);
const _: () = assert!(MAX_NOTE_DESC_SIZE == 6668);
