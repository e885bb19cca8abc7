//! Bare-metal example: two sides share an ipckit ring in a RAM section at a
//! fixed address, and sleep with `WFE`/`SEV` when there is nothing to do.
//!
//! This is what a dual-core part (an RP2040, an STM32H7's M7 and M4, an
//! nRF5340) or an RTOS with two tasks needs; QEMU's `lm3s6965evb` has one
//! core, so here the *second core* is the SysTick interrupt handler. It
//! behaves as the other core's firmware would: it knows only the region's
//! address (from the linker script), not any Rust object of `main`.
//!
//! 1. `memory.x` sets apart `SHARED` (4 KiB at `0x2000_F000`) and an output
//!    section `.ipc_shared` in it, `NOLOAD`: the runtime does not zero it.
//!    On a dual-core part, both images' linker scripts name the same
//!    address (or one core is told it at run time).
//! 2. The creator (`main`, "core 0") zeroes the bytes, creates the ring with
//!    `waking(true)`, and only then lets the other side run.
//! 3. The attacher (the handler, "core 1") calls `attach` until the header
//!    reads ready (`Error::NotInitialized` before that), claims its role,
//!    and keeps its endpoint in its own state.
//! 4. Both sides use [`WfeSev`]: a waiter that found the ring empty (full)
//!    sleeps in `WFE`; the other side, after publishing, issues `SEV` only if
//!    the waiter announced itself (the event count of `ipckit_core::wait`),
//!    so the fast path costs no `SEV`.
//!
//! On `thumbv6m` (Cortex-M0+, no compare-and-swap), roles are fixed by
//! construction: one image is built as the producer, the other as the
//! consumer (a claim there cannot arbitrate a race). The SPSC ring and the
//! SPSC frame ring need only loads and stores, so they work between two
//! M0+ cores.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use ipckit_core::wait::{Notify, WaitStatus};
use ipckit_core::{Error, spsc};
use ipckit_firmware::{StaticRegion, check, fail, pass, start_systick, stop_systick};

/// A [`Notify`] for two cores (or two contexts) of one Cortex-M system:
/// sleep in `WFE`, wake with `SEV`.
///
/// No wake-up is lost: `SEV` sets the event register of every core, and a
/// `WFE` that finds it set clears it and returns at once. So an `SEV` that
/// lands between the waiter's check of the word and its `WFE` makes that
/// `WFE` return immediately. `WFE` may also return for other events
/// (interrupts): the caller re-checks, as `Notify` allows.
///
/// An RTOS user writes the same four lines with their kernel: `wait` blocks
/// on a semaphore, event flag or task notification with the timeout, and
/// `wake_one`/`wake_all` give it (from an ISR, the `FromISR` form); `now`
/// returns the kernel's tick count as a `Duration`, so timeouts work.
#[derive(Debug, Clone, Copy, Default)]
pub struct WfeSev;

impl Notify for WfeSev {
    const WAKES: bool = true;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        _timeout: Option<Duration>,
    ) -> ipckit_core::Result<WaitStatus> {
        if word.load(Ordering::Acquire) == expected {
            cortex_m::asm::wfe();
        }
        Ok(WaitStatus::Woken)
    }

    fn wake_one(&self, _word: &AtomicU32) {
        // The store that changed the word completes before the event.
        cortex_m::asm::dsb();
        cortex_m::asm::sev();
    }

    fn wake_all(&self, word: &AtomicU32) {
        self.wake_one(word);
    }
}

/// One message: a sequence number and a payload word (`[u32; 2]` is `Pod`).
type Message = [u32; 2];
const CAPACITY: u32 = 8;
const MESSAGES: u32 = 2_000;
const LEN: usize = match spsc::Ring::<Message>::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("bad capacity"),
};

/// The shared region: placed by the linker at the start of `SHARED`.
#[unsafe(link_section = ".ipc_shared")]
static SHARED: StaticRegion<LEN> = StaticRegion::new();

unsafe extern "C" {
    static __shared_start: u8;
}

/// Ticks on which the producer found the ring full.
static FULL_TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("first call");
    let base = SHARED.as_ptr();
    // (black_box: the compiler may assume that two statics never share an
    // address; the linker script is what placed them.)
    let section = core::hint::black_box(&raw const __shared_start) as usize;
    check!(
        base as usize == section,
        "region not at the start of SHARED"
    );
    hprintln!("shared_region: region of {} bytes at {:p}", LEN, base);

    // Core 0 creates. NOLOAD memory holds whatever was there at reset:
    // zero it before `init` (nobody attaches before the header is ready).
    // SAFETY: `base..base + LEN` is the `SHARED` static, and nothing else
    // uses it yet: the other side is not running.
    unsafe { core::ptr::write_bytes(base, 0, LEN) };
    let options = spsc::Options::new(CAPACITY).waking(true);
    let ring = spsc::Ring::<Message>::init_with(SHARED.region(), options)
        .unwrap_or_else(|e| fail(format_args!("init: {e}")));
    let mut rx = ring
        .consumer_with(WfeSev)
        .unwrap_or_else(|e| fail(format_args!("consumer: {e}")));

    // Start "core 1".
    start_systick(peripherals.SYST, 3_000);

    for seq in 0..MESSAGES {
        // Sleeps in WFE while the ring is empty.
        let [got, payload] = rx.pop().unwrap_or_else(|e| fail(format_args!("pop: {e}")));
        check!(got == seq, "message {got}, expected {seq}");
        check!(payload == seq.wrapping_mul(0x9E37_79B9), "payload of {seq}");
    }
    stop_systick();
    hprintln!(
        "shared_region: {} messages in order; the ring was full on {} ticks",
        MESSAGES,
        FULL_TICKS.load(Ordering::Relaxed)
    );
    pass("shared_region")
}

/// "Core 1": knows the region only by its address.
#[exception]
fn SysTick() {
    static mut TX: Option<spsc::Producer<'static, Message, WfeSev>> = None;
    static mut NEXT: u32 = 0;

    let tx = match TX {
        Some(tx) => tx,
        None => match spsc::Ring::<Message>::attach(SHARED.region()) {
            Ok(ring) => TX.insert(
                ring.producer_with(WfeSev)
                    .unwrap_or_else(|e| fail(format_args!("producer: {e}"))),
            ),
            // Core 0 has not published the header yet: try again later.
            Err(Error::NotInitialized) => return,
            Err(e) => fail(format_args!("attach: {e}")),
        },
    };
    // A handler must not block: `try_push`, and resume on the next tick.
    // (A second core would call the blocking `push`, sleeping in WFE.)
    while *NEXT < MESSAGES {
        match tx.try_push([*NEXT, NEXT.wrapping_mul(0x9E37_79B9)]) {
            Ok(()) => *NEXT += 1,
            Err(Error::Full) => {
                FULL_TICKS.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => fail(format_args!("push: {e}")),
        }
    }
}
