//! The tcx wiring: a four-instruction `sched_cls` program that redirects
//! every frame to another interface's egress (or, for a veth or netkit
//! whose peer lives in another namespace, straight into that peer's
//! ingress), attached to an interface's tcx ingress hook through a BPF
//! link. The hook lives exactly as long as
//! the link's descriptors: the tender inherits them and never uses them,
//! so the hook goes when the tender does, however it ends.

use crate::sys;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_LINK_CREATE: libc::c_int = 28;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_TCX_INGRESS: u32 = 46;
/// `bpf_redirect(ifindex, flags)`: egress of `ifindex` when flags is 0.
const BPF_FUNC_REDIRECT: i32 = 23;
/// `bpf_redirect_peer(ifindex, flags)` (Linux 5.10): into the ingress of
/// the peer of `ifindex` (a veth or netkit), switching namespace without
/// the transmit path and the CPU backlog a veth crossing takes. Only from
/// a tc ingress hook; the kernel drops the frame if the peer is down or in
/// the same namespace.
const BPF_FUNC_REDIRECT_PEER: i32 = 155;

/// Where a redirect program sends frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Out of the interface's egress (its qdisc and tc egress hooks).
    Egress,
    /// Into the ingress of the interface's peer in another namespace.
    Peer,
}

impl Target {
    fn helper(self) -> i32 {
        match self {
            Target::Egress => BPF_FUNC_REDIRECT,
            Target::Peer => BPF_FUNC_REDIRECT_PEER,
        }
    }
}

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

/// `r1 = ifindex; r2 = 0; r0 = bpf_redirect(r1, r2); exit` (or
/// `bpf_redirect_peer`): the helper's result, TC_ACT_REDIRECT, is the
/// program's verdict.
fn redirect_program(ifindex: u32, to: Target) -> [Insn; 4] {
    const MOV64_IMM: u8 = 0xb7;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;
    [
        Insn {
            code: MOV64_IMM,
            regs: 1,
            off: 0,
            imm: ifindex as i32,
        },
        Insn {
            code: MOV64_IMM,
            regs: 2,
            off: 0,
            imm: 0,
        },
        Insn {
            code: CALL,
            regs: 0,
            off: 0,
            imm: to.helper(),
        },
        Insn {
            code: EXIT,
            regs: 0,
            off: 0,
            imm: 0,
        },
    ]
}

/// `union bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_LINK_CREATE with its `tcx` member.
#[repr(C)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    relative_fd: u32,
    pad: u32,
    expected_revision: u64,
}

/// `union bpf_attr` for BPF_PROG_QUERY.
#[repr(C)]
struct ProgQuery {
    target_ifindex: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    count: u32,
    pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// Load a program redirecting every frame to `to` (its egress or its
/// peer).
fn load_redirect(to: u32, target: Target) -> io::Result<OwnedFd> {
    let insns = redirect_program(to, target);
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..14].copy_from_slice(b"solo5_redirect");
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_SCHED_CLS,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_TCX_INGRESS,
    };
    // SAFETY: attr is BPF_PROG_LOAD's layout; insns and license outlive
    // the call and hold insn_cnt instructions and a NUL-terminated string.
    unsafe { sys::bpf_fd(BPF_PROG_LOAD, &mut attr) }
}

/// Redirect every frame arriving on `from` to `to` (its egress, or its
/// peer's ingress), through a tcx link on `from`'s ingress. Returns the
/// link's descriptor (close-on-exec): the hook is removed when its last
/// copy closes.
pub fn redirect(from: u32, to: u32, target: Target) -> io::Result<OwnedFd> {
    let prog = load_redirect(to, target)?;
    let mut attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: from,
        attach_type: BPF_TCX_INGRESS,
        flags: 0,
        relative_fd: 0,
        pad: 0,
        expected_revision: 0,
    };
    // SAFETY: attr is BPF_LINK_CREATE's tcx layout and holds no pointer.
    unsafe { sys::bpf_fd(BPF_LINK_CREATE, &mut attr) }
}

/// How many programs sit on `ifindex`'s tcx ingress hook.
pub fn ingress_programs(ifindex: u32) -> io::Result<u32> {
    let mut attr = ProgQuery {
        target_ifindex: ifindex,
        attach_type: BPF_TCX_INGRESS,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: 0,
        count: 0,
        pad: 0,
        prog_attach_flags: 0,
        link_ids: 0,
        link_attach_flags: 0,
        revision: 0,
    };
    // SAFETY: attr is BPF_PROG_QUERY's layout; with count 0 and null id
    // arrays the kernel only writes the count back into attr.
    unsafe { sys::bpf_call(BPF_PROG_QUERY, &mut attr) }?;
    Ok(attr.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        assert_eq!(std::mem::size_of::<ProgLoad>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoad, expected_attach_type), 68);
        assert_eq!(std::mem::size_of::<LinkCreate>(), 32);
        assert_eq!(std::mem::offset_of!(LinkCreate, expected_revision), 24);
        assert_eq!(std::mem::offset_of!(ProgQuery, count), 24);
        assert_eq!(std::mem::offset_of!(ProgQuery, revision), 56);
    }

    #[test]
    fn the_program_passes_the_ifindex_to_bpf_redirect() {
        let p = redirect_program(42, Target::Egress);
        assert_eq!((p[0].code, p[0].regs, p[0].imm), (0xb7, 1, 42));
        assert_eq!((p[1].code, p[1].regs, p[1].imm), (0xb7, 2, 0));
        assert_eq!((p[2].code, p[2].imm), (0x85, 23));
        assert_eq!(p[3].code, 0x95);
        let p = redirect_program(7, Target::Peer);
        assert_eq!((p[0].imm, p[1].imm, p[2].imm), (7, 0, 155));
    }
}
