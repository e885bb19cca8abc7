//! Byte-message topics: the core's broadcast frame ring in a named object,
//! through the topic internals shared with typed topics (`super::base`).
//! The user's guide is the [pub/sub module docs](super#byte-messages).

mod publisher;
mod subscriber;
#[cfg(test)]
mod tests;

use ipckit_core::broadcast::frames::{FrameRing, MIN_SLOT_SIZE, SLOT_HEADER_LEN};

pub use publisher::{BytesPublisher, Loan, ReliableBytesPublisher};
pub use subscriber::{BytesSubscriber, Frame};

use super::base::{Base, Settings};
use super::{Policy, Start};
use crate::channel::{Memory, Object};
use crate::error::Result;
use crate::shm::Trust;

/// The data area of a byte topic without a `capacity` setting.
pub const DEFAULT_BYTES_CAPACITY: usize = 64 * 1024;

/// The largest frame of a byte topic without a `max_frame` setting (slots
/// of 1 KiB).
pub const DEFAULT_MAX_FRAME: usize = 1016;

/// A builder of the byte-message topic `name` (see the [module
/// docs](mod@crate::pubsub#byte-messages)).
///
/// ```
/// let name = format!("doc-bytes-topic-{}", std::process::id());
/// let topic = ipckit::pubsub::bytes(&name).capacity(4096).max_frame(100).create()?;
/// assert_eq!((topic.capacity(), topic.max_frame(), topic.slots()), (4096, 120, 32));
/// ipckit::pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn bytes(name: &str) -> BytesTopicBuilder {
    BytesTopicBuilder {
        settings: Settings::new(name),
        capacity: None,
        max_frame: None,
        object: Object::default(),
        type_id: 0,
    }
}

/// The settings of a byte topic and the calls that make its
/// [`BytesTopic`] handle: [`bytes`] starts one.
#[derive(Clone, Debug)]
#[must_use = "a builder makes nothing until create, open or open_or_create"]
pub struct BytesTopicBuilder {
    settings: Settings,
    capacity: Option<usize>,
    max_frame: Option<usize>,
    object: Object,
    type_id: u64,
}

impl BytesTopicBuilder {
    /// A data area of `n` bytes (rounded up to a power of two of at least
    /// two slots; default [`DEFAULT_BYTES_CAPACITY`]).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// Frames of up to at least `n` bytes (default [`DEFAULT_MAX_FRAME`];
    /// the [module docs](mod@crate::pubsub#sizes-of-byte-topics) have the rule).
    pub fn max_frame(mut self, n: usize) -> Self {
        self.max_frame = Some(n);
        self
    }

    /// The permission bits of a created object (default 0600; see
    /// [`Builder::mode`](crate::channel::Builder::mode)).
    pub fn mode(mut self, mode: u32) -> Self {
        self.object.mode = mode;
        self
    }

    /// What an open accepts (default [`Trust::Owner`]).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.object.trust = trust;
        self
    }

    /// The message type id this side states (default 0: none; see
    /// [`Builder::type_id`](crate::channel::Builder::type_id)).
    pub fn type_id(mut self, id: u64) -> Self {
        self.type_id = id;
        self
    }

    /// A subscriber table of `n` entries, as
    /// [`TopicBuilder::subscribers`](super::TopicBuilder::subscribers).
    pub fn subscribers(mut self, n: usize) -> Self {
        self.settings.subscribers = Some(n);
        self
    }

    /// The delivery policy, as [`TopicBuilder::policy`](super::TopicBuilder::policy).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.settings.policy = Some(policy);
        self
    }

    crate::pubsub::accessors::terminal_calls!(BytesTopic);

    /// The slot size and the data area these settings give, if a ring
    /// takes them.
    fn sizes(&self) -> Option<(u32, u32)> {
        let frame = self.max_frame.unwrap_or(DEFAULT_MAX_FRAME);
        let slot = frame
            .checked_add(SLOT_HEADER_LEN as usize)?
            .max(MIN_SLOT_SIZE as usize)
            .checked_next_power_of_two()?;
        let capacity = self
            .capacity
            .unwrap_or(DEFAULT_BYTES_CAPACITY)
            .max(slot.checked_mul(2)?)
            .checked_next_power_of_two()?;
        let max = 1 << 30;
        (capacity <= max).then_some((u32::try_from(slot).ok()?, capacity as u32))
    }

    fn named(&self, create: bool, open: bool) -> Result<BytesTopic> {
        let (slot, capacity) = self.sizes().ok_or_else(|| self.settings.invalid())?;
        let options = self.settings.options(capacity)?.slot_size(slot);
        let base = self
            .settings
            .named(create, open, options, self.object, self.type_id)?;
        let topic = BytesTopic { base };
        match self.max_frame {
            Some(n) if n > topic.max_frame() as usize => Err(self.settings.invalid()),
            _ => Ok(topic),
        }
    }
}

