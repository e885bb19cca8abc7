//! The `pubsub` kinds: a topic of `[u64; 4]` items, one publisher (worker
//! 0) and three subscribers, each subscriber checking what it receives as
//! it goes (its checks die with it; the counts are in the side channel).
//!
//! An item is `[tag, position, mix(tag ^ mix(position)), !tag]`: the
//! publisher's ring position (`position()` before the publish; a
//! successor resumes at `tail`, so positions stay consecutive across
//! kills) next to its number. A subscriber starts at `Start::Next` (three
//! in four) or `Start::Oldest`, notes its `position()` and the topic's
//! `tail` after the join, then for each receive:
//! - an item: its checksum and position; it is from the publisher and
//!   numbered below `SENT` (never invented); its position is the expected
//!   one (a smaller one is a duplicate, a larger one a silent loss); its
//!   number follows the previous one (in order, no duplicates); and when no
//!   lag came between them, every number in between is one a publisher
//!   killed with that send in flight left uncertain: a number whose
//!   publish returned `Ok` is never missing between two consecutive
//!   positions;
//! - `Lagged(n)`: `1 <= n <= 2^31`, the expected position moves by `n`, so
//!   that items received plus items reported lost equal the positions
//!   published since the join, exactly. On a reliable topic a lag is a
//!   loss (counted in `W_LOST`) except for a subscriber that joined at
//!   `Oldest`, for items before the `tail` it read after its join (the
//!   core's "Joining": items published while it joins may be lost);
//!   A lag whose subscriber finds its table entry no longer its own (not
//!   active, or named by another live subscriber: `topic_entry`) is
//!   counted apart (`W_FREED`, an entry freed under a live member, which
//!   the tickets of LAYOUT.md section 17.1 rule out) and fails the run too;
//! - at the end, drained (`PeerGone`): its position is the expected one
//!   and equals `tail`.
//!
//! So for a reliable topic: every message whose publish returned `Ok` after
//! a subscriber's join (it read `tail` at its start) reaches it, in order,
//! once, as long as it lives and its entry stays its own. Not checked:
//! which messages a subscriber killed meanwhile had received.

use std::time::Duration;

use ipckit::error::Error;
use ipckit::pubsub::{self, Policy, Publisher, ReliablePublisher, Start, Subscriber, Topic};
use ipckit::shm::ShmObject;

use crate::child::{Ctx, anomaly};
use crate::kinds::{Got, Kind, Rx, Tx, mix, tag, untag};
use crate::side::*;
use crate::support::Rng;
use crate::topic_entry;

/// Slots: small, so that lossy subscribers lag and the reliable publisher
/// waits.
const CAPACITY: usize = 16;
/// Table entries of the reliable topic: one more than the subscribers,
/// so that a new subscriber finds one while a killed one's is not
/// released yet.
const TABLE: usize = 4;

type Item = [u64; 4];

fn item(t: u64, pos: u32) -> Item {
    [t, u64::from(pos), mix(t ^ mix(u64::from(pos))), !t]
}

/// Creates the topic `name` of `kind`.
pub fn create(kind: Kind, name: &str) -> Result<(), Error> {
    let b = pubsub::topic::<Item>(name).capacity(CAPACITY);
    let b = match kind {
        Kind::PubsubReliable => b.subscribers(TABLE).policy(Policy::Reliable),
        _ => b,
    };
    drop(b.create()?);
    Ok(())
}

fn open(name: &str) -> Result<Topic<Item>, Error> {
    pubsub::topic::<Item>(name).open()
}

enum Pub {
    Lossy(Publisher<Item>),
    Reliable(ReliablePublisher<Item>),
}

/// The publisher and the item it publishes next.
struct TopicTx {
    tx: Pub,
    next: Item,
}

