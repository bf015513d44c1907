//! Tells dependents' build scripts where the linker script of the selected
//! flavor and the C header are (`DEP_SOLO5_GUEST_LDSCRIPT`,
//! `DEP_SOLO5_GUEST_INCLUDE`): an application's build.rs passes the script to
//! the linker and, for C code, the include directory to the compiler.
use std::env;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    // Both spt ABIs share the memory layout, hence the script; hvt has its
    // own (execute-only text, the user-mode note).
    let name = if env::var_os("CARGO_FEATURE_HVT").is_some() {
        "hvt.ld"
    } else {
        "spt.ld"
    };
    let script = dir.join("ld").join(name);
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:ldscript={}", script.display());
    println!("cargo:include={}", dir.join("include").display());
}
