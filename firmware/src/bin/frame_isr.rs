//! An interrupt handler produces into an SPSC frame ring, `main` consumes.
//!
//! SysTick's handler sends frames 0, 1, 2, ... of varying length (0 to the
//! ring's largest frame, 120 bytes), alternating between the copying
//! `try_send` and the zero-copy `try_grant` + `commit`. Frame `n` has length
//! `len(n)` and bytes `n, n+1, ...` (wrapping), so the receiver can tell a
//! lost, duplicated, reordered, truncated or torn frame. Positions start
//! just below `u32::MAX`, so they wrap; the ring is small, so frames go
//! behind padding records at its end and the handler finds it full.
//! `main` receives with `try_recv` (copying) and `try_read` (in place) in
//! turn, and sleeps in `WFI` while the ring is empty.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::{entry, exception};
use ipckit_core::{Error, frame};
use ipckit_firmware::{
    StaticRegion, Wfi, XorShift, check, fail, pass, start_systick, stop_systick,
};

const CAPACITY: u32 = 256;
const TOTAL: u32 = 10_000;
const START: u32 = u32::MAX - 95;
const LEN: usize = match frame::spsc::Ring::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};

static REGION: StaticRegion<LEN> = StaticRegion::new();
static FULL_TICKS: AtomicU32 = AtomicU32::new(0);
static PRODUCED: AtomicU32 = AtomicU32::new(0);

/// The length of frame `n`: every length from 0 to 120 occurs.
fn frame_len(n: u32) -> usize {
    (n.wrapping_mul(37) % 121) as usize
}

fn fill(n: u32, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (n as u8).wrapping_add(i as u8);
    }
}

fn check_frame(n: u32, got: &[u8]) {
    check!(
        got.len() == frame_len(n),
        "frame {n}: {} bytes, expected {}",
        got.len(),
        frame_len(n)
    );
    for (i, &b) in got.iter().enumerate() {
        check!(
            b == (n as u8).wrapping_add(i as u8),
            "frame {n}: byte {i} is {b}"
        );
    }
}

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("first call");
    let options = frame::spsc::Options::new(CAPACITY).start_at(START);
    let ring = frame::spsc::Ring::init_with(REGION.region(), options)
        .unwrap_or_else(|e| fail(format_args!("init: {e}")));
    check!(ring.max_frame_len() == 120, "largest frame");
    let mut rx = ring
        .consumer_with(Wfi)
        .unwrap_or_else(|e| fail(format_args!("consumer: {e}")));
    start_systick(peripherals.SYST, 4_000);

    let mut buf = [0u8; 128];
    let mut rng = XorShift(0xF4A3_0001);
    for n in 0..TOTAL {
        let r = rng.next_u32();
        if r & 1 == 0 {
            let len = rx
                .recv(&mut buf)
                .unwrap_or_else(|e| fail(format_args!("recv {n}: {e}")));
            check_frame(n, &buf[..len]);
        } else {
            let f = loop {
                match rx.try_read() {
                    Ok(f) => break f,
                    Err(Error::Empty) => cortex_m::asm::nop(),
                    Err(e) => fail(format_args!("try_read {n}: {e}")),
                }
            };
            let len = match f.copy_to(&mut buf) {
                Ok(len) => len,
                Err(e) => fail(format_args!("frame {n}: copy_to: {e}")),
            };
            f.release();
            check_frame(n, &buf[..len]);
        }
        if r & 0x1F0 == 0 {
            cortex_m::asm::delay((r >> 9) & 0x7_FFFF);
        }
        // Every 500 frames, stop consuming until the handler found the ring
        // full (back-pressure, whatever the host's speed).
        if n % 500 == 499 && n + 64 < TOTAL {
            let before = FULL_TICKS.load(Ordering::Relaxed);
            while FULL_TICKS.load(Ordering::Relaxed) == before {
                cortex_m::asm::wfi();
            }
        }
    }
    cortex_m::asm::delay(100_000);
    stop_systick();
    check!(
        rx.try_recv(&mut buf) == Err(Error::Empty),
        "a frame after the last one"
    );
    let produced = PRODUCED.load(Ordering::Relaxed);
    check!(
        produced == TOTAL,
        "handler sent {produced}, expected {TOTAL}"
    );
    let full = FULL_TICKS.load(Ordering::Relaxed);
    check!(
        full > 0,
        "the ring was never full: the test exercised no back-pressure"
    );
    cortex_m_semihosting::hprintln!(
        "frame_isr: {} frames of 0..=120 bytes in order across the position wrap, ring full on {} ticks",
        TOTAL,
        full
    );
    pass("frame_isr")
}

#[exception]
fn SysTick() {
    static mut TX: Option<frame::spsc::Producer<'static>> = None;
    static mut NEXT: u32 = 0;
    static mut RNG: XorShift = XorShift(0x5EED_F4A3);
    static mut BUF: [u8; 128] = [0; 128];

    let tx = match TX {
        Some(tx) => tx,
        None => {
            let ring = frame::spsc::Ring::attach(REGION.region())
                .unwrap_or_else(|e| fail(format_args!("attach in the handler: {e}")));
            let tx = ring
                .producer()
                .unwrap_or_else(|e| fail(format_args!("producer: {e}")));
            TX.insert(tx)
        }
    };
    let burst = RNG.next_u32() % 4 + 1;
    for _ in 0..burst {
        let n = *NEXT;
        if n == TOTAL {
            return;
        }
        let len = frame_len(n);
        let sent = if n % 2 == 0 {
            fill(n, &mut BUF[..len]);
            tx.try_send(&BUF[..len])
        } else {
            match tx.try_grant(len) {
                Ok(mut grant) => {
                    fill(n, &mut BUF[..len]);
                    match grant.copy_from_slice(&BUF[..len]) {
                        Ok(()) => grant.commit(len),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        match sent {
            Ok(()) => {
                *NEXT += 1;
                PRODUCED.store(*NEXT, Ordering::Relaxed);
            }
            Err(Error::Full) => {
                FULL_TICKS.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => fail(format_args!("send {n} in the handler: {e}")),
        }
    }
}
