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
//! again later). Each release names the entry's ticket (its generation)
//! as the judgement observed it, so a judge late with its release frees
//! nothing once the entry changed hands (`ipckit_core::broadcast`'s
//! `Ring::release_entry`).

use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::broadcast;

use super::Topic;
use super::base::{Judge, publish_waiting};
use crate::channel::liveness::Membership;
use crate::channel::until;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::futex::Futex;

/// The intent position of a subscriber joining the table (its entry not
/// known yet).
pub(crate) const JOINING: u32 = u32::MAX;

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
    judge: Judge,
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
        let (end, member) = topic
            .base
            .claim_publisher(take_over, |r, n| r.reliable_publisher_with(n))?;
        Ok(Self {
            end,
            member,
            topic,
            judge: Judge::default(),
        })
    }

    /// Publishes `value` if every live subscriber has read the item it
    /// overwrites; [`Error::Full`] if not (nothing written). A full ring
    /// is judged at most once a millisecond: entries of dead subscribers
    /// are released and the publication tried again.
    pub fn try_publish(&mut self, value: T) -> Result<()> {
        let (end, base) = (&mut self.end, &self.topic.base);
        self.judge
            .try_twice(base, &self.member, || end.try_publish(value))
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
        publish_waiting(
            self,
            timeout,
            |s, t| match t {
                None => s.end.publish(value),
                Some(t) => s.end.publish_timeout(value, t),
            },
            |s| s.topic.base.release_dead(&s.member),
        )
        .map_err(|e| self.topic.base.named(e))
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.end.capacity()
    }

    super::accessors::publisher_accessors!(Topic<T>);
}
