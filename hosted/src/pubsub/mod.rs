//! Publish/subscribe by name: a *topic* is the core's lossy
//! [broadcast ring](crate::broadcast) in a named shared-memory object, with
//! the channels' liveness block beside it. One [`Publisher`] writes and
//! never waits; any number of [`Subscriber`]s, in any processes, join and
//! leave at run time and each reads every item it keeps up with. A
//! subscriber that falls a lap behind loses the oldest items and is told
//! exactly how many ([`Error::Lagged`]).
//!
//! ```
//! use std::time::Duration;
//! use ipckit::pubsub;
//!
//! let name = format!("doc-pubsub/arm/{}", std::process::id());
//! // The publisher's process:
//! let topic = pubsub::topic::<[f32; 3]>(&name).capacity(64).open_or_create()?;
//! let mut tx = topic.publisher()?;
//! // Any subscriber's process (two here):
//! let mut a = pubsub::topic::<[f32; 3]>(&name).open()?.subscriber()?;
//! let mut b = pubsub::topic::<[f32; 3]>(&name).open()?.subscriber()?;
//!
//! tx.publish([0.1, 0.2, 0.3]); // never waits, wakes sleeping subscribers
//! assert_eq!(a.recv_timeout(Duration::from_secs(1))?, [0.1, 0.2, 0.3]);
//! assert_eq!(b.recv()?, [0.1, 0.2, 0.3]);
//!
//! for i in 0..100 {
//!     tx.publish([i as f32; 3]); // 100 items, 64 slots: `a` loses 36
//! }
//! assert!(matches!(a.try_recv(), Err(ipckit::Error::Lagged(36))));
//! assert_eq!(a.try_recv()?, [36.0; 3]); // the oldest one left
//!
//! drop(tx); // the publisher leaves (or dies): once drained, `PeerGone`
//! let got: Vec<_> = b.iter().collect(); // ends at `PeerGone`
//! assert!(matches!(got[0], Err(ipckit::Error::Lagged(36))));
//! assert_eq!(got.len(), 1 + 64);
//! pubsub::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! # Making a topic
//! [`topic`]`::<T>(name)` (or, as the issue spelled it,
//! [`ipckit::pubsub::<T>(name)`](crate::pubsub())) starts a
//! [`TopicBuilder`]: the capacity (items,
//! rounded up to a power of two, default 1024), the object's `mode` and
//! the `trust` an open needs, as for a [channel](crate::channel); then
//! [`create`](TopicBuilder::create), [`open`](TopicBuilder::open) or
//! [`open_or_create`](TopicBuilder::open_or_create) give a [`Topic<T>`]
//! handle, from which [`publisher`](Topic::publisher) claims the one
//! publisher and [`subscriber`](Topic::subscriber) /
//! [`subscriber_from`](Topic::subscriber_from) make subscribers. Names
//! are the channels' ([names](crate::channel#names)): `"robot/arm/state"`
//! is the object `/dev/shm/ipckit-robot%2Farm%2Fstate`, listed by
//! `ipckit ls` and removed by [`remove`] (or `remove_name_after`, as for
//! channels). The channel [`Builder`] makes
//! topic ends too (`channel::Builder::<pubsub::Lossy<T>>::new().pair()`
//! gives a publisher and a subscriber on a memfd, `pair_for_child` one for
//! a child process).
//!
//! The topic records `T`: the core header its size and alignment, the
//! liveness block a message type id ([`pod_type_id`] of `T`, the FNV-1a
//! hash of its type name, size and alignment, as for every `Pod` channel;
//! or the id given to [`TopicBuilder::type_id`], 0 opting out): an open
//! with another id is [`Error::TypeMismatch`] naming the topic. A missing topic is [`Error::NotFound`], a header or
//! block that does not validate [`Error::Channel`] naming it.
//!
//! # Delivery (the lossy policy)
//! The publisher never waits for subscribers: a subscriber reads every item
//! in order as long as it stays less than a capacity behind; otherwise its
//! next receive returns [`Error::Lagged`]`(n)` once (`n` the items
//! overwritten before it read them) and then the oldest item still in the
//! ring. So `received + sum of lags == published` for every subscriber,
//! exactly. A new subscriber starts at the next item published
//! ([`Start::Next`]), or at the newest ([`Start::Latest`]) or oldest
//! ([`Start::Oldest`]) one still there. The core's [module
//! docs](crate::broadcast) have the algorithm (seqlock slots, Aeron's
//! broadcast buffer) and what a hostile peer can do.
//!
//! # Delivery policies
//! [`TopicBuilder::policy`] chooses, and the creator records in the ring's
//! header (an opener takes the topic's, or is refused if it states
//! another):
//!
//! - [`Policy::Lossy`] (the default, above): the publisher never waits.
//! - [`Policy::Reliable`]: back-pressure. The topic has a subscriber table
//!   ([`TopicBuilder::subscribers`]`(n)`, `n` ≤ 64, default 64): every
//!   [`Subscriber`] joins it and publishes how far it has read, and the
//!   publisher is a [`ReliablePublisher`] ([`Topic::reliable_publisher`]):
//!   [`try_publish`](ReliablePublisher::try_publish) fails with
//!   [`Error::Full`] while the slowest subscriber is a ring behind,
//!   [`publish`](ReliablePublisher::publish) and
//!   [`publish_timeout`](ReliablePublisher::publish_timeout) wait for it.
//!   A subscriber then never lags (but one that starts at
//!   [`Start::Oldest`] or [`Start::Latest`] may lose items published
//!   while it joins, reported as `Lagged` before any item from its join
//!   on; the core's docs, "Joining"). A subscriber that dies stops
//!   holding the publisher back once the publisher sees it dead (a pidfd
//!   while it sleeps, within milliseconds; `/proc` when `try_publish`
//!   finds the ring full, at most once a millisecond): its entry is
//!   released. With no subscriber in the table the publisher publishes
//!   freely: it never waits for subscribers that may never come. At most
//!   `n` subscribers at once (`RoleTaken(Consumer)` after that).
//!
//! ```
//! use ipckit::pubsub::{self, Policy};
//!
//! let name = format!("doc-pubsub-reliable-{}", std::process::id());
//! let topic = pubsub::topic::<u64>(&name)
//!     .capacity(8)
//!     .subscribers(4)
//!     .policy(Policy::Reliable)
//!     .open_or_create()?;
//! let mut tx = topic.reliable_publisher()?;
//! // Another process opens it without restating the policy:
//! let opened = pubsub::topic::<u64>(&name).open()?;
//! assert_eq!((opened.policy(), opened.subscribers()), (Policy::Reliable, 4));
//! let mut rx = opened.subscriber()?;
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for i in 0..1000 {
//!             tx.publish(i).unwrap(); // waits for `rx`: 8 slots only
//!         }
//!     });
//!     for i in 0..1000 {
//!         assert_eq!(rx.recv().unwrap(), i); // every item, in order
//!     }
//! });
//! // Stating another policy is refused, naming the topic.
//! let lossy = pubsub::topic::<u64>(&name).policy(Policy::Lossy).open();
//! assert!(lossy.unwrap_err().to_string().contains("doc-pubsub-reliable"));
//! pubsub::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! # Waiting and dead peers
//! `recv` and `recv_timeout` spin briefly, then sleep in a shared futex on
//! the ring's `tail` with an event count: a publication wakes every
//! sleeping subscriber with one `FUTEX_WAKE`, and makes no system call at
//! all while nobody sleeps. The publisher records itself in the liveness
//! block as a channel's single sender does: a sleeping subscriber hears of
//! its close at once (its state word) and of its death through a pidfd
//! (after the first 5 ms of a sleep), never by polling; it then drains
//! what is left and returns [`Error::PeerGone`]. The same subscriber goes
//! on receiving once a new publisher comes; until then every receive says
//! `PeerGone` again (a blocking one within the first 5 ms of its sleep),
//! so a subscriber that outlives publishers retries after a pause. A
//! subscriber that never saw a publisher waits for one. A dead publisher's role is taken over with
//! [`Topic::take_over_publisher`] (pid and start time checked); the new
//! publisher resumes at the published position, and an item the dead one
//! was writing is lost, never delivered torn.
//!
//! Subscribers record themselves too (up to
//! [`MAX_ENDPOINTS`] at once; a
//! dead one's record is reused), for `ipckit ls`, stale-object removal and
//! [`Publisher::remove_name_after`]; on a lossy topic they claim nothing
//! in the ring, so a subscriber that dies disturbs nobody (one killed while asleep leaves its
//! mark in the sleeper count: every later publication then makes one wake
//! call).
//!
//! An end belongs to the process that made it, as a channel endpoint
//! does ([processes and `fork`](crate::channel#processes-and-fork)): a
//! forked child opens the topic again (or claims a
//! [`ChildEnd`](crate::channel::ChildEnd) of a
//! `Builder::<Lossy<T>>::pair_for_child`).
//!
//! # Object layout
//! A topic is a [channel object](crate::channel#object-layout) of kind 7:
//! the core broadcast ring, padding to 4096, the liveness block (64 slots
//! per side: producer slot 0 is the publisher, the consumer slots the
//! subscribers). See [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#18-the-topic-object).
//!
//! A [byte topic](#byte-messages) is the same object of kind 8, the core
//! broadcast frame ring in place of the ring of items (section 18.2 of
//! the same document).
//!
//! A reliable topic's object has the subscriber table after the slots and
//! the liveness block after the table; each subscriber records the table
//! entry it holds in its liveness slot's intent (the section 18 link
//! above has the rule, and who releases what).
//!
//! # Byte messages
//! [`bytes`]`(name)` makes a topic of byte messages: the core's [broadcast frame
//! ring](ipckit_core::broadcast::frames) in a named object, with the typed
//! topic's liveness block, policies, take-over and release of dead
//! subscribers (one implementation serves both). Frames have any length up
//! to the topic's largest frame; the publisher writes one in place through
//! a [`Loan`] (zero copies on its side) or copies it in with
//! [`publish`](BytesPublisher::publish); a subscriber copies a frame out
//! ([`recv_into`](BytesSubscriber::recv_into)) or reads it in place
//! ([`try_read_with`](BytesSubscriber::try_read_with),
//! [`read_with_timeout`](BytesSubscriber::read_with_timeout)).
//!
//! ```
//! use std::time::Duration;
//! use ipckit::pubsub;
//!
//! let name = format!("doc-pubsub-bytes/{}", std::process::id());
//! let topic = pubsub::bytes(&name).capacity(64 * 1024).max_frame(1500).open_or_create()?;
//! assert_eq!((topic.max_frame(), topic.slots()), (2040, 32)); // slots of 2 KiB
//! let mut tx = topic.publisher()?;
//! let mut rx = pubsub::bytes(&name).open()?.subscriber()?;
//!
//! tx.publish(b"a whole frame")?; // copied in
//! let mut loan = tx.loan(5)?; // or written in place
//! loan.write_at(0, b"hello")?;
//! loan.publish();
//!
//! let mut buf = vec![0; 2048];
//! let len = rx.recv_into_timeout(&mut buf, Duration::from_secs(1))?;
//! assert_eq!(&buf[..len], b"a whole frame");
//! assert_eq!(rx.try_read_with(|frame| frame.len())?, 5); // in place
//! pubsub::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! ## Sizes of byte topics
//! [`max_frame`](BytesTopicBuilder::max_frame)`(n)` (default 1016) sets the
//! slot size: the smallest power of two of at least `n + 8` (and 16; the
//! slot holds a stamp and the length besides the frame), so the topic's
//! [`max_frame`](BytesTopic::max_frame) is at least `n`.
//! [`capacity`](BytesTopicBuilder::capacity) (default 64 KiB) is the data
//! area in bytes, rounded up to a power of two of at least two slots (at
//! most 2^30): a subscriber lags once it is `capacity / slot size` frames
//! behind. Both matter where the topic is created; an opener that states
//! a larger `max_frame` than the topic has is refused, naming it.
//!
//! Everything else is the typed topic's (above): the policies, the
//! subscriber table, waiting, `PeerGone`, take-over, the release of dead
//! reliable subscribers, names and errors. A byte topic is an object of
//! kind 8 (the typed one's kind 7): opening one as the other is
//! [`Error::Channel`] with
//! [`CoreError::KindMismatch`] naming the
//! topic. Its message type id is 0 unless [`type_id`](BytesTopicBuilder::type_id)
//! states one (for a versioned wire format, say).

mod accessors;
mod base;
mod bytes;
mod publisher;
mod reliable;
mod subscriber;
#[cfg(test)]
mod tests;

use std::marker::PhantomData;

use ipckit_core::Pod;
use ipckit_core::broadcast::{Options, Ring, Slots};

pub use crate::broadcast::{Policy, Start};
pub use bytes::{
    BytesPublisher, BytesSubscriber, BytesTopic, BytesTopicBuilder, DEFAULT_BYTES_CAPACITY,
    DEFAULT_MAX_FRAME, Frame, Loan, ReliableBytesPublisher, bytes,
};
pub use publisher::Publisher;
pub use reliable::ReliablePublisher;
pub use subscriber::Subscriber;

#[cfg(doc)]
use crate::channel::MAX_ENDPOINTS;
use crate::channel::builder::sealed;
use crate::channel::liveness::pod_type_id;
use crate::channel::{Builder, DEFAULT_ITEMS, Endpoint, Kind, Memory, Mode, object_name};
use crate::error::Result;
#[cfg(doc)]
use crate::error::{CoreError, Error};
use crate::shm::{ShmObject, Trust};
use base::{Base, Settings};

/// A builder of the topic `name` carrying `T` (see the [module
/// docs](self)).
///
/// ```
/// let name = format!("doc-topic-{}", std::process::id());
/// let topic = ipckit::pubsub::topic::<u64>(&name).capacity(1000).create()?;
/// assert_eq!(topic.capacity(), 1024);
/// ipckit::pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn topic<T: Pod>(name: &str) -> TopicBuilder<T> {
    TopicBuilder {
        settings: Settings::new(name),
        inner: Builder::new(),
    }
}