/// A byte topic, opened or created: the handle from which the publisher
/// is claimed and subscribers are made (each keeps the mapping alive on
/// its own). Cloning it is cheap.
///
/// ```
/// use ipckit::pubsub::{self, Start};
///
/// let name = format!("doc-bytes-handle-{}", std::process::id());
/// let topic = pubsub::bytes(&name).capacity(256).max_frame(24).create()?;
/// let mut tx = topic.publisher()?;
/// assert!(topic.publisher().is_err()); // one publisher at a time
/// tx.publish(b"one")?;
/// tx.publish(b"two")?;
/// let mut buf = [0u8; 24];
/// assert_eq!(topic.subscriber_from(Start::Oldest)?.try_recv_into(&mut buf)?, 3);
/// assert_eq!(&buf[..3], b"one");
/// assert!(topic.subscriber()?.try_recv_into(&mut buf).unwrap_err().is_empty());
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Clone)]
pub struct BytesTopic {
    base: Base<FrameRing<'static>>,
}

impl std::fmt::Debug for BytesTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BytesTopic")
            .field("mem", &self.base.mem)
            .field("ring", &self.base.ring)
            .finish_non_exhaustive()
    }
}

impl BytesTopic {
    /// Claims the publisher role of a lossy topic (as
    /// [`Topic::publisher`](super::Topic::publisher)).
    pub fn publisher(&self) -> Result<BytesPublisher> {
        BytesPublisher::new(self.clone(), false)
    }

    /// Claims the publisher role, taking it over from a dead holder (as
    /// [`Topic::take_over_publisher`](super::Topic::take_over_publisher)).
    pub fn take_over_publisher(&self) -> Result<BytesPublisher> {
        BytesPublisher::new(self.clone(), true)
    }

    /// Claims the publisher role of a reliable topic.
    pub fn reliable_publisher(&self) -> Result<ReliableBytesPublisher> {
        ReliableBytesPublisher::new(self.clone(), false)
    }

    /// [`reliable_publisher`](Self::reliable_publisher), taking the role
    /// over from a dead holder.
    pub fn take_over_reliable_publisher(&self) -> Result<ReliableBytesPublisher> {
        ReliableBytesPublisher::new(self.clone(), true)
    }

    /// A subscriber of the frames published from now on.
    pub fn subscriber(&self) -> Result<BytesSubscriber> {
        self.subscriber_from(Start::Next)
    }

    /// A subscriber that starts where `start` says.
    pub fn subscriber_from(&self, start: Start) -> Result<BytesSubscriber> {
        BytesSubscriber::new(self.clone(), start)
    }

    /// The delivery policy the topic records.
    pub fn policy(&self) -> Policy {
        self.base.ring.policy()
    }

    /// The subscriber table's entries the topic records (0: none).
    pub fn subscribers(&self) -> u32 {
        self.base.table_len()
    }

    /// The data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.base.ring.capacity()
    }

    /// The number of slots: frames a subscriber may fall behind.
    pub fn slots(&self) -> u32 {
        self.base.ring.slots()
    }

    /// The largest frame: the slot size less 8.
    pub fn max_frame(&self) -> u32 {
        self.base.ring.max_frame()
    }

    /// The publisher's position now (a free-running count of frames).
    pub fn tail(&self) -> u32 {
        self.base.ring.tail()
    }

    /// The memory the topic lives in.
    pub fn memory(&self) -> &Memory {
        &self.base.mem
    }
}
