//! ipckit's publish/subscribe: one topic per direction (`ping` published by
//! the measuring side, `pong` by the peer), one publisher and one
//! subscriber on each.
//!
//! - [`Wait::Blocking`] and [`Wait::Busy`]: the hosted, named pub/sub
//!   (`ipckit::pubsub::topic`), the API users hold: liveness block, type
//!   id, dead-publisher notice and all. Blocking: `recv_timeout` (the
//!   channels' waiting, 2000 spins then a futex sleep), so the blocking
//!   pub/sub and byte-channel rows differ in the ring only. Busy:
//!   `try_recv` polled.
//! - [`Wait::Sleep`]: the core's broadcast ring (`ipckit_core::broadcast`,
//!   kind 7) on a named object, the subscriber sleeping at once
//!   (`Futex::new()`), because the hosted subscriber always spins first:
//!   the row to hold against iceoryx2's event-based receive, which has no
//!   spin phase either.
//!
//! Four slots per topic (one message is in flight at a time, so nothing is
//! ever overwritten unread). Items are `u64` arrays, not byte arrays: the
//! ring copies an item through relaxed atomics of its alignment, so a
//! `[u8; 64]` would move byte by byte.

use bytemuck::Pod;
use ipckit::Error;
use ipckit::channel::SPIN_BUDGET;
use ipckit::futex::Futex;
use ipckit::pubsub;
use ipckit::shm::ShmObject;
use ipckit_core::Error as CoreError;
use ipckit_core::broadcast::{Options, Publisher, Ring, Start, Subscriber};
use ipckit_core::wait::{Notify, Spin};

use crate::harness::{Link, SLICE, poll};

/// How a subscriber waits for the next message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Spin (the channel's budget), then sleep on a futex.
    Blocking,
    /// Sleep on a futex at once.
    Sleep,
    /// Poll `try_recv`.
    Busy,
}

/// Slots per topic.
const CAPACITY: u32 = 4;

/// One side's ends, and the two objects whose names it removes once the
/// peer has joined (the measuring side's only).
struct Ends<'a, T, N: Notify> {
    tx: Publisher<'a, T, N>,
    rx: Subscriber<'a, T, N>,
    wait: Wait,
    names: &'a [ShmObject],
}

impl<T: Pod, N: Notify> Link for Ends<'_, T, N> {
    fn send(&mut self, msg: &[u64]) -> Result<(), String> {
        // A reference into the message: the item is read from it as the
        // ring writes it (no copy on the side, once inlined).
        let item: &T = bytemuck::try_from_bytes(bytemuck::cast_slice(msg))
            .map_err(|e| format!("a {}-word message: {e}", msg.len()))?;
        self.tx.publish(*item);
        Ok(())
    }

    fn recv(&mut self, msg: &mut [u64]) -> Result<bool, String> {
        let item = match self.wait {
            Wait::Blocking | Wait::Sleep => match self.rx.recv_timeout(SLICE) {
                Ok(item) => Some(item),
                Err(CoreError::TimedOut) => None,
                Err(e) => return Err(format!("pub/sub topic: {e}")),
            },
            Wait::Busy => poll(|| match self.rx.try_recv() {
                Ok(item) => Ok(Some(item)),
                Err(CoreError::Empty) => Ok(None),
                Err(e) => Err(format!("pub/sub topic: {e}")),
            })?,
        };
        let Some(item) = item else { return Ok(false) };
        let words = msg.len();
        *bytemuck::try_from_bytes_mut::<T>(bytemuck::cast_slice_mut(msg))
            .map_err(|e| format!("a {words}-word buffer: {e}"))? = item;
        Ok(true)
    }

    fn joined(&mut self) -> Result<(), String> {
        self.names
            .iter()
            .try_for_each(ShmObject::unlink)
            .map_err(|e| e.to_string())
    }
}

/// One side's ends on the hosted pub/sub, and (measuring side) the topic
/// names it removes once the peer has joined.
struct Hosted<T: Pod> {
    tx: pubsub::Publisher<T>,
    rx: pubsub::Subscriber<T>,
    wait: Wait,
    names: Vec<String>,
}

impl<T: Pod> Link for Hosted<T> {
    fn send(&mut self, msg: &[u64]) -> Result<(), String> {
        let item: &T = bytemuck::try_from_bytes(bytemuck::cast_slice(msg))
            .map_err(|e| format!("a {}-word message: {e}", msg.len()))?;
        self.tx.publish(*item);
        Ok(())
    }

    fn recv(&mut self, msg: &mut [u64]) -> Result<bool, String> {
        let item = match self.wait {
            Wait::Busy => poll(|| match self.rx.try_recv() {
                Ok(item) => Ok(Some(item)),
                Err(Error::Empty) => Ok(None),
                Err(e) => Err(format!("pub/sub topic: {e}")),
            })?,
            _ => match self.rx.recv_timeout(SLICE) {
                Ok(item) => Some(item),
                Err(Error::TimedOut) => None,
                Err(e) => return Err(format!("pub/sub topic: {e}")),
            },
        };
        let Some(item) = item else { return Ok(false) };
        let words = msg.len();
        *bytemuck::try_from_bytes_mut::<T>(bytemuck::cast_slice_mut(msg))
            .map_err(|e| format!("a {words}-word buffer: {e}"))? = item;
        Ok(true)
    }

    fn joined(&mut self) -> Result<(), String> {
        for name in self.names.drain(..) {
            pubsub::remove(&name).map_err(err)?;
        }
        Ok(())
    }
}