impl Tx for TopicTx {
    fn load(&mut self, p: usize, seq: u64) {
        let pos = match &self.tx {
            Pub::Lossy(tx) => tx.position(),
            Pub::Reliable(tx) => tx.position(),
        };
        self.next = item(tag(p, seq), pos);
    }

    fn send(&mut self, timeout: Duration) -> Result<(), Error> {
        match &mut self.tx {
            Pub::Lossy(tx) => {
                tx.publish(self.next);
                Ok(())
            }
            Pub::Reliable(tx) => tx.publish_timeout(self.next, timeout),
        }
    }
}

/// The publisher of `name` (the object, opened to check it is there, is
/// dropped: a topic is opened by name): claimed, or taken over.
pub fn open_tx(kind: Kind, name: &str, obj: ShmObject, take: bool) -> Result<Box<dyn Tx>, Error> {
    drop(obj);
    let topic = open(name)?;
    let tx = match (kind, take) {
        (Kind::PubsubReliable, false) => Pub::Reliable(topic.reliable_publisher()?),
        (Kind::PubsubReliable, true) => Pub::Reliable(topic.take_over_reliable_publisher()?),
        (_, false) => Pub::Lossy(topic.publisher()?),
        (_, true) => Pub::Lossy(topic.take_over_publisher()?),
    };
    Ok(Box::new(TopicTx { tx, next: [0; 4] }))
}

/// A subscriber and the last item it got.
struct TopicRx {
    rx: Subscriber<Item>,
    last: Item,
}

impl Rx for TopicRx {
    fn recv(&mut self, timeout: Duration, _: bool) -> Result<Got, Error> {
        match self.rx.recv_timeout(timeout) {
            Ok(it) => {
                self.last = it;
                Ok(Got::Sample {
                    tag: it[0],
                    pos: it[1] as u32,
                })
            }
            Err(Error::Lagged(n)) => Ok(Got::Lagged(n)),
            Err(e) => Err(e),
        }
    }

    fn check(&self) -> Result<(), String> {
        let it = self.last;
        if it != item(it[0], it[1] as u32) || it[1] >> 32 != 0 {
            return Err(format!("item {it:x?}: checksum words do not match its tag"));
        }
        Ok(())
    }

    fn positions(&self) -> Option<(u32, u32)> {
        Some((self.rx.position(), self.rx.topic().tail()))
    }
}

/// A subscriber of `name` (see [`open_tx`] for `obj`), at `Start::Next`
/// three times in four, else at `Start::Oldest`.
pub fn open_rx(name: &str, obj: ShmObject, rng: u64) -> Result<Box<dyn Rx>, Error> {
    drop(obj);
    let start = if starts_next(rng) {
        Start::Next
    } else {
        Start::Oldest
    };
    let rx = open(name)?.subscriber_from(start)?;
    Ok(Box::new(TopicRx { rx, last: [0; 4] }))
}

/// Whether the subscriber of a child with random seed `rng` starts at
/// `Start::Next` (else `Oldest`).
fn starts_next(rng: u64) -> bool {
    Rng(rng ^ 0x57a7).next() % 4 != 0
}

/// Whether position `a` comes before `b` (positions wrap).
fn before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) > 0
}

/// The subscriber joined: its position and the `tail` read after the
/// join (`positions`), `next` if it started at `Start::Next`.
pub fn joined(ctx: &Ctx, positions: Option<(u32, u32)>) {
    let (side, w) = (ctx.side, ctx.w);
    let (pos, tail) = positions.unwrap_or_default();
    let next = starts_next(ctx.rng);
    side.put(w, W_LAST, 0);
    side.put(w, W_JUST_LAGGED, 0);
    side.put(w, W_JOIN, u64::from(tail) | u64::from(next) << 32);
    side.put(w, W_POS, 1 << 32 | u64::from(pos));
}

fn expected(ctx: &Ctx) -> u32 {
    ctx.side.get(ctx.w, W_POS) as u32
}

