//! The application manifest, declared in code.
//!
//! [`manifest!`](crate::manifest!) lists the devices once; the MFT1 note
//! (`solo5_abi::mft::Note`) is built at compile time and placed in
//! `.note.solo5.manifest`, where tenders and `solo5-elftool` find it. Names
//! are checked at compile time: 1 to 67 characters of `[A-Za-z0-9]`,
//! unique, at most 63 devices. A mistake is a compile error:
//!
//! ```text
//! error[E0080]: evaluation of constant value failed
//!   the evaluated program panicked at 'solo5 manifest: device names must be [A-Za-z0-9]'
//! ```

use solo5_abi::mft::{self, kind, Entry, Note};

/// A device as declared in [`manifest!`](crate::manifest!).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name, what `acquire` looks for.
    pub name: &'static str,
    /// Its type (`solo5_abi::mft::kind`).
    pub kind: u32,
}

impl Device {
    /// A network device (`NET_BASIC`).
    pub const fn net(name: &'static str) -> Device {
        Device {
            name,
            kind: kind::NET_BASIC,
        }
    }

    /// A block device (`BLOCK_BASIC`).
    pub const fn block(name: &'static str) -> Device {
        Device {
            name,
            kind: kind::BLOCK_BASIC,
        }
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Checks a list of devices; the error says what is wrong.
pub const fn check(devices: &[Device]) -> Result<(), &'static str> {
    if devices.len() > mft::MAX_DEVICES {
        return Err("solo5 manifest: too many devices, maximum 63");
    }
    let mut i = 0;
    while i < devices.len() {
        let name = devices[i].name.as_bytes();
        if name.is_empty() {
            return Err("solo5 manifest: empty device name");
        }
        if name.len() > mft::NAME_MAX {
            return Err("solo5 manifest: device names are at most 67 characters");
        }
        let mut j = 0;
        while j < name.len() {
            if !name[j].is_ascii_alphanumeric() {
                return Err("solo5 manifest: device names must be [A-Za-z0-9]");
            }
            j += 1;
        }
        if devices[i].kind != kind::NET_BASIC && devices[i].kind != kind::BLOCK_BASIC {
            return Err("solo5 manifest: unknown device type");
        }
        let mut k = 0;
        while k < i {
            if same(devices[k].name.as_bytes(), name) {
                return Err("solo5 manifest: duplicate device name");
            }
            k += 1;
        }
        i += 1;
    }
    Ok(())
}

/// The MFT1 note for `devices`; `N` must be `devices.len() + 1` (entry 0
/// is the reserved one). Panics, which at compile time is an error, if the
/// devices do not pass [`check`].
pub const fn note<const N: usize>(devices: &[Device]) -> Note<N> {
    if let Err(msg) = check(devices) {
        panic!("{}", msg);
    }
    assert!(
        N == devices.len() + 1,
        "solo5 manifest: N must be the number of devices + 1"
    );
    let mut entries = [Entry::EMPTY; N];
    let mut i = 0;
    while i < devices.len() {
        entries[i + 1] = Entry::device(devices[i].name, devices[i].kind);
        i += 1;
    }
    Note::new(entries)
}

/// Declares the application's devices and emits the MFT1 note.
///
/// Each device is `net "NAME"` or `block "NAME"`; the list may be empty
/// (every Solo5 binary carries a manifest). Use it once per binary, at item
/// level:
///
/// ```ignore
/// solo5_guest::manifest! { net "service0", block "storage" }
/// solo5_guest::manifest! {}
/// ```
///
/// Handles are manifest indexes: the first device gets handle 1.
#[macro_export]
macro_rules! manifest {
    ($($kind:ident $name:literal),* $(,)?) => {
        const _: () = {
            #[no_mangle]
            #[used]
            #[link_section = ".note.solo5.manifest"]
            static SOLO5_MANIFEST: $crate::abi::mft::Note<
                { <[&str]>::len(&[$($name),*]) + 1 },
            > = $crate::manifest::note(&[$($crate::manifest::Device::$kind($name)),*]);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_has_reserved_entry_then_devices() {
        const N: Note<3> = note(&[Device::net("service0"), Device::block("storage")]);
        let m = N.manifest;
        assert_eq!(N.n_descsz as usize, 4 + 8 + 3 * 104);
        assert_eq!(m.header.entries, 3);
        assert_eq!(m.entries[0], Entry::RESERVED);
        assert_eq!(m.entries[1].name(), b"service0");
        assert_eq!(m.entries[1].kind, kind::NET_BASIC);
        assert_eq!(m.entries[2].name(), b"storage");
        assert_eq!(m.entries[2].kind, kind::BLOCK_BASIC);
        assert_eq!(m.entries[2].attached, 0);
    }

    #[test]
    fn empty_manifest_is_entry_zero() {
        const N: Note<1> = note(&[]);
        assert_eq!(N.n_descsz, 4 + 8 + 104);
        assert_eq!(N.manifest.entries[0], Entry::RESERVED);
    }

    #[test]
    fn names_are_checked() {
        assert!(check(&[Device::net("a"), Device::block("B9")]).is_ok());
        assert!(check(&[Device::net("")]).is_err());
        assert!(check(&[Device::net("has-dash")]).is_err());
        assert!(check(&[Device::net("x"), Device::block("x")]).is_err());
        let long = "a".repeat(67).leak();
        assert!(check(&[Device::net(long)]).is_ok());
        let too_long = "a".repeat(68).leak();
        assert!(check(&[Device::net(too_long)]).is_err());
        assert!(check(&[Device { name: "x", kind: 7 }]).is_err());
    }

    #[test]
    fn at_most_63_devices() {
        let names: Vec<&'static str> = (0..64).map(|i| &*format!("d{i}").leak()).collect();
        let devices: Vec<Device> = names.iter().map(|n| Device::net(n)).collect();
        assert!(check(&devices[..63]).is_ok());
        assert_eq!(
            check(&devices),
            Err("solo5 manifest: too many devices, maximum 63")
        );
    }

    #[test]
    #[should_panic(expected = "duplicate device name")]
    fn note_panics_on_bad_input() {
        let _: Note<3> = note(&[Device::net("a"), Device::net("a")]);
    }
}
