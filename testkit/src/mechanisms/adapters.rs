//! The message interface over what does not implement it in the library:
//! the shared-memory channels (typed items of `[u8; N]`, and the byte
//! channel), the pub/sub topics (`[u8; N]` items), the in-process peers (rtrb, crossbeam `ArrayQueue`), and a
//! busy-polling wrapper for any receiver.
//!
//! A zero timeout maps to the non-waiting `try_` call, so [`BusyPoll`]
//! spins on `try_recv` without a system call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ipckit::channel::{bytes, mpmc, spsc};
use ipckit::error::{CoreError, Error, Result};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::pubsub;

fn item<const N: usize>(msg: &[u8]) -> Result<[u8; N]> {
    if msg.len() > N {
        return Err(CoreError::FrameTooLarge {
            len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
            max: N as u32,
        }
        .into());
    }
    let mut v = [0u8; N];
    v[..msg.len()].copy_from_slice(msg);
    Ok(v)
}

fn out<const N: usize>(buf: &mut [u8], v: &[u8; N]) -> Result<usize> {
    let Some(dst) = buf.get_mut(..N) else {
        return Err(CoreError::BufferTooSmall { required: N }.into());
    };
    dst.copy_from_slice(v);
    Ok(N)
}

macro_rules! typed_sender {
    ($tx:ident, $m:ident :: $t:ident) => {
        /// Sending end: every message is one `[u8; N]` item.
        pub struct $tx<const N: usize>(pub $m::$t<[u8; N]>);

        impl<const N: usize> MessageSender for $tx<N> {
            fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
                let v = item::<N>(msg)?;
                match timeout {
                    Some(Duration::ZERO) => self.0.try_send(v),
                    Some(t) => self.0.send_timeout(v, t),
                    None => self.0.send(v),
                }
            }
            fn max_message_len(&self) -> usize {
                N
            }
        }
    };
}

macro_rules! typed_receiver {
    ($rx:ident, $m:ident :: $t:ident) => {
        /// Receiving end: every message is one `[u8; N]` item.
        pub struct $rx<const N: usize>(pub $m::$t<[u8; N]>);

        impl<const N: usize> MessageReceiver for $rx<N> {
            fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
                let v = match timeout {
                    Some(Duration::ZERO) => self.0.try_recv()?,
                    Some(t) => self.0.recv_timeout(t)?,
                    None => self.0.recv()?,
                };
                out(buf, &v)
            }
            fn max_message_len(&self) -> usize {
                N
            }
        }
    };
}

typed_sender!(SpscTx, spsc::Sender);
typed_receiver!(SpscRx, spsc::Receiver);
typed_sender!(MpmcTx, mpmc::Sender);
typed_receiver!(MpmcRx, mpmc::Receiver);
// A subscriber's `Lagged` is an error here: the message interface has no
// place for a count of lost items.
typed_receiver!(TopicRx, pubsub::Subscriber);

/// A topic's publisher: every message is one `[u8; N]` item, published
/// without waiting (a lossy topic never refuses one).
pub struct TopicTx<const N: usize>(pub pubsub::Publisher<[u8; N]>);

impl<const N: usize> MessageSender for TopicTx<N> {
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        self.0.publish(item::<N>(msg)?);
        Ok(())
    }
    fn max_message_len(&self) -> usize {
        N
    }
}

/// The byte channel's sending end.
pub struct BytesTx(pub bytes::Sender);
/// The byte channel's receiving end.
pub struct BytesRx(pub bytes::Receiver);

impl MessageSender for BytesTx {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        // The channel's own message interface: zero is `try_send`.
        MessageSender::send_timeout(&mut self.0, msg, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.max_frame_len() as usize
    }
}

impl MessageReceiver for BytesRx {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        // The channel's own message interface: zero is `try_recv`.
        MessageReceiver::recv_timeout(&mut self.0, buf, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.max_frame_len() as usize
    }
}

/// Polls without sleeping: every wait is a loop of zero-timeout calls.
pub struct BusyPoll<T>(pub T);

/// Spins on `attempt` (which reports `Empty`/`Full` as `None`) until it
/// succeeds or `timeout` passes; the clock is read every 1024 attempts,
/// and not at all when the first attempt succeeds (a clock read costs as
/// much as a message: about 50 ns on a KVM guest).
fn spin<R>(
    timeout: Option<Duration>,
    mut attempt: impl FnMut() -> Result<Option<R>>,
    flow: CoreError,
) -> Result<R> {
    if let Some(r) = attempt()? {
        return Ok(r);
    }
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut polls = 0u32;
    loop {
        if let Some(r) = attempt()? {
            return Ok(r);
        }
        polls = polls.wrapping_add(1);
        if polls % 1024 == 0 {
            if let Some(d) = deadline {
                if Instant::now() >= d {
                    return Err(if timeout == Some(Duration::ZERO) {
                        flow.into()
                    } else {
                        Error::TimedOut
                    });
                }
            }
        }
        std::hint::spin_loop();
    }
}

fn flow_to_none<R>(r: Result<R>) -> Result<Option<R>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Empty | Error::Full | Error::Busy) => Ok(None),
        Err(e) => Err(e),
    }
}

impl<T: MessageSender> MessageSender for BusyPoll<T> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        let inner = &mut self.0;
        spin(
            timeout,
            || flow_to_none(inner.send_timeout(msg, Some(Duration::ZERO))),
            CoreError::Full,
        )
    }
    fn max_message_len(&self) -> usize {
        self.0.max_message_len()
    }
}

impl<T: MessageReceiver> MessageReceiver for BusyPoll<T> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let inner = &mut self.0;
        spin(
            timeout,
            || flow_to_none(inner.recv_timeout(buf, Some(Duration::ZERO))),
            CoreError::Empty,
        )
    }
    fn max_message_len(&self) -> usize {
        self.0.max_message_len()
    }
}

/// rtrb's producer, one `[u8; N]` item per message; a zero-timeout call.
pub struct RtrbTx<const N: usize>(pub rtrb::Producer<[u8; N]>);
/// rtrb's consumer.
pub struct RtrbRx<const N: usize>(pub rtrb::Consumer<[u8; N]>);

impl<const N: usize> MessageSender for RtrbTx<N> {
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        let v = item::<N>(msg)?;
        self.0.push(v).map_err(|_| Error::Full)
    }
    fn max_message_len(&self) -> usize {
        N
    }
}

impl<const N: usize> MessageReceiver for RtrbRx<N> {
    fn recv_timeout(&mut self, buf: &mut [u8], _: Option<Duration>) -> Result<usize> {
        let v = self.0.pop().map_err(|_| Error::Empty)?;
        out(buf, &v)
    }
    fn max_message_len(&self) -> usize {
        N
    }
}

/// One end of a crossbeam `ArrayQueue` of `[u8; N]`; a zero-timeout call.
pub struct Crossbeam<const N: usize>(pub Arc<ArrayQueue<[u8; N]>>);

impl<const N: usize> MessageSender for Crossbeam<N> {
    fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
        let v = item::<N>(msg)?;
        self.0.push(v).map_err(|_| Error::Full)
    }
    fn max_message_len(&self) -> usize {
        N
    }
}

impl<const N: usize> MessageReceiver for Crossbeam<N> {
    fn recv_timeout(&mut self, buf: &mut [u8], _: Option<Duration>) -> Result<usize> {
        let v = self.0.pop().ok_or(Error::Empty)?;
        out(buf, &v)
    }
    fn max_message_len(&self) -> usize {
        N
    }
}
