//! Typed messages: serde values over the byte channels, with postcard as
//! the wire format and the message type checked when the sides meet
//! (feature `serde`, on by default).
//!
//! | endpoint | over | peers |
//! |----------|------|-------|
//! | [`Sender<T>`] / [`Receiver<T>`] | [`bytes`](mod@super::bytes) | one sender, one receiver |
//! | [`MpscSender<T>`] / [`MpscReceiver<T>`] | [`mpsc_bytes`](mod@super::mpsc_bytes) | up to 64 senders, one receiver |
//!
//! A message is one frame of the byte channel holding the
//! [postcard](https://docs.rs/postcard) encoding of one `T` (postcard 1.x,
//! no COBS, no trailing bytes). `T` implements [`serde::Serialize`] (to
//! send), [`serde::de::DeserializeOwned`] (to receive) and
//! [`MessageType`] (its id; `impl MessageType for Job {}` takes the
//! default).
//!
//! ```
//! use ipckit::channel::typed::{MessageType, Receiver, Sender};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! enum Job { Resize { path: String, sizes: Vec<u32> }, Stop }
//! impl MessageType for Job {}
//!
//! let name = format!("ipckit-doc-typed-{}", std::process::id());
//! let mut tx: Sender<Job> = ipckit::channel::typed::spsc().max_message(1000).create(&name)?;
//! let mut rx = Receiver::<Job>::open(&name)?; // the constructors: the builder's defaults
//! ipckit::shm::ShmObject::remove(&name)?;
//! tx.send(&Job::Resize { path: "a.png".into(), sizes: vec![64, 128] })?;
//! tx.send(&Job::Stop)?;
//! assert_eq!(rx.recv()?, Job::Resize { path: "a.png".into(), sizes: vec![64, 128] });
//! assert_eq!(rx.recv()?, Job::Stop);
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! [`spsc`]`::<T>()` and [`mpsc`]`::<T>()` start a channel
//! [`Builder`](crate::channel::Builder) of typed ends with the byte
//! builder's settings (`capacity`, `max_message` and `messages` in
//! encoded bytes, `mode`, `trust`, and `type_id`, default
//! [`MessageType::message_type_id`]) and terminal calls (`create`, `open`,
//! `open_or_create`, `take_over`, `init_on`, `attach`, `on_file`, `pair`,
//! `pair_for_child`, ...), generic over the end as for the other kinds;
//! the endpoints' constructors are its defaults.
//!
//! # The message type id
//! Each side states a 64-bit id for its `T` ([`MessageType::message_type_id`];
//! by default an FNV-1a hash of [`std::any::type_name`], so a sender of
//! `Foo` and a receiver of `Bar` differ). The first typed endpoint records
//! it in the channel's liveness block ([`TYPE_ID_AT`], documented for
//! foreign peers in `docs/LAYOUT.md` §12): a typed creator before it
//! publishes the channel, an opener with a compare-and-swap from 0 when
//! nobody stated one (an untyped creator, an object older than the field).
//! Every later typed endpoint compares, before it claims its role, and a
//! different id is [`Error::TypeMismatch`] naming the channel and both ids;
//! the channel is left as it was. An id of 0 opts out: that side neither
//! records nor compares (the raw byte endpoints state none unless their
//! builder is given one with `type_id`).
//!
//! The default id is equal for the same type built by the same compiler.
//! Peers built apart (another compiler release, a renamed crate, a C or
//! bridged peer) must agree on an id stated explicitly:
//!
//! ```
//! use ipckit::channel::typed::{MessageType, type_id_of};
//!
//! struct Pose;
//! impl MessageType for Pose {
//!     fn message_type_id() -> u64 {
//!         type_id_of("robot/Pose v1")
//!     }
//! }
//! assert_eq!(Pose::message_type_id(), type_id_of("robot/Pose v1"));
//! ```
//!
//! # Bad input
//! - A value whose encoding is longer than the channel's largest frame is
//!   [`Error::MessageTooLarge`], found while encoding (encoding stops at the
//!   limit), before anything is sent.
//! - A frame that is not a postcard encoding of `T` (garbage from a raw byte
//!   sender, a sender that opted out with another type) is
//!   [`Error::Decode`] naming the channel. That message **is consumed**: it
//!   was taken off the ring to be decoded, the error reports it, and the
//!   next call receives the next message. Messages queued behind it are
//!   not affected.
//! - A full channel is [`Error::Full`] from `try_send` (the value is the
//!   caller's still: it is sent by reference), a timeout
//!   [`Error::TimedOut`]: nothing accepted is lost.
//!
//! # Allocation
//! A sender encodes into a buffer it keeps, a receiver receives into one it
//! keeps (grown to the longest message seen, at most the largest frame):
//! after the first messages, sending allocates nothing and receiving
//! allocates only what `T`'s own fields need (its strings and vectors).

