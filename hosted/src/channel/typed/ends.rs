//! The byte endpoints a typed endpoint wraps. A typed endpoint comes to
//! be through the channel builder ([`Typed`](super::Typed)): the byte
//! endpoint made stating the type id (which the set-up does before the
//! header's publication or the role's claim).

use std::time::Duration;

use super::super::{Memory, bytes, mpsc_bytes};
use crate::error::Result;

pub(super) mod sealed {
    use super::*;

    /// What a typed endpoint needs of a byte endpoint. Sealed: the byte
    /// endpoints of this crate implement it.
    pub trait Bytes: Sized {
        /// The endpoint's name, for `Debug`.
        const WHAT: &'static str;
        /// `memory` of the byte endpoint.
        fn memory(&self) -> &Memory;
        /// `max_frame_len` of the byte endpoint.
        fn max_frame_len(&self) -> u32;
    }

    /// A byte endpoint that sends.
    pub trait SendBytes: Bytes {
        /// `try_send` of the byte endpoint.
        fn try_send(&mut self, message: &[u8]) -> Result<()>;
        /// `send_timeout` of the byte endpoint (`None`: no limit).
        fn send_for(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()>;
    }

    /// A byte endpoint whose role a new process can take over from a dead
    /// holder (`Mode::TakeOver`).
    pub trait TakeOverBytes: Bytes {}

    /// A byte endpoint that receives.
    pub trait RecvBytes: Bytes {
        /// `try_recv` of the byte endpoint.
        fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize>;
        /// `recv_timeout` of the byte endpoint (`None`: no limit).
        fn recv_for(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize>;
    }
}

use sealed::{Bytes, RecvBytes, SendBytes, TakeOverBytes};

/// A byte endpoint that a typed [`Sender`](super::Sender) can wrap:
/// [`bytes::Sender`] and [`mpsc_bytes::Sender`] (sealed).
///
/// ```
/// fn wraps<B: ipckit::channel::typed::ByteSender>() {}
/// wraps::<ipckit::channel::bytes::Sender>();
/// wraps::<ipckit::channel::mpsc_bytes::Sender>();
/// ```
pub trait ByteSender: SendBytes {}

/// A byte endpoint that a typed [`Receiver`](super::Receiver) can wrap:
/// [`bytes::Receiver`] and [`mpsc_bytes::Receiver`] (sealed).
///
/// ```
/// fn wraps<B: ipckit::channel::typed::ByteReceiver>() {}
/// wraps::<ipckit::channel::bytes::Receiver>();
/// wraps::<ipckit::channel::mpsc_bytes::Receiver>();
/// ```
pub trait ByteReceiver: RecvBytes {}

/// A byte endpoint of a single-holder role, which a typed endpoint can
/// take over from a dead process (`take_over`): both ends of
/// [`bytes`](mod@bytes) and the [`mpsc_bytes::Receiver`] (sealed).
///
/// ```
/// fn takes_over<B: ipckit::channel::typed::ByteTakeOver>() {}
/// takes_over::<ipckit::channel::bytes::Sender>();
/// takes_over::<ipckit::channel::bytes::Receiver>();
/// takes_over::<ipckit::channel::mpsc_bytes::Receiver>();
/// ```
pub trait ByteTakeOver: TakeOverBytes {}

macro_rules! take_over_impl {
    ($($t:ty),*) => {
        $(impl TakeOverBytes for $t {}
        impl ByteTakeOver for $t {})*
    };
}
take_over_impl!(bytes::Sender, bytes::Receiver, mpsc_bytes::Receiver);

macro_rules! bytes_impl {
    ($t:ty, $what:literal) => {
        impl Bytes for $t {
            const WHAT: &'static str = $what;
            fn memory(&self) -> &Memory {
                <$t>::memory(self)
            }
            fn max_frame_len(&self) -> u32 {
                <$t>::max_frame_len(self)
            }
        }
    };
}

bytes_impl!(bytes::Sender, "typed::Sender");
bytes_impl!(bytes::Receiver, "typed::Receiver");
bytes_impl!(mpsc_bytes::Sender, "typed::MpscSender");
bytes_impl!(mpsc_bytes::Receiver, "typed::MpscReceiver");

macro_rules! send_impl {
    ($t:ty) => {
        impl SendBytes for $t {
            fn try_send(&mut self, message: &[u8]) -> Result<()> {
                <$t>::try_send(self, message)
            }
            fn send_for(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()> {
                match timeout {
                    None => <$t>::send(self, message),
                    Some(t) => <$t>::send_timeout(self, message, t),
                }
            }
        }
        impl ByteSender for $t {}
    };
}
send_impl!(bytes::Sender);
send_impl!(mpsc_bytes::Sender);

macro_rules! recv_impl {
    ($t:ty) => {
        impl RecvBytes for $t {
            fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
                <$t>::try_recv(self, buf)
            }
            fn recv_for(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
                match timeout {
                    None => <$t>::recv(self, buf),
                    Some(t) => <$t>::recv_timeout(self, buf, t),
                }
            }
        }
        impl ByteReceiver for $t {}
    };
}
recv_impl!(bytes::Receiver);
recv_impl!(mpsc_bytes::Receiver);
