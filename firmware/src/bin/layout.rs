//! One layout for every word size, on the 32-bit Cortex-M side: every region
//! kind of `core/tests/shared/golden.rs` is built here and must give the
//! golden bytes (the same table the 64-bit and i686 host tests check), must
//! drain here, and is written to the host through semihosting as
//! `target/peer-regions/thumbv7m/<name>.bin` (relative to QEMU's working
//! directory, which must exist), where the 64-bit host test
//! `layout_golden` attaches and drains it.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{hprintln, nr, syscall};
use ipckit_core::AlignedBytes;
use ipckit_firmware::shared::golden::{CASES, build_into, compare, drain_from};
use ipckit_firmware::shared::peer::MEM;
use ipckit_firmware::{check, fail, pass};

const DIR: &[u8] = b"target/peer-regions/thumbv7m/";

#[entry]
fn main() -> ! {
    // cortex-m-rt turns `static mut`s of the entry function into safe
    // `&'static mut`s (the entry runs once).
    static mut MEMORY: AlignedBytes<MEM> = AlignedBytes::new();
    static mut BYTES: [u8; MEM] = [0; MEM];
    let (mem, bytes): (&'static mut AlignedBytes<MEM>, &'static mut [u8; MEM]) = (MEMORY, BYTES);
    for case in CASES {
        let out = &mut bytes[..case.len];
        if let Err(f) = build_into(case, mem, out) {
            fail(format_args!("{}: build: {f}", case.name));
        }
        if let Err(m) = compare(out, case.golden) {
            fail(format_args!(
                "{}: word at {} is {:#010x}, golden {:#010x}",
                case.name, m.offset, m.found, m.expected
            ));
        }
        write_file(case.name, out);
        if let Err(f) = drain_from(case, mem, out) {
            fail(format_args!("{}: drain: {f}", case.name));
        }
        hprintln!(
            "layout: {} ({} bytes) matches the golden bytes",
            case.name,
            case.len
        );
    }
    pass("layout")
}

/// Writes `bytes` to `DIR/<name>.bin` on the host.
fn write_file(name: &str, bytes: &[u8]) {
    let mut path = [0u8; 96];
    let len = DIR.len() + name.len() + 4;
    check!(len < path.len(), "path too long");
    path[..DIR.len()].copy_from_slice(DIR);
    path[DIR.len()..DIR.len() + name.len()].copy_from_slice(name.as_bytes());
    path[len - 4..len].copy_from_slice(b".bin");
    // path[len] is the terminating NUL.
    // SAFETY: semihosting OPEN reads `len` bytes of the NUL-terminated path,
    // which lives on this stack frame for the duration of the call.
    let fd = unsafe { syscall!(OPEN, path.as_ptr(), nr::open::W_TRUNC_BINARY, len) } as isize;
    check!(
        fd >= 0,
        "cannot open {} on the host (does the directory exist?)",
        name
    );
    // SAFETY: WRITE reads `bytes.len()` bytes from `bytes`, a live slice.
    let left = unsafe { syscall!(WRITE, fd as usize, bytes.as_ptr(), bytes.len()) };
    // SAFETY: CLOSE takes the descriptor that OPEN returned.
    unsafe { syscall!(CLOSE, fd as usize) };
    check!(left == 0, "short write of {}", name);
}
