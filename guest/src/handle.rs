//! Errors, device handles and handle sets of the Rust API.

use core::fmt;

use solo5_abi::result;

/// Why a Solo5 call failed (`SOLO5_R_*` other than `SOLO5_R_OK`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Nothing to do now, try again later (`SOLO5_R_AGAIN`): a net read
    /// with no frame queued.
    Again,
    /// Invalid argument (`SOLO5_R_EINVAL`): no such device, wrong size,
    /// misaligned or out-of-range offset.
    Invalid,
    /// The host failed for an unspecified reason (`SOLO5_R_EUNSPEC`).
    Unspecified,
}

impl Error {
    /// The `solo5_result_t` value of this error.
    pub const fn code(self) -> u32 {
        match self {
            Error::Again => result::AGAIN,
            Error::Invalid => result::EINVAL,
            Error::Unspecified => result::EUNSPEC,
        }
    }

    /// The error for a `solo5_result_t` value: `None` for `SOLO5_R_OK`;
    /// unknown values count as [`Error::Unspecified`].
    pub const fn from_code(code: u32) -> Option<Error> {
        match code {
            result::OK => None,
            result::AGAIN => Some(Error::Again),
            result::EINVAL => Some(Error::Invalid),
            _ => Some(Error::Unspecified),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Again => "try again",
            Error::Invalid => "invalid argument",
            Error::Unspecified => "unspecified host error",
        })
    }
}

/// `Ok(())` for `SOLO5_R_OK`, the error otherwise.
pub(crate) fn result(code: u32) -> Result<(), Error> {
    match Error::from_code(code) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// A device handle: the device's index in the manifest
/// (`solo5_handle_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u64);

impl Handle {
    /// The manifest index.
    pub const fn index(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A set of handles, one bit per manifest index (`solo5_handle_set_t`),
/// as returned by [`crate::yield_until`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HandleSet(pub u64);

impl HandleSet {
    /// The empty set.
    pub const EMPTY: HandleSet = HandleSet(0);

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether no handle is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many handles are in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether `handle` is in the set.
    pub const fn contains(self, handle: Handle) -> bool {
        handle.0 < 64 && self.0 & (1 << handle.0) != 0
    }

    /// Adds `handle` (ignored if it is not a manifest index).
    pub fn insert(&mut self, handle: Handle) {
        if handle.0 < 64 {
            self.0 |= 1 << handle.0;
        }
    }

    /// The handles in the set, in ascending order.
    pub const fn iter(self) -> Handles {
        Handles(self.0)
    }
}

impl IntoIterator for HandleSet {
    type Item = Handle;
    type IntoIter = Handles;

    fn into_iter(self) -> Handles {
        self.iter()
    }
}

/// Iterator over the handles of a [`HandleSet`].
#[derive(Clone, Debug)]
pub struct Handles(u64);

impl Iterator for Handles {
    type Item = Handle;

    fn next(&mut self) -> Option<Handle> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(Handle(u64::from(i)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Handles {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_round_trip() {
        for e in [Error::Again, Error::Invalid, Error::Unspecified] {
            assert_eq!(Error::from_code(e.code()), Some(e));
        }
        assert_eq!(Error::from_code(result::OK), None);
        assert_eq!(Error::from_code(99), Some(Error::Unspecified));
        assert_eq!(result(0), Ok(()));
        assert_eq!(result(1), Err(Error::Again));
    }

    #[test]
    fn handle_set_iterates_in_order() {
        let set = HandleSet((1 << 0) | (1 << 5) | (1 << 63));
        let v: Vec<u64> = set.iter().map(Handle::index).collect();
        assert_eq!(v, [0, 5, 63]);
        assert_eq!(set.len(), 3);
        assert!(set.contains(Handle(5)));
        assert!(!set.contains(Handle(6)));
        assert!(!set.contains(Handle(64)));
        assert_eq!(HandleSet::EMPTY.iter().next(), None);
        let mut s = HandleSet::default();
        s.insert(Handle(2));
        s.insert(Handle(100));
        assert_eq!(s, HandleSet(4));
    }
}