/// Removes the topic `name` (its object in `/dev/shm`): ends that have it
/// open keep it, nobody can open it by name any more.
/// [`Error::NotFound`] if there is none.
pub fn remove(name: &str) -> Result<()> {
    ShmObject::remove(object_name(name)?.as_str())
}

/// The settings of a topic and the calls that make its [`Topic`] handle:
/// [`topic`] starts one. The size matters only where the topic is
/// created.
#[derive(Clone)]
#[must_use = "a builder makes nothing until create, open or open_or_create"]
pub struct TopicBuilder<T> {
    settings: Settings,
    inner: Builder<Lossy<T>>,
}

impl<T: Pod> std::fmt::Debug for TopicBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicBuilder")
            .field("settings", &self.settings)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<T: Pod> TopicBuilder<T> {
    /// Room for `n` items (rounded up to a power of two, 2 to 2^30;
    /// default 1024): how far a subscriber may fall behind before it lags.
    pub fn capacity(mut self, n: usize) -> Self {
        self.inner = self.inner.capacity(n);
        self
    }

    /// The permission bits of a created object (default 0600; see
    /// [`Builder::mode`]).
    pub fn mode(mut self, mode: u32) -> Self {
        self.inner = self.inner.mode(mode);
        self
    }

    /// What an open accepts (default [`Trust::Owner`]; see
    /// [`Builder::trust`]).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.inner = self.inner.trust(trust);
        self
    }

    /// The message type id this side states (default [`pod_type_id`] of
    /// `T`; 0 opts out; see [`Builder::type_id`]): for peers built apart,
    /// [`type_id_of`](crate::channel::liveness::type_id_of) of a versioned
    /// name on both sides.
    pub fn type_id(mut self, id: u64) -> Self {
        self.inner = self.inner.type_id(id);
        self
    }

    /// A subscriber table of `n` entries (1 to
    /// [`MAX_ENDPOINTS`], the subscriber
    /// records a topic has): room for `n` subscribers of a
    /// [reliable](Policy::Reliable) topic at once. Default: none for a
    /// lossy topic, 64 for a reliable one. Recorded by the creator; an
    /// open that states it must match the topic ([`Error::Channel`] with
    /// [`CoreError::InvalidCapacity`]
    /// naming it).
    pub fn subscribers(mut self, n: usize) -> Self {
        self.settings.subscribers = Some(n);
        self
    }

    /// The delivery policy ([module docs](self#delivery-policies); default
    /// [`Policy::Lossy`]). Recorded by the creator in the ring's header; an
    /// open that states another is refused ([`Error::Channel`] with
    /// [`CoreError::PolicyMismatch`]
    /// naming the topic); one that states none takes the topic's.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.settings.policy = Some(policy);
        self
    }

    accessors::terminal_calls!(Topic<T>);

    /// The topic, created and/or opened.
    fn named(&self, create: bool, open: bool) -> Result<Topic<T>> {
        let options = self.settings.options(self.inner.effective_capacity()?)?;
        let object = self.inner.object();
        let type_id = self.inner.stated_type_id();
        let base = self
            .settings
            .named(create, open, options, object, type_id)?;
        Ok(Topic { base })
    }
}

