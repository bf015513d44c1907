//! solo5-elftool as build systems and orchestrators use it: JSON -> C ->
//! object (gcc) -> linked executable -> query-manifest gives the devices
//! back; query-abi for every target; every gen-manifest error with its
//! line, exit status 1 and no output file; the usage text; and queries on
//! broken files, including property tests on arbitrary and corrupted bytes.

use proptest::prelude::*;
use solo5_abi::mft::{self, kind};
use solo5_abi::note::{target, version};
use solo5_elftool::{gen, query, spec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ELFTOOL: &str = env!("CARGO_BIN_EXE_solo5-elftool");

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("elftool")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn elftool(args: &[&Path]) -> Output {
    Command::new(ELFTOOL).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run a C compiler; the test fails with its diagnostics if it does.
fn cc(compiler: &str, args: &[&str], dir: &Path) {
    let o = Command::new(compiler)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler} (a C compiler is required): {e}"));
    assert!(o.status.success(), "{compiler} {args:?}: {}", stderr(&o));
}

/// A manifest source with `devices` (name, type name), as a user writes it.
fn source(devices: &[(String, &str)]) -> String {
    let list: Vec<String> = devices
        .iter()
        .map(|(n, t)| format!("    {{ \"name\": \"{n}\", \"type\": \"{t}\" }}"))
        .collect();
    format!(
        "{{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n{}\n  ]\n}}\n",
        list.join(",\n")
    )
}

/// What upstream's query-manifest prints for `devices`, written out by hand.
fn expected_query(devices: &[(String, &str)]) -> String {
    let mut s =
        String::from("{\n  \"type\": \"solo5.manifest\",\n  \"version\": 1,\n  \"devices\": [\n");
    for (i, (n, t)) in devices.iter().enumerate() {
        let comma = if i + 1 < devices.len() { "," } else { "" };
        s.push_str(&format!(
            "    {{ \"name\": \"{n}\", \"type\": \"{t}\" }}{comma}\n"
        ));
    }
    s.push_str("  ]\n}\n");
    s
}

fn devices(n: usize) -> Vec<(String, &'static str)> {
    (0..n)
        .map(|i| {
            let t = if i % 2 == 0 {
                "NET_BASIC"
            } else {
                "BLOCK_BASIC"
            };
            (format!("dev{i}"), t)
        })
        .collect()
}

/// A C file with `_start` and, unless `abi` is None, an ABI1 note.
fn start_c(abi: Option<(u32, u32)>) -> String {
    let note = match abi {
        Some((t, v)) => format!(
            "const struct {{ unsigned int namesz, descsz, type; char name[8];\n\
             \x20   unsigned int target, version, reserved0, reserved1; }}\n\
             abi1 __attribute__((section(\".note.solo5.abi\"), aligned(4), used)) =\n\
             \x20   {{ 6, 16, 0x31494241, \"Solo5\", {t}u, {v}u, 0, 0 }};\n"
        ),
        None => String::new(),
    };
    format!("{note}void _start(void) {{ for (;;) ; }}\n")
}

/// Link `objects` with a `_start` and an optional ABI1 note into a static
/// executable `dir/name`.
fn link(dir: &Path, name: &str, abi: Option<(u32, u32)>, objects: &[&str]) -> PathBuf {
    let c = format!("{name}-start.c");
    std::fs::write(dir.join(&c), start_c(abi)).unwrap();
    // No build-id note: it would share a PT_NOTE with the ABI1 note, and
    // only the first note of each PT_NOTE counts (upstream's rule).
    let mut args = vec![
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-o",
        name,
        &c,
    ];
    args.extend_from_slice(objects);
    cc("gcc", &args, dir);
    dir.join(name)
}

/// JSON -> gen-manifest -> C -> object, with both compilers named in the
/// brief; returns the object's file name.
fn compile_manifest(dir: &Path, json: &str) -> &'static str {
    std::fs::write(dir.join("manifest.json"), json).unwrap();
    let o = elftool(&[
        Path::new("gen-manifest"),
        &dir.join("manifest.json"),
        &dir.join("manifest.c"),
    ]);
    assert!(o.status.success(), "gen-manifest: {}", stderr(&o));
    assert_eq!((stdout(&o), stderr(&o)), (String::new(), String::new()));
    cc("gcc", &["-c", "-o", "manifest.o", "manifest.c"], dir);
    let strict = [
        "-std=c99",
        "-pedantic-errors",
        "-Wall",
        "-Wextra",
        "-Werror",
    ];
    cc(
        "cc",
        &[&strict[..], &["-c", "-o", "strict.o", "manifest.c"]].concat(),
        dir,
    );
    "manifest.o"
}

