//! Async waiting on bare metal: an [`AtomicWaker`] slot in *local* memory,
//! and [`WakerNotify`], a [`Notify`] that wakes it, so that an async task
//! (embassy, RTIC, a hand-written executor) awaits an SPSC ring that an
//! interrupt handler or another thread fills.
//!
//! # How it plugs into the event count
//! Nothing changes in the region or on the fast path. A `poll_` method of an
//! endpoint (`spsc::Consumer::poll_pop`, `spsc::Producer::poll_push`, the
//! frame ring's `poll_recv` and `poll_send`) runs the waiter's half of the
//! event count with the task's waker in place of a sleep:
//!
//! 1. try; ready → withdraw the announcement (if any) and return `Ready`;
//! 2. [`register`](AtomicWaker::register) the task's waker in this end's
//!    slot ([`AsyncNotify::waker_slot`]);
//! 3. announce in the ring's waiting flag, `SeqCst` fence;
//! 4. try again; ready → withdraw and return `Ready`, else `Pending`.
//!
//! The other end publishes as always (store, `SeqCst` fence, read the
//! flag) and, seeing the flag set, calls its notifier's `wake_one`, which
//! for a [`WakerNotify`] is [`AtomicWaker::wake`] on the slot of *this*
//! end. The fences make it a Dekker pair, as for sleeping waiters: either
//! the re-check of step 4 sees the item, or the publisher sees the flag and
//! wakes. The slot's own protocol (below) makes a wake that races with
//! step 2 wake the task being registered, or a task registered later see
//! the item.
//!
//! A `Pending` leaves the announcement up until the next *ready* poll of
//! the same end, or until the end is dropped. A stale announcement (a
//! cancelled future, or items taken with `try_pop` instead) costs the
//! publisher, per publication, a wake call: the first wakes the task once
//! more for nothing, the following find the slot empty (one atomic
//! read-modify-write in local memory). It never loses an item.
//!
//! # The slot's protocol
//! One state word, three values as in `futures`' `AtomicWaker` (whose
//! design this follows; the code is our own): `WAITING` (idle),
//! `REGISTERING` (a register owns the waker cell), `WAKING` (a wake owns
//! it). [`register`](AtomicWaker::register) takes the cell with a
//! compare-and-swap `WAITING → REGISTERING`, stores the waker, and gives the
//! cell back with `REGISTERING → WAITING`; if a wake arrived meanwhile (the
//! state is `REGISTERING | WAKING`), it takes the waker back out, gives
//! the cell back with a *swap* (a read-modify-write, so it acquires the
//! last wake that came, not only the one its failed compare-and-swap
//! happened to read) and wakes the waker itself. [`wake`](AtomicWaker::wake) sets `WAKING` with `fetch_or`; if
//! the slot was idle it takes the waker and clears `WAKING`, otherwise the
//! register in progress (or the earlier wake) does the waking. Nobody ever
//! waits for anybody: an interrupt handler may run `wake` while it
//! interrupts `register` on the same core.
//!
//! # Where it lives and who may wake it
//! The slot is local memory (a `static`, or a field of what owns the
//! endpoint), never in a shared region: a `Waker` is a pointer into this
//! program, meaningless to another process or core. Between an interrupt
//! handler and `main`, or between threads, both ends' notifiers refer to
//! the slots directly ([`WakerPair`]). Between two cores, the other core's
//! notifier must instead ring an inter-core doorbell whose interrupt
//! handler, on this core, calls [`AtomicWaker::wake`].
//!
//! # Targets
//! The slot needs compare-and-swap: it exists where the core's CAS
//! structures do (`ipckit_cas`: natively, or on `thumbv6m` through the
//! `critical-section` feature, valid for one core there, which is exactly
//! the interrupt-handler-and-`main` case).
//!
//! # Example
//! ```
//! use core::future::Future;
//! use core::pin::pin;
//! use core::task::{Context, Poll, Waker};
//! use ipckit_core::spsc::{self, Options};
//! use ipckit_core::wait::WakerPair;
//! use ipckit_core::{AlignedBytes, Region};
//!
//! static WAKERS: WakerPair = WakerPair::new();
//!
//! let mut bytes = AlignedBytes::<1024>::new();
//! // Both ends wake: the ring must be created for waking notifiers.
//! let ring = spsc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), Options::new(8).waking(true))?;
//! let mut tx = ring.producer_with(WAKERS.producer())?; // say, in an interrupt handler
//! let mut rx = ring.consumer_with(WAKERS.consumer())?; // and in an async task
//!
//! let mut cx = Context::from_waker(Waker::noop());
//! let mut next = pin!(rx.pop_async());
//! assert!(next.as_mut().poll(&mut cx).is_pending()); // empty: waker registered
//! tx.try_push(7)?;                                   // wakes the task
//! assert_eq!(next.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
//! # Ok::<(), ipckit_core::Error>(())
//! ```

