//! The publisher of a reliable topic, and the release of subscriber-table
//! entries that no live subscriber owns (the [module
//! docs](super#delivery-policies); `docs/LAYOUT.md` section 18).
//!
//! Entry ↔ record: a subscriber of a reliable topic records the table
//! entry it holds in the intent of its liveness consumer slot: `(entry,
//! 1)`, or `(JOINING, 1)` while it joins (before the core's claim, whose
//! index it cannot know yet), cleared after it left the table. A
//! survivor (the publisher held back, a subscriber finding the table
//! full) releases every entry that is not free and that no *live* slot's
//! intent names, unless a live slot announces `JOINING` (then it judges
//! again later).

use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::broadcast::{self, FREE, Ring};

use super::{Topic, claim_publisher};
use crate::channel::liveness::{Block, Membership};
use crate::channel::{Look, blocking_recovering, until};
use crate::error::{CoreError, Error, Result, Role};
use crate::futex::Futex;

/// The intent position of a subscriber joining the table (its entry not
/// known yet).
pub(crate) const JOINING: u32 = u32::MAX;

/// How often a `try_publish` that finds the ring full judges the members
/// holding it back (`/proc` reads): a caller spinning on `Full` costs a
/// few loads per call between judgements.
const JUDGE_EVERY: Duration = Duration::from_millis(1);

/// The one publisher of a [reliable](super::Policy::Reliable) topic: it
/// never overwrites an item a live subscriber has not read.
/// [`try_publish`](Self::try_publish) fails with [`Error::Full`] while the
/// slowest live subscriber is a whole ring behind;
/// [`publish`](Self::publish) waits for it (sleeping in a shared futex,
/// woken by the subscriber that reads). A subscriber that dies stops
/// holding it back once its death is seen (a pidfd while the publisher
/// sleeps; `/proc` when `try_publish` finds the ring full): its table
/// entry is released. With no subscriber in the table it publishes
/// freely (and the items nobody read are overwritten, as on a lossy
/// topic).
///
/// ```
/// use ipckit::pubsub::{self, Policy};
///
/// let name = format!("doc-reliable-{}", std::process::id());
/// let topic = pubsub::topic::<u32>(&name).capacity(4).subscribers(2)
///     .policy(Policy::Reliable).create()?;
/// let mut tx = topic.reliable_publisher()?;
/// let mut rx = topic.subscriber()?;
/// for v in 0..4 {
///     tx.try_publish(v)?;
/// }
/// assert!(tx.try_publish(4).unwrap_err().is_full()); // rx read nothing
/// assert_eq!(rx.recv()?, 0);
/// assert_eq!(rx.recv()?, 1);
/// tx.publish(4)?; // room again
/// drop(rx); // no subscriber: nothing holds the publisher back
/// for v in 5..100 {
///     tx.publish(v)?;
/// }
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct ReliablePublisher<T: Pod> {
    // Field order is drop order, as for the lossy `Publisher`.
    end: broadcast::ReliablePublisher<'static, T, Futex>,
    member: Membership,
    topic: Topic<T>,
    /// When `try_publish` last judged the table.
    judged: Option<Instant>,
}

impl<T: Pod> std::fmt::Debug for ReliablePublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::ReliablePublisher")
            .field("topic", &self.topic)
            .field("position", &self.end.position())
            .finish_non_exhaustive()
    }
}

impl<T: Pod> ReliablePublisher<T> {
    /// Claims the role on `topic` as the lossy publisher does.
    pub(super) fn new(topic: Topic<T>, take_over: bool) -> Result<Self> {
        let (end, member) =
            claim_publisher(&topic, take_over, |r, n| r.reliable_publisher_with(n))?;
        Ok(Self {
            end,
            member,
            topic,
            judged: None,
        })
    }

    /// Publishes `value` if every live subscriber has read the item it
    /// overwrites; [`Error::Full`] if not (nothing written). A full ring
    /// is judged at most once a millisecond: entries of dead subscribers
    /// are released and the publication tried again.
    pub fn try_publish(&mut self, value: T) -> Result<()> {
        match self.end.try_publish(value) {
            Err(CoreError::Full) => {}
            other => return other.map_err(|e| self.named(e.into())),
        }
        let now = Instant::now();
        if self
            .judged
            .is_some_and(|t| now.duration_since(t) < JUDGE_EVERY)
        {
            return Err(Error::Full);
        }
        self.judged = Some(now);
        if !self.release_dead()? {
            return Err(Error::Full);
        }
        self.end
            .try_publish(value)
            .map_err(|e| self.named(e.into()))
    }

    /// Publishes `value`, waiting while the slowest live subscriber is a
    /// whole ring behind (dead ones are released when seen).
    /// [`Error::Channel`] for a table entry no honest subscriber writes.
    pub fn publish(&mut self, value: T) -> Result<()> {
        self.publish_within(value, None)
    }

