//! Request/response: calls to a server in another process, over any
//! [message](crate::message) transport.
//!
//! A [`Client`] sends requests and waits for their responses; a [`Server`]
//! receives requests and answers each, in any order. Each request carries
//! an id the client chose, and its response carries it back, so a client
//! can have several requests outstanding ([`Client::request`] then
//! [`Client::response`]) and receives them in whatever order the server
//! answers. Every call has its own timeout.
//!
//! The same client and server run over every transport that carries
//! messages both ways: a Unix stream or seqpacket socket, TCP, a pipe pair
//! to a child, a shared-memory channel pair ([`Pair`] joins a sender and a
//! receiver into one link). [`shm`] is the shared-memory service with
//! several clients by name.
//!
//! # Ends
//! - The server's end: [`Server::recv_request`] fails with
//!   [`Error::PeerGone`] once the client is gone (its connection closed,
//!   its process dead: however the transport tells it), after the requests
//!   it sent are received; [`Server::serve`] then returns `Ok`.
//! - The client's end: a server that dies or closes fails every waiting
//!   call with [`Error::PeerGone`]; a server that stays silent, with
//!   [`Error::TimedOut`] after the call's timeout.
//! - A handler's failure reaches the caller as [`Error::Failed`] with the
//!   handler's message.
//!
//! # Bad input
//! A message shorter than the header or of an unknown kind is
//! [`Error::Protocol`] (consumed; the link stays usable). A response for
//! an id the client is not waiting for (answered twice, answered after the
//! caller gave up, or made up) is dropped and counted
//! ([`Client::stray_responses`]): the response being waited for may still
//! come.
//!
//! # Wire format
//! Every message is a 16-byte header, little-endian, then the payload:
//!
//! | offset | width | field |
//! |---|---|---|
//! | 0 | u32 | kind: 1 request, 2 response, 3 failure (payload: the reason, UTF-8), 4 hello ([`shm`] only) |
//! | 4 | u32 | client: 0 on a connection; on [`shm`], the id the client announced in its hello |
//! | 8 | u64 | request id: chosen by the client, unique among its outstanding requests; a response or failure repeats it |
//! | 16 | … | payload |
//!
//! ```
//! use std::time::Duration;
//! use ipckit::rpc::{Client, Server};
//! use ipckit::transport::unix::SeqPacket;
//!
//! let (a, b) = SeqPacket::pair(1024)?;
//! let server = std::thread::spawn(move || {
//!     // Doubles each byte until the client hangs up.
//!     Server::new(b, "doubler").serve(|req| Ok(req.iter().map(|x| x * 2).collect()))
//! });
//! let mut client = Client::new(a, "doubler");
//! let first = client.request(&[1, 2])?;
//! let second = client.request(&[5])?;
//! let timeout = Duration::from_secs(5);
//! assert_eq!(client.response(second, timeout)?, [10]);
//! assert_eq!(client.response(first, timeout)?, [2, 4]);
//! assert_eq!(client.call(&[21], timeout)?, [42]);
//! drop(client);
//! server.join().unwrap()?;
//! # Ok::<(), ipckit::Error>(())
//! ```

mod answer;
mod client;
mod pair;
mod server;
pub mod shm;
#[cfg(test)]
mod tests;

pub use client::{Client, MAX_OUTSTANDING, RequestId};
pub use pair::Pair;
pub use server::{Request, Server};

use crate::error::{Error, Result};

/// The length of the header in front of every payload.
pub const HEADER_LEN: usize = 16;

/// What a message is (the header's first word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request = 1,
    Response = 2,
    Failure = 3,
    Hello = 4,
}

/// A message's header, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) client: u32,
    pub(crate) id: u64,
}

impl Header {
    /// Writes the header and `payload` into `buf` (cleared first).
    pub(crate) fn encode(self, payload: &[u8], buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&(self.kind as u32).to_le_bytes());
        buf.extend_from_slice(&self.client.to_le_bytes());
        buf.extend_from_slice(&self.id.to_le_bytes());
        buf.extend_from_slice(payload);
    }

    /// The header of `msg` and its payload: [`Error::Protocol`] (naming
    /// `peer`) for a message shorter than the header or of an unknown kind.
    pub(crate) fn decode<'m>(msg: &'m [u8], peer: &str) -> Result<(Self, &'m [u8])> {
        let bad = |reason: String| Error::Protocol {
            peer: peer.to_owned(),
            reason,
        };
        let (head, payload) = msg
            .split_at_checked(HEADER_LEN)
            .ok_or_else(|| bad(format!("{} bytes, shorter than the header", msg.len())))?;
        let word =
            |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let kind = match word(0) {
            1 => Kind::Request,
            2 => Kind::Response,
            3 => Kind::Failure,
            4 => Kind::Hello,
            other => return Err(bad(format!("unknown kind {other}"))),
        };
        let id = u64::from(word(8)) | u64::from(word(12)) << 32;
        Ok((
            Header {
                kind,
                client: word(4),
                id,
            },
            payload,
        ))
    }
}
