//! `gen-manifest`: turn a manifest source into a C file that defines the
//! MFT1 note (docs/abis.md, "The MFT1 note").
//!
//! The C file is self-contained: it declares its own structures, checks
//! their sizes at compile time and includes no header at all, so any C99
//! compiler builds it (`cc -std=c99 -c`), with or without the Solo5
//! toolchain. The note it defines is byte for byte the one upstream's
//! `mft_abi.h` macros produce: header, 4 bytes of padding inside the
//! descriptor, then `struct mft` with the reserved entry 0 first.

use crate::spec::{self, Spec, SpecError};
use solo5_abi::mft::{self, kind};
use solo5_abi::note;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why `gen-manifest` failed. No output file is left behind by a failed
/// run, and an existing one is left as it was.
#[derive(Debug, Error)]
pub enum GenError {
    /// The source could not be read.
    #[error("{}: Could not open for reading", path.display())]
    Read {
        /// The source path (`-`: standard input).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The source is not a valid manifest.
    #[error("{}:{line}", path.display())]
    Spec {
        /// The source path (`-`: standard input).
        path: PathBuf,
        /// Line of the offending value.
        line: usize,
        /// What is wrong there.
        #[source]
        problem: spec::Problem,
    },
    /// The output could not be written.
    #[error("{}: Could not open for writing", path.display())]
    Write {
        /// The output path (`-`: standard output).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// `-`, upstream's name for standard input (SOURCE) or standard output
/// (OUTPUT).
pub const STDIO: &str = "-";

fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == STDIO
}

/// Read the manifest source at `source` and write the C file to `output`;
/// either may be `-` for standard input or output. As upstream, the source
/// is opened first, then the output, then the source is parsed: each step's
/// error wins over the later ones. Unlike upstream, a source that fails to
/// parse leaves no empty or partial C file behind.
pub fn gen_manifest(source: &Path, output: &Path) -> Result<(), GenError> {
    let read_err = |e| GenError::Read {
        path: source.to_owned(),
        source: e,
    };
    let write_err = |e| GenError::Write {
        path: output.to_owned(),
        source: e,
    };
    let text = if is_stdio(source) {
        let mut text = Vec::new();
        io::stdin().lock().read_to_end(&mut text).map(|_| text)
    } else {
        fs::read(source)
    }
    .map_err(read_err)?;
    let mut out = if is_stdio(output) {
        Output::Stdout
    } else {
        Output::open(output).map_err(write_err)?
    };
    let spec = match spec::parse(&text) {
        Ok(spec) => spec,
        Err(SpecError { line, problem }) => {
            out.discard(output);
            return Err(GenError::Spec {
                path: source.to_owned(),
                line,
                problem,
            });
        }
    };
    let c = c_source(&spec);
    let written = match &mut out {
        Output::Stdout => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(c.as_bytes()).and_then(|()| stdout.flush())
        }
        // Only a regular file has old contents to cut; a FIFO, a terminal
        // or /dev/stdout takes the bytes as they come.
        Output::File { file, .. } => file
            .metadata()
            .and_then(|m| if m.is_file() { file.set_len(0) } else { Ok(()) })
            .and_then(|()| file.write_all(c.as_bytes())),
    };
    if let Err(e) = written {
        out.discard(output);
        return Err(write_err(e));
    }
    Ok(())
}

/// Where the C file goes.
enum Output {
    /// Standard output.
    Stdout,
    /// A file, opened before the source is parsed so that an unwritable
    /// OUTPUT is reported first, as upstream does.
    File {
        /// The open file, not truncated yet.
        file: File,
        /// Whether this run created it (and so removes it on failure).
        created: bool,
    },
}

impl Output {
    fn open(path: &Path) -> io::Result<Output> {
        let mut opts = fs::OpenOptions::new();
        opts.write(true);
        match opts.clone().create_new(true).open(path) {
            Ok(file) => Ok(Output::File {
                file,
                created: true,
            }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let file = opts.open(path)?;
                Ok(Output::File {
                    file,
                    created: false,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Give up: remove the file if this run created it. An existing file
    /// has not been truncated yet unless the write itself failed.
    fn discard(self, path: &Path) {
        if let Output::File { created: true, .. } = self {
            // Best effort: the error being reported matters more.
            let _ = fs::remove_file(path);
        }
    }
}

/// The C source defining the MFT1 note for `spec`.
pub fn c_source(spec: &Spec) -> String {
    let entries = spec.devices.len() + 1;
    let mut c = format!(
        "\
/* Generated by solo5-elftool version {version}, do not edit */

/*
 * Solo5 application manifest: the \"MFT1\" ELF note, {entries} entries, entry 0
 * reserved. Self-contained on purpose: needs no Solo5 or C library header.
 */

#define SOLO5_MFT_ENTRIES {entries}

struct solo5_mft_entry {{
    char name[{name_size}];
    unsigned int type;
    unsigned char u[16];
    unsigned long long b;
    unsigned char attached;
    unsigned char pad[7];
}};

struct solo5_mft1_note {{
    unsigned int n_namesz;
    unsigned int n_descsz;
    unsigned int n_type;
    char n_name[8];
    unsigned int pad;
    unsigned int version;
    unsigned int entries;
    struct solo5_mft_entry e[SOLO5_MFT_ENTRIES];
}};

/* Compile-time layout checks (C99: a negative array size is an error). */
typedef char solo5_mft_check_uint[sizeof(unsigned int) == 4 ? 1 : -1];
typedef char solo5_mft_check_ull[sizeof(unsigned long long) == 8 ? 1 : -1];
typedef char solo5_mft_check_entry[
    sizeof(struct solo5_mft_entry) == {entry_size} ? 1 : -1];
typedef char solo5_mft_check_note[
    sizeof(struct solo5_mft1_note) == 32 + SOLO5_MFT_ENTRIES * {entry_size} ? 1 : -1];

const struct solo5_mft1_note __solo5_mft1_note
__attribute__((section(\".note.solo5.manifest\"), aligned(8), used)) = {{
    .n_namesz = {namesz},
    .n_descsz = {pad} + {header} + SOLO5_MFT_ENTRIES * {entry_size},
    .n_type = 0x{mft1:08x},
    .n_name = \"Solo5\",
    .pad = 0,
    .version = {mft_version},
    .entries = SOLO5_MFT_ENTRIES,
    .e = {{
        {{ .name = \"\", .type = 0x{reserved:08x} }}, /* RESERVED_FIRST */
",
        version = env!("CARGO_PKG_VERSION"),
        name_size = mft::NAME_SIZE,
        entry_size = mft::ENTRY_SIZE,
        namesz = note::NAME.len(),
        pad = mft::NOTE_DESC_PAD,
        header = mft::HEADER_SIZE,
        mft1 = note::TYPE_MFT1,
        mft_version = mft::VERSION,
        reserved = kind::RESERVED_FIRST,
    );
    for d in &spec.devices {
        // Names are [A-Za-z0-9]{1,67}: nothing to escape. Writing to a
        // String cannot fail.
        let _ = writeln!(
            c,
            "        {{ .name = \"{}\", .type = {} }}, /* {} */",
            d.name,
            d.kind,
            kind::name(d.kind)
        );
    }
    c.push_str("    }\n};\n");
    c
}

/// The note bytes [`c_source`] makes a compiler emit, for tests and for
/// tools that write the section directly.
pub fn note_bytes(spec: &Spec) -> Vec<u8> {
    let entries = spec.devices.len() + 1;
    let mut b = Vec::with_capacity(24 + mft::size(entries));
    b.extend_from_slice(&(note::NAME.len() as u32).to_le_bytes());
    b.extend_from_slice(&((mft::NOTE_DESC_PAD + mft::size(entries)) as u32).to_le_bytes());
    b.extend_from_slice(&note::TYPE_MFT1.to_le_bytes());
    b.extend_from_slice(&note::NAME_PADDED);
    b.extend_from_slice(&[0; mft::NOTE_DESC_PAD]);
    b.extend_from_slice(&mft::VERSION.to_le_bytes());
    b.extend_from_slice(&(entries as u32).to_le_bytes());
    let reserved = std::iter::once(("", kind::RESERVED_FIRST));
    let devices = spec.devices.iter().map(|d| (d.name.as_str(), d.kind));
    for (name, kind) in reserved.chain(devices) {
        let mut e = [0u8; mft::ENTRY_SIZE];
        e[..name.len()].copy_from_slice(name.as_bytes());
        e[mft::off::TYPE..mft::off::TYPE + 4].copy_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&e);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_tender::manifest::Manifest;
    use spec::Device;

    fn spec() -> Spec {
        Spec {
            devices: vec![
                Device {
                    name: "service0".into(),
                    kind: kind::NET_BASIC,
                },
                Device {
                    name: "storage".into(),
                    kind: kind::BLOCK_BASIC,
                },
            ],
        }
    }

    #[test]
    fn note_bytes_are_a_valid_manifest() {
        let b = note_bytes(&spec());
        assert_eq!(b.len(), 24 + 8 + 3 * 104);
        assert_eq!(&b[4..8], &(4u32 + 8 + 3 * 104).to_le_bytes());
        let m = Manifest::parse(&b[24..]).unwrap();
        assert_eq!(m.by_name("storage").unwrap().0, 2);
    }

    #[test]
    fn c_source_lists_every_entry() {
        let c = c_source(&spec());
        assert!(c.starts_with("/* Generated by solo5-elftool version "));
        assert!(c.contains("#define SOLO5_MFT_ENTRIES 3\n"));
        assert!(c.contains("{ .name = \"\", .type = 0x40000000 }, /* RESERVED_FIRST */\n"));
        assert!(c.contains("{ .name = \"service0\", .type = 2 }, /* NET_BASIC */\n"));
        assert!(c.contains("{ .name = \"storage\", .type = 1 }, /* BLOCK_BASIC */\n"));
        assert!(c.contains(".n_type = 0x3154464d,"));
        assert!(c.ends_with("    }\n};\n"));
    }
}