/// The lossy topic of `T` as a channel kind: what a channel
/// [`Builder`] of topic ends is generic over. Its ends are [`Publisher`]
/// and [`Subscriber`]; [`Topic`] is made by it too.
///
/// ```
/// use ipckit::channel::Builder;
/// use ipckit::pubsub::Lossy;
///
/// let (mut tx, mut rx) = Builder::<Lossy<u32>>::new().capacity(8).pair()?;
/// tx.publish(5);
/// assert_eq!(rx.recv()?, 5);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Lossy<T>(PhantomData<fn() -> T>);

impl<T: Pod> sealed::Kind for Lossy<T> {
    type Layout = Slots<T>;
    const NAME: &'static str = "pubsub";
    const DEFAULT: u32 = DEFAULT_ITEMS;
    fn default_type_id() -> u64 {
        pod_type_id::<T>()
    }
}

impl<T: Pod> Kind for Lossy<T> {
    type Sender = Publisher<T>;
    type Receiver = Subscriber<T>;
}

impl<T: Pod> sealed::Endpoint for Topic<T> {
    fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
        Topic::set_up(mem, mode, capacity, type_id)
    }
}

impl<T: Pod> Endpoint for Topic<T> {
    type Kind = Lossy<T>;
}

/// A topic, opened or created: the handle from which the publisher is
/// claimed and subscribers are made (each keeps the mapping alive on its
/// own; the handle may go first). Cloning it is cheap (one mapping).
///
/// ```
/// use ipckit::pubsub::{self, Start};
///
/// let name = format!("doc-topic-handle-{}", std::process::id());
/// let topic = pubsub::topic::<u32>(&name).capacity(4).create()?;
/// let mut tx = topic.publisher()?;
/// assert!(topic.publisher().is_err()); // one publisher at a time
/// tx.publish(1);
/// tx.publish(2);
/// assert_eq!(topic.subscriber_from(Start::Oldest)?.try_recv()?, 1);
/// assert_eq!(topic.subscriber_from(Start::Latest)?.try_recv()?, 2);
/// assert!(topic.subscriber()?.try_recv().unwrap_err().is_empty());
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Topic<T> {
    base: Base<Ring<'static, T>>,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Self {
            base: self.base.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("mem", &self.base.mem)
            .field("capacity", &self.base.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Topic<T> {
    /// The topic on `mem` (see [`Base::set_up_with`]), of the channel
    /// builder's `capacity`.
    fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
        let options = Options::new(capacity);
        let base = Base::set_up_with(mem, mode, options, type_id)?;
        Ok(Self { base })
    }

    /// Claims the publisher role: [`CoreError::RoleTaken`] (as
    /// [`Error::Channel`] naming the topic, and the holder's pid if it is
    /// dead) while another publisher holds it.
    ///
    /// [`CoreError::RoleTaken`]: crate::CoreError::RoleTaken
    pub fn publisher(&self) -> Result<Publisher<T>> {
        Publisher::new(self.clone(), false)
    }

    /// The delivery policy the topic records.
    pub fn policy(&self) -> Policy {
        self.base.ring.policy()
    }

    /// The subscriber table's entries the topic records (0: none).
    pub fn subscribers(&self) -> u32 {
        self.base.table_len()
    }

    /// Claims the publisher role of a [reliable](Policy::Reliable) topic
    /// ([`CoreError::PolicyMismatch`],
    /// naming the topic, on a lossy one); see [`ReliablePublisher`].
    pub fn reliable_publisher(&self) -> Result<ReliablePublisher<T>> {
        ReliablePublisher::new(self.clone(), false)
    }

    /// [`reliable_publisher`](Self::reliable_publisher), taking the role
    /// over from a dead holder (as [`take_over_publisher`](Self::take_over_publisher)).
    pub fn take_over_reliable_publisher(&self) -> Result<ReliablePublisher<T>> {
        ReliablePublisher::new(self.clone(), true)
    }

    /// Claims the publisher role, taking it over if its recorded holder is
    /// a dead process (pid and start time); as [`publisher`](Self::publisher)
    /// otherwise. The new publisher resumes at the published position.
    pub fn take_over_publisher(&self) -> Result<Publisher<T>> {
        Publisher::new(self.clone(), true)
    }

    /// A subscriber of the items published from now on ([`Start::Next`]).
    /// [`CoreError::RoleTaken`] once
    /// [`MAX_ENDPOINTS`] live subscribers
    /// hold the topic's records, or (a reliable topic) once its table is
    /// full of live subscribers.
    pub fn subscriber(&self) -> Result<Subscriber<T>> {
        self.subscriber_from(Start::Next)
    }

    /// A subscriber that starts where `start` says: the next item, the
    /// newest one published, or the oldest one still in the ring.
    pub fn subscriber_from(&self, start: Start) -> Result<Subscriber<T>> {
        Subscriber::new(self.clone(), start)
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.base.ring.capacity()
    }

    /// The publisher's position now: the next item it publishes (a
    /// free-running count, wrapping at 2^32).
    pub fn tail(&self) -> u32 {
        self.base.ring.tail()
    }

    /// The memory the topic lives in.
    pub fn memory(&self) -> &Memory {
        &self.base.mem
    }
}
