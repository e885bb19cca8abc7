//! The accessors and terminal calls every topic end and builder has, typed
//! or byte, written once (each a few delegating lines: macros, as the
//! core's `position_accessors`).

/// The accessors every publisher of a topic of handle type `$topic` has
/// (fields `end`, `member`, `topic`).
macro_rules! publisher_accessors {
    ($topic:ty) => {
        /// The next position this publisher writes (a free-running count
        /// of what it published, wrapping at 2^32).
        pub fn position(&self) -> u32 {
            self.end.position()
        }

        /// The topic (for more subscribers).
        pub fn topic(&self) -> &$topic {
            &self.topic
        }

        /// The memory the topic lives in.
        pub fn memory(&self) -> &crate::channel::Memory {
            self.topic.memory()
        }

        /// Waits (at most `timeout`) until `subscribers` subscribers have
        /// joined the topic, then removes its name: the kernel frees the
        /// memory when the last end leaves, however it ends, and nobody can
        /// open the topic by name any more (no late subscriber, no
        /// take-over). [`Error::TimedOut`](crate::Error::TimedOut) leaves
        /// the name. See the [channel docs](crate::channel#removing-the-name).
        pub fn remove_name_after(
            &self,
            subscribers: u32,
            timeout: std::time::Duration,
        ) -> crate::error::Result<()> {
            crate::channel::lifetime::remove_name_after(
                self.memory(),
                &self.member,
                subscribers,
                timeout,
            )
        }
    };
}
pub(crate) use publisher_accessors;

/// The accessors every subscriber of a topic of handle type `$topic` has
/// (fields `inner`: a `base::Reading`, and `topic`).
macro_rules! subscriber_accessors {
    ($topic:ty) => {
        /// What is published and not read yet, as far as it is still in
        /// the ring (at most a lap).
        pub fn len(&self) -> usize {
            self.inner.end.len()
        }

        /// `true` if nothing is published that this subscriber has not
        /// read.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// The next position this subscriber reads.
        pub fn position(&self) -> u32 {
            self.inner.end.position()
        }

        /// The topic (for more subscribers, or a publisher).
        pub fn topic(&self) -> &$topic {
            &self.topic
        }

        /// The memory the topic lives in.
        pub fn memory(&self) -> &crate::channel::Memory {
            self.topic.memory()
        }

        /// `Some(`[`Error::PeerGone`](crate::Error::PeerGone)`)` if a
        /// publisher came and has since closed or died (none holds the
        /// role now); `None` while one lives or before the first came.
        /// Reads `/proc` for a recorded publisher.
        pub fn peer_gone(&self) -> Option<crate::Error> {
            self.inner.member.peer_gone()
        }

        /// Waits (at most `timeout`) until a publisher has joined the
        /// topic, then removes its name (see
        /// [`Publisher::remove_name_after`](crate::pubsub::Publisher::remove_name_after)).
        pub fn remove_name_after(&self, timeout: std::time::Duration) -> crate::error::Result<()> {
            crate::channel::lifetime::remove_name_after(
                self.memory(),
                &self.inner.member,
                1,
                timeout,
            )
        }
    };
}
pub(crate) use subscriber_accessors;

/// The terminal calls of a topic builder making `$topic` (through its
/// `named(create, open)`).
macro_rules! terminal_calls {
    ($topic:ty) => {
        /// Creates the topic ([`Error::AlreadyExists`](crate::Error::AlreadyExists)
        /// if the name exists; of racing creators exactly one wins).
        pub fn create(&self) -> crate::error::Result<$topic> {
            self.named(true, false)
        }

        /// Opens the existing topic, validating its header (its kind among
        /// the rest), its liveness block and its type
        /// ([`Error::NotFound`](crate::Error::NotFound),
        /// [`Error::Channel`](crate::Error::Channel),
        /// [`Error::TypeMismatch`](crate::Error::TypeMismatch)), and what
        /// this side states.
        pub fn open(&self) -> crate::error::Result<$topic> {
            self.named(false, true)
        }

        /// Opens the topic, or creates it with these settings.
        pub fn open_or_create(&self) -> crate::error::Result<$topic> {
            self.named(true, true)
        }
    };
}
pub(crate) use terminal_calls;
