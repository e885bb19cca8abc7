//! Support code for ipckit's Cortex-M firmware tests (run under QEMU's
//! `lm3s6965evb`, see `README.md`): exit through semihosting with a status
//! QEMU returns, a panic handler that fails the test, a SysTick set-up, a
//! statically placed region, [`Shared`] storage for a `NOLOAD` section that
//! two cores share, and [`Wfi`], a [`Notify`] for an interrupt handler and
//! `main` on one core.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
#[cfg(target_has_atomic = "32")]
use core::sync::atomic::Ordering;
use core::time::Duration;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_semihosting::{debug, hprintln};
use ipckit_core::wait::{Notify, WaitStatus};
use ipckit_core::{AlignedBytes, Region};
#[cfg(target_has_atomic = "32")]
use ipckit_core::{Error, spsc};

/// The checks shared with the host tests of `ipckit-core`: the same source
/// runs on both sides (`core/tests/shared/`). They use the MPMC ring and the
/// semaphore, so they need compare-and-swap (not on `thumbv6m`, where only
/// the size report is built).
#[cfg(target_has_atomic = "32")]
#[path = "../../core/tests/shared/mod.rs"]
pub mod shared;

/// Ends the test: QEMU exits with status 0.
pub fn pass(name: &str) -> ! {
    hprintln!("{}: ok", name);
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Ends the test as failed: QEMU exits with status 1.
pub fn fail(args: core::fmt::Arguments<'_>) -> ! {
    hprintln!("FAILED: {}", args);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Fails the test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            $crate::fail(format_args!($($msg)+));
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail(format_args!("panic: {}", info))
}

/// Starts SysTick on the core clock, firing every `reload + 1` cycles.
pub fn start_systick(mut syst: cortex_m::peripheral::SYST, reload: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Stops SysTick (counter and interrupt).
pub fn stop_systick() {
    // SAFETY: only the SysTick control register is touched, by the one
    // context (`main`) that owns the timer; its interrupt handler never
    // writes the timer.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.disable_interrupt();
    syst.disable_counter();
}

/// `N` bytes in a `static`, aligned to [`ipckit_core::region::LINE`], handed
/// out only as raw [`Region`]s: the interrupt handler and `main` (or two
/// cores) each build their own `Region` over the same bytes, exactly as two
/// processes map one shared memory object.
#[repr(transparent)]
pub struct StaticRegion<const N: usize>(UnsafeCell<AlignedBytes<N>>);

// SAFETY: the bytes are only reached through `Region`s, whose objects use
// atomics and the ring protocols for every access.
unsafe impl<const N: usize> Sync for StaticRegion<N> {}

impl<const N: usize> StaticRegion<N> {
    /// `N` zero bytes (placed in `.bss`, which the runtime zeroes).
    pub const fn new() -> Self {
        Self(UnsafeCell::new(AlignedBytes::new()))
    }

    /// A region over all `N` bytes.
    pub fn region(&'static self) -> Region<'static> {
        let base = NonNull::new(self.0.get().cast::<u8>()).expect("statics are not null");
        // SAFETY: the bytes are a `'static`, zero-initialised array that
        // nothing in this program references except through regions (the
        // cell is private and `region` hands out no reference).
        unsafe { Region::from_raw(base, N) }
    }

    /// The base address, for tests that play a faulty peer.
    pub fn as_ptr(&'static self) -> *mut u8 {
        self.0.get().cast()
    }
}

impl<const N: usize> Default for StaticRegion<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Storage for one shared object in a `NOLOAD` section: a `static` of the
/// size and alignment of `T`, which neither core's reset handler
/// initialises. One side initialises it, the other attaches to it.
///
/// `T` names the object's shape: a ring's own `StaticRing` type (the same
/// bytes that `init` lays out, with room to spare), `AlignedBytes<{
/// Semaphore::region_len() }>`, or any plain struct of atomics.
///
/// ```ignore
/// #[unsafe(link_section = ".ipc_shared")]
/// static QUEUE: Shared<spsc::StaticRing<u32, 64>> = Shared::uninit();
///
/// // core 0, before it starts core 1:
/// let ring = spsc::Ring::<u32>::init(unsafe { QUEUE.zeroed() }, 64)?;
/// // core 1:
/// let ring = spsc::Ring::<u32>::attach(unsafe { QUEUE.region() })?;
/// ```
#[repr(transparent)]
pub struct Shared<T>(UnsafeCell<MaybeUninit<T>>);

// SAFETY: the bytes are only reached through `Region`s (atomics and the
// ring protocols) or through `&T` once initialised, where `T: Sync`.
unsafe impl<T: Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The storage, uninitialised (for a `NOLOAD` section).
    pub const fn uninit() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// The creator's region over the storage: zeroes it first (`init` on
    /// shared memory expects fresh, zeroed bytes).
    ///
    /// # Safety
    /// Nothing else uses the storage yet (the other core is held in reset or
    /// waits for a signal sent after `init`), and this is called once.
    pub unsafe fn zeroed(&'static self) -> Region<'static> {
        let base = self.0.get().cast::<u8>();
        // SAFETY: the storage is `size_of::<T>()` bytes that nobody else
        // uses yet (the caller's promise).
        unsafe { core::ptr::write_bytes(base, 0, core::mem::size_of::<T>()) };
        // SAFETY: as for `region`; the bytes are now zeroed.
        unsafe { self.region() }
    }

    /// A region over the storage, for the side that attaches.
    ///
    /// # Safety
    /// The storage was zeroed ([`zeroed`](Self::zeroed)) or initialised
    /// before this side runs; it is touched only through regions from here
    /// on (as `Region::from_raw` requires).
    pub unsafe fn region(&'static self) -> Region<'static> {
        let base = NonNull::new(self.0.get().cast::<u8>()).expect("statics are not null");
        // SAFETY: the caller's promise: initialised bytes, reached only
        // through regions; the static lives for ever.
        unsafe { Region::from_raw(base, core::mem::size_of::<T>()) }
    }

    /// Initialises the storage with `value` and returns it.
    ///
    /// # Safety
    /// As for [`zeroed`](Self::zeroed): nothing else uses the storage yet.
    pub unsafe fn init(&'static self, value: T) -> &'static T {
        // SAFETY: nobody else uses the storage yet (the caller's promise).
        unsafe { (*self.0.get()).write(value) }
    }

    /// The value that the other side initialised.
    ///
    /// # Safety
    /// [`init`](Self::init) happened before this side runs.
    pub unsafe fn get(&'static self) -> &'static T {
        // SAFETY: initialised (the caller's promise); only shared
        // references are handed out from here on.
        unsafe { (*self.0.get()).assume_init_ref() }
    }

    /// The base address.
    pub fn as_ptr(&'static self) -> *mut u8 {
        self.0.get().cast()
    }
}

/// A [`Notify`] for an interrupt handler and `main` on **one** core: the
/// waiter sleeps in `WFI`, the handler's next interrupt wakes it.
///
/// The check of the word and the `WFI` run with interrupts masked
/// (`PRIMASK`): an interrupt that changes the word after the check stays
/// pending, and a pending interrupt ends `WFI` even while masked, so no
/// wake-up is lost. Wakers have nothing to do ([`Notify::WAKES`] is
/// `false`): the interrupt that changed the word is itself the wake-up. Use
/// it with rings created with `waking(false)`.
///
/// Not for two cores: another core's store raises no interrupt here (see
/// the `shared_region` example for `WFE`/`SEV`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Wfi;

impl Notify for Wfi {
    const WAKES: bool = false;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        _timeout: Option<Duration>,
    ) -> ipckit_core::Result<WaitStatus> {
        cortex_m::interrupt::free(|_| {
            if word.load(core::sync::atomic::Ordering::Acquire) == expected {
                cortex_m::asm::wfi();
            }
        });
        // Interrupts are enabled again here: the pending one runs now.
        Ok(WaitStatus::Woken)
    }

    fn wake_one(&self, _word: &AtomicU32) {}

    fn wake_all(&self, _word: &AtomicU32) {}
}

/// A small deterministic generator (xorshift32) for test data.
#[derive(Debug, Clone, Copy)]
pub struct XorShift(pub u32);

impl XorShift {
    /// The next value.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// One interrupt's burst of a test producer: pushes the next 1 to 8 (from
/// `rng`) of the numbers `*next..total`, storing progress in `produced`; a
/// full ring ends the burst and counts in `full_ticks`. Any other error
/// fails the test. (Counting needs `fetch_add`: not on `thumbv6m`.)
#[cfg(target_has_atomic = "32")]
pub fn push_burst<N: Notify>(
    tx: &mut spsc::Producer<'_, u32, N>,
    next: &mut u32,
    total: u32,
    rng: &mut XorShift,
    produced: &AtomicU32,
    full_ticks: &AtomicU32,
) {
    let burst = rng.next_u32() % 8 + 1;
    for _ in 0..burst {
        if *next == total {
            return;
        }
        match tx.try_push(*next) {
            Ok(()) => {
                *next += 1;
                produced.store(*next, Ordering::Relaxed);
            }
            Err(Error::Full) => {
                full_ticks.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => fail(format_args!("try_push in the handler: {e}")),
        }
    }
}
