//! Size report: the SPSC ring (`u32` items) in a release firmware: create,
//! attach, claim both ends, `try_push`, `try_pop`. Compare with `size_base`.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use ipckit_core::spsc;
use ipckit_firmware::{StaticRegion, fail, pass};

const LEN: usize = match spsc::Ring::<u32>::region_len(16) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};
static REGION: StaticRegion<LEN> = StaticRegion::new();

#[entry]
fn main() -> ! {
    if spsc::Ring::<u32>::init(REGION.region(), black_box(16)).is_err() {
        fail(format_args!("init"));
    }
    // The other side (core, process) attaches to the same bytes.
    let Ok(ring) = spsc::Ring::<u32>::attach(REGION.region()) else {
        fail(format_args!("attach"))
    };
    let Ok((mut tx, mut rx)) = ring.split() else {
        fail(format_args!("split"))
    };
    for i in 0..black_box(100u32) {
        if tx.try_push(black_box(i)).is_err() || rx.try_pop() != Ok(i) {
            fail(format_args!("item"));
        }
    }
    pass("size_spsc")
}