    /// [`publish`](Self::publish) for at most `timeout`
    /// ([`Error::TimedOut`], nothing written).
    pub fn publish_timeout(&mut self, value: T, timeout: Duration) -> Result<()> {
        self.publish_within(value, Some(timeout))
    }

    /// [`publish`](Self::publish) until `deadline` at the latest.
    pub fn publish_deadline(&mut self, value: T, deadline: Instant) -> Result<()> {
        self.publish_timeout(value, until(deadline))
    }

    fn publish_within(&mut self, value: T, timeout: Option<Duration>) -> Result<()> {
        blocking_recovering(
            self,
            timeout,
            |s, t| match t {
                None => s.end.publish(value),
                Some(t) => s.end.publish_timeout(value, t),
            },
            // Subscribers leaving is no reason to stop: the publisher then
            // publishes freely.
            |_| None,
            |s, _| match s.release_dead()? {
                true => Ok(Look::Recovered),
                false => Ok(Look::Nothing),
            },
        )
        .map_err(|e| self.named(e))
    }

    /// Releases the table entries no live subscriber owns (module docs):
    /// `true` if it released any.
    fn release_dead(&self) -> Result<bool> {
        let notify = self.member.notifier();
        release_orphans(&self.topic.ring, &self.topic.block, &notify)
            .map_err(|e| Error::from(e).in_channel(|| self.topic.describe()))
    }

    /// A core error of the ring (`Corrupted`) as one naming the topic.
    fn named(&self, e: Error) -> Error {
        e.in_channel(|| self.topic.describe())
    }

    /// The next position this publisher writes (a free-running count of
    /// the items published, wrapping at 2^32).
    pub fn position(&self) -> u32 {
        self.end.position()
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.end.capacity()
    }

    /// The topic (for more subscribers).
    pub fn topic(&self) -> &Topic<T> {
        &self.topic
    }

    /// The memory the topic lives in.
    pub fn memory(&self) -> &crate::channel::Memory {
        self.topic.memory()
    }

    /// Waits (at most `timeout`) until `subscribers` subscribers have
    /// joined, then removes the topic's name; see
    /// [`Publisher::remove_name_after`](super::Publisher::remove_name_after).
    pub fn remove_name_after(&self, subscribers: u32, timeout: Duration) -> Result<()> {
        crate::channel::lifetime::remove_name_after(
            self.memory(),
            &self.member,
            subscribers,
            timeout,
        )
    }
}

/// The table entries that are not free, as a bit set (the table has at
/// most 64 entries: the builder's rule; a longer one's tail is ignored).
fn held<T: Pod>(ring: &Ring<'_, T>) -> ipckit_core::Result<u64> {
    let mut mask = 0;
    for e in 0..ring.table_len().min(64) {
        if ring.table_entry(e)?.0 != FREE {
            mask |= 1 << e;
        }
    }
    Ok(mask)
}

/// The entries live subscribers own (their slots' intents), or `None`
/// while a live subscriber is joining (it may own any entry).
fn owned(block: &Block) -> Option<u64> {
    let me = std::process::id();
    let mut mask = 0u64;
    for i in 0..block.slots() {
        let (entry, span) = block.intent(Role::Consumer, i).read();
        if span == 0 {
            continue; // no entry: no `/proc` read
        }
        if !block.snapshot(Role::Consumer, i).alive(me) {
            continue; // closed or dead: it owns nothing any more
        }
        match entry {
            JOINING => return None,
            e if e < 64 => mask |= 1 << e,
            _ => {} // a forged intent: names no entry
        }
    }
    Some(mask)
}

/// Releases the entries of `ring`'s table that are not free and that no
/// live subscriber recorded in `block` owns (module docs), waking a
/// waiting publisher through `notify`: `true` if it released any. Judged
/// twice (entries, owners, entries, owners): an entry freed by a leaving
/// owner and claimed by a newcomer during the first judgement is seen
/// owned in the second.
pub(crate) fn release_orphans<T: Pod>(
    ring: &Ring<'_, T>,
    block: &Block,
    notify: &Futex,
) -> ipckit_core::Result<bool> {
    let mut orphans = held(ring)?;
    for _ in 0..2 {
        if orphans == 0 {
            return Ok(false);
        }
        let Some(owned) = owned(block) else {
            return Ok(false);
        };
        orphans &= !owned & held(ring)?;
    }
    let Some(owned) = owned(block) else {
        return Ok(false);
    };
    orphans &= !owned;
    for e in 0..64 {
        if orphans & (1 << e) != 0 {
            // SAFETY: no live subscriber's record names entry `e`, and
            // none is joining: its member (if any) belongs to a process
            // that died or left the table, and is never used again (the
            // module docs' record protocol).
            unsafe { ring.release_member(e, notify)? };
        }
    }
    Ok(orphans != 0)
}
