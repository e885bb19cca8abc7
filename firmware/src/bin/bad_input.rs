//! The peer is untrusted, on the firmware side too: the corrupted-index,
//! bad-header and oversized-frame checks that the host runs
//! (`core/tests/shared/bad_input.rs`, the same source) run here on the
//! Cortex-M core.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use ipckit_core::AlignedBytes;
use ipckit_firmware::shared::bad_input::CHECKS;
use ipckit_firmware::shared::peer::MEM;
use ipckit_firmware::{fail, pass};

#[entry]
fn main() -> ! {
    // cortex-m-rt turns a `static mut` of the entry function into a safe
    // `&'static mut` (the entry runs once).
    static mut MEMORY: AlignedBytes<MEM> = AlignedBytes::new();
    let mem: &'static mut AlignedBytes<MEM> = MEMORY;
    for (name, check) in CHECKS {
        if let Err(f) = check(mem) {
            fail(format_args!("{name}: {f}"));
        }
        hprintln!("bad_input: {}: ok", name);
    }
    pass("bad_input")
}