/// An item with tag `t` at position `pos`, its checksum checked.
pub fn sample(ctx: &Ctx, t: u64, pos: u32) {
    let (side, w) = (ctx.side, ctx.w);
    let (p, seq) = untag(t);
    let sent = side.get(0, W_SENT);
    if p != 0 || seq >= sent {
        return anomaly(
            ctx,
            W_CORRUPT,
            &format!("item {p}:{seq} at position {pos} was never published (sent {sent})"),
        );
    }
    let want = expected(ctx);
    let lagged = side.get(w, W_JUST_LAGGED) != 0;
    if pos != want {
        let (field, what) = if before(pos, want) {
            (W_DUPS, "again, or before")
        } else {
            (
                W_SILENT,
                "after, without a Lagged report for the ones between:",
            )
        };
        anomaly(
            ctx,
            field,
            &format!("item {p}:{seq} at position {pos}, {what} the expected {want}"),
        );
    }
    let last = side.get(w, W_LAST);
    if last > 0 && seq < last {
        anomaly(
            ctx,
            W_DISORDER,
            &format!("item {p}:{seq} after {p}:{}", last - 1),
        );
    } else if last > 0 && pos == want && !lagged {
        // Consecutive positions: every number between was never
        // published, so its publish never returned `Ok`.
        if let Some(n) = (last..seq).find(|&n| !side.bit(UNCERTAIN, n)) {
            anomaly(
                ctx,
                W_LOST,
                &format!(
                    "message {p}:{n}, published with Ok, missing between {p}:{} (position {}) \
                     and {p}:{seq} (position {pos})",
                    last - 1,
                    pos.wrapping_sub(1)
                ),
            );
        }
    }
    if last == 0 || seq >= last {
        side.put(w, W_LAST, seq + 1);
    }
    side.put(w, W_POS, 1 << 32 | u64::from(pos.wrapping_add(1)));
    side.put(w, W_JUST_LAGGED, 0);
    side.add(w, W_TAKEN, 1);
}

/// A `Lagged(n)` report.
pub fn lagged(ctx: &Ctx, n: u64, reliable: bool) {
    let (side, w) = (ctx.side, ctx.w);
    let want = expected(ctx);
    // A subscriber refuses a `tail` more than 2^31 ahead: no larger lag.
    if n == 0 || n > 1 << 31 {
        return anomaly(ctx, W_CORRUPT, &format!("Lagged({n}) at position {want}"));
    }
    let end = want.wrapping_add(n as u32);
    let join = side.get(w, W_JOIN);
    let (tail, next) = (join as u32, join >> 32 != 0);
    // A reliable topic loses only what an `Oldest` joiner found before
    // the tail of its join. A lag with the member's entry freed under it
    // is counted apart, to name the bug (both fail the run).
    if reliable && (next || before(tail, end)) {
        let (field, why) = match topic_entry::freed_under_us(ctx.name) {
            Ok(why) => (W_FREED, format!("its entry was freed under it: {why}")),
            Err(why) => (W_LOST, why),
        };
        anomaly(
            ctx,
            field,
            &format!(
                "reliable topic: Lagged({n}) at position {want} (joined at {}, tail {tail}); \
                 {why}",
                if next { "Next" } else { "Oldest" }
            ),
        );
    }
    side.put(w, W_POS, 1 << 32 | u64::from(end));
    side.put(w, W_JUST_LAGGED, 1);
    side.add(w, W_LAGS, n);
    side.add(w, W_LAG_EVENTS, 1);
}

/// Drained (`PeerGone` with the publisher gone): the subscriber's
/// position is the expected one and `tail`.
pub fn drained(ctx: &Ctx, positions: Option<(u32, u32)>) {
    let (pos, tail) = positions.unwrap_or_default();
    let want = expected(ctx);
    if pos != want || pos != tail {
        anomaly(
            ctx,
            W_SILENT,
            &format!("drained at position {pos}, expected {want}, tail {tail}"),
        );
    }
}
