//! A subscriber of a topic: the core subscriber (its own position, no
//! claim) with a liveness record, and the channels' blocking loop.

use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::broadcast;
use ipckit_core::intent::Intent;

use super::reliable::{JOINING, release_orphans};
use super::{Lossy, Policy, Start, Topic};
use crate::channel::builder::sealed;
use crate::channel::iter::source::Source;
use crate::channel::liveness::Membership;
use crate::channel::{
    Endpoint, Iter, Memory, Mode, TryIter, blocking, empty_or_closed, lifetime, until,
};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result, Role};
use crate::futex::Futex;

/// A subscriber of a [topic](super): it reads every item published after
/// its start, in order, unless it falls a lap behind; the receive that
/// finds out returns [`Error::Lagged`]`(n)` (the `n` items lost), and the
/// next one the oldest item still there.
///
/// Receives come in the channels' forms: [`try_recv`](Self::try_recv)
/// (never waits), [`recv`](Self::recv) (sleeps in a shared futex),
/// [`recv_timeout`](Self::recv_timeout) and
/// [`recv_deadline`](Self::recv_deadline); [`iter`](Self::iter) yields
/// `Lagged` as an item and ends once the publisher is gone and every item
/// is read. Example: the [module docs](super).
pub struct Subscriber<T: Pod> {
    // Drop order: the core end (a member frees its table entry), then the
    // record of that entry (the slot's intent), then the liveness slot
    // closes, then the mapping goes.
    end: Reader<T>,
    _record: Record,
    member: Membership,
    topic: Topic<T>,
}

/// The core end: a claim-free subscriber (lossy topic) or a table member
/// (reliable topic).
enum Reader<T: Pod> {
    Lossy(broadcast::Subscriber<'static, T, Futex>),
    Member(broadcast::Member<'static, T, Futex>),
}

/// Dispatches `$call` to the reader's core end.
macro_rules! reader {
    ($reader:expr, $end:ident => $call:expr) => {
        match $reader {
            Reader::Lossy($end) => $call,
            Reader::Member($end) => $call,
        }
    };
}

impl<T: Pod> Reader<T> {
    fn try_recv(&mut self) -> ipckit_core::Result<T> {
        reader!(self, e => e.try_recv())
    }
    fn recv(&mut self) -> ipckit_core::Result<T> {
        reader!(self, e => e.recv())
    }
    fn recv_timeout(&mut self, t: Duration) -> ipckit_core::Result<T> {
        reader!(self, e => e.recv_timeout(t))
    }
    fn position(&self) -> u32 {
        reader!(self, e => e.position())
    }
    fn len(&self) -> usize {
        reader!(self, e => e.len())
    }
    fn capacity(&self) -> u32 {
        reader!(self, e => e.capacity())
    }
}

/// The record of a member's table entry: its liveness slot's intent
/// (`docs/LAYOUT.md` section 18), cleared when dropped, after the member
/// left the table.
struct Record(Option<&'static Intent>);

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(intent) = self.0 {
            intent.clear();
        }
    }
}

impl<T: Pod> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Subscriber")
            .field("topic", &self.topic)
            .field("position", &self.end.position())
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Subscriber<T> {
    /// A subscriber of `topic` at `start`, recorded in a free, closed or
    /// dead subscriber slot; on a reliable topic also a member of the
    /// table, its entry recorded in the slot's intent.
    pub(super) fn new(topic: Topic<T>, start: Start) -> Result<Self> {
        let named = |e: crate::Error| e.in_channel(|| topic.describe());
        let member = Membership::claim_any(topic.block, Role::Consumer).map_err(named)?;
        let (end, record) = match topic.ring.policy() {
            Policy::Lossy => {
                let end = topic
                    .ring
                    .subscriber_with(member.notifier(), start)
                    .map_err(|e| named(e.into()))?;
                (Reader::Lossy(end), Record(None))
            }
            Policy::Reliable => {
                let end = join(&topic, &member, start).map_err(named)?;
                (Reader::Member(end), Record(Some(member.intent())))
            }
        };
        Ok(Self {
            end,
            _record: record,
            member,
            topic,
        })
    }

    /// A second subscriber at the same position, with its own record (on
    /// a reliable topic, its own table entry: it joins at the oldest item
    /// and reads up to this one's position, which holds the publisher
    /// back meanwhile).
    pub fn try_clone(&self) -> Result<Self> {
        let mut clone = Self::new(self.topic.clone(), Start::Oldest)?;
        match &self.end {
            Reader::Lossy(end) => clone.end = Reader::Lossy(end.clone()),
            Reader::Member(_) => {
                let target = self.end.position();
                // Bounded: at most a ring of items and lag reports.
                for _ in 0..=2 * u64::from(clone.capacity()) + 2 {
                    if clone.end.position() == target {
                        break;
                    }
                    match clone.end.try_recv() {
                        Ok(_) | Err(CoreError::Lagged(_)) => {}
                        Err(e) => {
                            return Err(crate::Error::from(e).in_channel(|| self.topic.describe()));
                        }
                    }
                }
            }
        }
        Ok(clone)
    }

    /// The next item, or at once [`Error::Empty`] (nothing new),
    /// [`Error::Lagged`]`(n)` (`n` items overwritten unread: the next call
    /// returns the oldest one left), or [`Error::PeerGone`] instead of
    /// `Empty` once the publisher closed. No system call, no clock.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T> {
        match self.end.try_recv() {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || self.end.try_recv()),
            other => Ok(other?),
        }
    }

    /// The next item, waiting while there is none (a short spin, then a
    /// sleep that the next publication ends); `Lagged` as
    /// [`try_recv`](Self::try_recv); [`Error::PeerGone`] once every item
    /// is read and the publisher closed or died.
    pub fn recv(&mut self) -> Result<T> {
        self.recv_within(None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.recv_within(Some(timeout))
    }

    /// [`recv`](Self::recv), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T> {
        self.recv_timeout(until(deadline))
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit).
    fn recv_within(&mut self, timeout: Option<Duration>) -> Result<T> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| match t {
                None => end.recv(),
                Some(t) => end.recv_timeout(t),
            },
            || member.peer_gone(),
        )
    }

    /// A blocking iterator: items and `Lagged` reports, ending once the
    /// publisher is gone and every item is read ([`Iter`]).
    pub fn iter(&mut self) -> Iter<&mut Self> {
        Iter::new(self)
    }

    /// An iterator over what is published and unread now ([`TryIter`]).
    pub fn try_iter(&mut self) -> TryIter<&mut Self> {
        TryIter::new(self)
    }

    /// Items published and not read yet, as far as they are still in the
    /// ring (at most the capacity).
    pub fn len(&self) -> usize {
        self.end.len()
    }

    /// `true` if nothing is published that this subscriber has not read.
    pub fn is_empty(&self) -> bool {
        self.end.len() == 0
    }

    /// The next position this subscriber reads.
    pub fn position(&self) -> u32 {
        self.end.position()
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.end.capacity()
    }

    /// The topic (for more subscribers, or a publisher).
    pub fn topic(&self) -> &Topic<T> {
        &self.topic
    }

    /// The memory the topic lives in.
    pub fn memory(&self) -> &Memory {
        self.topic.memory()
    }

    /// `Some(`[`Error::PeerGone`]`)` if a publisher came and has since
    /// closed or died (none holds the role now); `None` while one lives or
    /// before the first came. Reads `/proc` for a recorded publisher.
    pub fn peer_gone(&self) -> Option<crate::Error> {
        self.member.peer_gone()
    }

    /// Waits (at most `timeout`) until a publisher has joined the topic,
    /// then removes its name (see [`Publisher::remove_name_after`]).
    ///
    /// [`Publisher::remove_name_after`]: super::Publisher::remove_name_after
    pub fn remove_name_after(&self, timeout: Duration) -> Result<()> {
        lifetime::remove_name_after(self.memory(), &self.member, 1, timeout)
    }
}