fn topic_name(name: &str, direction: &str) -> String {
    format!("{name}-topic-{direction}")
}

fn hosted_parent<T: Pod>(
    name: &str,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    let names = vec![topic_name(name, "ping"), topic_name(name, "pong")];
    let result = (|| {
        let ping = pubsub::topic::<T>(&names[0])
            .capacity(CAPACITY as usize)
            .create();
        let pong = pubsub::topic::<T>(&names[1])
            .capacity(CAPACITY as usize)
            .create();
        let (ping, pong) = (ping.map_err(err)?, pong.map_err(err)?);
        f(&mut Hosted {
            tx: ping.publisher().map_err(err)?,
            rx: pong.subscriber().map_err(err)?,
            wait,
            names: names.clone(),
        })
    })();
    // Names left by a turn that failed before the peer joined.
    for name in &names {
        let _ = pubsub::remove(name);
    }
    result
}

fn hosted_peer<T: Pod>(
    name: &str,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<(), String>,
) -> Result<(), String> {
    let ping = pubsub::topic::<T>(&topic_name(name, "ping"))
        .open()
        .map_err(err)?;
    let pong = pubsub::topic::<T>(&topic_name(name, "pong"))
        .open()
        .map_err(err)?;
    f(&mut Hosted {
        tx: pong.publisher().map_err(err)?,
        rx: ping.subscriber().map_err(err)?,
        wait,
        names: Vec::new(),
    })
}

/// A blocking subscriber's notifier.
fn waiting(wait: Wait) -> Futex {
    match wait {
        Wait::Sleep => Futex::new(),
        _ => Futex::adaptive(SPIN_BUDGET),
    }
}

fn object(name: &str, direction: &str) -> String {
    format!("/{name}-{direction}")
}

fn err(e: impl Into<Error>) -> String {
    e.into().to_string()
}

/// The measuring side: creates both topics, then runs `f` over them.
pub fn parent(
    name: &str,
    words: usize,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    match words {
        8 => parent_of::<[u64; 8]>(name, wait, f),
        8192 => parent_of::<[u64; 8192]>(name, wait, f),
        _ => Err(format!("pub/sub: no item type of {words} words")),
    }
}

fn parent_of<T: Pod>(
    name: &str,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    if wait != Wait::Sleep {
        return hosted_parent::<T>(name, wait, f);
    }
    let len = Ring::<T>::region_len(CAPACITY).map_err(err)?;
    let ping = ShmObject::create(&object(name, "ping"), len).map_err(err)?;
    let pong = match ShmObject::create(&object(name, "pong"), len) {
        Ok(pong) => pong,
        Err(e) => {
            let _ = ping.unlink();
            return Err(err(e));
        }
    };
    let names = [ping, pong];
    let result = run_parent::<T>(&names, wait, f);
    // Names left by a turn that failed before the peer joined.
    for object in &names {
        let _ = object.unlink();
    }
    result
}

fn run_parent<T: Pod>(
    names: &[ShmObject; 2],
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<f64, String>,
) -> Result<f64, String> {
    let options = Options::new(CAPACITY).waking(wait != Wait::Busy);
    let ping = Ring::<T>::init_with(names[0].region(), options).map_err(err)?;
    let pong = Ring::<T>::init_with(names[1].region(), options).map_err(err)?;
    match wait {
        Wait::Blocking | Wait::Sleep => f(&mut Ends {
            tx: ping.publisher_with(Futex::new()).map_err(err)?,
            rx: pong
                .subscriber_with(waiting(wait), Start::Next)
                .map_err(err)?,
            wait,
            names,
        }),
        Wait::Busy => f(&mut Ends {
            tx: ping.publisher_with(Spin::new()).map_err(err)?,
            rx: pong
                .subscriber_with(Spin::new(), Start::Next)
                .map_err(err)?,
            wait,
            names,
        }),
    }
}

/// The peer: opens both topics, then runs `f` over them.
pub fn peer(
    name: &str,
    words: usize,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<(), String>,
) -> Result<(), String> {
    match words {
        8 => peer_of::<[u64; 8]>(name, wait, f),
        8192 => peer_of::<[u64; 8192]>(name, wait, f),
        _ => Err(format!("pub/sub: no item type of {words} words")),
    }
}

fn peer_of<T: Pod>(
    name: &str,
    wait: Wait,
    f: impl FnOnce(&mut dyn Link) -> Result<(), String>,
) -> Result<(), String> {
    if wait != Wait::Sleep {
        return hosted_peer::<T>(name, wait, f);
    }
    let ping_object = ShmObject::open(&object(name, "ping")).map_err(err)?;
    let pong_object = ShmObject::open(&object(name, "pong")).map_err(err)?;
    let ping = Ring::<T>::attach(ping_object.region()).map_err(err)?;
    let pong = Ring::<T>::attach(pong_object.region()).map_err(err)?;
    match wait {
        Wait::Blocking | Wait::Sleep => f(&mut Ends {
            tx: pong.publisher_with(Futex::new()).map_err(err)?,
            rx: ping
                .subscriber_with(waiting(wait), Start::Next)
                .map_err(err)?,
            wait,
            names: &[],
        }),
        Wait::Busy => f(&mut Ends {
            tx: pong.publisher_with(Spin::new()).map_err(err)?,
            rx: ping
                .subscriber_with(Spin::new(), Start::Next)
                .map_err(err)?,
            wait,
            names: &[],
        }),
    }
}
