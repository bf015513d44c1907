//! Conformance with upstream's elftool on upstream's own fixtures
//! (../shared/upstream-solo5): every `query-manifest` and `query-abi` of
//! every spt and hvt test binary, buggyelf.hvt included, gives upstream's
//! exit status, output and error line byte for byte; every `gen-manifest`
//! of upstream's manifest sources gives upstream's status and error line,
//! and C that gcc compiles to exactly upstream's note bytes.
//!
//! Upstream's `expected/` files were made from the fixture folder with
//! relative paths (`hvt/buggyelf.hvt`), so ours runs the same way.

mod common;

use common::{compiled_note, ours, scratch, upstream};
use std::path::Path;

/// Names of the files in `dir` ending with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Upstream's recorded exit status.
fn status(path: &Path) -> Option<i32> {
    let text = String::from_utf8(read(path)).unwrap();
    Some(text.trim().parse().unwrap())
}

/// Upstream's recorded stderr: the `.err` file, or nothing when there is
/// none.
fn err(path: &Path) -> Vec<u8> {
    if path.exists() {
        read(path)
    } else {
        Vec::new()
    }
}

#[test]
fn queries_match_upstream_byte_for_byte() {
    let Some(up) = upstream("queries_match_upstream_byte_for_byte") else {
        return;
    };
    let expected = up.join("expected");
    let mut binaries: Vec<String> = Vec::new();
    for (dir, ext) in [("spt", ".spt"), ("hvt", ".hvt")] {
        binaries.extend(
            files(&up.join(dir), ext)
                .iter()
                .map(|n| format!("{dir}/{n}")),
        );
    }
    assert!(binaries.contains(&"hvt/buggyelf.hvt".to_string()));
    // Every recorded upstream result has its binary, and the reverse.
    let mut names: Vec<String> = binaries
        .iter()
        .map(|b| b.split_once('/').unwrap().1.to_string())
        .collect();
    names.sort();
    let recorded: Vec<String> = files(&expected, ".query-manifest.status")
        .iter()
        .map(|n| n.trim_end_matches(".query-manifest.status").to_string())
        .collect();
    assert_eq!(names, recorded);
    let mut compared = 0;
    for bin in &binaries {
        let name = Path::new(bin).file_name().unwrap().to_str().unwrap();
        for cmd in ["query-manifest", "query-abi"] {
            let file = |ext: &str| expected.join(format!("{name}.{cmd}.{ext}"));
            let seen = ours(&up, &[cmd, bin]);
            let want_out = read(&file("json"));
            let want_status = status(&file("status"));
            let want_err = err(&file("err"));
            assert_eq!(
                (seen.status, &seen.stdout, &seen.stderr),
                (want_status, &want_out, &want_err),
                "{cmd} {bin}: ours gave\n{seen}"
            );
            compared += 1;
        }
    }
    eprintln!("{compared} queries identical to upstream's");
}

#[test]
fn buggyelf_names_the_broken_note() {
    let Some(up) = upstream("buggyelf_names_the_broken_note") else {
        return;
    };
    let seen = ours(&up, &["query-manifest", "hvt/buggyelf.hvt"]);
    assert_eq!(seen.status, Some(1));
    assert_eq!(
        String::from_utf8_lossy(&seen.stderr),
        "solo5-elftool: hvt/buggyelf.hvt: INV_EXE: phdr[8] note does not fall within valid \
         size (18446744073709551613 <= 0 || 18446744073709551613 > 1)\n"
    );
    // query-abi does not look at the manifest.
    let seen = ours(&up, &["query-abi", "hvt/buggyelf.hvt"]);
    assert_eq!(seen.status, Some(0), "{seen}");
}

#[test]
fn gen_manifest_matches_upstream_notes() {
    let Some(up) = upstream("gen_manifest_matches_upstream_notes") else {
        return;
    };
    let expected = up.join("expected");
    let out = scratch("upstream-gen");
    let sources = files(&up.join("manifests"), ".json");
    assert!(sources.len() >= 25, "manifests missing: {sources:?}");
    let (mut built, mut refused) = (0, 0);
    for src in &sources {
        let name = src.trim_end_matches(".json");
        let c = format!("{name}.c");
        let seen = ours(
            &up,
            &[
                "gen-manifest".as_ref(),
                Path::new("manifests").join(src).as_os_str(),
                out.join(&c).as_os_str(),
            ],
        );
        let want_status = status(&expected.join(format!("{name}.gen-manifest.status")));
        let want_err = err(&expected.join(format!("{name}.gen-manifest.err")));
        assert_eq!(
            (seen.status, &seen.stderr),
            (want_status, &want_err),
            "gen-manifest manifests/{src}: ours gave\n{seen}"
        );
        assert_eq!(seen.stdout, b"", "{src}");
        if seen.status != Some(0) {
            assert!(!out.join(&c).exists(), "{src}: a failed run left {c}");
            refused += 1;
            continue;
        }
        let note = compiled_note(&out, &c, None);
        let want = read(&expected.join(format!("{name}.note.bin")));
        assert!(note == want, "{src}: note bytes differ from upstream's");
        built += 1;
    }
    assert!(
        built >= 24 && refused >= 1,
        "built {built}, refused {refused}"
    );
    eprintln!("{built} notes identical to upstream's, {refused} refused as upstream refuses");
}
