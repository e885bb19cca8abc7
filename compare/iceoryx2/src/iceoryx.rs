//! iceoryx2's publish/subscribe, through its public API only: two
//! services of `[u64; W]` (`ping` published by the measuring side, `pong`
//! by the peer), each side a publisher on one and a subscriber on the
//! other, in an `ipc::Service` node of its own.
//!
//! - [`Wait::Busy`]: `receive()` polled in a loop (iceoryx2's pub/sub has
//!   no blocking receive).
//! - [`Wait::Event`]: iceoryx2's blocking way, as in its event-based
//!   examples: beside each pub/sub service an event service; the sender
//!   publishes, then `notify()`s; the receiver tries `receive()` and, when
//!   nothing is there, sleeps in the listener's `timed_wait` (no spin
//!   phase) and tries again.
//!
//! Services are created with one publisher, one subscriber, no history
//! and a subscriber buffer of 2: what a ping-pong needs.

use std::fmt::Debug;

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::harness::{Link, SLICE, poll};

/// How a receiver waits for the next sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Poll `receive()`.
    Busy,
    /// Sleep in an event listener between tries.
    Event,
}

/// Wake-ups without a sample that one receive sits through.
const STALE_WAKES: u32 = 1000;

/// A message type iceoryx2 can carry and that converts from `&[u64]`.
pub trait Payload: Debug + ZeroCopySend + Copy + AsRef<[u64]> + 'static {
    fn from_words(words: &[u64]) -> Option<&Self>;
}

impl<const W: usize> Payload for [u64; W] {
    fn from_words(words: &[u64]) -> Option<&Self> {
        words.try_into().ok()
    }
}

/// One side's ports; the node is kept alive with them.
struct Ends<T: Payload> {
    tx: Publisher<ipc::Service, T, ()>,
    rx: Subscriber<ipc::Service, T, ()>,
    /// The notifier of the direction we send on and the listener of the
    /// one we receive on (with [`Wait::Event`]).
    events: Option<(Notifier<ipc::Service>, Listener<ipc::Service>)>,
    _node: Node<ipc::Service>,
}

fn err(e: impl Debug) -> String {
    format!("iceoryx2: {e:?}")
}

impl<T: Payload> Ends<T> {
    fn try_recv(&self, msg: &mut [u64]) -> Result<bool, String> {
        match self.rx.receive().map_err(err)? {
            Some(sample) => {
                msg.copy_from_slice(sample.payload().as_ref());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl<T: Payload> Link for Ends<T> {
    fn send(&mut self, msg: &[u64]) -> Result<(), String> {
        let item = T::from_words(msg).ok_or("iceoryx2: a message of the wrong length")?;
        self.tx
            .loan_uninit()
            .map_err(err)?
            .write_payload(*item)
            .send()
            .map_err(err)?;
        if let Some((notifier, _)) = &self.events {
            notifier.notify().map_err(err)?;
        }
        Ok(())
    }

    fn recv(&mut self, msg: &mut [u64]) -> Result<bool, String> {
        match &self.events {
            None => Ok(poll(|| Ok(self.try_recv(msg)?.then_some(())))?.is_some()),
            Some((_, listener)) => {
                // A notification may be left from a sample already taken:
                // then the wait returns at once and we wait again (a
                // bounded number of times; a timed-out wait ends it).
                for _ in 0..STALE_WAKES {
                    if self.try_recv(msg)? {
                        return Ok(true);
                    }
                    if listener.timed_wait(|_| {}, SLICE).map_err(err)? == 0 {
                        break;
                    }
                }
                self.try_recv(msg)
            }
        }
    }
}

/// Which side: the measuring side creates the services and publishes on
/// `ping`; the peer opens them and publishes on `pong`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Parent,
    Peer,
}

fn service_name(name: &str, direction: &str) -> Result<ServiceName, String> {
    ServiceName::new(&format!("ipckit-compare/{name}/{direction}")).map_err(err)
}

fn open<T: Payload>(name: &str, side: Side, wait: Wait) -> Result<Ends<T>, String> {
    // Without a config file iceoryx2 warns that it uses its defaults, in
    // every process; `IOX2_LOG_LEVEL` still overrides.
    set_log_level_from_env_or(LogLevel::Error);
    let node = NodeBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(err)?;
    if side == Side::Parent {
        // What a run that was killed left behind (iceoryx2 keeps a node's
        // files and shared memory until a live node removes them).
        node.try_cleanup_dead_nodes();
    }
    let pubsub = |direction: &str| {
        let builder = node
            .service_builder(&service_name(name, direction)?)
            .publish_subscribe::<T>()
            .max_publishers(1)
            .max_subscribers(1)
            .history_size(0)
            .subscriber_max_buffer_size(2);
        match side {
            Side::Parent => builder.create().map_err(err),
            Side::Peer => builder.open().map_err(err),
        }
    };
    let event = |direction: &str| {
        let builder = node
            .service_builder(&service_name(name, &format!("{direction}-event"))?)
            .event()
            .max_notifiers(1)
            .max_listeners(1);
        match side {
            Side::Parent => builder.create().map_err(err),
            Side::Peer => builder.open().map_err(err),
        }
    };
    let (out, inn) = match side {
        Side::Parent => ("ping", "pong"),
        Side::Peer => ("pong", "ping"),
    };
    let tx = pubsub(out)?.publisher_builder().create().map_err(err)?;
    let rx = pubsub(inn)?.subscriber_builder().create().map_err(err)?;
    let events = match wait {
        Wait::Busy => None,
        Wait::Event => Some((
            event(out)?.notifier_builder().create().map_err(err)?,
            event(inn)?.listener_builder().create().map_err(err)?,
        )),
    };
    Ok(Ends {
        tx,
        rx,
        events,
        _node: node,
    })
}

/// Runs `f` over one side's ends of `words`-long messages.
fn with_ends<R>(
    name: &str,
    words: usize,
    side: Side,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<R, String>,
) -> Result<R, String> {
    match words {
        8 => f(&mut open::<[u64; 8]>(name, side, wait)?),
        8192 => f(&mut open::<[u64; 8192]>(name, side, wait)?),
        _ => Err(format!("iceoryx2: no payload type of {words} words")),
    }
}

/// The measuring side: creates the services, then runs `f` over them.
pub fn parent(
    name: &str,
    words: usize,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    with_ends(name, words, Side::Parent, wait, f)
}

/// The peer: opens the services, then runs `f` over them.
pub fn peer(
    name: &str,
    words: usize,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<(), String>,
) -> Result<(), String> {
    with_ends(name, words, Side::Peer, wait, f)
}
