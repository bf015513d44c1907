//! Time, and waiting for it (or for network input).

use crate::handle::HandleSet;
use crate::platform;

/// Nanoseconds in a second.
pub const NSEC_PER_SEC: u64 = 1_000_000_000;

/// Monotonic time since an unspecified point in the past, in nanoseconds
/// (`CLOCK_MONOTONIC` of the host).
pub fn monotonic() -> u64 {
    platform::clock_monotonic()
}

/// Wall clock time since the UNIX epoch, in nanoseconds (UTC).
pub fn wall() -> u64 {
    platform::clock_wall()
}

/// Suspends the guest until monotonic time reaches `deadline` or a network
/// device has a frame to read, and returns the set of such devices (empty
/// when the deadline passed). A deadline in the past returns at once.
pub fn yield_until(deadline: u64) -> HandleSet {
    HandleSet(platform::yield_until(deadline))
}

/// Sleeps for `ns` nanoseconds (longer if network input keeps waking the
/// guest up in between, which this ignores).
pub fn sleep(ns: u64) {
    let deadline = monotonic().saturating_add(ns);
    while monotonic() < deadline {
        yield_until(deadline);
    }
}
