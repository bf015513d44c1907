//! Joining a tap and its uplink both ways, so that every frame arriving
//! on the uplink goes to the unikernel and every frame it sends leaves
//! through the uplink, with the namespace's own stack seeing neither.
//!
//! - **tcx** (kernel 6.6 and later, CAP_BPF + CAP_NET_ADMIN): a redirect
//!   program on each side's ingress, held by BPF link descriptors that the
//!   tender inherits. When the tender ends, however it ends, the links
//!   close, the hooks go and the tap goes: nothing is left.
//! - **mirred** (CAP_NET_ADMIN only): an ingress qdisc and a u32 filter
//!   with `mirred egress redirect` on each side, its action tagged with
//!   our cookie. The tap's side goes with the tap; the uplink's filter
//!   outlives a killed tender and is removed by the next start (a filter
//!   of ours whose tap is gone). The ingress qdisc stays (it does nothing
//!   without filters; it may not be ours).

use crate::args::Wiring;
use crate::bpf;
use crate::netlink::{self, NetlinkError};
use solo5_tender::devices::netif;
use std::io;
use std::os::fd::OwnedFd;
use thiserror::Error;

/// The name template of our taps: the kernel fills in the first free
/// number, so unikernels in one namespace never collide.
pub const TAP_TEMPLATE: &str = "solo5tap%d";
/// What our taps' names start with.
pub const TAP_PREFIX: &str = "solo5tap";

