//! The manifest copy the tender filled in: device lookup by name (acquire)
//! and by handle (every I/O call).

use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use solo5_abi::mft::Entry;

use crate::platform::Manifest;

static ENTRIES: AtomicPtr<Entry> = AtomicPtr::new(core::ptr::null_mut());
static LEN: AtomicUsize = AtomicUsize::new(0);

/// Records the manifest copy; called once at startup.
pub(crate) fn install(m: Manifest) {
    LEN.store(m.len, Ordering::Relaxed);
    ENTRIES.store(m.entries as *mut Entry, Ordering::Release);
}

/// The entries, reserved entry 0 included; empty before startup.
pub(crate) fn entries() -> &'static [Entry] {
    let p = ENTRIES.load(Ordering::Acquire);
    if p.is_null() {
        return &[];
    }
    // SAFETY: install() got this pointer and length from the platform's
    // manifest check: `len` entries, 8-byte aligned, in guest memory written
    // by the tender before the jump and never unmapped.
    unsafe { core::slice::from_raw_parts(p, LEN.load(Ordering::Relaxed)) }
}

/// The attached device of type `kind` named `name`, with its handle.
pub(crate) fn by_name(name: &[u8], kind: u32) -> Option<(u64, &'static Entry)> {
    find_by_name(entries(), name, kind).map(|i| (i as u64, &entries()[i]))
}

/// The attached device of type `kind` whose handle is `handle`.
pub(crate) fn by_handle(handle: u64, kind: u32) -> Option<&'static Entry> {
    let e = entries().get(usize::try_from(handle).ok()?)?;
    (e.kind == kind && e.attached != 0).then_some(e)
}

fn find_by_name(entries: &[Entry], name: &[u8], kind: u32) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    entries
        .iter()
        .position(|e| e.kind == kind && e.attached != 0 && e.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::mft::kind;

    #[test]
    fn lookup_matches_name_type_and_attached() {
        let mut v = [
            Entry::RESERVED,
            Entry::device("service0", kind::NET_BASIC),
            Entry::device("storage", kind::BLOCK_BASIC),
            Entry::device("spare", kind::NET_BASIC),
        ];
        v[1].attached = 1;
        v[2].attached = 1;
        assert_eq!(find_by_name(&v, b"service0", kind::NET_BASIC), Some(1));
        assert_eq!(find_by_name(&v, b"service0", kind::BLOCK_BASIC), None);
        assert_eq!(find_by_name(&v, b"storage", kind::BLOCK_BASIC), Some(2));
        assert_eq!(find_by_name(&v, b"spare", kind::NET_BASIC), None);
        assert_eq!(find_by_name(&v, b"", kind::RESERVED_FIRST), None);
        assert_eq!(find_by_name(&v, b"service", kind::NET_BASIC), None);
    }
}
