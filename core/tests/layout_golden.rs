//! One layout for every word size (see `shared/golden.rs`): the regions
//! this build creates match the golden bytes, and regions that another
//! build wrote (a 32-bit host, the Cortex-M firmware) drain here.
//!
//! Environment:
//! - `IPCKIT_PRINT_GOLDEN=1`: print the tables this build produces.
//! - `IPCKIT_WRITE_REGIONS=DIR`: also write each golden region to
//!   `DIR/<name>.bin` (the 32-bit side of the 32/64-bit test).
//! - `IPCKIT_PEER_REGIONS=DIR[:DIR...]`: drain the regions another build
//!   wrote there, after checking them against the golden bytes.

mod shared;

use ipckit_core::AlignedBytes;
use shared::golden::{CASES, Case, build_into, compare, drain_from};
use shared::peer::MEM;

fn build(case: &Case) -> Vec<u8> {
    let mut mem = Box::new(AlignedBytes::<MEM>::new());
    let mut out = vec![0u8; case.len];
    if let Err(f) = build_into(case, &mut mem, &mut out) {
        panic!("{}: build failed: {f}", case.name);
    }
    out
}

fn table(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, w) in bytes.chunks(4).enumerate() {
        let w = u32::from_le_bytes(w.try_into().unwrap());
        if w != 0 {
            s += &format!("    (0x{:04x}, 0x{w:08x}),\n", 4 * i);
        }
    }
    s
}

#[test]
fn every_region_kind_matches_its_golden_bytes() {
    let print = std::env::var_os("IPCKIT_PRINT_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let bytes = build(case);
        if print {
            println!("// {}\n{}", case.name, table(&bytes));
        }
        if let Err(m) = compare(&bytes, case.golden) {
            failures.push(format!(
                "{}: word at {} is {:#010x}, golden {:#010x}; this build's table:\n{}",
                case.name,
                m.offset,
                m.found,
                m.expected,
                table(&bytes)
            ));
        }
        if let Some(dir) = std::env::var_os("IPCKIT_WRITE_REGIONS") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{}.bin", case.name)), &bytes).unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn regions_built_here_drain_here() {
    for case in CASES {
        let bytes = build(case);
        let mut mem = Box::new(AlignedBytes::<MEM>::new());
        if let Err(f) = drain_from(case, &mut mem, &bytes) {
            panic!("{}: drain failed: {f}", case.name);
        }
    }
}

#[test]
fn regions_written_by_a_peer_build_drain_here() {
    let Some(dirs) = std::env::var_os("IPCKIT_PEER_REGIONS") else {
        eprintln!("IPCKIT_PEER_REGIONS not set: no peer regions to drain");
        return;
    };
    for dir in std::env::split_paths(&dirs) {
        for case in CASES {
            let path = dir.join(format!("{}.bin", case.name));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(m) = compare(&bytes, case.golden) {
                panic!("{}: not the golden bytes: {m:?}", path.display());
            }
            let mut mem = Box::new(AlignedBytes::<MEM>::new());
            if let Err(f) = drain_from(case, &mut mem, &bytes) {
                panic!("{}: drain failed: {f}", path.display());
            }
            println!("drained {}", path.display());
        }
    }
}