#[test]
fn round_trip_0_1_2_and_63_devices() {
    for n in [0, 1, 2, 63] {
        let dir = scratch(&format!("round-trip-{n}"));
        let devs = devices(n);
        let obj = compile_manifest(&dir, &source(&devs));
        let bin = link(&dir, "unikernel", Some((target::HVT, 2)), &[obj]);

        let o = elftool(&[Path::new("query-manifest"), &bin]);
        assert!(o.status.success(), "{n} devices: {}", stderr(&o));
        assert_eq!(stdout(&o), expected_query(&devs), "{n} devices");

        // The note in the executable is exactly docs/abis.md, "The MFT1
        // note": the
        // manifest after the descriptor's 4 bytes of padding.
        let file = std::fs::read(&bin).unwrap();
        let desc = solo5_tender::notes::manifest_bytes(&file).unwrap().unwrap();
        let entries = n + 1;
        assert_eq!(desc.len(), 8 + entries * 104);
        let word = |at: usize| u32::from_le_bytes(desc[at..at + 4].try_into().unwrap());
        assert_eq!([word(0), word(4)], [1, entries as u32]);
        assert!(desc[8..8 + 104].iter().enumerate().all(|(i, &b)| {
            // Entry 0: empty name, type RESERVED_FIRST, all else zero.
            b == if (68..72).contains(&i) {
                [0, 0, 0, 0x40][i - 68]
            } else {
                0
            }
        }));
        for (i, (name, t)) in devs.iter().enumerate() {
            let e = &desc[8 + (i + 1) * 104..][..104];
            assert_eq!(&e[..name.len()], name.as_bytes());
            assert!(e[name.len()..68].iter().all(|&b| b == 0));
            let k = if *t == "NET_BASIC" {
                kind::NET_BASIC
            } else {
                kind::BLOCK_BASIC
            };
            assert_eq!(&e[68..72], &k.to_le_bytes());
            assert!(e[72..].iter().all(|&b| b == 0), "entry {i} tail not zero");
        }
        let parsed = spec::parse(source(&devs).as_bytes()).unwrap();
        assert_eq!(&gen::note_bytes(&parsed)[24..], desc);

        // query-manifest output is itself a valid source for the same C.
        let again = spec::parse(stdout(&o).as_bytes()).unwrap();
        assert_eq!(
            gen::c_source(&again),
            std::fs::read_to_string(dir.join("manifest.c")).unwrap()
        );
    }
}

