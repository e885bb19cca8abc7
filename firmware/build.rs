//! Puts `memory.x` where the linker finds it (cortex-m-rt's `link.x`
//! includes it) and rebuilds when it changes.
//!
//! Not for `thumbv8m.main`: there this crate is a dependency of the
//! two-core test (`dual/`), which brings the memory map of its own board,
//! and a second `memory.x` on the link search path would shadow it.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv8m")) {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
}
