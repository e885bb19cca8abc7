//! Size report: the SPSC frame ring in a release firmware: create, attach,
//! claim both ends, `try_send`, `try_recv`. Compare with `size_base`.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use ipckit_core::frame;
use ipckit_firmware::{StaticRegion, fail, pass};

const LEN: usize = match frame::spsc::Ring::region_len(256) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};
static REGION: StaticRegion<LEN> = StaticRegion::new();

#[entry]
fn main() -> ! {
    if frame::spsc::Ring::init(REGION.region(), black_box(256)).is_err() {
        fail(format_args!("init"));
    }
    let Ok(ring) = frame::spsc::Ring::attach(REGION.region()) else {
        fail(format_args!("attach"))
    };
    let Ok((mut tx, mut rx)) = ring.split() else {
        fail(format_args!("split"))
    };
    let msg = [0x5Au8; 64];
    let mut buf = [0u8; 64];
    for i in 0..black_box(100usize) {
        let len = i % 64;
        if tx.try_send(black_box(&msg[..len])).is_err() || rx.try_recv(&mut buf) != Ok(len) {
            fail(format_args!("frame"));
        }
    }
    pass("size_frame")
}