#[test]
fn query_abi_every_target() {
    let dir = scratch("query-abi");
    let obj = compile_manifest(&dir, &source(&devices(1)));
    let cases = [
        (target::HVT, version::HVT, "hvt"),
        (target::SPT, version::SPT, "spt"),
        (target::VIRTIO, 1, "virtio"),
        (target::MUEN, 1, "muen"),
        (target::GENODE, 1, "genode"),
        (target::XEN, 1, "xen"),
        (target::SPT_NATIVE, version::SPT_NATIVE, "spt-native"),
        (77, 9, "unknown"),
    ];
    for (t, v, name) in cases {
        let bin = link(&dir, name, Some((t, v)), &[obj]);
        let o = elftool(&[Path::new("query-abi"), &bin]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{{\n  \"type\": \"solo5.abi\",\n  \"target\": \"{name}\",\n  \"version\": {v}\n}}\n")
        );
        let o = elftool(&[Path::new("query-manifest"), &bin]);
        assert_eq!(stdout(&o), expected_query(&devices(1)), "{name}");
    }
}

/// Run gen-manifest on `json` and check the one error line, exit status 1,
/// and that nothing but the source is left in the directory.
fn gen_fails(test: &str, json: &str, message: &str) {
    let dir = scratch(&format!("gen-error-{test}"));
    let src = dir.join("m.json");
    std::fs::write(&src, json).unwrap();
    let out = dir.join("m.c");
    let o = elftool(&[Path::new("gen-manifest"), &src, &out]);
    assert_eq!(o.status.code(), Some(1), "{test}");
    assert_eq!(
        stderr(&o),
        format!("solo5-elftool: {}:{message}\n", src.display()),
        "{test}"
    );
    assert_eq!(stdout(&o), "", "{test}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["m.json"], "{test}: output left behind");
}

#[test]
fn gen_manifest_errors() {
    let head = "{\"type\": \"solo5.manifest\", \"version\": 1,";
    let dev = |d: &str| format!("{head}\n\"devices\": [\n{d}\n]}}");
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "1: JSON parse error: premature end of JSON data"),
        ("garbage", "{\n\"type\": solo5}".into(), "2: JSON parse error: unexpected 's'"),
        ("trailing-comma", format!("{head} \"devices\": [],}}"), "1: JSON parse error: unexpected '}'"),
        ("trailing-data", format!("{head} \"devices\": []}}\n}}"), "2: JSON parse error: trailing data after the JSON value: '}'"),
        ("duplicate-key", format!("{head} \"version\": 1, \"devices\": []}}"), "1: JSON parse error: duplicate key \"version\""),
        ("root", "[]".into(), "1: (root): expected OBJECT, got ARRAY"),
        ("missing-type", "{\"version\": 1, \"devices\": []}".into(), "1: missing .type"),
        ("wrong-type", "{\"type\": \"solo5.abi\", \"version\": 1,\n\"devices\": []}".into(), "1: .type: invalid value, expected \"solo5.manifest\""),
        ("type-not-string", "{\"type\": 1, \"version\": 1, \"devices\": []}".into(), "1: .type: expected STRING, got INTEGER"),
        ("missing-version", "{\"type\": \"solo5.manifest\", \"devices\": []}".into(), "1: missing .version"),
        ("version-2", "{\"type\": \"solo5.manifest\",\n\"version\": 2, \"devices\": []}".into(), "2: .version: invalid version 2, expected 1"),
        ("version-real", "{\"type\": \"solo5.manifest\", \"version\": 1.0, \"devices\": []}".into(), "1: .version: expected INTEGER, got REAL"),
        ("missing-devices", "{\"type\": \"solo5.manifest\", \"version\": 1}".into(), "1: missing .devices[]"),
        ("devices-object", format!("{head} \"devices\": {{}}}}"), "1: .devices: expected ARRAY, got OBJECT"),
        ("unknown-key", format!("{head} \"devices\": [],\n\"extra\": true}}"), "2: (root): unknown key: extra"),
        ("device-not-object", dev("\"net0\""), "3: .devices[]: expected OBJECT, got STRING"),
        ("device-unknown-key", dev("{\"name\": \"a\", \"type\": \"NET_BASIC\", \"mac\": \"x\"}"), "3: .devices[...]: unknown key: mac"),
        ("missing-name", dev("{\"type\": \"NET_BASIC\"}"), "3: .devices[...]: missing .name"),
        ("name-not-string", dev("{\"name\": 0, \"type\": \"NET_BASIC\"}"), "3: .devices[...]: expected STRING, got INTEGER"),
        ("missing-device-type", dev("{\"name\": \"a\"}"), "3: .devices[...]: missing .type"),
        ("empty-name", dev("{\"name\": \"\", \"type\": \"NET_BASIC\"}"), "3: .devices[...]: .name may not be empty"),
        ("long-name", dev(&format!("{{\"name\": \"{}\", \"type\": \"NET_BASIC\"}}", "n".repeat(68))), "3: .devices[...]: name too long"),
        ("name-not-alnum", dev("{\"name\": \"net_0\", \"type\": \"NET_BASIC\"}"), "3: .devices[...]: name is not alphanumeric"),
        ("name-unicode", dev("{\"name\": \"n\\u00e9t\", \"type\": \"NET_BASIC\"}"), "3: .devices[...]: name is not alphanumeric"),
        ("device-type", dev("{\"name\": \"a\", \"type\": \"VSOCK\"}"), "3: .devices[...]: .type: invalid value \"VSOCK\", expected \"BLOCK_BASIC\" or \"NET_BASIC\""),
        ("duplicate", dev("{\"name\": \"a\", \"type\": \"NET_BASIC\"},\n{\"name\": \"a\", \"type\": \"NET_BASIC\"}"), "4: .devices[...]: duplicate NET_BASIC name \"a\""),
        ("too-many", source(&devices(64)), "4: .devices[]: too many entries, maximum 63"),
    ];
    for (test, json, message) in &cases {
        gen_fails(test, json, message);
    }
}