/// Why a tap could not be wired.
#[derive(Debug, Error)]
pub enum WiringError {
    /// tcx was asked for and the kernel or our privileges refuse it.
    #[error("tcx is not available (kernel 6.6+ with CAP_BPF and CAP_NET_ADMIN needed; try --wiring mirred)")]
    NoTcx(#[source] io::Error),
    /// The uplink already carries a unikernel.
    #[error("{0} already carries another unikernel ({1}); give each unikernel its own uplink with --uplink NAME=IFACE")]
    Busy(String, String),
    /// Reading the uplink's hooks failed.
    #[error("could not read the tc hooks of {0}")]
    Inspect(String, #[source] NetlinkError),
    /// Removing a stale filter of ours failed.
    #[error("could not remove a stale redirect of ours from {0}")]
    Cleanup(String, #[source] NetlinkError),
    /// Attaching a tcx link failed.
    #[error("could not attach a tcx redirect on {0} (--wiring tcx needs CAP_BPF and CAP_NET_ADMIN, and bpf(2) allowed by the seccomp profile; --wiring auto falls back to tc mirred)")]
    Tcx(String, #[source] io::Error),
    /// Adding the qdisc or filter failed.
    #[error("could not add a tc mirred redirect on {0}")]
    Mirred(String, #[source] NetlinkError),
}

/// How the wiring was done, for the user and for undoing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// tcx links.
    Tcx,
    /// tc mirred.
    Mirred,
}

/// Whether interface `index` is a live tap of ours.
fn is_our_tap(index: u32) -> bool {
    netif::if_name(index).is_some_and(|n| n.starts_with(TAP_PREFIX))
}

/// Remove our mirred filters on `uplink` whose tap is gone; refuse when
/// one whose tap still exists is there (another unikernel uses it).
fn clean_mirred(uplink: &str, index: u32) -> Result<usize, WiringError> {
    let ours =
        netlink::our_mirred_filters(index).map_err(|e| WiringError::Inspect(uplink.into(), e))?;
    let mut removed = 0;
    for f in ours {
        if is_our_tap(f.target) {
            let tap = netif::if_name(f.target).unwrap_or_default();
            return Err(WiringError::Busy(
                uplink.into(),
                format!("tc mirred to {tap}"),
            ));
        }
        netlink::del_filter(index, f.prio).map_err(|e| WiringError::Cleanup(uplink.into(), e))?;
        removed += 1;
    }
    Ok(removed)
}

/// How an uplink will be wired, once [`prepare`] has looked at it.
#[derive(Debug)]
pub struct Plan {
    /// The mode to try first.
    pub mode: Mode,
    /// How many stale filters of ours were removed.
    pub removed: usize,
    /// Why tcx is not used (`--wiring auto` after a refusal), for
    /// `--verbose`.
    pub fallback: Option<String>,
}

/// Decide how `uplink` will be wired and make it ready: stale state of
/// ours removed, refused when another unikernel holds it. With
/// `--wiring auto`, any refusal of `bpf(2)` (an old kernel, no CAP_BPF,
/// a seccomp profile) means tc mirred.
pub fn prepare(uplink: &str, index: u32, want: Wiring) -> Result<Plan, WiringError> {
    let (mode, fallback) = match want {
        Wiring::Mirred => (Mode::Mirred, None),
        Wiring::Tcx | Wiring::Auto => match bpf::ingress_programs(index) {
            Ok(0) => (Mode::Tcx, None),
            Ok(n) => {
                return Err(WiringError::Busy(
                    uplink.into(),
                    format!("{n} tcx ingress program(s) attached"),
                ))
            }
            Err(e) if want == Wiring::Tcx => return Err(WiringError::NoTcx(e)),
            Err(e) => (Mode::Mirred, Some(format!("bpf(2) refused: {e}"))),
        },
    };
    let removed = clean_mirred(uplink, index)?;
    Ok(Plan {
        mode,
        removed,
        fallback,
    })
}

/// Wire `tap` and `uplink` both ways; `replies` is where tcx sends the
/// guest's frames (the uplink's peer only when asked and the kernel
/// takes the program; else the uplink's egress). For tcx, returns the
/// link descriptors that must stay open for as long as the wiring should
/// (the tender inherits them), and where the guest's frames go.
pub fn wire(
    mode: Mode,
    uplink: (&str, u32),
    tap: (&str, u32),
    replies: bpf::Target,
) -> Result<(Vec<OwnedFd>, bpf::Target), WiringError> {
    match mode {
        Mode::Tcx => {
            // The tap's side first: the uplink is cut over last, when the
            // way back is ready. A kernel whose verifier does not know
            // bpf_redirect_peer gets the egress redirect.
            let tcx = |e| WiringError::Tcx(tap.0.into(), e);
            let (back, to) = match bpf::redirect(tap.1, uplink.1, replies) {
                Ok(l) => (l, replies),
                Err(_) if replies == bpf::Target::Peer => (
                    bpf::redirect(tap.1, uplink.1, bpf::Target::Egress).map_err(tcx)?,
                    bpf::Target::Egress,
                ),
                Err(e) => return Err(tcx(e)),
            };
            let fwd = bpf::redirect(uplink.1, tap.1, bpf::Target::Egress)
                .map_err(|e| WiringError::Tcx(uplink.0.into(), e))?;
            Ok((vec![back, fwd], to))
        }
        Mode::Mirred => {
            for (from, to) in [(tap, uplink), (uplink, tap)] {
                netlink::add_ingress_qdisc(from.1)
                    .map_err(|e| WiringError::Mirred(from.0.into(), e))?;
                netlink::add_mirred(from.1, to.1)
                    .map_err(|e| WiringError::Mirred(from.0.into(), e))?;
            }
            Ok((Vec::new(), bpf::Target::Egress))
        }
    }
}

/// Undo a mirred wiring of `tap` on `uplink` (on a failure before the
/// tender runs). tcx needs nothing: closing the links undoes it.
pub fn unwire_mirred(uplink: u32, tap: u32) {
    if let Ok(ours) = netlink::our_mirred_filters(uplink) {
        for f in ours.into_iter().filter(|f| f.target == tap) {
            let _ = netlink::del_filter(uplink, f.prio);
        }
    }
}

/// Remove every stale mirred filter of ours (whose tap is gone) in this
/// network namespace, leaving live ones and everything not ours alone.
/// Returns how many were removed. For `solo5-runc delete`.
pub fn clean_namespace() -> Result<usize, WiringError> {
    let mut removed = 0;
    for index in netif::interfaces().unwrap_or_default() {
        let name = netif::if_name(index).unwrap_or_default();
        let ours = netlink::our_mirred_filters(index)
            .map_err(|e| WiringError::Inspect(name.clone(), e))?;
        for f in ours.into_iter().filter(|f| !is_our_tap(f.target)) {
            netlink::del_filter(index, f.prio)
                .map_err(|e| WiringError::Cleanup(name.clone(), e))?;
            removed += 1;
        }
    }
    Ok(removed)
}