impl<T: Pod> Source for Subscriber<T> {
    type Item = T;
    fn recv_item(&mut self) -> Result<T> {
        self.recv()
    }
    fn try_recv_item(&mut self) -> Result<T> {
        self.try_recv()
    }
}

/// [`Subscriber::iter`], owning the subscriber.
impl<T: Pod> IntoIterator for Subscriber<T> {
    type Item = Result<T>;
    type IntoIter = Iter<Self>;
    fn into_iter(self) -> Iter<Self> {
        Iter::new(self)
    }
}

/// [`Subscriber::iter`].
impl<'a, T: Pod> IntoIterator for &'a mut Subscriber<T> {
    type Item = Result<T>;
    type IntoIter = Iter<&'a mut Subscriber<T>>;
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

impl<T: Pod> sealed::Endpoint for Subscriber<T> {
    fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
        Topic::set_up(mem, mode, capacity, type_id)?.subscriber()
    }
}

impl<T: Pod> Endpoint for Subscriber<T> {
    type Kind = Lossy<T>;
}

/// Joins the table of `topic` for the subscriber recorded by `member`:
/// announces `JOINING` in its intent, joins, then records the entry. A
/// full table is judged once (entries no live subscriber owns are
/// released) before the join is tried again; still full:
/// `RoleTaken(Consumer)`.
fn join<T: Pod>(
    topic: &Topic<T>,
    member: &Membership,
    start: Start,
) -> Result<broadcast::Member<'static, T, Futex>> {
    let intent = member.intent();
    let attempt = || {
        // Before the claim (its compare-and-swap releases this store): a
        // survivor that sees the claimed entry sees the announcement.
        intent.announce(JOINING, 1);
        let joined = topic.ring.join_with(member.notifier(), start);
        match &joined {
            Ok(m) => intent.announce(m.index(), 1),
            Err(_) => intent.clear(),
        }
        joined
    };
    match attempt() {
        Err(CoreError::Full) => {}
        other => return Ok(other?),
    }
    release_orphans(&topic.ring, &topic.block, &member.notifier())?;
    match attempt() {
        Err(CoreError::Full) => Err(CoreError::RoleTaken(Role::Consumer).into()),
        other => Ok(other?),
    }
}
