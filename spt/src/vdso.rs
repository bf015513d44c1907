//! Find `__vdso_clock_gettime` in the vDSO the kernel maps into every
//! process, so that the clock table functions read the time without a
//! system call (and without glibc, which demangles its vDSO pointers
//! through TLS).

/// Signature of `__vdso_clock_gettime`.
pub type ClockGettime =
    unsafe extern "C" fn(clock: libc::clockid_t, ts: *mut libc::timespec) -> i32;

const STT_FUNC: u8 = 2;
/// The vDSO is two or three pages; its headers never lie further out.
const MAX_IMAGE: usize = 1 << 20;

/// Read a little-endian integer of `N` bytes at `base + off`, if it lies
/// within the image.
fn read<const N: usize>(image: &[u8], off: u64) -> Option<[u8; N]> {
    let off = usize::try_from(off).ok()?;
    image.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn r16(i: &[u8], off: u64) -> Option<u64> {
    read::<2>(i, off).map(|b| u64::from(u16::from_le_bytes(b)))
}
fn r32(i: &[u8], off: u64) -> Option<u64> {
    read::<4>(i, off).map(|b| u64::from(u32::from_le_bytes(b)))
}
fn r64(i: &[u8], off: u64) -> Option<u64> {
    read::<8>(i, off).map(u64::from_le_bytes)
}

/// Look the symbol up; `None` when there is no vDSO or no such symbol, in
/// which case callers use the raw syscall.
pub fn clock_gettime() -> Option<ClockGettime> {
    // SAFETY: getauxval has no preconditions.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if base == 0 {
        return None;
    }
    // The image size is not in the auxiliary vector: bound it by the first
    // PT_LOAD's memsz once the header is known.
    // SAFETY: the kernel maps at least the ELF header and program headers of
    // the vDSO at `base`, readable, for the life of the process.
    let head = unsafe { core::slice::from_raw_parts(base as *const u8, 64) };
    if &head[0..4] != b"\x7fELF" {
        return None;
    }
    let phoff = r64(head, 32)?;
    let phnum = r16(head, 56)?;
    // SAFETY: program headers directly follow the ELF header in the first
    // mapped page of the vDSO.
    let first = unsafe { core::slice::from_raw_parts(base as *const u8, 4096) };
    let mut size = 0u64;
    let mut load = None;
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff + i * 56;
        let (offset, vaddr, memsz) = (
            r64(first, ph + 8)?,
            r64(first, ph + 16)?,
            r64(first, ph + 40)?,
        );
        match r32(first, ph)? {
            1 => {
                size = size.max(offset.checked_add(memsz)?);
                load.get_or_insert((offset, vaddr));
            }
            2 => dynamic = Some((offset, memsz)),
            _ => {}
        }
    }
    let (load_off, load_vaddr) = load?;
    let size = usize::try_from(size).ok()?.min(MAX_IMAGE);
    // SAFETY: the first PT_LOAD of the vDSO spans `size` bytes from `base`,
    // all mapped readable.
    let image = unsafe { core::slice::from_raw_parts(base as *const u8, size) };
    // Link-time address -> offset in the image.
    let to_off = |vaddr: u64| vaddr.checked_sub(load_vaddr)?.checked_add(load_off);
    let value = find_symbol(image, dynamic?, to_off, b"__vdso_clock_gettime")?;
    let addr = (base as u64).checked_add(to_off(value)?)?;
    // SAFETY: the vDSO exports __vdso_clock_gettime with exactly the
    // signature of clock_gettime(2); the address lies inside its text.
    Some(unsafe { core::mem::transmute::<usize, ClockGettime>(addr as usize) })
}

/// `st_value` of the function `name`, looked up through the dynamic
/// section (`DT_SYMTAB`, `DT_STRTAB`, and `DT_HASH` for the symbol count).
fn find_symbol(
    image: &[u8],
    dynamic: (u64, u64),
    to_off: impl Fn(u64) -> Option<u64>,
    name: &[u8],
) -> Option<u64> {
    const DT_HASH: u64 = 4;
    const DT_STRTAB: u64 = 5;
    const DT_SYMTAB: u64 = 6;
    let (mut symtab, mut strtab, mut hash) = (None, None, None);
    for i in 0..dynamic.1 / 16 {
        let d = dynamic.0 + i * 16;
        let (tag, val) = (r64(image, d)?, r64(image, d + 8)?);
        match tag {
            0 => break,
            DT_HASH => hash = to_off(val),
            DT_STRTAB => strtab = to_off(val),
            DT_SYMTAB => symtab = to_off(val),
            _ => {}
        }
    }
    let (symtab, strtab) = (symtab?, strtab?);
    // nchain of the SysV hash table is the number of symbols.
    let count = r32(image, hash? + 4)?;
    for s in 0..count {
        let sym = symtab + s * 24;
        let st_name = r32(image, sym)?;
        let st_info = read::<1>(image, sym + 4)?[0];
        let st_shndx = r16(image, sym + 6)?;
        let start = usize::try_from(strtab + st_name).ok()?;
        let found = image.get(start..start + name.len() + 1);
        if st_info & 0xf == STT_FUNC
            && st_shndx != 0
            && found.is_some_and(|f| &f[..name.len()] == name && f[name.len()] == 0)
        {
            return r64(image, sym + 8);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn vdso_clock_matches_syscall() {
        let f = super::clock_gettime().expect("this machine has a vDSO clock_gettime");
        let mut a = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut b = a;
        // SAFETY: a is a valid timespec; the function is the vDSO's.
        assert_eq!(unsafe { f(libc::CLOCK_MONOTONIC, &mut a) }, 0);
        assert_eq!(
            solo5_tender::raw::clock_gettime(libc::CLOCK_MONOTONIC, &mut b),
            0
        );
        let ns = |t: libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        assert!(ns(b) >= ns(a) && ns(b) - ns(a) < 1_000_000_000);
    }
}