use core::task::Waker;
use core::time::Duration;

use super::{AtomicU32, Notify, Spin, WaitStatus};
use crate::error::Result;
use crate::sync::{Ordering, spin_hint};

/// Idle: nobody holds the waker cell.
const WAITING: u32 = 0;
/// A [`AtomicWaker::register`] holds the cell.
const REGISTERING: u32 = 0b01;
/// A [`AtomicWaker::wake`] holds the cell, or arrived while a register
/// held it.
const WAKING: u32 = 0b10;

/// The cell holding the registered waker: `core`'s `UnsafeCell`, or loom's
/// in the models (which then reports any access the state word does not
/// order as a data race).
#[cfg(not(ipckit_loom))]
type WakerCell = core::cell::UnsafeCell<Option<Waker>>;
#[cfg(ipckit_loom)]
type WakerCell = loom::cell::UnsafeCell<Option<Waker>>;

/// A slot for one task's [`Waker`], registered by the task and woken by an
/// interrupt handler, another thread, or a doorbell's handler: see the
/// [module docs](self) for the protocol and where it may live.
///
/// ```
/// use core::task::Waker;
/// use ipckit_core::wait::AtomicWaker;
///
/// static SLOT: AtomicWaker = AtomicWaker::new();
/// SLOT.register(Waker::noop());
/// assert!(SLOT.take().is_some()); // a wake takes the waker out
/// assert!(SLOT.take().is_none());
/// SLOT.wake(); // nothing registered: nothing to do
/// ```
pub struct AtomicWaker {
    state: AtomicU32,
    waker: WakerCell,
}

// SAFETY: the waker cell is only touched by the one party that moved the
// state word out of `WAITING` (a register's compare-and-swap, or the wake
// whose `fetch_or` found `WAITING`), and handed over with AcqRel
// read-modify-writes; `Waker` itself is `Send + Sync`.
unsafe impl Sync for AtomicWaker {}

impl AtomicWaker {
    /// An empty slot, usable in a `static`.
    #[cfg(not(ipckit_loom))]
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(WAITING),
            waker: WakerCell::new(None),
        }
    }

    /// An empty slot (loom's atomics have no `const` constructor).
    #[cfg(ipckit_loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(WAITING),
            waker: WakerCell::new(None),
        }
    }

    /// Runs `f` on the waker cell.
    ///
    /// # Safety
    /// The caller holds the cell: it moved the state word out of `WAITING`.
    #[cfg(not(ipckit_loom))]
    #[inline]
    unsafe fn with_cell<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        // SAFETY: the caller holds the cell, so no other reference to it
        // exists for the duration of `f`.
        f(unsafe { &mut *self.waker.get() })
    }

    /// Runs `f` on the waker cell (loom's, which checks the claim).
    ///
    /// # Safety
    /// As above.
    #[cfg(ipckit_loom)]
    unsafe fn with_cell<R>(&self, f: impl FnOnce(&mut Option<Waker>) -> R) -> R {
        // SAFETY: as above.
        self.waker.with_mut(|cell| f(unsafe { &mut *cell }))
    }

    /// Makes `waker` the one the next [`wake`](Self::wake) wakes (keeping
    /// the registered one if it [`will_wake`](Waker::will_wake) the same
    /// task). If a wake runs concurrently, `waker` is woken at once, by
    /// this call or by that wake: a wake is never lost between the two.
    ///
    /// Meant for one registering task at a time; a second register
    /// concurrent with the first wakes its waker at once instead.
    pub fn register(&self, waker: &Waker) {
        match self.state.compare_exchange(
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: our compare-and-swap moved the state out of
                // `WAITING`: we hold the cell until we move it back.
                let old = unsafe {
                    self.with_cell(|cell| match cell {
                        Some(old) if old.will_wake(waker) => None,
                        _ => cell.replace(waker.clone()),
                    })
                };
                if self
                    .state
                    .compare_exchange(REGISTERING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // A wake arrived while we held the cell (the state is
                    // `REGISTERING | WAKING`) and left the waking to us.
                    // SAFETY: the state is still not `WAITING`, and the
                    // wake that set `WAKING` did not take the cell.
                    let woken = unsafe { self.with_cell(Option::take) };
                    // A swap, not a store: a read-modify-write reads the
                    // latest state, so it acquires the *last* wake that
                    // came meanwhile. The failed compare-and-swap is only a
                    // load, which may have read an earlier wake's `WAKING`
                    // (the model checker found this with two wakes: a store
                    // here left the task blind to the second one's data).
                    self.state.swap(WAITING, Ordering::AcqRel);
                    if let Some(woken) = woken {
                        woken.wake();
                    }
                }
                // Dropped outside the cell: a waker's drop may run any code.
                drop(old);
            }
            // A wake holds the cell (or another register does): whatever
            // it finds, our task must look again. The task is polled again
            // at once and may come back here until that wake is done, a
            // short busy loop (an interrupt handler's wake is always done
            // before `main` runs again); the hint lets the model checker
            // schedule the waker meanwhile.
            Err(_) => {
                spin_hint();
                waker.wake_by_ref();
            }
        }
    }

    /// Takes the registered waker out, if there is one and no register or
    /// other wake is under way (a register under way then wakes its waker
    /// itself).
    pub fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: our `fetch_or` moved the state from `WAITING`: we
                // hold the cell until we clear `WAKING`.
                let waker = unsafe { self.with_cell(Option::take) };
                self.state.fetch_and(!WAKING, Ordering::Release);
                waker
            }
            _ => None,
        }
    }

    /// Wakes the registered task, if any (and forgets its waker: the task
    /// registers again when it next waits).
    pub fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }
}