#[test]
fn gen_manifest_io_errors() {
    let dir = scratch("gen-io");
    let missing = dir.join("missing.json");
    let out = dir.join("m.c");
    let o = elftool(&[Path::new("gen-manifest"), &missing, &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(&format!(
        "solo5-elftool: {}: Could not open for reading: ",
        missing.display()
    )));
    assert!(!out.exists());

    let src = dir.join("m.json");
    std::fs::write(&src, source(&devices(1))).unwrap();
    let nowhere = dir.join("no-such-dir").join("m.c");
    let o = elftool(&[Path::new("gen-manifest"), &src, &nowhere]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(&format!(
        "solo5-elftool: {}: Could not open for writing: ",
        nowhere.display()
    )));

    // A failing run leaves an existing output as it was; a good one
    // replaces it.
    std::fs::write(&out, "old").unwrap();
    std::fs::write(dir.join("bad.json"), "{").unwrap();
    let o = elftool(&[Path::new("gen-manifest"), &dir.join("bad.json"), &out]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old");
    let o = elftool(&[Path::new("gen-manifest"), &src, &out]);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out).unwrap().contains("\"dev0\""));
}

/// Run `solo5-elftool args` with `input` on its standard input.
fn elftool_stdin(args: &[&str], input: &[u8], cwd: &Path) -> Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new(ELFTOOL)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn gen_manifest_dash_is_stdin_and_stdout() {
    let dir = scratch("gen-stdio");
    let json = source(&devices(2));
    std::fs::write(dir.join("m.json"), &json).unwrap();
    let o = elftool(&[
        Path::new("gen-manifest"),
        &dir.join("m.json"),
        &dir.join("m.c"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = std::fs::read(dir.join("m.c")).unwrap();

    let o = elftool_stdin(&["gen-manifest", "-", "-"], json.as_bytes(), &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((&o.stdout, stderr(&o)), (&c, String::new()));

    let o = elftool_stdin(&["gen-manifest", "-", "out.c"], json.as_bytes(), &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(dir.join("out.c")).unwrap(), c);

    let o = elftool(&[
        Path::new("gen-manifest"),
        &dir.join("m.json"),
        Path::new("-"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, c);

    // A device as OUTPUT gets the bytes as a file would.
    let o = elftool(&[
        Path::new("gen-manifest"),
        &dir.join("m.json"),
        Path::new("/dev/stdout"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, c);

    // Errors name the source as upstream does: "-".
    let o = elftool_stdin(&["gen-manifest", "-", "-"], b"\n[]", &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        (stdout(&o), stderr(&o)),
        (
            String::new(),
            "solo5-elftool: -:1: (root): expected OBJECT, got ARRAY\n".into()
        )
    );
}

/// Upstream opens OUTPUT before it parses SOURCE: an unwritable output is
/// the error reported, even for a bad source.
#[test]
fn gen_manifest_reports_the_output_before_the_source() {
    let dir = scratch("gen-order");
    std::fs::write(dir.join("bad.json"), "[]").unwrap();
    let nowhere = dir.join("no-such-dir").join("m.c");
    let o = elftool(&[Path::new("gen-manifest"), &dir.join("bad.json"), &nowhere]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "solo5-elftool: {}: Could not open for writing: No such file or directory\n",
            nowhere.display()
        )
    );
    // A missing source comes first of all.
    let o = elftool(&[Path::new("gen-manifest"), &dir.join("none.json"), &nowhere]);
    assert_eq!(
        stderr(&o),
        format!(
            "solo5-elftool: {}: Could not open for reading: No such file or directory\n",
            dir.join("none.json").display()
        )
    );
}

#[test]
fn usage_on_a_wrong_command_line() {
    let usage = solo5_elftool::usage("solo5-elftool");
    assert!(usage.contains("    gen-manifest SOURCE OUTPUT:\n"));
    let bad: [&[&str]; 7] = [
        &[],
        &["--help"],
        &["dump", "x"],
        &["gen-manifest", "a.json"],
        &["gen-manifest", "a", "b", "c"],
        &["query-manifest"],
        &["query-abi", "a", "b"],
    ];
    for args in bad {
        let o = Command::new(ELFTOOL).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o), usage, "{args:?}");
        assert_eq!(stdout(&o), "", "{args:?}");
    }
}

#[test]
fn query_errors() {
    let dir = scratch("query-errors");
    let fails = |cmd: &str, path: &Path, message: &str| {
        let o = elftool(&[Path::new(cmd), path]);
        assert_eq!(o.status.code(), Some(1), "{cmd} {}", path.display());
        assert_eq!(
            stderr(&o),
            format!("solo5-elftool: {}: {message}\n", path.display())
        );
        assert_eq!(stdout(&o), "");
    };
    let text = dir.join("text");
    std::fs::write(&text, "hello\n").unwrap();
    for cmd in ["query-abi", "query-manifest"] {
        fails(
            cmd,
            &text,
            "invalid executable: elf header does not match the expected size (6 != 64)",
        );
    }
    let bare = link(&dir, "bare", None, &[]);
    fails(
        "query-abi",
        &bare,
        "No Solo5 ABI information found in executable",
    );
    fails(
        "query-manifest",
        &bare,
        "No Solo5 manifest found in executable",
    );
    let abi_only = link(&dir, "abi-only", Some((target::SPT, 2)), &[]);
    fails(
        "query-manifest",
        &abi_only,
        "No Solo5 manifest found in executable",
    );

    let mut truncated = std::fs::read(&abi_only).unwrap();
    let phnum = u16::from_le_bytes([truncated[56], truncated[57]]) as usize;
    truncated.truncate(100);
    std::fs::write(dir.join("truncated"), &truncated).unwrap();
    fails(
        "query-abi",
        &dir.join("truncated"),
        &format!(
            "invalid executable: program header does not match the expected size \
             (36 != {} while loading note)",
            phnum * 56
        ),
    );

    let missing = dir.join("missing");
    let o = elftool(&[Path::new("query-abi"), &missing]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with(&format!(
        "solo5-elftool: {}: Could not open: ",
        missing.display()
    )));
}

/// The project's own test unikernels, when scripts/build-guests has built
/// them.
#[test]
fn query_the_project_guests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases = [
        ("target/guests/spt/hello", "spt-native", version::SPT_NATIVE),
        ("target/guests/spt-v2/hello", "spt", version::SPT),
    ];
    for (path, name, v) in cases {
        let bin = root.join(path);
        if !bin.exists() {
            println!("skipped: {path} not built (run scripts/build-guests)");
            continue;
        }
        let o = elftool(&[Path::new("query-abi"), &bin]);
        assert!(o.status.success(), "{path}: {}", stderr(&o));
        assert_eq!(
            stdout(&o),
            format!("{{\n  \"type\": \"solo5.abi\",\n  \"target\": \"{name}\",\n  \"version\": {v}\n}}\n")
        );
        let o = elftool(&[Path::new("query-manifest"), &bin]);
        assert!(o.status.success(), "{path}: {}", stderr(&o));
        assert!(spec::parse(&o.stdout).is_ok(), "{path}: {}", stdout(&o));
    }
}

// --- Library-level property tests: no input makes a query panic. ---

/// A minimal executable built in memory: one PT_LOAD and the two notes,
/// each in its own PT_NOTE, as Solo5's linker scripts lay them out.
fn fixture(spec: &spec::Spec, abi: (u32, u32)) -> Vec<u8> {
    let mut abi_note = Vec::new();
    for w in [6u32, 16, solo5_abi::note::TYPE_ABI1] {
        abi_note.extend_from_slice(&w.to_le_bytes());
    }
    abi_note.extend_from_slice(b"Solo5\0\0\0");
    for w in [abi.0, abi.1, 0, 0] {
        abi_note.extend_from_slice(&w.to_le_bytes());
    }
    let mft_note = gen::note_bytes(spec);
    let (abi_off, mft_off) = (0x100u64, 0x128u64);
    let code_off = (mft_off + mft_note.len() as u64).div_ceil(0x1000) * 0x1000;
    let phdrs: [(u32, u64, u64, u64, u64); 3] = [
        (1, code_off, 0x100000, 16, 0x1000),
        (4, abi_off, 0, abi_note.len() as u64, 4),
        (4, mft_off, 0, mft_note.len() as u64, 8),
    ];
    let mut f = vec![0u8; 64];
    f[0..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    f[16..18].copy_from_slice(&2u16.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&0x100000u64.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&3u16.to_le_bytes());
    for (ty, off, vaddr, size, align) in phdrs {
        f.extend_from_slice(&ty.to_le_bytes());
        f.extend_from_slice(&4u32.to_le_bytes());
        for v in [off, vaddr, vaddr, size, size, align] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
    f.resize(abi_off as usize, 0);
    f.extend_from_slice(&abi_note);
    f.resize(mft_off as usize, 0);
    f.extend_from_slice(&mft_note);
    f.resize(code_off as usize, 0);
    f.extend_from_slice(&[0xeb, 0xfe]);
    f.resize(code_off as usize + 16, 0);
    f
}

fn two_devices() -> spec::Spec {
    spec::parse(source(&devices(2)).as_bytes()).unwrap()
}

/// Both queries, as the binary runs them, as text.
fn both(file: &[u8]) -> (Result<String, String>, Result<String, String>) {
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let m = query::manifest(file).map(|m| text(query::manifest_json(&m)));
    let a = query::abi(file).map(|a| text(query::abi_json(&a)));
    (m.map_err(|e| e.to_string()), a.map_err(|e| e.to_string()))
}

#[test]
fn fixture_queries() {
    let f = fixture(&two_devices(), (target::SPT, 2));
    let (m, a) = both(&f);
    assert_eq!(m, Ok(expected_query(&devices(2))));
    assert!(a.unwrap().contains("\"target\": \"spt\""));
    // The tender's loader accepts the same file.
    let loaded = solo5_tender::elf::load(&f, 512 << 20);
    assert!(loaded.is_ok(), "{loaded:?}");
}

#[test]
fn every_truncation_and_byte_flip_is_handled() {
    let f = fixture(&two_devices(), (target::HVT, 2));
    // Every truncation that cuts into a note is an error, never a panic.
    for n in 0..0x128 + 24 + 8 + 3 * 104 {
        let (m, _) = both(&f[..n]);
        assert!(m.is_err(), "truncated to {n} bytes still has a manifest");
    }
    for i in 0..0x300 {
        for bit in [0x01u8, 0x80, 0xff] {
            let mut g = f.clone();
            g[i] ^= bit;
            let _ = both(&g);
        }
    }
}

fn arb_spec() -> impl Strategy<Value = spec::Spec> {
    proptest::collection::btree_map("[A-Za-z0-9]{1,67}", any::<bool>(), 0..=mft::MAX_DEVICES)
        .prop_map(|m| spec::Spec {
            devices: m
                .into_iter()
                .map(|(name, net)| spec::Device {
                    name,
                    kind: if net {
                        kind::NET_BASIC
                    } else {
                        kind::BLOCK_BASIC
                    },
                })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = both(&bytes);
        let _ = spec::parse(&bytes);
    }

    #[test]
    fn elf_header_plus_arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut f = fixture(&two_devices(), (target::HVT, 2))[..64].to_vec();
        f.extend_from_slice(&tail);
        let _ = both(&f);
    }

    #[test]
    fn random_corruption_never_panics(
        flips in proptest::collection::vec((0usize..0x1100, any::<u8>()), 1..32),
        cut in 0usize..0x1200,
    ) {
        let mut f = fixture(&two_devices(), (target::SPT, 2));
        for (at, v) in flips {
            if let Some(b) = f.get_mut(at) {
                *b = v;
            }
        }
        f.truncate(cut);
        let _ = both(&f);
    }

    #[test]
    fn arbitrary_json_text_never_panics(text in "[\\[\\]{}\",:0-9a-z \\n\\\\.-]{0,200}") {
        let _ = spec::parse(text.as_bytes());
    }

    #[test]
    fn any_valid_manifest_round_trips(s in arb_spec()) {
        let f = fixture(&s, (target::SPT, 2));
        let m = query::manifest(&f).unwrap();
        let json = query::manifest_json(&m);
        prop_assert_eq!(spec::parse(&json).unwrap(), s);
    }
}
