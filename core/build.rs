//! Sets two cfgs for the core's sources, so that every gate says what it
//! means instead of repeating a target-and-feature formula:
//!
//! - `ipckit_cas`: compare-and-swap is available, natively (the target has
//!   32-bit CAS), under `--cfg ipckit_loom` (the loom models), or through the `critical-section`
//!   feature. The MPMC ring, the semaphore and the MPSC frame ring exist only
//!   then.
//! - `ipckit_cs`: CAS comes from portable-atomic's critical sections (a
//!   target without CAS, with the `critical-section` feature): single core
//!   only.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ipckit_cas)");
    println!("cargo::rustc-check-cfg=cfg(ipckit_cs)");
    println!("cargo::rerun-if-changed=build.rs");
    let has_cas = std::env::var("CARGO_CFG_TARGET_HAS_ATOMIC")
        .map(|list| list.split(',').any(|width| width == "32"))
        .unwrap_or(false);
    let loom = std::env::var_os("CARGO_CFG_IPCKIT_LOOM").is_some();
    let critical_section = std::env::var_os("CARGO_FEATURE_CRITICAL_SECTION").is_some();
    if has_cas || loom || critical_section {
        println!("cargo::rustc-cfg=ipckit_cas");
    }
    if critical_section && !has_cas && !loom {
        println!("cargo::rustc-cfg=ipckit_cs");
    }
}
