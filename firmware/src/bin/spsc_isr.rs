//! An interrupt handler produces into an SPSC ring, `main` consumes.
//!
//! SysTick fires every few thousand cycles; its handler pushes the next
//! sequence numbers (a burst of 1 to 8 per tick) into a 16-slot ring whose
//! indices start just below `u32::MAX`, so they wrap during the run. A full
//! ring keeps the handler's number for the next tick (nothing is dropped on
//! purpose). `main` takes items with every consumer API in turn (`pop`,
//! which sleeps in `WFI` while the ring is empty, `pop_partial_slice`, `read_chunk`)
//! and checks that each is exactly the next number: a lost, duplicated or
//! reordered item fails the test.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::{entry, exception};
use ipckit_core::{Error, spsc};
use ipckit_firmware::{
    StaticRegion, Wfi, XorShift, check, fail, pass, push_burst, start_systick, stop_systick,
};

const CAPACITY: u32 = 16;
const TOTAL: u32 = 30_000;
const START: u32 = u32::MAX - 40;
const LEN: usize = match spsc::Ring::<u32>::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};

static REGION: StaticRegion<LEN> = StaticRegion::new();
/// Ticks on which the handler found the ring full (back-pressure happened).
static FULL_TICKS: AtomicU32 = AtomicU32::new(0);
/// Items the handler pushed.
static PRODUCED: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("first call");
    // `main` creates the ring; the handler attaches to the same bytes, as a
    // second process or core would.
    let ring = match spsc::Ring::<u32>::init_at(REGION.region(), CAPACITY, START) {
        Ok(ring) => ring,
        Err(e) => fail(format_args!("init: {e}")),
    };
    let mut rx = match ring.consumer_with(Wfi) {
        Ok(rx) => rx,
        Err(e) => fail(format_args!("consumer: {e}")),
    };
    start_systick(peripherals.SYST, 4_000);

    let mut expected = 0u32;
    let mut rng = XorShift(0xDEC0_DE01);
    let mut batch = [0u32; 8];
    let mut stalls = 0;
    while expected < TOTAL {
        let r = rng.next_u32();
        match r % 3 {
            0 => {
                let v = rx.pop().unwrap_or_else(|e| fail(format_args!("pop: {e}")));
                check!(v == expected, "pop: got {v}, expected {expected}");
                expected += 1;
            }
            1 => {
                let n = rx
                    .pop_partial_slice(&mut batch)
                    .unwrap_or_else(|e| fail(format_args!("pop_partial_slice: {e}")));
                for &v in &batch[..n] {
                    check!(
                        v == expected,
                        "pop_partial_slice: got {v}, expected {expected}"
                    );
                    expected += 1;
                }
            }
            _ => {
                let chunk = rx
                    .read_chunk_up_to(5)
                    .unwrap_or_else(|e| fail(format_args!("read_chunk: {e}")));
                let n = chunk.len();
                for v in chunk.iter() {
                    check!(v == expected, "read_chunk: got {v}, expected {expected}");
                    expected += 1;
                }
                chunk.commit_all();
                check!(n <= 5, "read_chunk: {n} items for a maximum of 5");
            }
        }
        // Now and then `main` is slow; and every 1000 items it stops
        // consuming until the handler has found the ring full.
        if r & 0x1F == 0 {
            cortex_m::asm::delay((r >> 8) & 0x7_FFFF);
        }
        if expected / 1000 != stalls && expected + 2 * CAPACITY < TOTAL {
            stalls = expected / 1000;
            wait_until_full();
        }
    }
    // The handler stops at TOTAL: give it a few more ticks, then nothing
    // more may arrive.
    cortex_m::asm::delay(100_000);
    stop_systick();
    check!(
        rx.try_pop() == Err(Error::Empty),
        "an item after the last one"
    );
    let produced = PRODUCED.load(Ordering::Relaxed);
    check!(
        produced == TOTAL,
        "handler pushed {produced}, expected {TOTAL}"
    );
    let full = FULL_TICKS.load(Ordering::Relaxed);
    check!(
        full > 0,
        "the ring was never full: the test exercised no back-pressure"
    );
    cortex_m_semihosting::hprintln!(
        "spsc_isr: {} items in order across the index wrap, ring full on {} ticks",
        TOTAL,
        full
    );
    pass("spsc_isr")
}

/// Sleeps until the handler reports a full ring.
fn wait_until_full() {
    let before = FULL_TICKS.load(Ordering::Relaxed);
    while FULL_TICKS.load(Ordering::Relaxed) == before {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    static mut TX: Option<spsc::Producer<'static, u32>> = None;
    static mut NEXT: u32 = 0;
    static mut RNG: XorShift = XorShift(0x0BAD_5EED);

    let tx = match TX {
        Some(tx) => tx,
        None => {
            let ring = spsc::Ring::<u32>::attach(REGION.region())
                .unwrap_or_else(|e| fail(format_args!("attach in the handler: {e}")));
            let tx = ring
                .producer()
                .unwrap_or_else(|e| fail(format_args!("producer: {e}")));
            TX.insert(tx)
        }
    };
    push_burst(tx, NEXT, TOTAL, RNG, &PRODUCED, &FULL_TICKS);
}
