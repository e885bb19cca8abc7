//! A bounded multi-producer multi-consumer ring of `T: Pod` items on a shared
//! region.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>),
//! the algorithm behind crossbeam's `ArrayQueue`, on free-running `u32`
//! positions. `tail` is the next position to write and `head` the next to
//! read; the slot of position `p` is `p & (capacity - 1)`. Every slot carries
//! a *stamp* that says what the slot is ready for:
//!
//! | stamp of the slot of `p` | meaning | next step |
//! |---|---|---|
//! | `p`            | free for position `p`             | a producer claims `p` by moving `tail` from `p` to `p + 1` (compare-and-swap), writes the item, and publishes the stamp `p + 1` (`Release`) |
//! | `p + 1`        | the item of position `p` is ready | a consumer claims `p` by moving `head` from `p` to `p + 1`, copies the item out, and releases the slot with the stamp `p + capacity` (`Release`): free for position `p + capacity`, one lap later |
//!
//! Whoever wins the compare-and-swap owns the slot until it stores the next
//! stamp; the loser retries at the position it found. The stamp (loaded with
//! `Acquire`) is what orders a slot's item between its writer and its reader.
//! The positions are claimed with `Release` and loaded with `Acquire` for
//! validation's sake: having read `head = h` then orders the claim of
//! `h - capacity`, and the publication that claim saw, before the stamp load,
//! so an honest ring can only show the few stamps listed under "The peer is
//! untrusted" below (with `Relaxed`, loom finds honest but stale stamps
//! outside that set). On x86 this costs nothing; on Arm it is the difference
//! between plain and acquire/release exclusives. A capacity of
//! one is impossible in this scheme (the stamps "published for `p`" and "free
//! for `p + 1`" would be the same number), so the smallest ring has two
//! slots.
//!
//! Each endpoint keeps no state of its own: [`Producer`] and [`Consumer`] are
//! cheap handles that can be cloned, shared between threads by reference,
//! and created from the [`Ring`] any number of times, in any number of
//! processes. There is no role to claim. (An endpoint given an
//! [`Intent`] for crash recovery runs one operation
//! at a time: see [`Producer::with_intent`].)
//!
//! # Layout (layout version 1, kind 2)
//! For a peer in another language, the whole protocol (orderings, waiting,
//! recovery) is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#9-mpmc-ring-kind-2).
//!
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | [`Header`] | kind [`ObjectKind::Mpmc`], element size and alignment of `T`, capacity, data offset 384, flags | creator |
//! | 128    | u32   | `tail`  | next position to claim for writing | producers (compare-and-swap) |
//! | 132    | u32   | consumers waiting | event count: consumers about to sleep on a slot stamp | consumers (add / subtract) |
//! | 136    | u32   | lost    | items lost with dead consumers ([`recovery`]) | producers that release their slots |
//! | 140    | 116 B | reserved, zero | | nobody |
//! | 256    | u32   | `head`  | next position to claim for reading | consumers (compare-and-swap) |
//! | 260    | u32   | producers waiting | event count: producers about to sleep on a slot stamp | producers (add / subtract) |
//! | 264    | u32   | skipped | holes of dead producers skipped ([`recovery`]) | consumers that skip them (producers, for a dead skipper's) |
//! | 268    | 116 B | reserved, zero | | nobody |
//! | 384    | `capacity × stride` | slots | see below | |
//!
//! Every slot is a `#[repr(C)]` pair of a stamp and an item, `stride` bytes
//! long:
//!
//! | offset in the slot | width | field | written by |
//! |---:|---:|---|---|
//! | 0 | u32 | `stamp` | the producer that publishes the slot, the consumer that releases it |
//! | `A = max(4, align_of::<T>())` | `size_of::<T>()` | the item | the producer that claimed the slot's position |
//!
//! with `stride = round_up(A + size_of::<T>(), A)`: 8 bytes for `u32`, 16
//! for `u64`, 8 for `[u8; 3]`. Both follow from the element size and
//! alignment in the header, which `attach` checks against the caller's `T`,
//! so a 32-bit and a 64-bit peer that accept the same header agree on every
//! offset. (Beware `u64` on `i686` Linux, where it is 4-aligned: such a peer
//! is refused with [`Error::ElementMismatch`]; use `[u32; 2]` there, or a
//! `#[repr(C, align(8))]` wrapper on both sides.) Until the first write the
//! slot of position `p` (for `p` in `start..start + capacity`) holds the stamp
//! `p`.
//!
//! `tail` and `head` live on separate [`LINE`]s, so producers and consumers
//! contend only among themselves. Each "waiting" counter sits on the line of
//! the side that *checks* it after every publication or release, and is
//! written by the other side only when that side is about to sleep.
//!
//! # Blocking
//! [`Producer::push`] and [`Consumer::pop`] (and their `_timeout` forms)
//! block through the endpoint's [`Notify`] with the event count of
//! [`crate::wait`], as the SPSC ring does, with two differences:
//!
//! - Waiters sleep on the **stamp of the slot they wait for**, not on `tail`
//!   or `head`. What lets a consumer proceed is the producer's stamp store,
//!   which comes *after* that producer moved `tail`: a consumer that had read
//!   the moved `tail` and then slept on it would miss the wake-up (its futex
//!   word never changes again). The stamp is the word that changes at the
//!   very moment the waiter's condition becomes true, and it changes from the
//!   value the waiter saw at most once before that (a slot being released
//!   before it is written), so sleeping "while the stamp holds the value I
//!   saw" never sleeps past the event. A producer waits on the stamp of the
//!   slot of `tail` for the consumer of the previous lap to release it.
//! - Waiters announce themselves with a counter (any number of them), and a
//!   publication or release wakes **all** sleepers of that slot's stamp
//!   (only when the counter says someone sleeps at all). Waking one would be
//!   wrong: every consumer asleep on a slot waits for the same position, one
//!   of them gets it, and the others must move on to the next position. A
//!   sleeper left behind on the taken slot would sleep through every later
//!   publication (they go to other slots), with items in the ring.
//!
//! A ring is created for sleeping or for spinning waiters
//! ([`Options::waking`]); each endpoint's notifier must match
//! ([`Error::NotifyMismatch`]).
//!
//! # The peer is untrusted
//! Every `tail`, `head` and stamp this side loads is used only through a
//! local copy, every slot index is masked into the slot array, and a stamp
//! must be one of the few values the protocol can produce relative to the
//! position just loaded (free, published, or an earlier or later lap of the
//! same slot). Anything else is [`Error::Corrupted`]. A stamp that claims
//! that the position was already taken is checked against a fresh load of
//! the position word: if that did not move, the stamp lies
//! ([`Error::Corrupted`]). A position word that moves backwards is
//! [`Error::Corrupted`] too. Retries (a lost compare-and-swap, a position
//! that moved) are normal under contention, but each retry means that
//! another endpoint made progress; a peer that rewrites a position word
//! continuously could keep that up forever, so one call gives up after
//! [`RETRY_LIMIT`] retries with [`Error::Corrupted`] (losing that many races
//! in a row to honest endpoints would take them ~65 000 operations while
//! this call's thread completes none, and never happens in practice). No
//! call spins on a stamp without bound: a slot that another endpoint has
//! claimed and is still writing (reading) is waited for during at most
//! [`BUSY_SPINS`] spin hints, then it is [`Error::Busy`] for `try_pop`
//! (`try_push`), and a sleep for the blocking forms. (A push that waited
//! so for its slot then waits at most as long again for the rest of that
//! slot's cache line: see "Hand-over by the line" below.)
//!
//! # `Empty`, `Full` and `Busy`
//! A position belongs to the queue from the compare-and-swap that claims
//! it, but its slot is usable only after the claimant's stamp store. The
//! answers of the `try_` calls keep the two apart, so that each means what
//! it says (crossbeam's `ArrayQueue` waits for the claimant without bound
//! instead; a peer here may be dead, so the wait is bounded):
//!
//! | `try_pop` answers | when | `try_push` answers | when |
//! |---|---|---|---|
//! | [`Error::Empty`] | no position is claimed (`tail == head`): empty at that instant | [`Error::Full`] | `capacity` positions are claimed (`tail == head + capacity`): full at that instant |
//! | [`Error::Busy`] | a producer claimed the position at `head` and has not published it within [`BUSY_SPINS`] spin hints | [`Error::Busy`] | a consumer claimed the previous lap's item in the slot `tail` needs and has not released it within [`BUSY_SPINS`] spin hints |
//!
//! `Busy` is a flow condition like the other two: retry, or use the
//! blocking forms, which sleep on the slot's stamp for all three. A claim
//! that stays `Busy` may belong to an endpoint that died ([`Ring::stalled`],
//! [`recovery`]). So a thread that pushed an item and then pops never sees
//! `Empty` before it gets an item, and one that popped and then pushes
//! never sees `Full` (the tests `empty_means_empty` and `full_means_full`,
//! in the shape of crossbeam-queue's `linearizable`, and two loom models).
//! [`Ring::is_empty`] and [`Ring::is_full`] tell the same from the position
//! words alone ([`Ring::len`]: a peer's corrupted word reads as the
//! capacity there, and the next push or pop reports [`Error::Corrupted`]).
//!
//! # Batches
//! [`Producer::push_partial_slice`] and [`Consumer::pop_partial_slice`]
//! (and the all-or-nothing `_entire_` forms) claim a *run* of positions
//! with one compare-and-swap: from the position word `p` on, they load the
//! stamps of the slots of `p, p + 1, …` while each is ready (free for its
//! position, or published for it), up to the length asked for, and then
//! move the word from `p` to `p + n` at once. This is sound for the same
//! reason as the single claim: a ready stamp changes only when the
//! claimant of that position finishes it, and the successful
//! compare-and-swap proves that nobody had claimed `p..p + n` (the word
//! still read `p`), so it makes this endpoint the claimant of all of them,
//! each slot still as ready as its stamp said. A run stops at the first
//! slot that is not ready, so a batch never waits for another endpoint in
//! the middle of its run; only its first slot is classified (`Full`,
//! `Empty`, `Busy`, [`Error::Corrupted`]) as a single call would. After the
//! claim, each item is written and published (read and released) slot by
//! slot, so the other side can start on the first while the last are being
//! moved; one fence then covers the wake-up check of the whole run.
//!
//! A batch is not atomic for the other side: consumers may take the first
//! items of a run before its last are published, and a producer's run may
//! be taken by several consumers. A consumer's batch holds up to its
//! length of items at once, so a consumer that dies mid-batch loses up to
//! that many ([`recovery`]). An endpoint with an [`Intent`] announces the
//! whole run (first position, length): a survivor attributes a stalled
//! position inside it with [`Intent::covers`], not [`Intent::names`] (the
//! hosted channels judge single claims only, and offer no batches yet).
//!
//! # Hand-over by the line
//! A producer that is faster than the consumers fills the ring and then
//! works one lap behind them, on the very cache line they are reading: a
//! 64-byte line holds four slots of a `u64`, and each store of one side
//! takes the line from the other, whose next slot is on it. Left alone,
//! the two sides pass the line back and forth once or twice per item and
//! the ring moves at a fraction of its speed (crossbeam's `ArrayQueue` has
//! the same trap). So a push that found its slot still being read
//! ([`Error::Busy`]'s case) and then saw it released waits a moment more,
//! polling at growing intervals the stamp of the last slot on the same
//! line, until the consumers have released that one too (at most
//! [`BUSY_SPINS`] spin hints), and then fills the line without a consumer
//! on it. The ring is full when this happens, so the push gives up no
//! latency that matters, and the consumers lose one hand-over per line
//! instead of several. It is a hint only: nothing is decided from the
//! stamp it watches. Pops do not do the same for producers: a pop that
//! found its item being written may be the only item for a while (a
//! request in a round trip), and waiting would add to its latency.
//!
//! # Positions, wrap-around and the ABA bound
//! Positions wrap at 2^32 and are compared with wrapping arithmetic; a
//! stamp's distance to a position is read as a signed 32-bit number. This is
//! sound while two things hold:
//! - no endpoint sees a position more than 2^31 − capacity positions stale,
//!   which is why the capacity is at most [`MAX_CAPACITY`] (2^30); a thread
//!   stalled mid-call for longer gets a spurious `Full`, `Empty` or
//!   `Corrupted` from that call, never unsafety;
//! - **ABA bound**: a compare-and-swap on `tail` (`head`) could succeed on a
//!   stale view only if, between this endpoint's load of the position and
//!   its compare-and-swap, the other producers (consumers) completed a
//!   multiple of 2^32 operations. At 100 million operations per second that
//!   takes a thread stalled for 43 seconds in the middle of one `try_push`.
//!
//! # A peer that dies mid-operation
//! A producer that dies between claiming a position (moving `tail`) and
//! publishing its stamp leaves a *hole*: a slot that looks *not yet
//! written*, with every later item queued behind it. A consumer that dies
//! between claiming a position and releasing its slot holds that slot, and
//! producers are [`Error::Busy`] one lap later. By itself the ring cannot
//! tell either from a slow endpoint: consumers return [`Error::Busy`] for
//! the hole (after at most [`BUSY_SPINS`] spin hints), blocking calls sleep
//! and honour their timeouts. [`Ring::stalled`] reports both.
//!
//! Endpoints that announce their claims in an
//! [`Intent`] ([`Producer::with_intent`],
//! [`Consumer::with_intent`]) make every such claim attributable: a
//! survivor that judged (from the intents and the endpoints' liveness)
//! that the claimant is dead skips the hole
//! ([`Consumer::skip_unpublished`]) or releases the slot
//! ([`Producer::release_unreleased`]), with compare-and-swaps that
//! racing survivors and a late honest endpoint cannot be hurt by. The
//! dead producer's item was never committed and is not delivered; the
//! item a dead consumer held was committed and is lost, and counted. See
//! [`recovery`] for the states, the proof sketch and the counters; the
//! hosted channels (`ipckit::channel::mpmc`) do the judging.
//!
//! A waiter that dies asleep leaves its announcement counted: every later
//! publication (release) then issues a wake call, with a futex a system
//! call, until the counter is repaired; slower, still correct.
//!
//! # Availability
//! The ring needs compare-and-swap. It exists on every target that has
//! 32-bit compare-and-swap (`cfg(target_has_atomic = "32")`). On `thumbv6m`
//! (Cortex-M0/M0+) it exists only with the `critical-section` feature, whose
//! compare-and-swap masks interrupts: valid between an interrupt handler and
//! `main` of one core, never between two cores or processes (a lock-based
//! atomic excludes nothing there; see [`crate::region`]).
//!
//! # Example: two producer threads and two consumer threads
//! ```
//! use ipckit_core::{mpmc, AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 384 + 64 * 8 }>::new();
//! let ring = mpmc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 64)?;
//! let total = std::sync::atomic::AtomicU64::new(0);
//! std::thread::scope(|s| {
//!     for id in 0..2u32 {
//!         let tx = ring.producer().unwrap();
//!         s.spawn(move || {
//!             for i in 0..1000 {
//!                 tx.push(id * 1000 + i).unwrap(); // spins while full
//!             }
//!         });
//!     }
//!     for _ in 0..2 {
//!         let rx = ring.consumer().unwrap();
//!         let total = &total;
//!         s.spawn(move || {
//!             for _ in 0..1000 {
//!                 let v = rx.pop().unwrap();
//!                 total.fetch_add(u64::from(v), std::sync::atomic::Ordering::Relaxed);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(total.into_inner(), (0..2000u64).sum());
//! assert_eq!(ring.consumer()?.try_pop(), Err(Error::Empty));
//! # Ok::<(), Error>(())
//! ```
#![cfg(ipckit_cas)]

