//! An async task in `main` awaits an SPSC ring that an interrupt handler
//! fills: the embassy-style firmware task of issue 18, with a minimal
//! executor written here instead of embassy.
//!
//! SysTick fires every few thousand cycles; its handler pushes the next
//! sequence numbers (a burst of 1 to 8 per tick) into a 16-slot ring created
//! `waking`, through a producer whose notifier is
//! [`WakerPair::producer`]: a publication that finds the consumer announced
//! wakes the task's waker. A full ring keeps the handler's number for the
//! next tick. The task takes the items with `pop_async` (and now and then
//! `poll_pop` by hand with a throw-away future, dropped while pending, to
//! exercise cancellation) and checks that each is exactly the next number.
//!
//! The executor ([`block_on`]) polls the task; while it is pending, it
//! sleeps in `WFI` with interrupts masked around the check of its woken
//! flag (a pending interrupt ends `WFI` even while masked), so a wake that
//! comes between the check and the sleep is not lost. The waker sets the
//! flag; it needs no allocation (a static flag and a static vtable).
#![no_std]
#![no_main]

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use cortex_m_rt::{entry, exception};
use ipckit_core::Error;
use ipckit_core::spsc::{self, Options};
use ipckit_core::wait::WakerPair;
use ipckit_firmware::{
    StaticRegion, XorShift, check, fail, pass, push_burst, start_systick, stop_systick,
};

const CAPACITY: u32 = 16;
const TOTAL: u32 = 10_000;
const START: u32 = u32::MAX - 40;
const OPTIONS: Options = Options::new(CAPACITY).start_at(START).waking(true);
const LEN: usize = match spsc::Ring::<u32>::region_len_with(OPTIONS) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};

static REGION: StaticRegion<LEN> = StaticRegion::new();
/// The two ends' waker slots: local memory (this core's RAM), not the
/// region.
static WAKERS: WakerPair = WakerPair::new();
/// Set by the task's waker, cleared by the executor before it polls.
static WOKEN: AtomicBool = AtomicBool::new(false);
/// Ticks on which the handler found the ring full.
static FULL_TICKS: AtomicU32 = AtomicU32::new(0);
/// Items the handler pushed.
static PRODUCED: AtomicU32 = AtomicU32::new(0);
/// Wakes of the task's waker.
static WAKES: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("first call");
    let ring = spsc::Ring::<u32>::init_with(REGION.region(), OPTIONS)
        .unwrap_or_else(|e| fail(format_args!("init: {e}")));
    let mut rx = ring
        .consumer_with(WAKERS.consumer())
        .unwrap_or_else(|e| fail(format_args!("consumer: {e}")));
    start_systick(peripherals.SYST, 4_000);

    let (result, stats) = block_on(async {
        let mut rng = XorShift(0xA5F0_0001);
        let mut cancelled = 0u32;
        for expected in 0..TOTAL {
            let r = rng.next_u32();
            if r % 8 == 0 {
                // A future polled once and dropped while pending: it must
                // take nothing (cancellation safety).
                let mut probe = pin!(rx.pop_async());
                let polled = core::future::poll_fn(|cx| Poll::Ready(probe.as_mut().poll(cx))).await;
                match polled {
                    Poll::Ready(Ok(v)) => {
                        check!(v == expected, "pop_async: got {v}, expected {expected}");
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => cancelled += 1,
                }
            }
            let v = rx.pop_async().await?;
            check!(v == expected, "pop_async: got {v}, expected {expected}");
            // Now and then the task is slow; and every 1000 items it stops
            // taking until the handler has met a full ring.
            if r & 0x3F == 1 {
                cortex_m::asm::delay((r >> 8) & 0x3_FFFF);
            }
            if expected % 1000 == 999 && expected + 2 * CAPACITY < TOTAL {
                wait_until_full();
            }
        }
        Ok::<u32, Error>(cancelled)
    });
    let cancelled = result.unwrap_or_else(|e| fail(format_args!("pop_async: {e}")));
    // The handler stops at TOTAL: a few more ticks, then nothing more.
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
        "the ring was never full: no back-pressure exercised"
    );
    let wakes = WAKES.load(Ordering::Relaxed);
    check!(
        stats.sleeps > 0 && wakes > 0,
        "the task never slept or was never woken ({} sleeps, {wakes} wakes)",
        stats.sleeps
    );
    check!(cancelled > 0, "no future was dropped while pending");
    cortex_m_semihosting::hprintln!(
        "async_isr: {} items in order across the index wrap; {} polls, {} sleeps in WFI, {} wakes, {} dropped pending futures, ring full on {} ticks",
        TOTAL,
        stats.polls,
        stats.sleeps,
        wakes,
        cancelled,
        full
    );
    pass("async_isr")
}

/// Sleeps until the handler reports a full ring (the task blocks its
/// executor meanwhile, as a slow task would).
fn wait_until_full() {
    let before = FULL_TICKS.load(Ordering::Relaxed);
    while FULL_TICKS.load(Ordering::Relaxed) == before {
        cortex_m::asm::wfi();
    }
}

/// What [`block_on`] counted.
struct Stats {
    polls: u32,
    sleeps: u32,
}

/// The whole executor: polls `fut` until it is ready, sleeping in `WFI`
/// while it is pending and its waker has not been woken.
fn block_on<F: Future>(fut: F) -> (F::Output, Stats) {
    // SAFETY: the vtable's functions ignore the data pointer (null) and
    // touch only the `WOKEN` static: the `RawWaker` contract holds for any
    // number of clones on any thread or handler.
    let waker = unsafe { Waker::from_raw(RawWaker::new(core::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut stats = Stats {
        polls: 0,
        sleeps: 0,
    };
    loop {
        WOKEN.store(false, Ordering::Relaxed);
        stats.polls += 1;
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return (out, stats);
        }
        // Sleep until the waker sets the flag. The check and `WFI` run
        // with interrupts masked: a handler that wakes after the check
        // stays pending, and a pending interrupt ends `WFI` even masked.
        while !WOKEN.load(Ordering::Acquire) {
            cortex_m::interrupt::free(|_| {
                if !WOKEN.load(Ordering::Acquire) {
                    stats.sleeps += 1;
                    cortex_m::asm::wfi();
                }
            });
            // Unmasked again: the pending handler runs here.
        }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, noop_drop);

fn clone(_: *const ()) -> RawWaker {
    RawWaker::new(core::ptr::null(), &VTABLE)
}

fn wake(_: *const ()) {
    WAKES.fetch_add(1, Ordering::Relaxed);
    WOKEN.store(true, Ordering::Release);
}

fn noop_drop(_: *const ()) {}

#[exception]
fn SysTick() {
    static mut TX: Option<spsc::Producer<'static, u32, ipckit_core::wait::WakerNotify<'static>>> =
        None;
    static mut NEXT: u32 = 0;
    static mut RNG: XorShift = XorShift(0x0BAD_5EED);

    let tx = match TX {
        Some(tx) => tx,
        None => {
            let ring = spsc::Ring::<u32>::attach(REGION.region())
                .unwrap_or_else(|e| fail(format_args!("attach in the handler: {e}")));
            let tx = ring
                .producer_with(WAKERS.producer())
                .unwrap_or_else(|e| fail(format_args!("producer: {e}")));
            TX.insert(tx)
        }
    };
    push_burst(tx, NEXT, TOTAL, RNG, &PRODUCED, &FULL_TICKS);
}