mod ends;
mod kind;
mod receiver;
mod sender;

pub use super::liveness::{type_id_of, type_path_id};
pub use ends::{ByteReceiver, ByteSender, ByteTakeOver};
pub use kind::{Typed, mpsc, spsc};
pub use receiver::{MpscReceiver, Receiver};
pub use sender::{MpscSender, Sender};

#[cfg(doc)]
use super::TYPE_ID_AT;
#[cfg(doc)]
use crate::error::Error;

/// A type's message type id (module docs): the id both sides of a typed
/// channel must state alike. `impl MessageType for Job {}` takes the
/// default, derived from the type's path; return a fixed id (such as
/// [`type_id_of`] of a versioned name) for peers built apart, 0 to opt out.
///
/// ```
/// use ipckit::channel::typed::MessageType;
///
/// struct Foo;
/// struct Bar;
/// impl MessageType for Foo {}
/// impl MessageType for Bar {}
/// assert_ne!(Foo::message_type_id(), Bar::message_type_id());
/// assert_ne!(Foo::message_type_id(), 0);
/// ```
pub trait MessageType {
    /// The id (0: opt out). The default is [`type_path_id`] of `Self`.
    fn message_type_id() -> u64 {
        type_path_id::<Self>()
    }
}

/// The id of a generic container named `name` of an item with id `item`:
/// 0 if the item opts out.
fn container_id(name: &str, item: u64) -> u64 {
    container_id_of(type_id_of(name), item)
}

/// FNV-1a continued from `seed` over `item`'s little-endian bytes: 0 if
/// `seed` or `item` is 0 (an opted-out part opts the whole out).
fn container_id_of(seed: u64, item: u64) -> u64 {
    if seed == 0 || item == 0 {
        return 0;
    }
    super::liveness::fnv1a(seed, &item.to_le_bytes()).max(1)
}

/// Standard types get fixed ids from their plain names (the same across
/// compiler releases).
macro_rules! named_ids {
    ($($t:ty),*) => {
        $(impl MessageType for $t {
            fn message_type_id() -> u64 {
                type_id_of(stringify!($t))
            }
        })*
    };
}
named_ids!(
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    i8,
    i16,
    i32,
    i64,
    i128,
    f32,
    f64,
    String,
    ()
);

/// Containers combine their name with their item's id (0 if it opts out).
macro_rules! container_ids {
    ($($name:literal => $t:ty),*) => {
        $(impl<T: MessageType> MessageType for $t {
            fn message_type_id() -> u64 {
                container_id($name, T::message_type_id())
            }
        })*
    };
}
container_ids!("Vec" => Vec<T>, "Option" => Option<T>, "Box" => Box<T>);

/// Tuples combine their items' ids in order (0 if one opts out).
macro_rules! tuple_ids {
    ($($t:ident),+) => {
        impl<$($t: MessageType),+> MessageType for ($($t,)+) {
            fn message_type_id() -> u64 {
                let mut id = type_id_of("tuple");
                $(id = container_id_of(id, $t::message_type_id());)+
                id
            }
        }
    };
}
tuple_ids!(A, B);
tuple_ids!(A, B, C);
tuple_ids!(A, B, C, D);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod builder_tests;
