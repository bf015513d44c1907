//! Link arguments for the test unikernels, and the C parts of some of them.
//!
//! Every bin is a static, non-PIE executable without libc or C runtime,
//! laid out by the SDK's linker script (`DEP_SOLO5_GUEST_LDSCRIPT`, exported
//! by solo5-guest for the flavor its features select). The arguments are
//! per bin, never RUSTFLAGS, so that build scripts still link normally.
//!
//! C applications (`c/NAME.c`) are compiled freestanding against
//! `solo5.h` and linked into the bin `NAME` only.
use std::env;

/// Link arguments of every guest bin.
const LINK_ARGS: &[&str] = &[
    "-nostartfiles",
    "-nostdlib",
    "-static",
    "-no-pie",
    "-Wl,--build-id=none",
    "-Wl,-z,max-page-size=0x1000",
];

/// Bins whose application is written in C: (bin, source).
const C_APPS: &[(&str, &str)] = &[("hello", "c/hello.c"), ("ssp", "c/ssp.c")];

/// C apps built with the stack protector (a global guard, which the SDK
/// provides with `__stack_chk_fail`).
const SSP_APPS: &[&str] = &["ssp"];

fn main() {
    let script = env::var("DEP_SOLO5_GUEST_LDSCRIPT")
        .expect("solo5-guest exports its linker script (links = \"solo5-guest\")");
    let include =
        env::var("DEP_SOLO5_GUEST_INCLUDE").expect("solo5-guest exports its include directory");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rerun-if-changed={include}/solo5.h");

    for arg in LINK_ARGS {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{script}");

    for (bin, source) in C_APPS {
        println!("cargo:rerun-if-changed={source}");
        let mut build = cc::Build::new();
        if SSP_APPS.contains(bin) {
            build
                .flag("-fstack-protector-strong")
                .flag("-mstack-protector-guard=global");
        } else {
            build.flag("-fno-stack-protector");
        }
        let objects = build
            .file(source)
            .include(&include)
            .opt_level(2)
            .pic(false)
            .warnings_into_errors(true)
            .cargo_metadata(false)
            .flag("-std=c11")
            .flag("-ffreestanding")
            .flag("-fno-pie")
            .flag("-fcf-protection=none")
            .compile_intermediates();
        for object in objects {
            println!("cargo:rustc-link-arg-bin={bin}={}", object.display());
        }
    }
}
