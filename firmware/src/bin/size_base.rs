//! Size report baseline: the runtime, semihosting output and exit, and a
//! loop like the one in `size_spsc`/`size_frame`, without ipckit. The
//! size of a primitive is the difference to this binary.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use ipckit_firmware::{fail, pass};

#[entry]
fn main() -> ! {
    // The same loop and failure paths as the size binaries, with a
    // one-word "ring" in its place.
    let mut slot = 0u32;
    for i in 0..black_box(100u32) {
        slot = black_box(i);
        if black_box(slot) != i {
            fail(format_args!("item"));
        }
    }
    let _ = slot;
    pass("size_base")
}
