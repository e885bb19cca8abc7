//! The publisher of a topic: the single-holder role of the broadcast ring,
//! recorded in the liveness block as a channel's single sender is.

use ipckit_core::Pod;
use ipckit_core::broadcast;

use super::{Lossy, Topic};
use crate::channel::builder::sealed;
use crate::channel::liveness::Membership;
use crate::channel::{Endpoint, Memory, Mode, TakeOver};
use crate::error::Result;
use crate::futex::Futex;

/// The one publisher of a [topic](super): [`publish`](Self::publish) never
/// waits and never fails; subscribers a lap behind lose the oldest items
/// and are told how many.
///
/// It holds the publisher role (recorded with its pid and start time),
/// given back when it is dropped; a subscriber asleep then learns at once
/// that no publisher is left ([`Error::PeerGone`](crate::Error::PeerGone),
/// after the items still unread). Example: the [module docs](super).
pub struct Publisher<T: Pod> {
    // Field order is drop order: the core claim goes, then the liveness
    // slot closes (it names the holder as long as the claim exists), then
    // the mapping.
    end: broadcast::Publisher<'static, T, Futex>,
    member: Membership,
    topic: Topic<T>,
}

impl<T: Pod> std::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Publisher")
            .field("topic", &self.topic)
            .field("position", &self.end.position())
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Publisher<T> {
    /// Claims the role on `topic`: the liveness slot first, then the
    /// core's claim (taken over from a dead holder with `take_over`).
    pub(super) fn new(topic: Topic<T>, take_over: bool) -> Result<Self> {
        let (end, member) = topic
            .base
            .claim_publisher(take_over, |r, n| r.publisher_with(n))?;
        Ok(Self { end, member, topic })
    }

    /// Publishes `value`: every subscriber that keeps up reads it; one a
    /// whole lap behind loses its oldest unread item. Never waits; wakes
    /// the sleeping subscribers with one system call, and makes none while
    /// nobody sleeps.
    #[inline]
    pub fn publish(&mut self, value: T) {
        self.end.publish(value);
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.end.capacity()
    }

    super::accessors::publisher_accessors!(Topic<T>);
}

impl<T: Pod> sealed::Endpoint for Publisher<T> {
    fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
        let topic = Topic::set_up(mem, mode, capacity, type_id)?;
        Publisher::new(topic, mode == Mode::TakeOver)
    }
}

impl<T: Pod> Endpoint for Publisher<T> {
    type Kind = Lossy<T>;
}

impl<T: Pod> TakeOver for Publisher<T> {}
