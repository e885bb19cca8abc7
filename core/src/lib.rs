//! `ipckit-core`: inter-process communication primitives on raw shared memory.
//!
//! `#![no_std]`, no allocation, no operating system. Everything here is laid
//! out on bytes: a caller-provided [`Region`] (a `MAP_SHARED` mapping between
//! two Linux processes, a RAM section between two cores of a microcontroller,
//! a buffer shared by an interrupt handler and `main`) or memory a ring owns.
//! The same bytes mean the same thing on every one of them: fixed-width
//! `#[repr(C)]` fields, offsets instead of pointers, a versioned [`Header`].
//!
//! # Tutorial
//!
//! ## A ring on your memory
//! A ring is placed on a [`Region`]. [`region_len`](place::Placed::region_len)
//! says how many bytes a capacity needs (a `Result`, usable in `const`);
//! [`init`](place::Placed::init) writes the header and the empty ring, and
//! [`split`](place::Placed::split) claims the producer and the consumer for
//! one process:
//!
//! ```
//! use ipckit_core::{spsc, AlignedBytes, Region};
//!
//! const LEN: usize = match spsc::Ring::<u64>::region_len(16) {
//!     Ok(len) => len,
//!     Err(_) => panic!("not a valid capacity"),
//! };
//! let mut bytes = AlignedBytes::<LEN>::new();
//! let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 16)?;
//! let (mut tx, mut rx) = ring.split()?;
//!
//! tx.try_push(1)?;
//! tx.push_entire_slice(&[2, 3])?; // all or nothing
//! assert_eq!(rx.len(), 3);
//! assert_eq!(rx.peek()?, 1);      // stays in the ring
//! let mut out = [0; 4];
//! assert_eq!(rx.pop_partial_slice(&mut out)?, 3); // as many as there are
//! assert_eq!(out[..3], [1, 2, 3]);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! Names say whether a call is exact or partial: `push_entire_slice`,
//! `pop_entire_slice` and `write_chunk(n)` / `read_chunk(n)` (zero-copy)
//! move exactly what was asked or nothing ([`Error::TooFewSlots`]);
//! `push_partial_slice`, `pop_partial_slice` and the `_up_to` chunks take
//! what there is. Queries (`len`, `is_empty`, `is_full`, `free_slots`,
//! `capacity`) take `&self` and return plain numbers.
//!
//! ## A static ring
//! A ring can own its memory instead: [`spsc::StaticRing`] and
//! [`frame::spsc::StaticRing`] have a `const fn new`, so they can be a
//! `static` (an interrupt handler's queue) with nothing to size by hand. A
//! capacity that is not a power of two fails to compile.
//!
//! ```
//! use ipckit_core::spsc;
//!
//! static EVENTS: spsc::StaticRing<u32, 64> = spsc::StaticRing::new();
//!
//! let mut tx = EVENTS.producer()?; // say, in the interrupt handler
//! let mut rx = EVENTS.consumer()?; // and in `main`
//! tx.try_push(7)?;
//! assert_eq!(rx.try_pop()?, 7);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! ## Attaching from the other side
//! Memory that another process or core shares comes as a raw region
//! ([`Region::from_raw`], `unsafe`: the caller vouches that the bytes stay
//! mapped). One side creates the ring; the other
//! [`attach`](place::Placed::attach)es, which validates every header field
//! once (magic, layout version, kind, element type, capacity, the region's
//! length), and claims its role. A role is held by one endpoint at a time,
//! and given back when the endpoint is dropped.
//!
//! ```
//! use core::ptr::NonNull;
//! use ipckit_core::{frame, spsc, AlignedBytes, Error, Region, Role};
//!
//! // Stands in for a shared mapping or a linker section at a fixed address.
//! let shared: &'static mut AlignedBytes<1024> = Box::leak(Box::new(AlignedBytes::new()));
//! let base = NonNull::new(shared.as_mut_ptr()).unwrap();
//!
//! // SAFETY: leaked, so valid for the program; ipckit alone touches the bytes.
//! let creator = spsc::Ring::<u64>::init(unsafe { Region::from_raw(base, 1024) }, 32)?;
//! let mut tx = creator.producer()?;
//!
//! // The other side knows only the address and the length.
//! // SAFETY: as above.
//! let peer = spsc::Ring::<u64>::attach(unsafe { Region::from_raw(base, 1024) })?;
//! assert_eq!(peer.capacity(), 32);
//! assert_eq!(peer.producer().unwrap_err(), Error::RoleTaken(Role::Producer));
//! let mut rx = peer.consumer()?;
//! tx.try_push(5)?;
//! assert_eq!(rx.try_pop()?, 5);
//!
//! // A region that holds another kind of ring is refused, not misread.
//! // SAFETY: as above.
//! let wrong = frame::spsc::Ring::attach(unsafe { Region::from_raw(base, 1024) });
//! assert!(matches!(wrong, Err(Error::KindMismatch { .. })));
//! # Ok::<(), Error>(())
//! ```
//!
//! The bytes of a [`StaticRing`](spsc::StaticRing) are those `init` writes,
//! so a peer attaches to one as to any region.
//!
//! ## Blocking with a `Notify`
//! `push`, `pop` and their `_timeout` forms wait through the endpoint's
//! [`wait::Notify`]: a futex-shaped wait on a 32-bit word of the region. The
//! default, [`wait::Spin`], spins (and needs a clock for timeouts:
//! [`Spin::with_clock`](wait::Spin::with_clock)). A notifier that sleeps
//! (a futex in the `ipckit` crate, an RTOS semaphore, `WFE`/`SEV`) needs a
//! ring created with [`Options::waking`](place::Options::waking), so that a
//! side about to sleep announces itself, and the other side calls `wake`
//! only when one did (a fence and a load per publication, no system call
//! while nobody sleeps). Here, threads that sleep on a condition variable:
//!
//! ```
//! use core::time::Duration;
//! use std::sync::atomic::Ordering;
//! use std::sync::{Condvar, Mutex};
//! use std::time::Instant;
//! use ipckit_core::wait::{AtomicU32, Notify, WaitStatus};
//! use ipckit_core::{spsc, AlignedBytes, Region};
//!
//! struct Parking { lock: Mutex<()>, cv: Condvar, start: Instant }
//!
//! impl Notify for &Parking {
//!     fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>)
//!         -> ipckit_core::Result<WaitStatus>
//!     {
//!         // The waker takes the lock to notify: no wake-up falls between
//!         // this check and the wait.
//!         let held = self.lock.lock().unwrap();
//!         if word.load(Ordering::Acquire) != expected {
//!             return Ok(WaitStatus::Woken);
//!         }
//!         match timeout {
//!             None => drop(self.cv.wait(held).unwrap()),
//!             Some(t) if self.cv.wait_timeout(held, t).unwrap().1.timed_out() => {
//!                 return Ok(WaitStatus::TimedOut);
//!             }
//!             Some(_) => {}
//!         }
//!         Ok(WaitStatus::Woken)
//!     }
//!     fn wake_one(&self, word: &AtomicU32) { self.wake_all(word) }
//!     fn wake_all(&self, _word: &AtomicU32) {
//!         let _held = self.lock.lock().unwrap();
//!         self.cv.notify_all();
//!     }
//!     fn now(&self) -> Option<Duration> { Some(self.start.elapsed()) }
//! }
//!
//! let parking = Parking { lock: Mutex::new(()), cv: Condvar::new(), start: Instant::now() };
//! let mut bytes = AlignedBytes::<1024>::new();
//! let options = spsc::Options::new(4).waking(true);
//! let ring = spsc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
//! let mut tx = ring.producer_with(&parking)?;
//! let mut rx = ring.consumer_with(&parking)?;
//!
//! let timeout = Some(Duration::from_millis(10));
//! assert!(rx.pop_timeout(timeout).unwrap_err().is_timeout());
//! std::thread::scope(|s| {
//!     s.spawn(move || (0..100).try_for_each(|i| tx.push(i)));
//!     for i in 0..100 {
//!         assert_eq!(rx.pop(), Ok(i)); // sleeps while the ring is empty
//!     }
//! });
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! A spinning endpoint on a waking ring, or a sleeping one on a spinning
//! ring, is refused ([`Error::NotifyMismatch`]): it would leave its peer
//! asleep.
//!
//! ## Awaiting in an async task
//! On a target with compare-and-swap, an async task (embassy, RTIC, your
//! own executor) awaits an SPSC ring that an interrupt handler or another
//! thread fills: give both ends the notifiers of a
//! [`wait::WakerPair`] in local memory and call `rx.pop_async().await` (or
//! `poll_pop` from a hand-written future); the frame ring has `recv_async`.
//! The example and the protocol are in the `wait::waker` module.
//!
//! ## Errors
//! Every call returns the one [`Error`]. The flow conditions go away when
//! the other side makes progress and have predicates: [`Error::Full`]
//! ([`is_full`](Error::is_full)), [`Error::Empty`]
//! ([`is_empty`](Error::is_empty)), [`Error::Busy`] (the MPMC ring: not
//! empty or full, but the slot is mid-operation by another endpoint),
//! [`Error::TimedOut`] and [`Error::PeerGone`]. The rest say what is wrong
//! and with what numbers:
//!
//! ```
//! use ipckit_core::{frame, spsc, AlignedBytes, Error, Region};
//!
//! assert_eq!(spsc::Ring::<u64>::region_len(3), Err(Error::InvalidCapacity));
//! let mut small = AlignedBytes::<256>::new();
//! let err = spsc::Ring::<u64>::init(Region::from_slice(&mut small[..]), 16).unwrap_err();
//! assert_eq!(err, Error::TooSmall { required: 384 + 16 * 8, actual: 256 });
//!
//! let ring = spsc::StaticRing::<u8, 2>::new();
//! let (mut tx, _rx) = ring.split()?;
//! tx.push_entire_slice(&[1, 2])?;
//! assert!(tx.try_push(3).unwrap_err().is_full());
//!
//! let frames = frame::spsc::StaticRing::<256>::new();
//! let (mut tx, mut rx) = frames.split()?;
//! tx.try_send(b"twelve bytes")?;
//! let frame = rx.try_read()?;
//! let mut short = [0; 4];
//! assert_eq!(frame.copy_to(&mut short), Err(Error::BufferTooSmall { required: 12 }));
//! assert_eq!(frame.read_partial(0, &mut short), 4); // what fits
//! # Ok::<(), Error>(())
//! ```
//!
//! A peer that wrote what no honest peer writes is [`Error::Corrupted`],
//! never a panic (below).
//!
//! # The peer is untrusted
//! Another process or core can write any bytes into a shared region at any
//! time. This crate never reads or writes outside the region, never panics
//! and never hits undefined behaviour because of what it reads there: every
//! index or length that the other side writes is loaded once, validated, and
//! only the local copy is used; item bytes are copied out before the caller
//! sees them. A violation is [`Error::Corrupted`], and the endpoint stays safe
//! to drop.
//!
//! # Shape of a ring
//! Every ring is a placement and a protocol. The placement, in [`place`],
//! is written once: the region's length, `init` / `attach` and their
//! [`Options`](place::Options), header validation, role claims, rings that
//! own their memory ([`place::Owned`]) and the one blocking loop. Each ring
//! module holds only its protocol: its layout (kind, control words, data
//! offset) and its fast path. So `spsc::Ring<'a, T>` and
//! `frame::spsc::Ring<'a>` are aliases of one [`place::Placed`], and their
//! `region_len`, `init`, `attach` and claims mean the same thing.
//!
//! # Modules
//! - [`region`]: the header every region starts with, and the init/attach
//!   protocol.
//! - [`place`]: where a ring lives and how it is opened, once for every
//!   ring: region length, `init` / `attach`, options, role claims, rings
//!   that own their memory.
//! - [`spsc`]: the single-producer single-consumer ring (atomic loads and
//!   stores only, so it runs between two cores of a `thumbv6m` part).
//! - [`mpmc`]: the bounded multi-producer multi-consumer ring (Vyukov's
//!   per-slot stamps).
//! - [`broadcast`]: the lossy broadcast ring (one publisher that never
//!   waits, any number of subscribers; seqlock slots, exact
//!   [`Error::Lagged`] counts; loads and stores only on the data path), of
//!   `T: Pod` items or, in [`broadcast::frames`], of variable-length byte
//!   frames written in place (loans) and read in place.
//! - [`semaphore`]: a counting semaphore (a cross-process mutex at maximum 1).
//! - [`latest`]: a latest-value slot ("blackboard"): one writer overwrites a
//!   value, readers copy the newest complete one (a seqlock; atomic loads
//!   and stores only on the data path).
//! - [`frame`]: variable-length byte frames: an SPSC frame ring (loads and
//!   stores only), an MPSC frame ring (out-of-order commit), and a
//!   length-prefixed stream codec.
//! - [`wait`]: futex-shaped blocking ([`wait::Notify`]), the event count
//!   that keeps wake-ups off the fast path, and async tasks' waker slots.
//! - [`error`]: the one [`Error`] type.
//!
//! # Targets without compare-and-swap
//! The SPSC ring, the SPSC frame ring and the broadcast ring use only atomic
//! loads and stores (and fences) on their data paths: they work on
//! `thumbv6m` between two cores. The MPMC ring, the semaphore
//! and the MPSC frame ring need compare-and-swap; on `thumbv6m` they exist
//! only with the `critical-section` feature, whose compare-and-swap masks
//! interrupts, and then only between an interrupt handler and `main` of
//! one core (never two cores or processes).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
extern crate std;

pub mod broadcast;
pub mod error;
pub mod frame;
pub mod intent;
pub mod latest;
pub mod mpmc;
pub mod place;
pub mod region;
pub mod semaphore;
pub mod spsc;
mod sync;
#[cfg(test)]
mod test_support;
pub mod wait;

pub use error::{Error, Result, Role};
pub use region::{AlignedBytes, Header, HeaderInfo, ObjectKind, Region};

/// Re-exported so that users name the same `Pod` bound as the rings.
pub use bytemuck::{Pod, Zeroable};