impl Default for AtomicWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for AtomicWaker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AtomicWaker")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A notifier whose end can wait asynchronously: the `poll_` methods of an
/// endpoint register the task's waker in [`waker_slot`](Self::waker_slot),
/// and the other end's notifier must wake that slot (directly, as
/// [`WakerNotify`] does, or through a doorbell whose handler does).
///
/// ```
/// use ipckit_core::wait::{AsyncNotify, WakerPair};
///
/// static WAKERS: WakerPair = WakerPair::new();
/// let rx = WAKERS.consumer();
/// assert!(core::ptr::eq(rx.waker_slot(), WAKERS.consumer().waker_slot()));
/// ```
pub trait AsyncNotify: Notify {
    /// This end's slot, in local memory.
    fn waker_slot(&self) -> &AtomicWaker;
}

/// A [`Notify`] for async tasks on one core (or threads of one process):
/// its `wake_one` / `wake_all` wake the *peer's* [`AtomicWaker`], and this
/// end's `poll_` methods register in its *own*. [`WAKES`](Notify::WAKES) is
/// `true`, so the ring must be created `waking` and both ends need waking
/// notifiers. A blocking call on such an end (`pop`, `push`) spins on the
/// word like [`Spin`] (without a clock: a timeout fails with
/// [`Error::NoClock`](crate::Error::NoClock)).
///
/// ```
/// use ipckit_core::wait::{AtomicWaker, WakerNotify};
///
/// static MINE: AtomicWaker = AtomicWaker::new();
/// static PEER: AtomicWaker = AtomicWaker::new();
/// let notify = WakerNotify::new(&MINE, &PEER);
/// # let _ = notify;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WakerNotify<'a> {
    own: &'a AtomicWaker,
    peer: &'a AtomicWaker,
}

impl<'a> WakerNotify<'a> {
    /// A notifier that registers this end's tasks in `own` and wakes the
    /// peer's in `peer`.
    pub const fn new(own: &'a AtomicWaker, peer: &'a AtomicWaker) -> Self {
        Self { own, peer }
    }
}

impl Notify for WakerNotify<'_> {
    const WAKES: bool = true;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitStatus> {
        Spin::new().wait(word, expected, timeout)
    }

    fn wake_one(&self, _word: &AtomicU32) {
        self.peer.wake();
    }

    fn wake_all(&self, _word: &AtomicU32) {
        self.peer.wake();
    }
}

impl AsyncNotify for WakerNotify<'_> {
    fn waker_slot(&self) -> &AtomicWaker {
        self.own
    }
}

/// The two slots of one ring whose ends both live on this core (or in this
/// process), usable in a `static`: hands out each end's [`WakerNotify`]
/// (the [module example](self#example)).
#[derive(Debug, Default)]
pub struct WakerPair {
    producer: AtomicWaker,
    consumer: AtomicWaker,
}

impl WakerPair {
    /// Two empty slots.
    #[cfg(not(ipckit_loom))]
    pub const fn new() -> Self {
        Self {
            producer: AtomicWaker::new(),
            consumer: AtomicWaker::new(),
        }
    }

    /// Two empty slots (loom's atomics have no `const` constructor).
    #[cfg(ipckit_loom)]
    pub fn new() -> Self {
        Self {
            producer: AtomicWaker::new(),
            consumer: AtomicWaker::new(),
        }
    }

    /// The producer's notifier: registers in the producer's slot, wakes the
    /// consumer's.
    pub fn producer(&self) -> WakerNotify<'_> {
        WakerNotify::new(&self.producer, &self.consumer)
    }

    /// The consumer's notifier: registers in the consumer's slot, wakes the
    /// producer's.
    pub fn consumer(&self) -> WakerNotify<'_> {
        WakerNotify::new(&self.consumer, &self.producer)
    }
}

#[cfg(test)]
mod tests;