mod consumer;
mod layout;
mod producer;
pub mod recovery;
mod ring;
mod step;

pub use consumer::Consumer;
pub use layout::Stamps;
pub use producer::Producer;
pub use recovery::{Recoveries, Skip};
pub use ring::{Ring, Stall};

pub use crate::place::Options;

#[cfg(doc)]
use crate::error::Error;
#[cfg(doc)]
use crate::intent::Intent;
use crate::region::LINE;
#[cfg(doc)]
use crate::region::{Header, ObjectKind};
#[cfg(doc)]
use crate::wait::Notify;
use step::withdraw;

/// Offset of slot 0 from the region base.
pub const DATA_OFFSET: usize = 3 * LINE;

/// The smallest capacity: with one slot, "published for position `p`" and
/// "free for position `p + 1`" would be the same stamp.
pub const MIN_CAPACITY: u32 = 2;

/// The largest capacity: stamps are compared with positions as signed
/// 32-bit distances, which needs a lap to be well below 2^31 (module docs).
pub const MAX_CAPACITY: u32 = 1 << 30;

/// How many times one operation retries after losing a race (a failed
/// compare-and-swap, a position that moved) before it reports
/// [`Error::Corrupted`]: only a peer that rewrites a position word
/// continuously gets there (module docs).
pub const RETRY_LIMIT: u32 = 1 << 16;

/// How many spin hints an operation waits, at most, for a slot that another
/// endpoint has claimed and is in the middle of writing (for a pop) or of
/// reading (for a push), before it reports [`Error::Busy`]. An endpoint is
/// normally inside that window for a few nanoseconds; answering `Busy` at
/// once would send a caller that backs off by yielding into a context
/// switch instead. The wait is bounded, so an
/// endpoint that died in the window costs microseconds, not a hang. (loom
/// models one spin: each is a scheduling point there.)
pub const BUSY_SPINS: u32 = if crate::sync::MODELLED { 1 } else { 64 };

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod line_tests;
#[cfg(test)]
mod tests;
